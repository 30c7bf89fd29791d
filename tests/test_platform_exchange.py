"""Issue 5's exchange features together, on the assembled platform with the role policy and real tokens.

Spec: https://hl7.org/fhir/R4/terminology-service.html, https://sql-on-fhir.org/ig/latest/ (``$run``),
https://hl7.org/fhir/uv/bulkdata/STU2/export.html, https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/,
https://hl7.org/fhir/R4/security.html; the rules: :mod:`senhealth.security.policy`, docs/consent.md.

One platform for the whole module: ``senhealth.app.build_app`` under uvicorn on loopback, a procrastinate
worker and a rest-hook receiver on the same event loop (in a thread), a migrated schema of its own (built as
the ``platform_settings`` fixture builds one, module-wide so that the app, the worker and the data are made
once). The province:

- ``bv1`` a district hospital, ``xa1`` a commune station that is ``partOf`` it, ``bv2`` an unrelated one;
- patient ``pa`` cared for at ``bv1`` (hypertension I10, consented to research), ``pb`` at ``bv2``
  (hypertensive heart disease I11.9 and dengue A90, a notifiable disease), ``pc`` at ``xa1`` (I20.9);
- users: a doctor, a facility administrator at ``bv1``, a commune health worker at ``xa1``, a doctor at
  ``bv2``, a data analyst, a CDC officer, a provincial officer, the citizen ``pa`` and a system client.

Who sees which patient (the rule every check below derives from): ``VISIBLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx
import orjson
import psycopg
import pytest
import uvicorn
from psycopg import sql
from psycopg.conninfo import make_conninfo
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.mpi.operations import unregister_mpi_operations

T = TypeVar("T")
JSON: Final = {"Content-Type": "application/fhir+json"}
ASYNC: Final = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
ICD: Final = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
IG: Final = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
TOPIC: Final = "https://senhealth.vn/fhir/SubscriptionTopic/"
ACT: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

#: Which patients' data each caller may see (None: all of them).
VISIBLE: Final[dict[str, set[str] | None]] = {
    "doctor": {"pa", "pc"},  # bv1's own patient, and xa1's through the referral network
    "admin": {"pa", "pc"},
    "chw": {"pa", "pc"},  # xa1's own patient, and bv1's (the station's district hospital)
    "doctor2": {"pb"},
    "analyst": {"pa"},  # consented to research; de-identified
    "cdc": {"pb"},  # has dengue (A90)
    "province": set(),  # aggregates only
    "patient": {"pa"},
    "system": None,
}
ROLE: Final = {
    "doctor": "doctor",
    "admin": "facility_admin",
    "chw": "commune_health_worker",
    "doctor2": "doctor",
    "analyst": "data_analyst",
    "cdc": "cdc_officer",
    "province": "provincial_officer",
    "patient": "patient",
    "system": "system",
}
STAFF: Final = ("doctor", "admin", "chw", "doctor2", "analyst", "cdc", "province")


def sees(who: str, patient: str) -> bool:
    allowed = VISIBLE[who]
    return allowed is None or patient in allowed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the platform on loopback ----------------------------------------------------------------------------


@dataclass
class Receiver:
    """A rest-hook endpoint on loopback: keeps every notification Bundle posted to it."""

    port: int = field(default_factory=_free_port)
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def hook(self, request: Request) -> Response:
        self.received.append(orjson.loads(await request.body()))
        return Response(status_code=200)

    def events(self, subscription: str) -> list[dict[str, Any]]:
        """The ``notification-event`` parts of the event notifications for ``subscription``."""
        out = []
        for bundle in self.received:
            status = bundle["entry"][0]["resource"]
            params = {p["name"]: p for p in status["parameter"]}
            if params["type"]["valueCode"] != "event-notification":
                continue
            if not params["subscription"]["valueReference"]["reference"].endswith(
                f"Subscription/{subscription}"
            ):
                continue
            for p in status["parameter"]:
                if p["name"] == "notification-event":
                    out.append(
                        {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
                    )
        return out


class Live:
    """The platform app under uvicorn, the job worker (every task module) and the receiver, on one event
    loop in a thread; ``run(coro)`` runs a coroutine there (accounts, database look-ups)."""

    def __init__(self, app: Any, database_url: str) -> None:
        self.database_url = database_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.receiver = Receiver()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        hook = Starlette(routes=[Route("/hook", self.receiver.hook, methods=["POST"])])
        self.hook_server = uvicorn.Server(
            uvicorn.Config(
                hook, host="127.0.0.1", port=self.receiver.port, log_level="warning", lifespan="off"
            )
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from senhealth.jobs.worker import run_worker

        self.loop = asyncio.get_running_loop()
        await db.open_pool(self.database_url, max_size=16)
        hook = asyncio.create_task(self.hook_server.serve())
        worker = asyncio.create_task(
            run_worker(
                install_signal_handlers=False, poll_interval_s=0.1, concurrency=4, shutdown_timeout_s=5
            )
        )
        try:
            await self.server.serve()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self.hook_server.should_exit = True
            await hook
            await db.close_pool()

    def __enter__(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not (self.server.started and self.hook_server.started):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the platform did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@dataclass
class Province:
    """The running platform, a client, the callers' bearer headers and the ids written."""

    live: Live
    client: httpx.Client
    settings: Settings
    tokens: dict[str, dict[str, str]]
    patient_of: dict[str, str]  # Condition / Observation / Encounter id -> patient name

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.database_url or "") as conn:
            return conn.execute(query, params).fetchall()

    def get(self, who: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers={**self.tokens[who], **kw.pop("headers", {})}, **kw)

    def post(self, who: str, path: str, body: Any, **kw: Any) -> httpx.Response:
        headers = {**JSON, **self.tokens[who], **kw.pop("headers", {})}
        return self.client.post(path, content=orjson.dumps(body), headers=headers, **kw)

    def put(self, who: str, resource: dict[str, Any]) -> httpx.Response:
        path = f"/fhir/{resource['resourceType']}/{resource['id']}"
        return self.client.put(path, content=orjson.dumps(resource), headers={**JSON, **self.tokens[who]})


