"""Fixtures for the REST API tests: the real app, on a migrated schema of its own per test.

``api_url`` is a conninfo whose ``search_path`` is a fresh schema holding the platform's tables
(``schema_url`` + ``migrate``). ``run_api(scenario)`` builds the app with :func:`senhealth.api.create_app`,
runs its lifespan (which opens the pool on ``api_url``), and calls ``scenario(client)`` with an
``httpx.AsyncClient`` talking to the app through ``httpx.ASGITransport``; it returns the scenario's
result (``asyncio.run``, as the other async tests do). ``live_server`` starts a real uvicorn server on a
free loopback port in a thread and yields its base URL.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate

Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


@pytest.fixture
def api_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


@pytest.fixture
def run_api(api_url: str) -> Callable[..., Any]:
    def run(scenario: Scenario, **options: Any) -> Any:
        async def main() -> Any:
            app = create_app(Settings(database_url=api_url), **options)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    return await scenario(client)

        return asyncio.run(main())

    return run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(api_url: str) -> Iterator[str]:
    app = create_app(Settings(database_url=api_url))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
