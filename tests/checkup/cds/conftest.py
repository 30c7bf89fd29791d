"""A live platform on loopback for the CDS Hooks tests: ``senhealth.app.build_app`` (sign-in required, the
role policy, the audit sink) with the CDS Hooks routes, served by uvicorn in a thread on a free port.

``cds_platform`` yields a :class:`cds_hooks_support.LivePlatform`: its base URL and the bearer headers of
accounts made before the server starts (a facility administrator, a doctor and a commune health worker of
the commune station ``xa``, and a doctor of an unrelated hospital ``other``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from cds_hooks_support import LivePlatform

from senhealth.api.cds_hooks import cds_hooks_router
from senhealth.app import build_app
from senhealth.cli_token import mint_user_token
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.security import accounts
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig

_ACCOUNTS = {
    "admin": ("quan.tri.cds", ["facility_admin"], "Organization/xa"),
    "doctor": ("bs.xa.cds", ["doctor"], "Organization/xa"),
    "worker": ("yt.xa.cds", ["commune_health_worker"], "Organization/xa"),
    "stranger": ("bs.khac.cds", ["doctor"], "Organization/other"),
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def cds_platform(platform_settings: Settings) -> Iterator[LivePlatform]:
    config = OAuthConfig.from_settings(platform_settings)

    async def make_accounts() -> dict[str, dict[str, str]]:
        await db.open_pool(platform_settings.database_url)
        try:
            out = {}
            for key, (name, roles, facility) in _ACCOUNTS.items():
                user = await accounts.create_user(name, "mat-khau-dai-123", roles, facility=facility)
                token = mint_user_token(user_info(user), config=config)
                out[key] = {"Authorization": f"Bearer {token}"}
            return out
        finally:
            await db.close_pool()

    headers = asyncio.run(make_accounts())
    app = build_app(platform_settings)
    if not any(getattr(r, "path", None) == "/cds-services" for r in app.routes):
        app.include_router(cds_hooks_router())  # until app.build_app lists the router itself
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LivePlatform(f"http://127.0.0.1:{port}", headers)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