def _condition(cid: str, patient: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": ICD, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
    }


def _observation(oid: str, patient: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2025-03-01T08:30:00+07:00",
        "valueQuantity": {
            "value": value,
            "unit": "mm[Hg]",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }


def _encounter(eid: str, patient: str, org: str, status: str = "finished") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"system": ACT, "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": {"reference": f"Organization/{org}"},
    }


def _world(p: Province) -> None:
    from senhealth.security.consent import build_consent

    orgs = (
        ("bv1", "Bệnh viện huyện Một", None),
        ("xa1", "Trạm Y tế xã Một", "bv1"),
        ("bv2", "Bệnh viện Hai", None),
    )
    for org, name, part_of in orgs:
        body: dict[str, Any] = {"resourceType": "Organization", "id": org, "name": name}
        if part_of:
            body["partOf"] = {"reference": f"Organization/{part_of}"}
        r = p.put("system", body)
        assert r.status_code in (200, 201), r.text
    people = (
        ("pa", "bv1", "Nguyễn", "001080000001"),
        ("pb", "bv2", "Trần", "001080000002"),
        ("pc", "xa1", "Lê", "001080000003"),
    )
    for pid, org, family, cccd in people:
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": family, "given": ["Văn", pid]}],
            "identifier": [{"system": "https://senhealth.vn/fhir/sid/cccd", "value": cccd}],
            "gender": "male",
            "birthDate": "1965-04-03",
            "managingOrganization": {"reference": f"Organization/{org}"},
        }
        assert p.put("system", patient).status_code in (200, 201)
        resources = [_observation(f"obs-{pid}", pid, 150), _encounter(f"enc-{pid}", pid, org)]
        for resource in resources:
            r = p.put("system", resource)
            assert r.status_code in (200, 201), r.text
            p.patient_of[resource["id"]] = pid
    for cid, pid, code in (
        ("c-pa-i10", "pa", "I10"),
        ("c-pb-i11", "pb", "I11.9"),
        ("c-pb-a90", "pb", "A90"),
        ("c-pc-i20", "pc", "I20.9"),
    ):
        r = p.put("system", _condition(cid, pid, code))
        assert r.status_code in (200, 201), r.text
        p.patient_of[cid] = pid
    research = build_consent("pa", "HRESCH", "permit", consent_id="consent-pa")
    assert p.put("system", research).status_code in (200, 201)


