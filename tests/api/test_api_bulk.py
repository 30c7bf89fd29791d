"""Bulk Data over real HTTP: uvicorn on loopback and the job worker on one event loop, a real PostgreSQL.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (kick-off 202 + Content-Location, status 202 with
X-Progress / Retry-After, 200 with the manifest, DELETE then 404, NDJSON files) and the import proposal
https://github.com/smart-on-fhir/bulk-import. The platform's access policy (tokens of different roles)
decides what each caller's export holds; only a system client imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import uvicorn
from api_support import diagnostics, observation, outcome, patient
from fastapi import FastAPI

from senhealth.analytics import bulk_export
from senhealth.analytics.bulk import register_bulk_operations
from senhealth.api import create_app
from senhealth.api.bulk import bulk_router
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.fhir.operations.registry import unregister
from senhealth.jobs.worker import run_worker

T = TypeVar("T")
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveBulk:
    """The app under uvicorn and the job worker, on one event loop in a thread; the pool is opened first
    (the worker's jobs and the app share it). ``run(coro)`` runs a coroutine on that loop."""

    def __init__(self, app: FastAPI, database_url: str) -> None:
        self.app = app
        self.database_url = database_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        await db.open_pool(self.database_url, max_size=10)
        worker = asyncio.create_task(
            run_worker(
                install_signal_handlers=False, poll_interval_s=0.1, task_modules=["senhealth.analytics.bulk"]
            )
        )
        try:
            await self.server.serve()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await db.close_pool()

    def __enter__(self) -> LiveBulk:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


def wait_done(client: httpx.Client, status_url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Poll a status URL until it stops answering 202 (checking the in-progress headers on the way)."""
    deadline = time.monotonic() + 60
    while True:
        r = client.get(status_url, headers=headers or {})
        if r.status_code != 202:
            return r
        assert r.headers["Retry-After"].isdigit()
        assert len(r.headers["X-Progress"]) < 100
        assert time.monotonic() < deadline, "the job did not finish in 60 s"
        time.sleep(0.1)


def ndjson(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    r = client.get(url, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+ndjson")
    return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]


def export(
    client: httpx.Client, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Kick off an export, wait for it, return the manifest and the resources of each type."""
    h = {**ASYNC, **(headers or {})}
    r = (
        client.post(path, headers={**h, **FHIR_JSON}, **kw)
        if "json" in kw
        else client.get(path, headers=h, **kw)
    )
    assert r.status_code == 202, r.text
    status = r.headers["Content-Location"]
    done = wait_done(client, status, headers)
    assert done.status_code == 200, done.text
    manifest: dict[str, Any] = done.json()
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        rows = ndjson(client, item["url"], headers)
        assert len(rows) == item["count"]
        assert all(row["resourceType"] == item["type"] for row in rows)
        out.setdefault(item["type"], []).extend(rows)
    manifest["_status"] = status
    return manifest, out


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


@pytest.fixture
def bulk_operations() -> Iterator[None]:
    """$export and $import in the operation registry for this test only (the registry is the process's)."""
    register_bulk_operations()
    try:
        yield
    finally:
        unregister("export")
        unregister("import")


@pytest.fixture
def bulk_settings(api_url: str, tmp_path: Path, bulk_operations: None) -> Settings:
    return Settings(database_url=api_url, data_dir=tmp_path, bulk_import_hosts=["127.0.0.1"])


def _put(client: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    r = client.put(
        f"/fhir/{resource['resourceType']}/{resource['id']}",
        json=resource,
        headers={**FHIR_JSON, **(headers or {})},
    )
    assert r.status_code in (200, 201), r.text


def _small_province(client: httpx.Client) -> None:
    """Two facilities, three patients, their Observations and a Group of two."""
    for org in ("org-a", "org-b"):
        _put(client, {"resourceType": "Organization", "id": org, "name": f"Trạm Y tế {org}"})
    for pid, org in (("p1", "org-a"), ("p2", "org-a"), ("p3", "org-b")):
        _put(
            client,
            {
                **patient(f"0010800{pid[-1]}", given=f"Văn {pid}"),
                "id": pid,
                "managingOrganization": {"reference": f"Organization/{org}"},
            },
        )
        _put(client, {**observation(f"Patient/{pid}", code="4548-4"), "id": f"{pid}-hba1c"})
        _put(client, {**observation(f"Patient/{pid}", code="8480-6", value=140), "id": f"{pid}-sbp"})
    _put(
        client,
        {
            "resourceType": "Group",
            "id": "g1",
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Patient/p3"}}],
        },
    )


def test_export_async_pattern(bulk_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # transactionTime is moved back by TIME_MARGIN (docs/bulk.md); a short one keeps the _since case quick
    monkeypatch.setattr(bulk_export, "TIME_MARGIN", timedelta(seconds=0.5))
    app = create_app(bulk_settings, extra_routers=[bulk_router(file_resources=2)])
    with (
        LiveBulk(app, bulk_settings.database_url or "") as live,
        httpx.Client(base_url=live.url, timeout=30) as c,
    ):
        _small_province(c)
        time.sleep(1.5)  # past TIME_MARGIN with room to spare on a loaded machine

        # System level: every type, split at 2 resources a file, the manifest as the spec shows it.
        manifest, got = export(c, "/fhir/$export")
        assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output", "error"}
        assert manifest["requiresAccessToken"] is True
        assert manifest["request"] == f"{live.url}/fhir/$export"
        assert manifest["error"] == []
        assert {k: len(v) for k, v in got.items()} == {
            "Group": 1,
            "Observation": 6,
            "Organization": 2,
            "Patient": 3,
        }
        assert sum(1 for o in manifest["output"] if o["type"] == "Observation") == 3  # 6 at 2 a file
        assert all(o["url"].startswith(f"{live.url}/fhir/$export-files/") for o in manifest["output"])
        first_time = manifest["transactionTime"]
        assert first_time.endswith("Z") or "+" in first_time

        # _type and _typeFilter (two queries for one type: OR), GET with the query string.
        _, got = export(
            c,
            "/fhir/$export",
            params={"_type": "Patient,Observation", "_typeFilter": "Observation?code=8480-6"},
        )
        assert set(got) == {"Patient", "Observation"}
        assert ids(got["Observation"]) == {"p1-sbp", "p2-sbp", "p3-sbp"}
        _, got = export(
            c,
            "/fhir/$export",
            params=[
                ("_type", "Observation"),
                ("_typeFilter", "Observation?subject=Patient/p1,Observation?subject=Patient/p2&code=8480-6"),
            ],
        )
        assert ids(got["Observation"]) == {"p1-hba1c", "p1-sbp", "p2-sbp"}

        # _elements: the listed top-level elements and the mandatory ones, tagged SUBSETTED.
        _, got = export(
            c, "/fhir/$export", params={"_type": "Observation", "_elements": "Observation.valueQuantity"}
        )
        row = got["Observation"][0]
        assert set(row) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
        assert any(t.get("code") == "SUBSETTED" for t in row["meta"]["tag"])

        # _since: only what changed after the first export's transactionTime.
        _put(c, {**observation("Patient/p2", code="4548-4", value=8.1), "id": "p2-hba1c"})
        _, got = export(c, "/fhir/$export", params={"_since": first_time})
        assert ids(got.get("Observation", [])) == {"p2-hba1c"}
        assert set(got) == {"Observation"}

        # Patient level: the patients' compartments (the Group names members: it is in theirs), no
        # Organization; Group level: its members' compartments only.
        _, got = export(c, "/fhir/Patient/$export")
        assert set(got) == {"Patient", "Observation", "Group"}
        assert len(got["Observation"]) == 6
        _, got = export(c, "/fhir/Group/g1/$export")
        assert ids(got["Patient"]) == {"p1", "p3"}
        assert {o["subject"]["reference"] for o in got["Observation"]} == {"Patient/p1", "Patient/p3"}
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "patient", "valueReference": {"reference": "Patient/p3"}}],
        }
        _, got = export(c, "/fhir/Group/g1/$export", json=body)
        assert ids(got["Patient"]) == {"p3"}
        _, got = export(c, "/fhir/Patient/$export", json=body)
        assert ids(got["Patient"]) == {"p3"}

        # Cancel: 202, then 404 for the status and the files.
        manifest, _ = export(c, "/fhir/$export", params={"_type": "Patient"})
        status, file_url = manifest["_status"], manifest["output"][0]["url"]
        assert c.delete(status).status_code == 202
        outcome(c.get(status), 404)
        outcome(c.get(file_url), 404)
        outcome(c.delete(status), 404)

        # Bad requests: 400 with an OperationOutcome naming the parameter; nothing queued.
        for params, name in (
            ({"_outputFormat": "text/csv"}, "_outputFormat"),
            ({"_type": "Nope"}, "_type"),
            ({"_since": "yesterday"}, "_since"),
            ({"_typeFilter": "Observation?code=8480-6&_sort=date"}, "_typeFilter"),
            ({"_typeFilter": "Observation?nope=1"}, "_typeFilter"),
            ({"_elements": "Observation.value.x"}, "_elements"),
            ({"bogus": "1"}, "bogus"),
        ):
            r = c.get("/fhir/$export", params=params, headers=ASYNC)
            body = outcome(r, 400)
            assert body["issue"][0]["expression"] == [name], (params, body)
        # ... unless Prefer: handling=lenient: the unknown parameter goes into the error file.
        manifest, _ = export(
            c,
            "/fhir/$export",
            params={"_type": "Group", "bogus": "1"},
            headers={"Prefer": "respond-async, handling=lenient"},
        )
        errors = ndjson(c, manifest["error"][0]["url"])
        assert "bogus" in errors[0]["issue"][0]["diagnostics"]
        outcome(c.get("/fhir/Group/nope/$export", headers=ASYNC), 404)
        r = c.post(
            "/fhir/Group/g1/$export",
            json={
                "resourceType": "Parameters",
                "parameter": [{"name": "patient", "valueReference": {"reference": "Patient/p2"}}],
            },
            headers={**ASYNC, **FHIR_JSON},
        )
        assert "not a member" in diagnostics(outcome(r, 400))
        outcome(c.get("/fhir/$export-status/not-a-job"), 404)


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """A static file server on loopback (what an allowed ``input`` URL points at)."""
    handler = functools.partial(_Files, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


def test_import_async_pattern(bulk_settings: Settings, tmp_path: Path) -> None:
    app = create_app(bulk_settings, extra_routers=[bulk_router()])
    good = [
        {"resourceType": "Organization", "id": "imp-org", "name": "Bệnh viện Đa khoa tỉnh"},
        {**patient("001080099999", family="Trần"), "id": "imp-p1"},
        {**observation("Patient/imp-p1", code="8480-6", value=135), "id": "imp-o1"},
    ]
    body = b"\n".join(orjson.dumps(r) for r in good) + b"\n"
    with (
        LiveBulk(app, bulk_settings.database_url or "") as live,
        httpx.Client(base_url=live.url, timeout=30) as c,
    ):
        # NDJSON posted directly.
        r = c.post(
            "/fhir/$import", content=body, headers={"Content-Type": "application/fhir+ndjson", **ASYNC}
        )
        assert r.status_code == 202, r.text
        done = wait_done(c, r.headers["Content-Location"])
        assert done.status_code == 200, done.text
        result = done.json()
        assert result["requiresAccessToken"] is True and result["transactionTime"]
        summary = next(iter(result["extension"].values()))
        assert summary["created"] == 3 and summary["committed"] is True
        info = ndjson(c, result["outcome"][0]["url"])
        assert "Imported 3 new" in info[0]["issue"][0]["diagnostics"]
        # DELETE after completion: the job's files go, its status answers 404; the resources stay.
        assert c.delete(r.headers["Content-Location"]).status_code == 202
        outcome(c.get(r.headers["Content-Location"]), 404)
        outcome(c.get(result["outcome"][0]["url"]), 404)
        assert (
            c.get("/fhir/Observation", params={"subject": "Patient/imp-p1", "code": "8480-6"}).json()["total"]
            == 1
        )
        assert c.get("/fhir/Patient", params={"family": "trần"}).json()["total"] == 1

        # Bad lines: 400 naming each line and path; nothing of the file is stored.
        bad = [
            orjson.dumps({**patient(), "id": "imp-p2"}),
            b"{not json",
            orjson.dumps({"resourceType": "Observation", "id": "imp-o2", "status": "unknown-status"}),
            orjson.dumps({**patient(), "id": "imp-p3", "birthDate": "1980-13-45"}),
        ]
        r = c.post(
            "/fhir/$import",
            content=b"\n".join(bad),
            headers={"Content-Type": "application/fhir+ndjson", **ASYNC},
        )
        done = wait_done(c, r.headers["Content-Location"])
        failed = outcome(done, 400)
        text = diagnostics(failed)
        assert "Nothing was imported" in text
        assert (
            "Line 2 of the request body" in text
            and "Line 3 of the request body" in text
            and "Line 4 of" in text
        )
        assert "Line 1 of" not in text
        paths = {e for issue in failed["issue"] for e in issue.get("expression", [])}
        assert any("status" in p for p in paths) and any("birthDate" in p for p in paths)
        assert c.get("/fhir/Patient/imp-p2").status_code == 404

        # An input URL: refused unless its host is on the list; fetched from an allowed loopback host.
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "Patient.ndjson").write_bytes(
            orjson.dumps({**patient(), "id": "imp-url"}) + b"\n"
        )
        with file_server(tmp_path / "site") as site:
            refused = {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "input",
                        "part": [
                            {"name": "type", "valueCode": "Patient"},
                            {"name": "url", "valueUrl": "https://evil.example.com/Patient.ndjson"},
                        ],
                    }
                ],
            }
            r = c.post("/fhir/$import", json=refused, headers={**ASYNC, **FHIR_JSON})
            assert "evil.example.com" in diagnostics(outcome(r, 400))
            allowed = {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "input",
                        "part": [
                            {"name": "type", "valueCode": "Patient"},
                            {"name": "url", "valueUrl": f"{site}/Patient.ndjson"},
                        ],
                    }
                ],
            }
            r = c.post("/fhir/$import", json=allowed, headers={**ASYNC, **FHIR_JSON})
            assert r.status_code == 202, r.text
            assert wait_done(c, r.headers["Content-Location"]).status_code == 200
            assert c.get("/fhir/Patient/imp-url").status_code == 200
            # A missing file: the job fails with 400 naming the URL; nothing written.
            allowed["parameter"][0]["part"][1]["valueUrl"] = f"{site}/Missing.ndjson"
            r = c.post("/fhir/$import", json=allowed, headers={**ASYNC, **FHIR_JSON})
            assert "404" in diagnostics(outcome(wait_done(c, r.headers["Content-Location"]), 400))


