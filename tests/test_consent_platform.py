"""Consent enforced by the assembled platform (``senhealth.app.build_app``): sharing a record across the
referral network follows the patient's Consent for treatment, from the next request on.

Spec: https://hl7.org/fhir/R4/consent.html; the rules: docs/consent.md. The network: a district health
centre (``dist``) and the commune station that is ``partOf`` it (``xa``), and an unrelated hospital
(``other``). The patient is cared for at the commune station. The district's doctor sees them through the
network until the patient refuses that sharing in a Consent they write themselves; the commune's doctor
(their own care) always does; the unrelated hospital never does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from senhealth.app import build_app
from senhealth.cli_token import mint_user_token
from senhealth.core.config import Settings
from senhealth.security import accounts
from senhealth.security.consent import build_consent
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig

JSON = {"Content-Type": "application/fhir+json"}


def _accounts(config: OAuthConfig) -> Callable[..., Awaitable[dict[str, str]]]:
    """``await token(username, roles, facility=..., patient=...)``: a new account, and its bearer header."""

    async def token(username: str, roles: list[str], **kw: Any) -> dict[str, str]:
        user = await accounts.create_user(username, "mat-khau-dai-123", roles, **kw)
        return {"Authorization": f"Bearer {mint_user_token(user_info(user), config=config)}"}

    return token


def test_network_sharing_follows_the_patients_consent(platform_settings: Settings) -> None:
    settings = platform_settings
    seen: dict[str, Any] = {}

    async def main() -> None:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            token = _accounts(OAuthConfig.from_settings(settings))
            admin = await token("quan.tri", ["facility_admin"], facility="Organization/xa")
            district = await token("bs.huyen", ["doctor"], facility="Organization/dist")
            commune = await token("yt.xa", ["commune_health_worker"], facility="Organization/xa")
            other = await token("bs.khac", ["doctor"], facility="Organization/other")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                for org, part_of in (("dist", None), ("xa", "dist"), ("other", None)):
                    body: dict[str, Any] = {"resourceType": "Organization", "id": org, "name": org}
                    if part_of:
                        body["partOf"] = {"reference": f"Organization/{part_of}"}
                    r = await c.put(f"/fhir/Organization/{org}", json=body, headers={**admin, **JSON})
                    assert r.status_code in (200, 201), r.text
                pat = {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/xa"}}
                r = await c.post("/fhir/Patient", json=pat, headers={**commune, **JSON})
                assert r.status_code == 201, r.text
                pid = r.json()["id"]
                obs = {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "valueQuantity": {"value": 150, "unit": "mm[Hg]"},
                }
                r = await c.post("/fhir/Observation", json=obs, headers={**commune, **JSON})
                assert r.status_code == 201, r.text
                oid = r.json()["id"]
                patient = await token("benh.nhan", ["patient"], patient=f"Patient/{pid}")

                async def visible(h: dict[str, str]) -> tuple[int, int, list[str], int]:
                    read = (await c.get(f"/fhir/Patient/{pid}", headers=h)).status_code
                    obs_read = (await c.get(f"/fhir/Observation/{oid}", headers=h)).status_code
                    found = (await c.get("/fhir/Observation", params={"code": "8480-6"}, headers=h)).json()
                    ids = [e["resource"]["id"] for e in found.get("entry", [])]
                    everything = (await c.get(f"/fhir/Patient/{pid}/$everything", headers=h)).status_code
                    return read, obs_read, ids, everything

                shared = (200, 200, [oid], 200)
                hidden = (404, 404, [], 404)
                seen["before"] = [await visible(h) for h in (district, commune, other)]

                # The patient refuses sharing for treatment, through the API, as the portal does.
                deny = build_consent(pid, "TREAT", "deny", when=None)
                r = await c.post("/fhir/Consent", json=deny, headers={**patient, **JSON})
                assert r.status_code == 201, r.text
                consent = r.json()
                seen["denied"] = [await visible(h) for h in (district, commune, other)]

                # Withdrawn: the next request sees the record again.
                consent["status"] = "inactive"
                r = await c.put(f"/fhir/Consent/{consent['id']}", json=consent, headers={**patient, **JSON})
                assert r.status_code == 200, r.text
                seen["withdrawn"] = [await visible(h) for h in (district, commune, other)]

                # A refusal naming one organisation holds for that one only.
                limited = build_consent(pid, "TREAT", "deny", actors=["Organization/dist"])
                limited["id"] = consent["id"]
                r = await c.put(f"/fhir/Consent/{consent['id']}", json=limited, headers={**patient, **JSON})
                assert r.status_code == 200, r.text
                seen["limited"] = [await visible(h) for h in (district, commune)]

                # The patient may write their own consents, nothing else, and nobody else's.
                r = await c.post("/fhir/Observation", json=obs, headers={**patient, **JSON})
                seen["patient_obs"] = r.status_code
                stranger = (await c.post("/fhir/Patient", json=pat, headers={**commune, **JSON})).json()["id"]
                r = await c.post(
                    "/fhir/Consent",
                    json=build_consent(stranger, "HRESCH", "permit"),
                    headers={**patient, **JSON},
                )
                seen["foreign_consent"] = r.status_code
                seen.update(shared=shared, hidden=hidden)

    asyncio.run(main())
    shared, hidden = seen["shared"], seen["hidden"]
    assert seen["before"] == [shared, shared, hidden]
    assert seen["denied"] == [hidden, shared, hidden]
    assert seen["withdrawn"] == [shared, shared, hidden]
    assert seen["limited"] == [hidden, shared]
    assert seen["patient_obs"] == 403
    assert seen["foreign_consent"] in (403, 404)


def test_the_lifelong_record_follows_the_persons_consent(platform_settings: Settings) -> None:
    """``Patient/$everything`` over the records the patient index linked to one person: a doctor gets the
    other facility's record of the same person, until the person refuses sharing for treatment (on
    either of their records); then only their own facility's record."""
    from senhealth.mpi.link import link

    settings = platform_settings
    seen: dict[str, Any] = {}

    async def main() -> None:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            token = _accounts(OAuthConfig.from_settings(settings))
            here = await token("bs.day", ["doctor"], facility="Organization/h1")
            there = await token("bs.kia", ["doctor"], facility="Organization/h2")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                ids = []
                for h, org in ((here, "h1"), (there, "h2")):
                    pat = {
                        "resourceType": "Patient",
                        "name": [{"family": "Phạm", "given": ["Thị", "Hoa"]}],
                        "birthDate": "1970-02-03",
                        "managingOrganization": {"reference": f"Organization/{org}"},
                    }
                    r = await c.post("/fhir/Patient", json=pat, headers={**h, **JSON})
                    assert r.status_code == 201, r.text
                    pid = r.json()["id"]
                    cond = {
                        "resourceType": "Condition",
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
                        "subject": {"reference": f"Patient/{pid}"},
                    }
                    r = await c.post("/fhir/Condition", json=cond, headers={**h, **JSON})
                    assert r.status_code == 201, r.text
                    ids.append((pid, r.json()["id"]))
                (p1, c1), (p2, c2) = ids
                await link(app.state.fhir_store, p1, p2, by="test")

                async def everything() -> set[str]:
                    r = await c.get(f"/fhir/Patient/{p1}/$everything", headers=here)
                    assert r.status_code == 200, r.text
                    return {e["resource"]["id"] for e in r.json().get("entry", [])}

                seen["linked"] = await everything()
                person = await token("ba.hoa", ["patient"], patient=f"Patient/{p1}")
                r = await c.post(
                    "/fhir/Consent", json=build_consent(p1, "TREAT", "deny"), headers={**person, **JSON}
                )
                assert r.status_code == 201, r.text
                seen["refused"] = await everything()
                seen["ids"] = (p1, c1, p2, c2)

    asyncio.run(main())
    p1, c1, p2, c2 = seen["ids"]
    assert {p1, c1, p2, c2} <= seen["linked"]
    assert {p1, c1} <= seen["refused"] and not {p2, c2} & seen["refused"]