@pytest.fixture(scope="module")
def province(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    """The platform, once for the module (see the module docstring)."""
    from senhealth.app import build_app
    from senhealth.cli_token import mint_user_token
    from senhealth.fhir import access, subscriptions
    from senhealth.fhir.operations.registry import all_operations, unregister
    from senhealth.fhir.subscriptions.config import configure, get_config
    from senhealth.security import accounts
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig
    from senhealth.security.oauth.tokens import TokenService

    schema = f"test_exchange_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    settings = Settings(
        database_url=url,
        data_dir=tmp_path_factory.mktemp("exchange"),
        auth_required=True,
        notifiable_icd10=["A90"],
        bulk_import_hosts=["127.0.0.1"],
    )
    operations_before = {op.name for op in all_operations()}
    saved_config = get_config().model_dump()
    configure(backoff_base_s=0.1, backoff_max_s=0.4, error_after=3)
    config = OAuthConfig.from_settings(settings)
    service = TokenService.from_config(config)
    users = {
        "doctor": ("bs.bv1", ["doctor"], {"facility": "Organization/bv1"}),
        "admin": ("quan.tri.bv1", ["facility_admin"], {"facility": "Organization/bv1"}),
        "chw": ("yt.xa1", ["commune_health_worker"], {"facility": "Organization/xa1"}),
        "doctor2": ("bs.bv2", ["doctor"], {"facility": "Organization/bv2"}),
        "analyst": ("nc.vien", ["data_analyst"], {}),
        "cdc": ("cdc.tinh", ["cdc_officer"], {}),
        "province": ("so.y.te", ["provincial_officer"], {}),
        "patient": ("benh.nhan.pa", ["patient"], {"patient": "Patient/pa"}),
    }
    try:
        app = build_app(settings)
        with Live(app, url) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            system = service.mint(
                service.access_claims(client_id="so-y-te-his", scope="system/*.cruds", user=None)
            )
            tokens = {"system": {"Authorization": f"Bearer {system}"}}
            for key, (name, roles, kw) in users.items():
                user = live.run(accounts.create_user(name, "mat-khau-dai-123", roles, **kw))
                tokens[key] = {"Authorization": f"Bearer {mint_user_token(user_info(user), config=config)}"}
            p = Province(live, client, settings, tokens, {})
            _world(p)
            yield p
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        subscriptions.uninstall()
        unregister_mpi_operations()  # the linked $everything install_platform put in place of the core's
        configure(**saved_config)
        for op in list(all_operations()):
            if op.name not in operations_before:
                unregister(op.name)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _wait(check: Any, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def _audit(p: Province, where: str, *params: Any) -> list[tuple[Any, ...]]:
    """Audit rows (action, roles, patients, details) matching ``where``, waiting for the read buffer."""
    query = f"SELECT action, principal_roles, patients, details FROM audit_event WHERE {where} ORDER BY seq"
    rows: list[tuple[Any, ...]] = []

    def found() -> bool:
        rows[:] = p.sql(query, *params)
        return bool(rows)

    _wait(found, 5, f"an audit record where {where} {params}")
    return rows


def _params(body: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for part in body["parameter"]:
        value = next((v for k, v in part.items() if k.startswith("value")), None)
        out.setdefault(part["name"], []).append(value)
    return out


# --- 1. terminology ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*STAFF, "patient", "system"])
def test_terminology_for_every_role_and_code_below_within_the_restriction(
    province: Province, who: str
) -> None:
    """The terminology operations answer every signed-in caller (code systems are not patient data);
    ``Condition?code:below=`` answers from the ICD-10 hierarchy, only with the Conditions the caller may
    see."""
    p = province
    r = p.get(who, "/fhir/CodeSystem/$lookup", params={"system": ICD, "code": "I10"})
    assert r.status_code == 200, (who, r.text)
    assert "huyết áp" in _params(r.json())["display"][0]
    r = p.get(
        who, "/fhir/ValueSet/$expand", params={"url": f"{ICD}?fhir_vs=isa/IX", "filter": "tang huyet ap"}
    )
    assert r.status_code == 200, (who, r.text)
    codes = {c["code"] for c in r.json()["expansion"]["contains"]}
    assert {"I10", "I11.9"} <= codes and "A90" not in codes
    r = p.get(who, "/fhir/CodeSystem/$validate-code", params={"url": ICD, "code": "A90"})
    assert r.status_code == 200 and _params(r.json())["result"] == [True], (who, r.text)
    r = p.get(who, "/fhir/CodeSystem/$subsumes", params={"system": ICD, "codeA": "IX", "codeB": "I10"})
    assert r.status_code == 200 and _params(r.json())["outcome"] == ["subsumes"], (who, r.text)
    r = p.get(
        who,
        "/fhir/ConceptMap/$translate",
        params={
            "url": "https://senhealth.vn/fhir/ConceptMap/icd10-vn-to-who",
            "system": ICD,
            "code": "A97.1",
        },
    )
    assert r.status_code == 200 and _params(r.json())["result"] == [True], (who, r.text)

    r = p.get(who, "/fhir/Condition", params={"code:below": f"{ICD}|IX", "_count": "100"})
    assert r.status_code == 200, (who, r.text)
    got = {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}
    circulatory = {"c-pa-i10", "c-pb-i11", "c-pc-i20"}
    assert got == {c for c in circulatory if sees(who, p.patient_of[c])}, who
    r = p.get(who, "/fhir/Condition", params={"code:in": f"{ICD}?fhir_vs=isa/A90-A99"})
    got = {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}
    assert got == ({"c-pb-a90"} if sees(who, "pb") else set()), who


# --- 2. SQL-on-FHIR views ----------------------------------------------------------------------------------

OBS_VIEW: Final[dict[str, Any]] = {
    "resourceType": "ViewDefinition",
    "name": "bp_values",
    "status": "active",
    "resource": "Observation",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "patient", "path": "subject.getReferenceKey(Patient)", "type": "id"},
                {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
            ]
        }
    ],
}
PATIENT_VIEW: Final[dict[str, Any]] = {
    "resourceType": "ViewDefinition",
    "name": "people",
    "status": "active",
    "resource": "Patient",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "family", "path": "name.first().family", "type": "string"},
                {"name": "cccd", "path": "identifier.first().value", "type": "string"},
                {"name": "birth", "path": "birthDate", "type": "date"},
            ]
        }
    ],
}


