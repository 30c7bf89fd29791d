"""A live server of the platform for the browser tests, and a browser signed in to it.

Each browser test module runs one uvicorn server in its own process, as ``senhealth serve`` does (the
process-wide pool, policy and audit sink of the tests beside it cannot touch it), over a scratch schema
that the module seeds in-process first; Playwright then drives Debian's Chromium against it.

- ``BROWSER_MARKS``: the ``pytestmark`` of a browser test module (skipped without ``CHROMIUM``, kept in
  the one browser test process).
- ``free_port()``: a free TCP port on loopback.
- ``scratch_schema(database_url, prefix)``: a new schema ``{prefix}_{random}``, migrated; yields its
  conninfo (``search_path`` set) and drops the schema afterwards.
- ``live_settings(url, data_dir)``: the settings of such a server (sign-in required, loopback as the
  facility network); ``server_env(database_url, data_dir)``: the same as environment variables;
  ``scratch_platform(database_url, prefix, data_dir)``: those settings over a scratch schema.
- ``seed_platform(settings, seeding)``: the platform built in-process (``build_app``), its lifespan run
  and ``seeding(client)`` awaited with an httpx client talking to it; the FHIR core's open policy is put
  back afterwards (``build_app`` installed the platform's in this process).
- ``serve(factory, settings, pythonpath)``: ``uvicorn --factory`` on a free loopback port with those
  settings; yields the base URL once ``/fhir/metadata`` answers, terminates the server
  afterwards.
- ``browser_page(browser, base_url, width, height)``: a page in a browser context of its own (Vietnamese,
  that viewport), the context closed afterwards; ``sign_in(page, ...)``: the sign-in form, with the
  two-factor code when asked.

uvicorn: https://www.uvicorn.org/settings/#application-factories ;
Playwright: https://playwright.dev/python/docs/api/class-browser#browser-new-context
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import httpx
import psycopg
import pyotp
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page
from psycopg import sql
from psycopg.conninfo import make_conninfo

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate

__all__ = [
    "BROWSER_MARKS",
    "CHROMIUM",
    "browser_page",
    "free_port",
    "live_settings",
    "scratch_platform",
    "scratch_schema",
    "seed_platform",
    "serve",
    "server_env",
    "sign_in",
]

T = TypeVar("T")
CHROMIUM: Final = "/usr/bin/chromium"  # Debian's, never a downloaded one
#: ``pytestmark`` of a browser test module: skipped without Chromium, run in the one browser test process
#: (``make test`` distributes with ``--dist loadgroup``)
BROWSER_MARKS: Final = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
    pytest.mark.xdist_group("browser"),
]
HOST: Final = "127.0.0.1"
FACILITY_NETWORKS: Final = ("127.0.0.0/8",)  # the browser comes from loopback: inside the facility
TOTP_PAGE: Final = "/app/login/totp"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def scratch_schema(database_url: str, prefix: str) -> Iterator[str]:
    """A new schema ``{prefix}_{random}`` of ``database_url``'s database with the platform's tables; yields
    its conninfo, drops the schema afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    ident = sql.Identifier(schema)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
    try:
        url = make_conninfo(database_url, options=f"-c search_path={schema}")
        migrate(url)
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))


def live_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        auth_required=True,
        facility_networks=list(FACILITY_NETWORKS),
    )


@contextmanager
def scratch_platform(database_url: str, prefix: str, data_dir: Path) -> Iterator[Settings]:
    """:func:`live_settings` over a :func:`scratch_schema` (dropped afterwards) and ``data_dir``."""
    with scratch_schema(database_url, prefix) as url:
        yield live_settings(url, data_dir)


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment variables giving a server the settings of :func:`live_settings`."""
    return {
        "SENHEALTH_DATABASE_URL": database_url,
        "SENHEALTH_DATA_DIR": str(data_dir),
        "SENHEALTH_AUTH_REQUIRED": "true",
        "SENHEALTH_FACILITY_NETWORKS": json.dumps(list(FACILITY_NETWORKS)),
    }


def seed_platform(
    settings: Settings,
    seeding: Callable[[httpx.AsyncClient], Awaitable[T]],
    *,
    prepare: Callable[[FastAPI], None] | None = None,
    timeout: float = 5.0,
) -> T:
    """``seeding(client)`` against the platform built in-process (``prepare(app)`` first, if given), with
    its lifespan running; its result. The FHIR core's open policy is put back afterwards."""
    from senhealth.app import build_app
    from senhealth.fhir import access

    async def main() -> T:
        app = build_app(settings)
        if prepare is not None:
            prepare(app)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://seed", timeout=timeout
            ) as client:
                return await seeding(client)

    try:
        return asyncio.run(main())
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's


@contextmanager
def serve(
    factory: str,
    settings: Settings,
    pythonpath: Sequence[Path] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60,
) -> Iterator[str]:
    """``uvicorn --factory {factory}`` in a process of its own on a free loopback port, with the database and
    data directory of ``settings`` (made by :func:`live_settings`): this process's environment,
    ``pythonpath`` put first on ``PYTHONPATH``, :func:`server_env`, then ``env``. Yields its base URL once
    ``/fhir/metadata`` answers (within ``timeout_s``), terminates it afterwards."""
    if settings.database_url is None:
        raise ValueError("the live server needs the settings' database")
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    full_env = dict(os.environ)
    if pythonpath:
        paths = [*(str(p) for p in pythonpath), os.environ.get("PYTHONPATH", "")]
        full_env["PYTHONPATH"] = os.pathsep.join(paths).rstrip(os.pathsep)
    full_env.update(server_env(settings.database_url, settings.data_dir))
    full_env.update(env or {})
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", HOST, "--port", str(port),
         "--log-level", "warning"],
        env=full_env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{base_url}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server did not start ({factory})")
            time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def browser_page(browser: Browser, base_url: str, width: int, height: int, **options: Any) -> Iterator[Page]:
    """A page of a new browser context (Vietnamese, a ``width`` × ``height`` viewport, relative addresses
    against ``base_url``, ``options`` passed on to ``Browser.new_context``), closed afterwards."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="vi-VN", base_url=base_url, **options
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(
    page: Page,
    username: str,
    password: str,
    *,
    totp_secret: str | None = None,
    two_factor: Literal["required", "if-asked"] = "required",
    path: str = "/app/login",
    landing: str = "**/app/patients",
) -> None:
    """The sign-in form at ``path``; with ``totp_secret``, the two-factor page then must come
    (``"required"``) or is answered when it comes (``"if-asked"``), with the current TOTP code. Waits for
    the address ``landing``."""
    page.goto(path)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    if totp_secret is not None:
        if two_factor == "required":
            page.wait_for_url(f"**{TOTP_PAGE}")
        else:
            page.wait_for_load_state()
        if TOTP_PAGE in page.url:
            page.fill("#code", pyotp.TOTP(totp_secret).now())
            page.click("button[type=submit]")
    page.wait_for_url(landing)
