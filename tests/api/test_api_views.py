"""SQL-on-FHIR v2 over HTTP: ``ViewDefinition/$run`` in four formats, stored views, bad views, the
``$run`` filters, and the access policy (a facility doctor sees their patients' rows; an analyst gets
the opted-in patients' rows, de-identified).

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html. A real uvicorn
server on loopback (the app of :func:`senhealth.api.create_app` with :func:`senhealth.api.views.views_router`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
from api_support import observation, outcome, patient
from fastapi import FastAPI

from senhealth.api import create_app
from senhealth.api.views import views_router
from senhealth.core.config import Settings
from senhealth.fhir.json import dumps

FHIR_JSON = {"Content-Type": "application/fhir+json"}

OBS_VIEW: dict[str, Any] = {
    "resourceType": "ViewDefinition",
    "name": "obs_values",
    "url": "https://senhealth.vn/fhir/ViewDefinition/obs-values",
    "status": "active",
    "resource": "Observation",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "patient", "path": "subject.getReferenceKey(Patient)", "type": "id"},
                {"name": "code", "path": "code.coding.first().code", "type": "code"},
                {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
                {"name": "final", "path": "status = 'final'", "type": "boolean"},
                {"name": "effective", "path": "effective.ofType(dateTime)", "type": "dateTime"},
                {"name": "note", "path": "note.text.join(' / ')", "type": "string"},
            ]
        }
    ],
}
PATIENT_VIEW: dict[str, Any] = {
    "resourceType": "ViewDefinition",
    "name": "patients",
    "status": "active",
    "resource": "Patient",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "family", "path": "name.first().family", "type": "string"},
                {"name": "birth", "path": "birthDate", "type": "date"},
                {"name": "ids", "path": "identifier.value", "collection": True},
            ]
        }
    ],
}
NUMERIC = {"value"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base(api_url: str) -> Iterator[str]:
    yield from serve(create_app(Settings(database_url=api_url), extra_routers=[views_router()]))


def _post(c: httpx.Client, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return c.post(path, content=json.dumps(body), headers={**FHIR_JSON, **kw.pop("headers", {})}, **kw)


def _params(*parts: tuple[str, str, Any]) -> dict[str, Any]:
    out = []
    for name, kind, value in parts:
        out.append({"name": name, kind: value})
    return {"resourceType": "Parameters", "parameter": out}


def _load(c: httpx.Client) -> dict[str, Any]:
    """Three patients, five observations (one with a note that needs CSV quoting, one decimal 1.50)."""
    pids = []
    for i, fam in enumerate(("Nguyễn", "Trần", "Lê")):
        r = _post(c, "/fhir/Patient", patient(f"0790{i:08d}", family=fam))
        assert r.status_code == 201, r.text
        pids.append(r.json()["id"])
    oids = []
    for pid, value, extra in (
        (pids[0], 7.2, {}),
        (pids[0], Decimal("1.50"), {"note": [{"text": 'đường huyết, "cao"\nlần 2'}]}),
        (pids[1], 5, {"status": "preliminary"}),
        (pids[1], 6.25, {}),
        (pids[2], 120, {"code": "8480-6"}),
    ):
        body = observation(f"Patient/{pid}", value=value, **extra)
        r = c.post("/fhir/Observation", content=_dumps(body), headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        oids.append(r.json()["id"])
    return {"patients": pids, "observations": oids}


def _dumps(body: Any) -> bytes:
    return dumps(body)  # decimals keep their digits: 1.50 stays 1.50


def _norm(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in NUMERIC:
        return str(Decimal(str(value)).normalize())
    return str(value)


def _rows(fmt: str, body: bytes, header: bool = True) -> list[dict[str, str]]:
    names = [c["name"] for c in OBS_VIEW["select"][0]["column"]]
    if fmt == "json":
        raw = json.loads(body, parse_float=Decimal)
    elif fmt == "ndjson":
        raw = [json.loads(line, parse_float=Decimal) for line in body.decode().splitlines()]
    elif fmt == "csv":
        records = list(csv.reader(io.StringIO(body.decode(), newline="")))
        if header:
            assert records[0] == names
            records = records[1:]
        raw = [dict(zip(names, r, strict=True)) for r in records]
    else:
        with pq.ParquetFile(pa.BufferReader(body)) as f:
            raw = f.read().to_pylist()
    return sorted(({n: _norm(n, r.get(n)) for n in names} for r in raw), key=lambda r: r["id"])


def test_run_gives_the_same_rows_in_every_format(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        data = _load(c)
        results = {}
        for fmt in ("json", "ndjson", "csv", "parquet"):
            r = _post(
                c,
                "/fhir/ViewDefinition/$run",
                _params(("viewResource", "resource", OBS_VIEW), ("_format", "valueCode", fmt)),
            )
            assert r.status_code == 200, r.text
            results[fmt] = _rows(fmt, r.content)
        # the format from Accept when _format is absent; CSV without its header row
        r = _post(
            c,
            "/fhir/ViewDefinition/$run?header=false",
            _params(("viewResource", "resource", OBS_VIEW)),
            headers={"Accept": "text/csv"},
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert _rows("csv", r.content, header=False) == results["csv"]
        # no _format, no Accept that names one: NDJSON
        r = _post(
            c, "/fhir/ViewDefinition/$viewdefinition-run", _params(("viewResource", "resource", OBS_VIEW))
        )
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert _rows("ndjson", r.content) == results["ndjson"]
        r = _post(
            c,
            "/fhir/ViewDefinition/$run",
            _params(("viewResource", "resource", OBS_VIEW), ("_format", "valueCode", "parquet")),
        )
        with pq.ParquetFile(pa.BufferReader(r.content)) as f:
            schema = f.schema_arrow
    assert results["json"] == results["ndjson"] == results["csv"] == results["parquet"]
    rows = results["json"]
    assert sorted(r["id"] for r in rows) == sorted(data["observations"])
    noted = [r for r in rows if r["note"]]
    assert len(noted) == 1 and noted[0]["note"] == 'đường huyết, "cao"\nlần 2' and noted[0]["value"] == "1.5"
    assert sum(r["final"] == "false" for r in rows) == 1
    assert {r["patient"] for r in rows} == set(data["patients"])
    assert schema.field("value").type == pa.float64()
    assert schema.field("final").type == pa.bool_()
    assert schema.field("effective").type == pa.string()


def test_stored_views_and_run_by_reference(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        data = _load(c)
        r = _post(c, "/fhir/ViewDefinition", OBS_VIEW)
        assert r.status_code == 201, r.text
        stored = r.json()
        vid = stored["id"]
        assert stored["meta"]["versionId"] == "1" and r.headers["etag"] == 'W/"1"'
        assert r.headers["location"].endswith(f"/fhir/ViewDefinition/{vid}/_history/1")
        assert c.get(f"/fhir/ViewDefinition/{vid}").json()["name"] == "obs_values"
        listed = c.get("/fhir/ViewDefinition", params={"name": "obs_values"}).json()
        assert [e["resource"]["id"] for e in listed["entry"]] == [vid]
        assert c.get("/fhir/ViewDefinition", params={"name": "other"}).json().get("entry", []) == []
        by_url = c.get("/fhir/ViewDefinition", params={"url": OBS_VIEW["url"]}).json()
        assert by_url["entry"][0]["resource"]["id"] == vid

        # update with If-Match: only finals from now on
        changed = {**stored, "where": [{"path": "status = 'final'"}]}
        r = c.put(
            f"/fhir/ViewDefinition/{vid}",
            content=json.dumps(changed),
            headers={**FHIR_JSON, "If-Match": 'W/"1"'},
        )
        assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"
        r = c.put(
            f"/fhir/ViewDefinition/{vid}",
            content=json.dumps(changed),
            headers={**FHIR_JSON, "If-Match": 'W/"1"'},
        )
        outcome(r, 412)

        # instance level, GET, CSV without header
        r = c.get(f"/fhir/ViewDefinition/{vid}/$run", params={"_format": "csv", "header": "false"})
        assert r.status_code == 200, r.text
        assert len(_rows("csv", r.content, header=False)) == 4  # the preliminary one is filtered out
        # type level by reference: relative, and by canonical URL
        for ref in (f"ViewDefinition/{vid}", OBS_VIEW["url"]):
            body = _params(
                ("viewReference", "valueReference", {"reference": ref}), ("_format", "valueCode", "json")
            )
            r = _post(c, "/fhir/ViewDefinition/$run", body)
            assert r.status_code == 200, r.text
            assert {row["id"] for row in r.json()} == set(data["observations"]) - {data["observations"][2]}
        # update-as-create with the client's id
        r = c.put("/fhir/ViewDefinition/pat-v", content=json.dumps(PATIENT_VIEW), headers=FHIR_JSON)
        assert r.status_code == 201 and r.json()["id"] == "pat-v"
        r = c.post("/fhir/ViewDefinition/pat-v/$run", params={"_format": "ndjson"})
        assert len(r.text.splitlines()) == 3

        assert c.delete(f"/fhir/ViewDefinition/{vid}").status_code == 204
        outcome(c.get(f"/fhir/ViewDefinition/{vid}"), 404)
        outcome(c.get(f"/fhir/ViewDefinition/{vid}/$run"), 404)
        body = _params(("viewReference", "valueReference", {"reference": f"ViewDefinition/{vid}"}))
        assert outcome(_post(c, "/fhir/ViewDefinition/$run", body), 400)["issue"][0]["expression"] == [
            "viewReference"
        ]


def _issue_paths(body: dict[str, Any]) -> list[str]:
    return [p for i in body["issue"] for p in i.get("expression", [])]


def test_bad_views_and_parameters_name_the_path(base: str) -> None:
    bad = json.loads(json.dumps(OBS_VIEW))
    bad["select"][0]["column"][1]["path"] = "subject.where("
    bad["select"][0]["column"][4]["type"] = "bool"
    with httpx.Client(base_url=base, timeout=30) as c:
        body = outcome(_post(c, "/fhir/ViewDefinition", bad), 400)
        assert _issue_paths(body) == ["select[0].column[1].path", "select[0].column[4].type"]
        assert "unknown column type 'bool'" in body["issue"][1]["diagnostics"]
        assert c.get("/fhir/ViewDefinition").json().get("entry", []) == []  # nothing stored
        body = outcome(_post(c, "/fhir/ViewDefinition", {**OBS_VIEW, "resource": "Observasion"}), 400)
        assert _issue_paths(body) == ["resource"]
        body = outcome(_post(c, "/fhir/ViewDefinition/$run", _params(("viewResource", "resource", bad))), 400)
        assert "viewResource.select[0].column[1].path" in _issue_paths(body)

        def run(*extra: tuple[str, str, Any], query: str = "") -> httpx.Response:
            return _post(
                c,
                f"/fhir/ViewDefinition/$run{query}",
                _params(("viewResource", "resource", OBS_VIEW), *extra),
            )

        assert _issue_paths(outcome(run(("_format", "valueCode", "xml")), 400)) == ["_format"]
        assert _issue_paths(outcome(run(("_limit", "valueInteger", 0)), 400)) == ["_limit"]
        assert _issue_paths(outcome(run(query="?_since=yesterday"), 400)) == ["_since"]
        assert _issue_paths(
            outcome(run(("patient", "valueReference", {"reference": "Patient/nobody"})), 400)
        ) == ["patient"]
        assert _issue_paths(outcome(run(("group", "valueReference", {"reference": "Group/none"})), 400)) == [
            "group"
        ]
        assert _issue_paths(outcome(run(("source", "valueString", "s3://bucket")), 400)) == ["source"]
        assert _issue_paths(outcome(run(("colour", "valueString", "red")), 400)) == ["colour"]
        assert (
            outcome(_post(c, "/fhir/ViewDefinition/$run", _params()), 400)["issue"][0]["code"] == "required"
        )
        # a view that fails on the data: several values in a column without collection: true
        many = {"resource": "Patient", "select": [{"column": [{"name": "given", "path": "name.given"}]}]}
        r = _post(
            c,
            "/fhir/ViewDefinition/$run",
            _params(
                ("viewResource", "resource", many), ("resource", "resource", patient("1", given="An Bình"))
            ),
        )
        assert _issue_paths(outcome(r, 422)) == ["viewResource.select[0].column[0].path"]


def test_run_filters(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        data = _load(c)
        p0, p1, p2 = data["patients"]

        def run(*extra: tuple[str, str, Any], query: str = "") -> list[dict[str, Any]]:
            body = _params(("viewResource", "resource", OBS_VIEW), ("_format", "valueCode", "json"), *extra)
            r = _post(c, f"/fhir/ViewDefinition/$run{query}", body)
            assert r.status_code == 200, r.text
            rows: list[dict[str, Any]] = r.json()
            return rows

        assert {r["patient"] for r in run(("patient", "valueReference", {"reference": f"Patient/{p0}"}))} == {
            p0
        }
        assert len(run(("_limit", "valueInteger", 2))) == 2
        assert run(query="?_since=2999-01-01T00:00:00Z") == []
        assert len(run(query="?_since=2000-01-01")) == 5
        group = {
            "resourceType": "Group", "type": "person", "actual": True,
            "member": [{"entity": {"reference": f"Patient/{p1}"}}, {"entity": {"reference": f"Patient/{p2}"}, "inactive": True}],
        }  # fmt: skip
        gid = _post(c, "/fhir/Group", group).json()["id"]
        assert {r["patient"] for r in run(("group", "valueReference", {"reference": f"Group/{gid}"}))} == {p1}
        both = run(
            ("group", "valueReference", {"reference": f"Group/{gid}"}),
            ("patient", "valueReference", {"reference": f"Patient/{p0}"}),
        )
        assert both == []  # the intersection
        inline = observation("Patient/elsewhere", value=3)
        inline["id"] = "inline-1"
        rows = run(("resource", "resource", inline), ("resource", "resource", patient("9")))
        assert [(r["id"], r["patient"]) for r in rows] == [("inline-1", "elsewhere")]


# --- the access policy ------------------------------------------------------------------------------


def _platform_app(settings: Settings) -> FastAPI:
    """The platform as ``senhealth.app.build_app`` assembles it, plus the views router."""
    from senhealth.api.auth import install_auth
    from senhealth.app import bootstrap, install_platform
    from senhealth.security.directory import AccountDirectory
    from senhealth.security.oauth.bearer import authenticate_request

    bootstrap()
    install_platform(settings)
    app = create_app(settings, authenticate=authenticate_request, extra_routers=[views_router()])
    install_auth(app, AccountDirectory(), settings=settings)
    return app


def _tokens(settings: Settings) -> dict[str, dict[str, str]]:
    from senhealth.cli_token import mint_user_token
    from senhealth.core import db
    from senhealth.security import accounts
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig

    config = OAuthConfig.from_settings(settings)
    people = {
        "admin": ("quan.tri", ["facility_admin"], {"facility": "Organization/h1"}),
        "doctor1": ("bs.mot", ["doctor"], {"facility": "Organization/h1"}),
        "doctor2": ("bs.hai", ["doctor"], {"facility": "Organization/h2"}),
        "analyst": ("nc.vien", ["data_analyst"], {}),
    }

    async def main() -> dict[str, dict[str, str]]:
        await db.open_pool(settings.database_url, max_size=2)
        try:
            out = {}
            for key, (name, roles, kw) in people.items():
                user = await accounts.create_user(name, "mat-khau-dai-123", roles, **kw)
                token = mint_user_token(user_info(user), config=config)
                out[key] = {"Authorization": f"Bearer {token}"}
            return out
        finally:
            await db.close_pool()

    return asyncio.run(main())


def test_access_policy_applies_to_run(platform_settings: Settings) -> None:
    from senhealth.security.consent import build_consent

    settings = platform_settings
    tokens = _tokens(settings)
    for url in serve(_platform_app(settings)):
        with httpx.Client(base_url=url, timeout=30) as c:
            for org in ("h1", "h2"):
                r = c.put(
                    f"/fhir/Organization/{org}",
                    json={"resourceType": "Organization", "id": org, "name": org},
                    headers={**tokens["admin"], **FHIR_JSON},
                )
                assert r.status_code in (200, 201), r.text
            pids = {}
            for key, org, doctor in (
                ("p1", "h1", "doctor1"),
                ("p2", "h2", "doctor2"),
                ("p3", "h2", "doctor2"),
            ):
                body = patient(
                    f"0790000000{key[1]}",
                    family=f"Họ{key}",
                    managingOrganization={"reference": f"Organization/{org}"},
                )
                r = _post(c, "/fhir/Patient", body, headers=tokens[doctor])
                assert r.status_code == 201, r.text
                pids[key] = r.json()["id"]
                r = _post(c, "/fhir/Observation", observation(f"Patient/{pids[key]}"), headers=tokens[doctor])
                assert r.status_code == 201, r.text
            r = _post(
                c, "/fhir/Consent", build_consent(pids["p3"], "HRESCH", "permit"), headers=tokens["doctor2"]
            )
            assert r.status_code == 201, r.text

            def run(who: str, view: dict[str, Any]) -> list[dict[str, Any]]:
                body = _params(("viewResource", "resource", view), ("_format", "valueCode", "json"))
                r = _post(c, "/fhir/ViewDefinition/$run", body, headers=tokens[who])
                assert r.status_code == 200, r.text
                rows: list[dict[str, Any]] = r.json()
                return rows

            doctor_obs = run("doctor1", OBS_VIEW)
            doctor_patients = run("doctor1", PATIENT_VIEW)
            analyst_obs = run("analyst", OBS_VIEW)
            analyst_patients = run("analyst", PATIENT_VIEW)
            nobody = _post(c, "/fhir/ViewDefinition/$run", _params(("viewResource", "resource", OBS_VIEW)))
            assert nobody.status_code == 401
            # the analyst may not write views (the role is read-only)
            assert _post(c, "/fhir/ViewDefinition", OBS_VIEW, headers=tokens["analyst"]).status_code == 403
    assert {r["patient"] for r in doctor_obs} == {pids["p1"]}
    assert doctor_patients == [
        {"id": pids["p1"], "family": "Họp1", "birth": "1980-01-02", "ids": ["07900000001"]}
    ]
    assert {r["patient"] for r in analyst_obs} == {pids["p3"]}
    assert analyst_patients == [{"id": pids["p3"], "family": None, "birth": "1980", "ids": []}]
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT principal_roles, patients, details->>'rows' FROM audit_event"
            " WHERE details->>'operation' = 'run' ORDER BY recorded"
        ).fetchall()
    assert (["doctor"], [pids["p1"]], "1") in [(list(r[0]), list(r[1]), r[2]) for r in rows]
    assert (["data_analyst"], [pids["p3"]], "1") in [(list(r[0]), list(r[1]), r[2]) for r in rows]