def _run(p: Province, who: str, view: dict[str, Any]) -> httpx.Response:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "viewResource", "resource": view}, {"name": "_format", "valueCode": "json"}],
    }
    return p.post(who, "/fhir/ViewDefinition/$run", body)


@pytest.mark.parametrize("who", [*STAFF, "patient", "system"])
def test_view_run_reads_what_the_caller_may_see_and_is_audited(province: Province, who: str) -> None:
    p = province
    r = _run(p, who, OBS_VIEW)
    assert r.status_code == 200, (who, r.text)
    assert {row["patient"] for row in r.json()} == {x for x in ("pa", "pb", "pc") if sees(who, x)}, who
    r = _run(p, who, PATIENT_VIEW)
    assert r.status_code == 200, (who, r.text)
    rows = {row["id"]: row for row in r.json()}
    assert set(rows) == {x for x in ("pa", "pb", "pc") if sees(who, x)}, who
    for row in rows.values():
        if who == "analyst":  # de-identified before the view sees the resource
            assert (row["family"], row["cccd"], row["birth"]) == (None, None, "1965"), row
        else:
            assert row["family"] and row["cccd"] and row["birth"] == "1965-04-03", row
    if rows:  # each run that read patients' data is in the audit trail, naming them, with its caller
        audited = _audit(
            p,
            "details->>'operation' = 'run' AND details->>'view' = 'people' AND patients = %s::text[]"
            " AND %s = ANY(principal_roles)",
            sorted(rows),
            ROLE[who],
        )
        assert audited[0][0] == "operation"


