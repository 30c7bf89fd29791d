"""Every interaction with patient data leaves its AuditEvent: the assembled platform, the real audit sink.

Spec: the Basic Audit Log Patterns IG https://profiles.ihe.net/ITI/BALP/ (one AuditEvent per RESTful
interaction: who, what, when, from where, outcome, the patients concerned; a search records the patients
it returned); R4 AuditEvent https://hl7.org/fhir/R4/auditevent.html.

Data-driven: a table of every interaction the FHIR API offers (each read, search and history level,
each write and its conditional form, patch, Bundles, operations), each sent by a signed-in doctor
through :func:`senhealth.app.build_app`; each row says the audit record it must leave. After the run
the audit log must hold exactly those records (no interaction without its record, no record without its
interaction), every record must become a valid R4 AuditEvent naming the doctor, and the chains must
verify. A refused interaction of a patient the doctor may not see leaves no record: it disclosed nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from senhealth.app import build_app
from senhealth.cli_token import mint_user_token
from senhealth.core.config import Settings
from senhealth.fhir.validation import validation_issues
from senhealth.security import accounts
from senhealth.security.audit import AuditRecord, to_fhir
from senhealth.security.audit_verify import verify
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig

JSON = {"Content-Type": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}


@dataclass(frozen=True)
class Case:
    """One interaction and the audit record it must leave: (action, resource type, id, patients)."""

    name: str
    method: str
    path: str
    expect: tuple[str, str | None, str | None, tuple[str, ...]] | None  # None: no record
    status: int = 200
    body: Any = None
    headers: dict[str, str] | None = None
    params: dict[str, str] | None = None


def cases(pid: str, oid: str, other: str) -> list[Case]:
    p = (pid,)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "identifier": [{"system": "urn:test", "value": "cond-1"}],
        "valueQuantity": {"value": 80, "unit": "/min"},
    }
    plain = {k: v for k, v in obs.items() if k != "identifier"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": plain, "request": {"method": "POST", "url": "Observation"}}],
    }
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"Observation/{oid}"}}],
    }
    return [
        Case("read", "GET", f"/fhir/Observation/{oid}", ("read", "Observation", oid, p)),
        Case("routed read", "GET", f"/fhir/Patient/{pid}", ("read", "Patient", pid, p), params={"_format": "json"}),
        Case("vread", "GET", f"/fhir/Observation/{oid}/_history/1", ("read", "Observation", oid, p)),
        Case("type search", "GET", "/fhir/Observation", ("search", "Observation", None, p), params={"code": "8867-4"}),
        Case("search by POST", "POST", "/fhir/Patient/_search", ("search", "Patient", None, p),
             body=f"_id={pid}", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Case("search with _include", "GET", "/fhir/Observation", ("search", "Observation", None, p),
             params={"_include": "Observation:subject"}),
        Case("compartment search", "GET", f"/fhir/Patient/{pid}/Observation", ("search", "Observation", pid, p)),
        Case("system search", "GET", "/fhir", ("search", None, None, p), params={"_type": "Patient"}),
        Case("instance history", "GET", f"/fhir/Observation/{oid}/_history", ("history", "Observation", oid, p)),
        Case("type history", "GET", "/fhir/Observation/_history", ("history", "Observation", None, p)),
        Case("system history", "GET", "/fhir/_history", ("history", None, None, p)),
        Case("$everything", "GET", f"/fhir/Patient/{pid}/$everything", ("operation", "Patient", pid, p)),
        Case("create", "POST", "/fhir/Observation", ("create", "Observation", "*", p), status=201, body=obs,
             headers=JSON),
        Case("conditional create (exists)", "POST", "/fhir/Observation", ("create", "Observation", "*", p),
             body=obs, headers={**JSON, "If-None-Exist": "identifier=urn:test|cond-1"}),
        Case("update", "PUT", f"/fhir/Observation/{oid}", ("update", "Observation", oid, p),
             body={**plain, "id": oid, "status": "amended"}, headers=JSON),
        Case("patch", "PATCH", f"/fhir/Observation/{oid}", ("update", "Observation", oid, p),
             body=[{"op": "replace", "path": "/status", "value": "corrected"}], headers=PATCH),
        Case("conditional update", "PUT", "/fhir/Observation", ("update", "Observation", "*", p),
             body={**obs, "status": "amended"}, headers=JSON, params={"identifier": "urn:test|cond-1"}),
        Case("transaction", "POST", "/fhir", ("operation", None, None, p), body=bundle, headers=JSON),
        Case("batch", "POST", "/fhir", ("operation", None, None, p), body=batch, headers=JSON),
        Case("$validate", "POST", "/fhir/Observation/$validate", ("operation", "Observation", None, ()),
             body=obs, headers=JSON),
        Case("$meta", "GET", f"/fhir/Observation/{oid}/$meta", ("operation", "Observation", oid, p)),
        Case("conditional delete", "DELETE", "/fhir/Observation", ("delete", "Observation", "*", p),
             params={"identifier": "urn:test|cond-1"}),
        Case("delete", "DELETE", f"/fhir/Observation/{oid}", ("delete", "Observation", oid, p)),
        # another facility's patient: refused as unknown, and nothing was disclosed, so no record
        Case("read outside the facility", "GET", f"/fhir/Patient/{other}", None, status=404),
    ]  # fmt: skip


def test_every_interaction_leaves_its_audit_event(platform_settings: Settings) -> None:
    settings = platform_settings
    state: dict[str, Any] = {}

    async def main() -> None:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            config = OAuthConfig.from_settings(settings)
            doctor = await accounts.create_user(
                "bs.kiem", "mat-khau-dai-123", ["doctor"], facility="Organization/h1"
            )
            stranger = await accounts.create_user(
                "bs.la", "mat-khau-dai-456", ["doctor"], facility="Organization/h2"
            )
            h = {"Authorization": f"Bearer {mint_user_token(user_info(doctor), config=config)}"}
            h2 = {"Authorization": f"Bearer {mint_user_token(user_info(stranger), config=config)}"}
            state["doctor"], state["stranger"] = doctor.id, stranger.id
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                made = []
                for hh, org in ((h, "h1"), (h2, "h2")):
                    pat = {
                        "resourceType": "Patient",
                        "managingOrganization": {"reference": f"Organization/{org}"},
                    }
                    r = await c.post("/fhir/Patient", json=pat, headers={**hh, **JSON})
                    assert r.status_code == 201, r.text
                    made.append(r.json()["id"])
                pid, other = made
                obs = {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                }
                r = await c.post("/fhir/Observation", json=obs, headers={**h, **JSON})
                assert r.status_code == 201, r.text
                oid = r.json()["id"]
                state["setup"] = [("create", "Patient", pid, (pid,)), ("create", "Observation", oid, (pid,))]
                table = cases(pid, oid, other)
                for case in table:
                    kw: dict[str, Any] = {"headers": {**h, **(case.headers or {})}, "params": case.params}
                    if isinstance(case.body, str):
                        kw["content"] = case.body
                    elif case.body is not None:
                        kw["json"] = case.body
                    r = await c.request(case.method, case.path, **kw)
                    assert r.status_code == case.status, (case.name, r.status_code, r.text[:600])
                state["cases"] = table

    asyncio.run(main())
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT * FROM audit_event ORDER BY seq").fetchall()
        names = [d.name for d in conn.execute("SELECT * FROM audit_event LIMIT 0").description or []]
    records = [AuditRecord.from_row(r) for r in rows]
    mine = [r for r in records if r.principal_subject == state["doctor"]]
    named = {c.path.rsplit("/", 1)[-1] for c in state["cases"]} | {i for _, _, i, _ in state["setup"]}

    def key(action: str, res_type: str | None, res_id: str | None, patients: Any) -> tuple[str, ...]:
        if res_id is not None and res_id not in named:
            res_id = "*"  # an id the server assigned during the run (a create, a conditional write)
        return (action, res_type or "", res_id or "", *sorted(patients))

    got = sorted(key(r.action, r.res_type, r.res_id, r.patients) for r in mine)
    expected = [c.expect for c in state["cases"] if c.expect is not None] + state["setup"]
    want = sorted(key(*e) for e in expected)
    missing = [w for w in want if w not in got]
    extra = [g for g in got if g not in want]
    assert not missing and not extra, f"columns {names}\nmissing: {missing}\nextra: {extra}"
    assert len(got) == len(want)
    for r in mine:
        event = to_fhir(r)
        issues = [i for i in validation_issues(event) if i[0] in ("error", "fatal")]
        assert not issues, (r.action, issues)
        assert any(
            a.get("who", {}).get("identifier", {}).get("value") == state["doctor"]
            or state["doctor"] in str(a.get("who", {}))
            for a in event["agent"]
        ), event["agent"]
    report = verify(settings.database_url)
    assert report.ok, report
