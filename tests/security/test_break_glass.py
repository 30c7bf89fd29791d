"""Break-the-glass tokens (https://hl7.org/fhir/R4/security.html#break-glass): only for care roles, with a
reason of 10 characters or more, living 30 minutes at most; the bearer check refuses a token that breaks
those rules; through the assembled platform a doctor sees another facility's patient only with such a
token, the audit rows carry the reason, ending the grant revokes the token, and the review groups and
marks the session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from senhealth.app import build_app
from senhealth.core.config import Settings
from senhealth.core.db import transaction
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.security import break_glass
from senhealth.security.break_glass import BreakGlassError, mint_break_glass_token, reason_of
from senhealth.security.oauth.bearer import note_revoked, principal_from_claims
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import BREAK_GLASS_CLAIM, InvalidTokenError, TokenService
from senhealth.security.oauth.users import UserInfo

REASON = "  Người bệnh hôn mê,   cần xem tiền sử dị ứng  "
DOCTOR = UserInfo(
    id="acc-doctor-a",
    username="bs.a",
    roles=frozenset({"doctor"}),
    facility="Organization/org-a",
    practitioner="Practitioner/pr-a",
)


@pytest.fixture
def tokens(tmp_path: Path) -> TokenService:
    return TokenService.from_config(OAuthConfig.from_settings(Settings(data_dir=tmp_path)))


def _user(*roles: str, facility: str | None = "Organization/org-a", patient: str | None = None) -> UserInfo:
    return UserInfo(id="acc-x", username="x", roles=frozenset(roles), facility=facility, patient=patient)


def test_claim_for_care_roles_with_short_life_and_cleaned_reason(tokens: TokenService) -> None:
    for role in ("doctor", "nurse", "commune_health_worker"):
        token, claims = mint_break_glass_token(tokens, _user(role), REASON, None)
        assert claims[BREAK_GLASS_CLAIM] == "Người bệnh hôn mê, cần xem tiền sử dị ứng"
        assert 0 < claims["exp"] - claims["iat"] <= 30 * 60
        assert claims["roles"] == [role] and claims["facility"] == "Organization/org-a"
        verified = tokens.verify(token)
        principal = principal_from_claims(verified)
        assert principal.break_glass == claims[BREAK_GLASS_CLAIM]
        assert principal.roles == frozenset({role})
    _, claims = mint_break_glass_token(tokens, DOCTOR, REASON, "org-b", minutes=5)
    assert claims["exp"] - claims["iat"] == 300 and claims["facility"] == "Organization/org-b"
    # an account with a care role and an administrator role: the token carries the care role only
    _, claims = mint_break_glass_token(tokens, _user("doctor", "facility_admin"), REASON, None)
    assert claims["roles"] == ["doctor"]
    # the token service itself caps the lifetime of a break-the-glass token
    capped = tokens.access_claims(
        client_id="c", scope="user/*.rs", user=DOCTOR, lifetime_s=3600, break_glass="Cấp cứu ngoài giờ"
    )
    assert capped["exp"] - capped["iat"] == 30 * 60


@pytest.mark.parametrize(
    "roles",
    [("patient",), ("data_analyst",), ("provincial_officer",), ("cdc_officer",), ("facility_admin",), ()],
)
def test_no_claim_for_other_roles(tokens: TokenService, roles: tuple[str, ...]) -> None:
    with pytest.raises(BreakGlassError) as e:
        mint_break_glass_token(tokens, _user(*roles, patient="Patient/p1"), REASON, None)
    assert e.value.reason_code == "role"


@pytest.mark.parametrize("reason", ["", "   ", "cấp cứu", "  ngắn  quá  ", "x" * 501])
def test_reason_is_validated(tokens: TokenService, reason: str) -> None:
    with pytest.raises(BreakGlassError) as e:
        mint_break_glass_token(tokens, DOCTOR, reason, None)
    assert e.value.reason_code == "reason"


def test_minutes_and_facility_are_validated(tokens: TokenService) -> None:
    for minutes in (0, 31, 60):
        with pytest.raises(BreakGlassError):
            mint_break_glass_token(tokens, DOCTOR, REASON, None, minutes=minutes)
    with pytest.raises(BreakGlassError) as e:
        mint_break_glass_token(tokens, _user("doctor", facility=None), REASON, None)
    assert e.value.reason_code == "facility"
    assert break_glass.clean_reason("  0123456789 ") == "0123456789"  # exactly 10 after trimming


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "acc-x",
        "kind": "user",
        "roles": ["doctor"],
        "facility": "Organization/org-a",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        BREAK_GLASS_CLAIM: "Cấp cứu ngoài giờ hành chính",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) + 3600},  # lives longer than 30 minutes
        {"roles": ["patient"], "kind": "patient"},
        {"roles": ["data_analyst"]},
        {"roles": ["doctor", "provincial_officer"]},
        {"roles": []},
        {"kind": "system", "roles": ["system"]},
        {"facility": None},
        {BREAK_GLASS_CLAIM: "ngắn"},
        {BREAK_GLASS_CLAIM: 42},
    ],
)
def test_bearer_refuses_a_break_glass_claim_on_an_unfit_token(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidTokenError):
        principal_from_claims(_claims(**changes))


def test_bearer_reads_the_claim() -> None:
    assert reason_of(_claims()) == "Cấp cứu ngoài giờ hành chính"
    assert reason_of(_claims(**{BREAK_GLASS_CLAIM: None})) is None
    assert principal_from_claims(_claims()).break_glass == "Cấp cứu ngoài giờ hành chính"


# --- through the assembled platform ---------------------------------------------------------------------


@pytest.fixture
def platform_settings(schema_url: str, tmp_path: Path) -> Iterator[Settings]:
    migrate(schema_url)
    yield Settings(database_url=schema_url, data_dir=tmp_path, auth_required=True)
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's


JSON = {"Content-Type": "application/fhir+json"}


async def _audit_rows(patient: str, want: int) -> list[tuple[Any, ...]]:
    """The break-the-glass audit rows naming ``patient`` (reads are written by a background task)."""
    rows: list[tuple[Any, ...]] = []
    for _ in range(100):
        async with transaction() as conn:
            cur = await conn.execute(
                "SELECT action, outcome, break_glass, principal_subject, principal_facility FROM audit_event"
                " WHERE patients @> ARRAY[%s] AND break_glass IS NOT NULL ORDER BY seq",
                (patient,),
            )
            rows = list(await cur.fetchall())
        if len(rows) >= want:
            return rows
        await asyncio.sleep(0.05)
    return rows


def test_doctor_sees_another_facility_patient_only_with_break_glass(platform_settings: Settings) -> None:
    tokens = TokenService.from_config(OAuthConfig.from_settings(platform_settings))

    async def main() -> None:
        app = build_app(platform_settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                system = tokens.mint(
                    tokens.access_claims(client_id="seed", scope="system/*.cruds", user=None)
                )
                seed = {"Authorization": f"Bearer {system}", **JSON}
                for resource in (
                    {"resourceType": "Organization", "id": "org-a", "name": "Bệnh viện A"},
                    {"resourceType": "Organization", "id": "org-b", "name": "Trạm Y tế B"},
                    {
                        "resourceType": "Patient",
                        "id": "p-b1",
                        "name": [{"family": "Đỗ", "given": ["Thị", "Mai"]}],
                        "managingOrganization": {"reference": "Organization/org-b"},
                    },
                ):
                    r = await c.put(
                        f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=seed
                    )
                    assert r.status_code in (200, 201), r.text

                normal = tokens.mint(
                    tokens.access_claims(client_id="senhealth-web", scope="user/*.cruds", user=DOCTOR)
                )
                r = await c.get("/fhir/Patient/p-b1", headers={"Authorization": f"Bearer {normal}"})
                assert r.status_code == 404

                token, claims = mint_break_glass_token(tokens, DOCTOR, REASON, None)
                async with transaction() as conn:
                    await break_glass.record_grant(conn, claims, username="bs.a", patient="p-b1")
                emergency = {"Authorization": f"Bearer {token}"}
                r = await c.get("/fhir/Patient/p-b1", headers=emergency)
                assert r.status_code == 200 and r.json()["id"] == "p-b1"
                r = await c.get("/fhir/Patient", params={"name": "mai"}, headers=emergency)
                assert r.status_code == 200 and r.json()["entry"][0]["resource"]["id"] == "p-b1"

                rows = await _audit_rows("p-b1", 2)
                assert {row[0] for row in rows} >= {"read", "search"}
                for _action, outcome, reason, subject, facility in rows:
                    assert reason == claims[BREAK_GLASS_CLAIM] and outcome == "success"
                    assert subject == DOCTOR.id and facility == "Organization/org-a"

                async with transaction() as conn:
                    sessions = await break_glass.sessions_for_review(conn, "Organization/org-a")
                    assert [s.key for s in sessions] == [claims["jti"]]
                    session = sessions[0]
                    assert session.patients["p-b1"].count >= 2 and not session.reviewed
                    assert session.intended_patient == "p-b1" and session.username == "bs.a"
                    assert await break_glass.unreviewed_count(conn, "Organization/org-a") == 1
                    assert await break_glass.sessions_for_review(conn, "Organization/org-b") == []
                    with pytest.raises(BreakGlassError):
                        await break_glass.mark_reviewed(
                            conn, facility="Organization/org-b", session_key=claims["jti"],
                            subject=DOCTOR.id, reviewer="acc-admin-b",
                        )  # fmt: skip

                async with transaction() as conn:  # the end: revoked at once in this process
                    expires = session.expires
                    assert expires is not None
                    await break_glass.end_grant(conn, claims["jti"], expires)
                note_revoked(claims["jti"])
                r = await c.get("/fhir/Patient/p-b1", headers=emergency)
                assert r.status_code == 401

                async with transaction() as conn:
                    await break_glass.mark_reviewed(
                        conn, facility="org-a", session_key=claims["jti"], subject=DOCTOR.id,
                        reviewer="acc-admin-a", reviewer_name="Quản trị A", note="Cấp cứu thật, hợp lệ",
                    )  # fmt: skip
                    sessions = await break_glass.sessions_for_review(conn, "Organization/org-a")
                    assert sessions[0].reviewed and sessions[0].ended is not None
                    assert (
                        sessions[0].review is not None and sessions[0].review.note == "Cấp cứu thật, hợp lệ"
                    )
                    assert await break_glass.unreviewed_count(conn, "Organization/org-a") == 0
                    cur = await conn.execute("SELECT count(*) FROM audit_event WHERE break_glass IS NOT NULL")
                    row = await cur.fetchone()
                    assert row is not None and row[0] >= 2  # the audit log itself is untouched

    asyncio.run(main())