def test_stored_views_are_written_by_administrators_and_systems_only(province: Province) -> None:
    """A stored view is shared by everybody and materialised by the system: a facility administrator or
    a system client may write one; the other roles run views but do not store them."""
    p = province
    view = {**PATIENT_VIEW, "name": "people_stored", "url": "https://senhealth.vn/fhir/ViewDefinition/people"}
    status = {}
    for who in ("doctor", "chw", "analyst", "cdc", "province", "patient"):
        status[who] = p.post(who, "/fhir/ViewDefinition", view).status_code
    assert status == dict.fromkeys(status, 403), status
    r = p.post("admin", "/fhir/ViewDefinition", view)
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    r = p.put("system", {**view, "id": vid, "title": "Người bệnh / patients"})
    assert r.status_code == 200, r.text
    assert p.client.delete(f"/fhir/ViewDefinition/{vid}", headers=p.tokens["doctor"]).status_code == 403
    # everybody may read it and run it: the rows are theirs
    for who, want in (
        ("doctor", {"pa", "pc"}),
        ("analyst", {"pa"}),
        ("patient", {"pa"}),
        ("system", {"pa", "pb", "pc"}),
    ):
        assert p.get(who, f"/fhir/ViewDefinition/{vid}").status_code == 200, who
        r = p.get(who, f"/fhir/ViewDefinition/{vid}/$run", params={"_format": "json"})
        assert r.status_code == 200, (who, r.text)
        assert {row["id"] for row in r.json()} == want, who
    r = p.get("doctor", f"/fhir/ViewDefinition/{vid}/$run", params={"_format": "json", "patient": "pb"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["patient"], r.text


# --- 3. Bulk Data -----------------------------------------------------------------------------------------


def _wait_done(p: Province, status_url: str, who: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        r = p.client.get(status_url, headers=p.tokens[who])
        if r.status_code != 202:
            return r
        assert time.monotonic() < deadline, "the job did not finish in 60 s"
        time.sleep(0.1)


def _export(
    p: Province, who: str, path: str, **params: str
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    r = p.client.get(path, params=params, headers={**ASYNC, **p.tokens[who]})
    assert r.status_code == 202, (who, r.text)
    status = r.headers["Content-Location"]
    done = _wait_done(p, status, who)
    assert done.status_code == 200, (who, done.text)
    manifest: dict[str, Any] = done.json()
    manifest["_status"] = status
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        f = p.client.get(item["url"], headers=p.tokens[who])
        assert f.status_code == 200, f.text
        rows = [orjson.loads(line) for line in f.content.splitlines() if line.strip()]
        assert len(rows) == item["count"]
        out.setdefault(item["type"], []).extend(rows)
    return manifest, out


def _patients_in(got: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The patients of the province's world whose data an export holds (an import test may add others)."""
    out = {r["id"] for r in got.get("Patient", [])}
    for rtype in ("Observation", "Condition", "Encounter"):
        out |= {r["subject"]["reference"].removeprefix("Patient/") for r in got.get(rtype, [])}
    return out & {"pa", "pb", "pc"}


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("doctor", "/fhir/$export"),
        ("doctor", "/fhir/Patient/$export"),
        ("analyst", "/fhir/$export"),
        ("system", "/fhir/Patient/$export"),
        ("cdc", "/fhir/Patient/$export"),
        ("patient", "/fhir/Patient/$export"),
        ("province", "/fhir/$export"),
    ],
)
def test_export_holds_what_the_caller_may_see(province: Province, who: str, path: str) -> None:
    p = province
    types = "Patient,Observation,Condition,Encounter,Organization"
    manifest, got = _export(
        p, who, path, _type=types if path == "/fhir/$export" else "Patient,Observation,Condition,Encounter"
    )
    assert _patients_in(got) == {x for x in ("pa", "pb", "pc") if sees(who, x)}, (who, path)
    assert ("Organization" in got) == (path == "/fhir/$export"), got.keys()
    if who == "analyst":
        for person in got["Patient"]:
            assert "name" not in person and "identifier" not in person, person
    else:
        assert all("name" in person for person in got.get("Patient", []))
    # the job and its files are the requester's: anyone else is answered as for no such job
    status, file_url = manifest["_status"], manifest["output"][0]["url"]
    for other in {"doctor2", "patient", "analyst"} - {who}:
        assert p.client.get(status, headers=p.tokens[other]).status_code == 404
        assert p.client.get(file_url, headers=p.tokens[other]).status_code == 404
    assert p.client.get(file_url).status_code == 401
    job = status.rsplit("/", 1)[1]
    audited = _audit(p, "details->>'operation' = 'export' AND details->>'job' = %s", job)
    assert set(audited[0][2]) & {"pa", "pb", "pc"} == _patients_in(got), audited


def test_export_combines_with_terminology_groups_and_the_audit(province: Province) -> None:
    """A doctor's export filtered from the ICD-10 hierarchy, a Group export of members the doctor may and
    may not see, an invisible ``patient`` refused; kick-offs and downloads are audited."""
    p = province
    _, got = _export(
        p, "doctor", "/fhir/$export", _type="Condition", _typeFilter=f"Condition?code:below={ICD}|IX"
    )
    assert {c["id"] for c in got["Condition"]} == {"c-pa-i10", "c-pc-i20"}
    group = {
        "resourceType": "Group",
        "id": "g-mixed",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{x}"}} for x in ("pa", "pb", "pc")],
    }
    assert p.put("system", group).status_code in (200, 201)
    manifest, got = _export(p, "doctor", "/fhir/Group/g-mixed/$export", _type="Patient,Condition")
    assert _patients_in(got) == {"pa", "pc"}
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "patient", "valueReference": {"reference": "Patient/pb"}}],
    }
    r = p.post("doctor", "/fhir/Patient/$export", body, headers=ASYNC)
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["patient"], r.text
    unknown = f"Condition?code:in=https://example.org/fhir/ValueSet/{uuid.uuid4().hex}"
    r = p.get("doctor", "/fhir/$export", params={"_typeFilter": unknown}, headers=ASYNC)
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["_typeFilter"], r.text
    job = manifest["_status"].rsplit("/", 1)[1]
    files = _audit(p, "details->>'operation' = 'export-file' AND details->>'job' = %s", job)
    assert len(files) == len(manifest["output"]) and {f[0] for f in files} == {"read"}
    kick_offs = _audit(p, "details->>'operation' = 'export' AND res_type = 'Group'")
    assert kick_offs and "doctor" in kick_offs[-1][1]


