"""Test helpers for subscriptions: a real HTTP receiver on a loopback port, servers in the test's event
loop, resources and Subscriptions to write."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
TOPIC = "https://senhealth.vn/fhir/SubscriptionTopic/"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LoopServer:
    """An ASGI app served by uvicorn as a task of the running event loop (stop() closes the port)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # several servers
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 20
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            done, _ = await asyncio.wait({self._task}, timeout=10)
            if not done:  # connections that do not close: stop waiting for them
                self._server.force_exit = True
                await self._task
        self._server = self._task = None


@dataclass
class Notification:
    at: float  # time.monotonic() when it arrived
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body["entry"][0]["resource"])

    def param(self, name: str) -> Any:
        for p in self.status["parameter"]:
            if p["name"] == name:
                return next(v for k, v in p.items() if k.startswith("value"))
        return None

    @property
    def kind(self) -> str:
        return str(self.param("type"))

    @property
    def events(self) -> list[dict[str, Any]]:
        out = []
        for p in self.status["parameter"]:
            if p["name"] == "notification-event":
                parts = {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
                out.append(parts)
        return out

    @property
    def numbers(self) -> list[int]:
        return [int(e["event-number"]) for e in self.events]


@dataclass
class Receiver:
    """A rest-hook endpoint: records every POST (time, body, headers); answers ``answer`` (200)."""

    port: int = field(default_factory=free_port)
    answer: int = 200
    received: list[Notification] = field(default_factory=list)
    _server: LoopServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.received.append(Notification(time.monotonic(), body, dict(request.headers)))
        return Response(status_code=self.answer)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        self._server = LoopServer(app, self.port)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    def of_kind(self, kind: str) -> list[Notification]:
        return [n for n in self.received if n.kind == kind]

    def numbers(self) -> list[int]:
        return [x for n in self.of_kind("event-notification") for x in n.numbers]


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, what: str = ""
) -> float:
    """Wait until ``check()`` is true; the seconds it took."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


def subscription(
    topic: str,
    *,
    endpoint: str | None = None,
    channel: str = "rest-hook",
    content: str = "id-only",
    filters: tuple[str, ...] = (),
    heartbeat: int | None = None,
    max_count: int | None = None,
    headers: tuple[str, ...] = (),
    status: str = "requested",
) -> dict[str, Any]:
    """A backport Subscription on a shipped topic."""
    chan: dict[str, Any] = {
        "type": channel,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": IG + "backport-payload-content", "valueCode": content}]},
    }
    if endpoint is not None:
        chan["endpoint"] = endpoint
    if headers:
        chan["header"] = list(headers)
    ext = []
    if heartbeat is not None:
        ext.append({"url": IG + "backport-heartbeat-period", "valueUnsignedInt": heartbeat})
    if max_count is not None:
        ext.append({"url": IG + "backport-max-count", "valuePositiveInt": max_count})
    if ext:
        chan["extension"] = ext
    out: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [IG + "backport-subscription"]},
        "status": status,
        "reason": "Kiểm thử / test",
        "criteria": TOPIC + topic,
        "channel": chan,
    }
    if filters:
        out["_criteria"] = {
            "extension": [{"url": IG + "backport-filter-criteria", "valueString": f} for f in filters]
        }
    return out


def encounter(
    status: str = "in-progress", klass: str = "IMP", patient: str = "p1", res_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": ACT, "code": klass},
        "subject": {"reference": f"Patient/{patient}"},
    }
    if res_id is not None:
        out["id"] = res_id
    return out


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": "Nguyễn", "given": ["Văn A"]}]}
