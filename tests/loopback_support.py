"""A webhook receiver on loopback for the tests that deliver to one (check-up reminders, outbreak alerts):
a real HTTP server (uvicorn + Starlette) in the test's event loop that records every POST."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    body: dict[str, Any]
    headers: dict[str, str]
    answered: int


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; answers ``answers`` in turn, then 200."""

    path: str = "/hook"
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def _hook(self, request: Request) -> Response:
        answer = self.answers.pop(0) if self.answers else 200
        self.received.append(Received(orjson.loads(await request.body()), dict(request.headers), answer))
        return Response(status_code=answer)

    async def start(self) -> None:
        app = Starlette(routes=[Route(self.path, self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 20
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait({self._task}, timeout=10)
        self._server = self._task = None