def test_views_use_the_terminology(province: Province) -> None:
    """A view whose ``where`` asks FHIRPath ``memberOf`` of a packaged value set (dengue), run by each
    role: the rows are the Conditions the caller may see that are in it."""
    p = province
    view = {
        "resourceType": "ViewDefinition",
        "status": "active",
        "resource": "Condition",
        "where": [{"path": "code.memberOf('https://senhealth.vn/fhir/ValueSet/dengue')"}],
        "select": [{"column": [{"name": "id", "path": "getResourceKey()", "type": "id"}]}],
    }
    for who in ("cdc", "doctor", "doctor2", "analyst", "system"):
        r = _run(p, who, view)
        assert r.status_code == 200, (who, r.text)
        assert [row["id"] for row in r.json()] == (["c-pb-a90"] if sees(who, "pb") else []), who


def test_import_by_a_system_client_only(province: Province) -> None:
    p = province
    lines = [
        {
            "resourceType": "Patient",
            "id": "imp-1",
            "name": [{"family": "Đỗ"}],
            "managingOrganization": {"reference": "Organization/bv1"},
        },
        _observation("imp-obs-1", "imp-1", 131),
    ]
    body = b"\n".join(orjson.dumps(x) for x in lines)
    ndjson = {"Content-Type": "application/fhir+ndjson", **ASYNC}
    for who in ("doctor", "admin", "analyst", "patient"):
        r = p.client.post("/fhir/$import", content=body, headers={**ndjson, **p.tokens[who]})
        assert r.status_code == 403, (who, r.text)
    assert p.get("system", "/fhir/Patient/imp-1").status_code == 404
    r = p.client.post("/fhir/$import", content=body, headers={**ndjson, **p.tokens["system"]})
    assert r.status_code == 202, r.text
    done = _wait_done(p, r.headers["Content-Location"], "system")
    assert done.status_code == 200, done.text
    assert p.client.get(r.headers["Content-Location"], headers=p.tokens["doctor"]).status_code == 404
    job = r.headers["Content-Location"].rsplit("/", 1)[1]
    audited = _audit(p, "details->>'operation' = 'import' AND details->>'job' = %s", job)
    assert audited[0][0] == "create" and "system" in audited[0][1] and audited[0][3]["created"] == 2, audited
    # imported data is under the policy like any other: bv1's doctor sees it, bv2's does not
    assert p.get("doctor", "/fhir/Observation/imp-obs-1").status_code == 200
    assert p.get("doctor2", "/fhir/Observation/imp-obs-1").status_code == 404


# --- 4. subscriptions -------------------------------------------------------------------------------------


def _subscription(endpoint: str, *, secret: str = "Authorization: Bearer bi-mat") -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [IG + "backport-subscription"]},
        "status": "requested",
        "reason": "Báo ra viện / encounters finished",
        "criteria": TOPIC + "encounter-finished",
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "header": [secret],
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": IG + "backport-payload-content", "valueCode": "id-only"}]},
        },
    }


