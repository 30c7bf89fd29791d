"""Fixtures of the web application's tests: the assembled platform with the pages installed.

``run_web(scenario, ...)`` builds the application as ``senhealth serve`` does (``build_app``, then
``install_web``, harmless if ``build_app`` already installed it), seeds the synthetic dataset through the
FHIR API and calls ``scenario(client, seeded)`` with an httpx client talking to it in-process from a
given client address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser
from web_dataset import Seeded, seed
from web_support import RunWeb

from senhealth.app import build_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.security.login_rate import LoginLimit
from senhealth.web import install_web
from senhealth.web.sessions import SessionLimits

CHROMIUM = "/usr/bin/chromium"

Scenario = Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]


@pytest.fixture
def web_settings(schema_url: str, tmp_path: Path) -> Iterator[Settings]:
    migrate(schema_url)
    yield Settings(
        database_url=schema_url, data_dir=tmp_path, auth_required=True, facility_networks=["10.0.0.0/8"]
    )
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's


@pytest.fixture
def run_web(web_settings: Settings) -> RunWeb:
    def run(
        scenario: Scenario,
        *,
        client_ip: str = "203.0.113.7",
        base_url: str = "http://test",
        login_limit: LoginLimit | None = None,
        limits: SessionLimits | None = None,
        settings: Settings | None = None,
        clinical: bool = False,
    ) -> Any:
        cfg = settings or web_settings

        async def main() -> Any:
            app = build_app(cfg)
            install_web(app, cfg)  # idempotent: harmless once build_app installs the pages itself
            install_web(app, cfg, login_limit=login_limit, limits=limits)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                    seeded = await seed(client, cfg, with_clinical=clinical)
                    return await scenario(client, seeded)

        return asyncio.run(main())

    return run


@pytest.fixture(scope="module")
def browser(live: Any) -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright, launched once per browser test module (after the module's
    ``live`` server, whose set-up runs its own event loop) and closed after it: a live Playwright loop must
    not outlast the module, other tests of the process run their own event loops."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's Chromium is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()
