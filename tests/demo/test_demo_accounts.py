"""The demo's sign-in accounts (``senhealth.demo.accounts``) on a small synthetic province, used through
the assembled platform: each role sees what docs/access.md says it may.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from senhealth.app import build_app
from senhealth.cli_server import load_items
from senhealth.cli_token import mint_user_token
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.demo.accounts import ensure_demo_accounts
from senhealth.demo.generator import generate_province
from senhealth.fhir import access
from senhealth.security import accounts
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig


@pytest.fixture
def settings(schema_url: str, tmp_path: Path) -> Iterator[Settings]:
    migrate(schema_url)
    yield Settings(
        database_url=schema_url,
        data_dir=tmp_path,
        auth_required=True,
        notifiable_icd10=["A90", "A91", "B08.4"],
    )
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


def test_demo_accounts_see_what_their_role_allows(settings: Settings) -> None:
    assert settings.database_url is not None
    url = settings.database_url
    out: dict[str, Any] = {}

    async def main() -> None:
        await load_items(url, generate_province(40, 3))
        await db.open_pool(url, max_size=2)
        try:
            made = await ensure_demo_accounts(url)
            again = await ensure_demo_accounts(url)
        finally:
            await db.close_pool()
        out["made"] = [(a.username, a.role) for a in made]
        out["again"] = [(a.username, a.role) for a in again]
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            config = OAuthConfig.from_settings(settings)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                for username, _ in out["made"]:
                    user = await accounts.get_user(username)
                    assert user is not None
                    if username == "quantri.demo":  # administrators: two-factor, enrolled at first sign-in
                        with pytest.raises(accounts.TotpNotEnrolled):
                            await accounts.authenticate(
                                username, "sen-health-demo", from_facility_network=True
                            )
                    else:
                        await accounts.authenticate(username, "sen-health-demo", from_facility_network=True)
                    h = {"Authorization": f"Bearer {mint_user_token(user_info(user), config=config)}"}
                    r = await c.get("/fhir/Patient", params={"_count": "100"}, headers=h)
                    out[username] = (r.status_code, len(r.json().get("entry", [])))

    asyncio.run(main())
    roles = dict(out["made"])
    assert set(roles) == {"bs.demo", "yt.demo", "quantri.demo", "cdc.demo", "phantich.demo", "benhnhan.demo"}
    assert out["again"] == out["made"]  # idempotent
    assert out["benhnhan.demo"] == (200, 1)  # their own record
    assert out["bs.demo"][0] == 200 and out["bs.demo"][1] >= 1
    assert out["yt.demo"][0] == 200 and out["yt.demo"][1] >= 1
    assert out["phantich.demo"] == (200, 0)  # nobody opted in to research yet