def test_subscriptions_notify_within_the_subscribers_reach(province: Province) -> None:
    p = province
    receiver = p.live.receiver
    # a de-identified analyst may not subscribe; nor may a citizen or an officer
    for who in ("analyst", "patient", "province"):
        r = p.post(who, "/fhir/Subscription", _subscription(receiver.url))
        assert r.status_code == 403, (who, r.text)
    r = p.post("doctor", "/fhir/Subscription", _subscription(receiver.url))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def status() -> str:
        r = p.get("doctor", f"/fhir/Subscription/{sid}/$status")
        assert r.status_code == 200, r.text
        return str(_params(r.json()["entry"][0]["resource"])["status"][0])

    _wait(lambda: status() == "active", 20, "the handshake")
    # bv2's encounter first (the doctor may not see pb), then bv1's: only bv1's is notified
    r = p.put("doctor2", _encounter("enc-pb-2", "pb", "bv2"))
    assert r.status_code == 201, r.text
    r = p.put("doctor", _encounter("enc-pa-2", "pa", "bv1"))
    assert r.status_code == 201, r.text
    _wait(lambda: bool(receiver.events(sid)), 10, "the notification")
    time.sleep(0.3)  # a wrong second notification would have arrived by now
    events = receiver.events(sid)
    assert ["/".join(e["focus"]["reference"].split("/")[-2:]) for e in events] == ["Encounter/enc-pa-2"], (
        events
    )
    r = p.get("doctor", f"/fhir/Subscription/{sid}/$events")
    assert r.status_code == 200, r.text
    # what went out is in the audit trail: the subscription, its receiver, the patient concerned
    sent = _audit(p, "details->>'operation' = 'subscription-notification' AND res_id = %s", sid)
    assert [(a[2], a[3]["channel"], a[3]["endpoint"]) for a in sent] == [(["pa"], "rest-hook", "127.0.0.1")]
    # the subscription is its creator's: another doctor is answered as for an unknown one
    assert p.get("doctor2", f"/fhir/Subscription/{sid}/$status").status_code == 404
    assert p.get("doctor2", f"/fhir/Subscription/{sid}/$events").status_code == 404
    changed = {**_subscription(receiver.url), "id": sid, "status": "off"}
    assert p.put("doctor2", changed).status_code == 403


def test_websocket_subscription_through_the_platform(province: Province) -> None:
    """A commune health worker's websocket subscription on the platform (sign-in required, the web
    application installed): the binding token is the socket's only credential; an encounter of a patient
    the worker may see arrives, one of another facility's patient does not, and the send is audited."""
    from websockets.asyncio.client import connect

    p = province
    sub = {**_subscription("https://unused.example.vn/hook"), "channel": {"type": "websocket"}}
    sub["channel"]["payload"] = "application/fhir+json"
    r = p.post("chw", "/fhir/Subscription", sub)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = p.get("chw", f"/fhir/Subscription/{sid}/$get-ws-binding-token")
    assert r.status_code == 200, r.text
    out = _params(r.json())
    assert p.get("doctor2", f"/fhir/Subscription/{sid}/$get-ws-binding-token").status_code == 404

    async def listen() -> list[str]:
        async with connect(out["websocket-url"][0]) as ws:
            await ws.send(f"bind-with-token {out['token'][0]}")
            handshake = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert {"name": "type", "valueCode": "handshake"} in handshake["entry"][0]["resource"][
                "parameter"
            ]
            await asyncio.to_thread(lambda: p.put("doctor2", _encounter("enc-pb-ws", "pb", "bv2")))
            await asyncio.to_thread(lambda: p.put("chw", _encounter("enc-pc-ws", "pc", "xa1")))
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            status = message["entry"][0]["resource"]["parameter"]
            events = [p for p in status if p["name"] == "notification-event"]
            return [
                q["valueReference"]["reference"] for e in events for q in e["part"] if q["name"] == "focus"
            ]

    focus = asyncio.run(listen())
    assert ["/".join(f.split("/")[-2:]) for f in focus] == ["Encounter/enc-pc-ws"], focus
    sent = _audit(p, "details->>'operation' = 'subscription-notification' AND res_id = %s", sid)
    assert [(a[2], a[3]["channel"]) for a in sent] == [(["pc"], "websocket")]


def test_subscriptions_are_seen_by_subscribers_only(province: Province) -> None:
    """A Subscription carries the receiver's credentials (``channel.header``): the roles that may not
    subscribe do not see subscriptions at all (403), not even through an export or a view."""
    p = province
    secret = "Authorization: Bearer xa1-only"
    r = p.post("chw", "/fhir/Subscription", _subscription(p.live.receiver.url, secret=secret))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert p.get("chw", f"/fhir/Subscription/{sid}").status_code == 200
    view = {
        "resourceType": "ViewDefinition",
        "status": "active",
        "resource": "Subscription",
        "select": [{"column": [{"name": "header", "path": "channel.header.first()", "type": "string"}]}],
    }
    for who in ("analyst", "patient", "province", "cdc"):
        assert p.get(who, f"/fhir/Subscription/{sid}").status_code == 403, who
        assert p.get(who, "/fhir/Subscription").status_code == 403, who
        assert p.get(who, f"/fhir/Subscription/{sid}/$status").status_code == 403, who
        assert _run(p, who, view).status_code == 403, who
    r = p.client.get(
        "/fhir/$export", params={"_type": "Subscription"}, headers={**ASYNC, **p.tokens["analyst"]}
    )
    assert r.status_code == 403, r.text


