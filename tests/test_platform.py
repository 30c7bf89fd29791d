"""The platform assembled (``senhealth.app.build_app``): accounts, a bearer token, the access policy and
the audit log working together through the FHIR API.

Spec: RFC 6750 (bearer tokens), SMART App Launch 2.0 (``fhirUser``, scopes), https://profiles.ihe.net/ITI/BALP/
(an audit record per access, with its user). The pieces have their own tests; this one checks the
wiring: a doctor signed in at one facility sees that facility's patients only, every access is recorded
under the doctor's account, and the audit chains verify.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from senhealth.app import build_app
from senhealth.cli_token import mint_user_token
from senhealth.core.config import Settings
from senhealth.security import accounts
from senhealth.security.audit_verify import verify
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig

JSON = {"Content-Type": "application/fhir+json"}


def test_a_signed_in_doctor_sees_their_facility_and_is_audited(platform_settings: Settings) -> None:
    settings = platform_settings
    found: dict[str, Any] = {}

    async def main() -> None:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            one = await accounts.create_user(
                "bs.an", "mat-khau-dai-1", ["doctor"], facility="Organization/f1"
            )
            two = await accounts.create_user(
                "bs.binh", "mat-khau-dai-2", ["doctor"], facility="Organization/f2"
            )
            config = OAuthConfig.from_settings(settings)
            tokens = {u.username: mint_user_token(user_info(u), config=config) for u in (one, two)}
            found["doctor"] = one.id
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                assert (await c.get("/fhir/Patient")).status_code == 401  # no token
                for name, org in (("bs.an", "f1"), ("bs.binh", "f2")):
                    h = {"Authorization": f"Bearer {tokens[name]}", **JSON}
                    r = await c.put(
                        f"/fhir/Organization/{org}",
                        json={"resourceType": "Organization", "id": org, "name": f"Cơ sở {org}"},
                        headers=h,
                    )
                    assert r.status_code in (200, 201), r.text
                    pat = {
                        "resourceType": "Patient",
                        "managingOrganization": {"reference": f"Organization/{org}"},
                    }
                    r = await c.post("/fhir/Patient", json=pat, headers=h)
                    assert r.status_code == 201, r.text
                    found[org] = r.json()["id"]
                h = {"Authorization": f"Bearer {tokens['bs.an']}"}
                assert (await c.get(f"/fhir/Patient/{found['f1']}", headers=h)).status_code == 200
                assert (await c.get(f"/fhir/Patient/{found['f2']}", headers=h)).status_code == 404
                r = await c.get("/fhir/Patient", headers=h)
                assert [e["resource"]["id"] for e in r.json().get("entry", [])] == [found["f1"]]
                assert (
                    await c.get("/fhir/Patient", headers={"Authorization": "Bearer forged"})
                ).status_code == 401

    asyncio.run(main())
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT action, res_type, patients FROM audit_event WHERE principal_subject = %s ORDER BY seq",
            (found["doctor"],),
        ).fetchall()
    assert sorted((a, t) for a, t, _ in rows) == [
        ("create", "Patient"),
        ("read", "Patient"),
        ("search", "Patient"),
        ("update", "Organization"),
    ]  # the refused read of the other facility's patient is not a disclosure: no record of one
    assert all(p == [found["f1"]] for a, _, p in rows if a != "update")
    report = verify(settings.database_url)
    assert report.ok, report
