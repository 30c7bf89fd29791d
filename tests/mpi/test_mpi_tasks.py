"""The batch de-duplication job (senhealth.mpi.tasks) on a real store: links, review queue, idempotence,
incremental runs, decided pairs, progress, and one run through a real procrastinate worker.

Spec: https://hl7.org/fhir/R4/patient.html#links. Synthetic population only (tests/mpi/mpi_population.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mpi_population import generate
from mpi_store import Recorder, patient_resource, run_with_store

from senhealth.api.jobs import router
from senhealth.core.db import transaction
from senhealth.core.queue import enqueue, get_job, registered_tasks
from senhealth.fhir import access
from senhealth.fhir.store import FhirStore
from senhealth.jobs.registry import TASK_MODULES
from senhealth.jobs.worker import run_worker
from senhealth.mpi.link import linked_ids
from senhealth.mpi.tasks import BY, NIGHTLY_CRON, TASK, DedupReport, run_deduplication

PEOPLE, DUPLICATES, SEED = 1200, 60, 5


@pytest.fixture
def audit() -> Any:
    sink = Recorder()
    access.install(sink=sink)
    yield sink
    access.install(sink=access.NO_AUDIT)


async def _load(store: FhirStore, records: list[Any]) -> None:
    report = await store.load([patient_resource(c) for c in records])
    assert not report.rejected and report.created == len(records)


async def _snapshot(store: FhirStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with transaction(store.pool) as conn:
        cur = await conn.execute(
            "SELECT res_id, version FROM fhir_resource WHERE res_type = 'Patient' ORDER BY res_id"
        )
        versions = await cur.fetchall()
        cur = await conn.execute(
            "SELECT patient_a, patient_b, score, reasons, status FROM mpi_review ORDER BY 1, 2"
        )
        review = await cur.fetchall()
    return versions, review


async def _merged(store: FhirStore) -> dict[str, str]:
    """duplicate → survivor, from the records' replaced-by links."""
    async with transaction(store.pool) as conn:
        cur = await conn.execute(
            "SELECT res_id, content FROM fhir_resource WHERE res_type = 'Patient' AND content ? 'link'"
        )
        rows = await cur.fetchall()
    out = {}
    for res_id, content in rows:
        for entry in content["link"]:
            if entry["type"] == "replaced-by":
                out[res_id] = entry["other"]["reference"].removeprefix("Patient/")
    return out


def test_task_is_registered_and_scheduled() -> None:
    assert "senhealth.mpi.tasks" in TASK_MODULES
    spec = registered_tasks()[TASK]
    assert ("nightly", NIGHTLY_CRON) in spec.schedules


def test_job_links_queues_and_a_second_run_changes_nothing(url: str, audit: Recorder) -> None:
    population = generate(PEOPLE, DUPLICATES, SEED)
    calls: list[tuple[int, int | None, str]] = []

    async def progress(done: int, total: int | None, message: str) -> None:
        calls.append((done, total, message))

    async def scenario(store: FhirStore) -> tuple[DedupReport, DedupReport, DedupReport]:
        await _load(store, population.records)
        first = await run_deduplication(store, progress=progress)
        merged = await _merged(store)
        before = await _snapshot(store)
        second = await run_deduplication(store, full=True)
        assert await _snapshot(store) == before  # nothing written: no version, no queue change
        third = await run_deduplication(store)  # incremental: nothing changed, nothing scored
        assert await _snapshot(store) == before
        # every merge is a true pair, into the record kept for the person
        for duplicate, survivor in merged.items():
            pair = (duplicate, survivor) if duplicate < survivor else (survivor, duplicate)
            assert pair in population.truth, pair
            assert survivor in await linked_ids(store, duplicate)
        async with transaction(store.pool) as conn:
            cur = await conn.execute("SELECT count(*) FROM mpi_review WHERE status = 'open'")
            row = await cur.fetchone()
        assert row is not None and row[0] == first.review_new
        return first, second, third

    first, second, third = run_with_store(url, scenario)
    assert first.records == PEOPLE + DUPLICATES and first.changed == first.records
    assert first.merged >= 0.9 * DUPLICATES and not first.errors
    assert first.review_new >= 1
    assert (second.merged, second.review_new, second.errors) == (0, 0, [])
    assert second.already_linked >= first.merged
    assert third.changed == 0 and third.merged == 0 and third.scored_links == 0
    # one audit event per merge, by the job
    merges = [e for e in audit.events if e.details.get("mpi") == "merge"]
    assert len(merges) == first.merged and {e.details["by"] for e in merges} == {BY}
    # progress: reading, merging, and a last message with the summary
    assert any("reading" in m for _, _, m in calls) and any("merging" in m for _, _, m in calls)
    done, total, message = calls[-1]
    assert done == total and "merged" in message


def test_incremental_run_acts_on_new_records_and_respects_decisions(url: str) -> None:
    population = generate(300, 0, SEED + 1)
    person = population.records[0]
    twin = population.records[1]

    async def scenario(store: FhirStore) -> tuple[DedupReport, DedupReport, dict[str, str]]:
        await _load(store, population.records)
        baseline = await run_deduplication(store)
        assert baseline.merged == 0
        # a new registration of `person` (same personal ID, name without diacritics) and one of
        # `twin`, whose pair a reviewer has already decided are two people
        copy = dataclasses.replace(person, id="new-1", family=person.family.lower())
        other = dataclasses.replace(twin, id="new-2")
        await _load(store, [copy, other])
        async with transaction(store.pool) as conn:
            a, b = sorted((twin.id, "new-2"))
            await conn.execute(
                "INSERT INTO mpi_review (patient_a, patient_b, score, status, decided_by, decided_at)"
                " VALUES (%s, %s, 1.0, 'distinct', 'reviewer-1', now())",
                (a, b),
            )
        report = await run_deduplication(store)
        return baseline, report, await _merged(store)

    baseline, report, merged = run_with_store(url, scenario)
    assert baseline.changed == 300
    assert report.changed == 2 and report.records == 302
    assert report.merged == 1 and report.distinct == 1
    assert merged == {"new-1": population.records[0].id}


def test_job_runs_through_a_real_worker(url: str) -> None:
    population = generate(400, 20, SEED + 2)

    async def scenario(store: FhirStore) -> dict[str, Any]:
        await _load(store, population.records)
        job_id = await enqueue(TASK, {"full": True}, dedupe_key=TASK)
        await run_worker(wait=False, install_signal_handlers=False, poll_interval_s=0.1)
        app = FastAPI()
        app.include_router(router)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(f"/api/jobs/{job_id}")  # what the UI polls
        assert response.status_code == 200
        job = await get_job(job_id)
        assert job is not None and job.to_json()["progress"] == response.json()["progress"]
        return {"json": response.json(), "merged": len(await _merged(store))}

    result = run_with_store(url, scenario)
    body = result["json"]
    assert body["task"] == TASK and body["status"] == "succeeded"
    assert body["progress"]["fraction"] == 1.0 and "merged" in body["progress"]["message"]
    assert result["merged"] >= 15