def test_another_facilitys_doctor_does_not_read_the_subscription(province: Province) -> None:
    """Channel headers are kept out of the stored resource (senhealth/fhir/subscriptions/secret_headers.py)."""
    p = province
    secret = "Authorization: Bearer bv1-only"
    r = p.post("doctor", "/fhir/Subscription", _subscription(p.live.receiver.url, secret=secret))
    assert r.status_code == 201, r.text
    r = p.get("doctor2", f"/fhir/Subscription/{r.json()['id']}")
    assert r.status_code == 404 or "bv1-only" not in r.text


# --- 5. the CapabilityStatement ---------------------------------------------------------------------------


def test_capability_statement_lists_the_operations_and_each_answers(province: Province) -> None:
    p = province
    r = p.client.get("/fhir/metadata")
    assert r.status_code == 200, r.text
    rest = r.json()["rest"][0]
    system_ops = {o["name"] for o in rest.get("operation", [])}
    assert {"export", "import"} <= system_ops, system_ops
    by_type = {res["type"]: {o["name"] for o in res.get("operation", [])} for res in rest["resource"]}
    assert {"lookup", "validate-code", "subsumes"} <= by_type["CodeSystem"]
    assert {"expand", "validate-code"} <= by_type["ValueSet"]
    assert "translate" in by_type["ConceptMap"]
    assert {"status", "events"} <= by_type["Subscription"]
    assert "export" in by_type["Patient"] and "export" in by_type["Group"]
    from senhealth.fhir.operations.registry import get_operation

    unanswered = []
    sid = p.post("system", "/fhir/Subscription", _subscription(p.live.receiver.url)).json()["id"]
    group = {
        "resourceType": "Group",
        "id": "g-exchange",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": "Patient/pa"}}],
    }
    assert p.put("system", group).status_code in (200, 201)
    known = {
        "Subscription": sid,
        "Patient": "pa",
        "Group": "g-exchange",
        "CodeSystem": "icd10-vn",
        "ValueSet": "dengue",
        "ConceptMap": "icd10-vn-to-who",
    }

    def answers(path: str, method: str) -> bool:
        """Whether the operation is dispatched there: not 404 / 405 (no route, not at this level)."""
        headers = {**p.tokens["system"], **ASYNC}
        if method == "GET":
            r = p.client.get(path, headers=headers)
        else:
            r = p.client.post(path, content=b'{"resourceType": "Parameters"}', headers={**headers, **JSON})
        return r.status_code not in (404, 405)

    for name in sorted(system_ops):
        op = get_operation(name)
        assert op is not None, name
        if not answers(f"/fhir/${name}", "POST" if op.affects_state else "GET"):
            unanswered.append(f"${name}")
    for rtype in ("CodeSystem", "ValueSet", "ConceptMap", "Subscription", "Patient", "Group"):
        for name in sorted(by_type[rtype]):
            op = get_operation(name)
            assert op is not None, name
            method = "POST" if op.affects_state else "GET"
            paths = []
            if op.applies("type", rtype):
                paths.append(f"/fhir/{rtype}/${name}")
            if op.applies("instance", rtype):
                paths.append(f"/fhir/{rtype}/{known[rtype]}/${name}")
            if not any(answers(path, method) for path in paths):
                unanswered.append(f"{rtype} ${name}")
    assert not unanswered, unanswered


def test_read_only_roles_do_not_write_through_operations(province: Province) -> None:
    p = province
    cs = {
        "resourceType": "CodeSystem",
        "id": "phan-loai",
        "url": "https://senhealth.vn/fhir/CodeSystem/phan-loai-exchange",
        "status": "active",
        "content": "complete",
        "concept": [{"code": "do", "display": "Đỏ"}],
    }
    assert p.put("system", cs).status_code in (200, 201)
    tag = {"system": "https://senhealth.vn/fhir/tag", "code": "thu"}
    body = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]}
    refused = {}
    for who, path in (
        ("patient", "/fhir/Observation/obs-pa/$meta-add"),
        ("cdc", "/fhir/Condition/c-pb-a90/$meta-add"),
        ("analyst", "/fhir/CodeSystem/phan-loai/$meta-add"),
    ):
        refused[who] = p.post(who, path, body).status_code
    assert refused == dict.fromkeys(refused, 403), refused