def _platform_app(settings: Settings) -> FastAPI:
    """The assembled platform (``senhealth.app.build_app``: the role policy, the audit sink, bearer
    tokens) with the bulk router, as the lead wires it."""
    from senhealth.api.auth import install_auth
    from senhealth.app import bootstrap, install_platform
    from senhealth.security.directory import AccountDirectory
    from senhealth.security.oauth.bearer import authenticate_request

    bootstrap()
    install_platform(settings)
    app = create_app(settings, authenticate=authenticate_request, extra_routers=[bulk_router()])
    install_auth(app, AccountDirectory(), settings=settings)
    return app


def test_exports_follow_the_access_policy(platform_settings: Settings, bulk_operations: None) -> None:
    """Each caller's export holds what that caller may search: a doctor their facility's patients, an
    analyst the consenting patients de-identified, a citizen their own record; jobs and files answer
    only whoever started them; only a system client imports."""
    from senhealth.cli_token import mint_user_token
    from senhealth.security import accounts
    from senhealth.security.consent import build_consent
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig
    from senhealth.security.oauth.tokens import TokenService

    settings = platform_settings
    config = OAuthConfig.from_settings(settings)
    system_claims = TokenService.from_config(config).access_claims(
        client_id="so-y-te", scope="system/*.cruds", user=None
    )
    system = {"Authorization": f"Bearer {TokenService.from_config(config).mint(system_claims)}"}

    with (
        LiveBulk(_platform_app(settings), settings.database_url or "") as live,
        httpx.Client(base_url=live.url, timeout=30) as c,
    ):

        def token(username: str, roles: list[str], scope: str | None = None, **kw: Any) -> dict[str, str]:
            user = live.run(accounts.create_user(username, "mat-khau-dai-123", roles, **kw))
            minted = mint_user_token(user_info(user), config=config, **({"scope": scope} if scope else {}))
            return {"Authorization": f"Bearer {minted}"}

        _small_province_as(c, system)
        consent = build_consent("p1", "HRESCH", "permit")
        r = c.post("/fhir/Consent", json=consent, headers={**system, **FHIR_JSON})
        assert r.status_code == 201, r.text
        doctor = token("bs.a", ["doctor"], facility="Organization/org-a")
        other = token("bs.b", ["doctor"], facility="Organization/org-b")
        analyst = token("pt.vien", ["data_analyst"])
        citizen = token("dan.p3", ["patient"], patient="Patient/p3")
        narrow = token("bs.a2", ["doctor"], scope="openid user/Observation.rs", facility="Organization/org-a")

        # No token: 401 before anything.
        assert c.get("/fhir/$export", headers=ASYNC).status_code == 401

        # A doctor: the patients cared for at their facility (and data of no patient).
        manifest, got = export(c, "/fhir/$export", doctor)
        assert ids(got["Patient"]) == {"p1", "p2"}
        assert {o["subject"]["reference"] for o in got["Observation"]} == {"Patient/p1", "Patient/p2"}
        assert ids(got["Organization"]) == {"org-a", "org-b"}
        # ... which nobody else can poll, cancel or download (404, as for no such job).
        status, file_url = manifest["_status"], manifest["output"][0]["url"]
        outcome(c.get(status, headers=other), 404)
        outcome(c.get(file_url, headers=other), 404)
        outcome(c.delete(status, headers=other), 404)
        outcome(c.get(file_url), 401)
        assert c.get(file_url, headers=doctor).status_code == 200

        # A token whose scopes cover Observation only: _type=Patient is refused, no _type exports Observation.
        r = c.get("/fhir/$export", params={"_type": "Patient"}, headers={**ASYNC, **narrow})
        assert outcome(r, 403)["issue"][0]["expression"] == ["_type"]
        _, got = export(c, "/fhir/$export", narrow)
        assert set(got) == {"Observation"}

        # An analyst: the patients who consented to research, de-identified; identifying filters refused.
        _, got = export(c, "/fhir/$export", analyst, params={"_type": "Patient,Observation"})
        assert ids(got["Patient"]) == {"p1"}
        person = got["Patient"][0]
        assert "name" not in person and "identifier" not in person
        assert any(s.get("code") == "REDACTED" for s in person["meta"]["security"])
        assert {o["subject"]["reference"] for o in got["Observation"]} == {"Patient/p1"}
        r = c.get("/fhir/$export", params={"_typeFilter": "Patient?name=Văn"}, headers={**ASYNC, **analyst})
        outcome(r, 403)

        # A citizen: their own compartment.
        _, got = export(c, "/fhir/Patient/$export", citizen)
        assert ids(got["Patient"]) == {"p3"}
        assert ids(got["Observation"]) == {"p3-hba1c", "p3-sbp"}

        # Only a system client imports.
        line = orjson.dumps({**patient(), "id": "imp-x"})
        for who in (doctor, analyst, citizen):
            r = c.post(
                "/fhir/$import",
                content=line,
                headers={"Content-Type": "application/fhir+ndjson", **ASYNC, **who},
            )
            outcome(r, 403)
        r = c.post(
            "/fhir/$import",
            content=line,
            headers={"Content-Type": "application/fhir+ndjson", **ASYNC, **system},
        )
        assert r.status_code == 202, r.text
        assert wait_done(c, r.headers["Content-Location"], system).status_code == 200
        assert c.get("/fhir/Patient/imp-x", headers=system).status_code == 200

        # Each export left one audit record naming the patients it read.
        rows = live.run(_audit_rows())
        exported = [r for r in rows if r[2].get("operation") == "export" and r[0] == "search"]
        assert any(r[1] == ["p1", "p2"] for r in exported)
        assert any(r[1] == ["p3"] for r in exported)


async def _audit_rows() -> list[tuple[Any, ...]]:
    async with db.get_pool().connection() as conn:
        cur = await conn.execute("SELECT action, patients, details FROM audit_event ORDER BY seq")
        return list(await cur.fetchall())


def _small_province_as(client: httpx.Client, headers: dict[str, str]) -> None:
    original = client.headers.copy()
    client.headers.update(headers)
    try:
        _small_province(client)
    finally:
        client.headers = original
