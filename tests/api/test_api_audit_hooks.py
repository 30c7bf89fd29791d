"""Every REST interaction hands its access to the installed audit sink, writes in their own transaction.

Spec: https://profiles.ihe.net/ITI/BALP/ (one audit record per RESTful interaction, with the patients
it concerned). The sink here writes to a table of the test's schema through the connection it is
given, so a write that fails rolls its record back with it, exactly as the real sink's rows would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from api_support import JSON_HEADERS, RunApi, create, observation, patient, unique
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir import access
from senhealth.fhir.access import AccessEvent


class TableSink:
    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None:
        await conn.execute(
            "INSERT INTO hook_audit (action, res_type, res_id, query, patients, status) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (event.action, event.res_type, event.res_id, event.query, list(event.patients), event.status),
        )


@pytest.fixture
def sink(api_url: str) -> Iterator[str]:
    with psycopg.connect(api_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE hook_audit (n serial, action text, res_type text, res_id text, query text, "
            "patients text[], status int)"
        )
    access.install(sink=TableSink())
    try:
        yield api_url
    finally:
        access.install(sink=access.NO_AUDIT)


def events(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT action, res_type, res_id, query, patients, status FROM hook_audit ORDER BY n"
        ).fetchall()


def test_every_interaction_is_recorded(run_api: RunApi, sink: str) -> None:
    state: dict[str, str] = {}

    async def scenario(c: httpx.AsyncClient) -> None:
        pat = await create(c, patient(unique()))
        pid = state["pid"] = pat["id"]
        obs = await create(c, observation(f"Patient/{pid}"))
        oid = state["oid"] = obs["id"]
        assert (await c.get(f"/fhir/Observation/{oid}")).status_code == 200  # the plain read
        assert (await c.get(f"/fhir/Observation/{oid}", params={"_format": "json"})).status_code == 200
        assert (await c.get(f"/fhir/Observation/{oid}/_history/1")).status_code == 200
        assert (await c.get("/fhir/Observation", params={"subject": f"Patient/{pid}"})).status_code == 200
        assert (await c.get(f"/fhir/Patient/{pid}/_history")).status_code == 200
        changed = {**obs, "status": "amended"}
        assert (
            await c.put(f"/fhir/Observation/{oid}", json=changed, headers=JSON_HEADERS)
        ).status_code == 200
        bad = {**obs, "status": "not-a-status"}
        assert (await c.put(f"/fhir/Observation/{oid}", json=bad, headers=JSON_HEADERS)).status_code == 400
        assert (await c.delete(f"/fhir/Observation/{oid}")).status_code == 200
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": patient(unique()), "request": {"method": "POST", "url": "Patient"}}],
        }
        assert (await c.post("/fhir", json=bundle, headers=JSON_HEADERS)).status_code == 200

    run_api(scenario)
    pid, oid = state["pid"], state["oid"]
    got = events(sink)
    # Reads are written by a background buffer (api/fhir/auditing.py), so records are not in request
    # order: each interaction must have exactly one.
    per_request = sorted((e[0], e[1] or "", e[2] or "") for e in got if e[0] != "operation")
    assert per_request == sorted(
        [
            ("create", "Patient", pid),
            ("create", "Observation", oid),
            ("read", "Observation", oid),
            ("read", "Observation", oid),
            ("read", "Observation", oid),
            ("search", "Observation", ""),
            ("history", "Patient", pid),
            ("update", "Observation", oid),
            ("delete", "Observation", oid),
        ]
    )  # the invalid update left no record: it was rolled back with the write
    assert all(e[4] == [pid] for e in got if e[0] != "operation"), got  # every one concerned that patient
    search = next(e for e in got if e[0] == "search")
    assert search[3] == f"subject=Patient%2F{pid}"
    bundle = [e for e in got if e[0] == "operation"]
    assert len(bundle) == 1 and bundle[0][3] == "transaction" and len(bundle[0][4]) == 1
    assert len(got) == 10
