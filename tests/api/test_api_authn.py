"""Bearer tokens in front of the FHIR API: 401s, open paths, and the principal every route sees.

Spec: RFC 6750 §3 (``WWW-Authenticate: Bearer``, ``error="invalid_token"``). The token check here is a
table of test tokens; the OAuth server's real validation plugs into the same ``authenticate`` hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import httpx
from api_support import JSON_HEADERS, RunApi, create, patient, unique

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.fhir import access
from senhealth.fhir.access import Principal


class BadToken(Exception):
    status = 401


DOCTOR = Principal(kind="user", subject="u-doctor", roles=frozenset({"doctor"}), facility="Organization/f1")
SEEN: list[Principal | None] = []


async def authenticate(headers: Mapping[str, str]) -> Principal | None:
    value = headers.get("authorization")
    if value is None:
        return None
    if value == "Bearer good":
        return DOCTOR
    raise BadToken("The access token has expired")


class Recorder:
    async def record(self, conn: object, event: access.AccessEvent) -> None:
        SEEN.append(event.principal)


def test_sign_in_required(api_url: str) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.get("/fhir/Patient")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["issue"][0]["code"] == "login"
        r = await c.get("/fhir/Patient", headers={"Authorization": "Bearer stale"})
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        assert "expired" in r.json()["issue"][0]["diagnostics"]
        assert (await c.get("/fhir/Patient/x1")).status_code == 401  # the fast read path too
        assert (await c.get("/fhir/metadata")).status_code == 200  # discovery stays open
        good = {"Authorization": "Bearer good"}
        r = await c.post("/fhir/Patient", json=patient(unique()), headers={**JSON_HEADERS, **good})
        assert r.status_code == 201, r.text
        assert (await c.get(f"/fhir/Patient/{r.json()['id']}", headers=good)).status_code == 200

    access.install(sink=Recorder())
    SEEN.clear()
    try:
        _run(scenario, api_url)
    finally:
        access.install(sink=access.NO_AUDIT)
    assert SEEN and all(p == DOCTOR for p in SEEN), SEEN  # the write and the read ran as the doctor


def _run(scenario: Callable[[httpx.AsyncClient], Awaitable[None]], api_url: str) -> None:
    """The app with sign-in required (the ``run_api`` fixture builds it with the default settings)."""

    async def main() -> None:
        settings = Settings(database_url=api_url, auth_required=True)
        app = create_app(settings, authenticate=authenticate)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await scenario(client)

    asyncio.run(main())


def test_without_sign_in_in_development(run_api: RunApi) -> None:
    """Development default: no token needed; a token, when sent, still has to be valid."""

    async def scenario(c: httpx.AsyncClient) -> None:
        await create(c, patient(unique()))
        r = await c.get("/fhir/Patient", headers={"Authorization": "Bearer stale"})
        assert r.status_code == 401

    run_api(scenario, authenticate=authenticate)
