"""The write hook: a relevant write queues one ``checkup.assess`` job per patient (coalesced while it
waits), other writes and the bulk loader queue none, and the worker running the job writes the
RiskAssessment and the registry enrolment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from checkup_record_support import bp, condition, create_all, patient, quantity, run, smoking

import senhealth.checkup.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.checkup.assessment import ASSESS_TASK, install_assessment, uninstall_assessment
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.hooks import registered_hooks
from senhealth.jobs.worker import run_worker


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    uninstall_assessment()
    install_assessment()
    try:
        yield schema_url
    finally:
        uninstall_assessment()


async def jobs(store: FhirStore, status: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status::text, args FROM procrastinate_jobs WHERE task_name = %s"
            " AND (%s::text IS NULL OR status::text = %s) ORDER BY id",
            (ASSESS_TASK, status, status),
        )
        return [(s, a) for s, a in await cur.fetchall()]


def test_install_is_idempotent_and_uninstall_removes_it(url: str) -> None:
    from senhealth.checkup.assessment.hook import on_writes

    install_assessment()
    assert registered_hooks().count(on_writes) == 1
    uninstall_assessment()
    assert on_writes not in registered_hooks()
    install_assessment()


def test_relevant_writes_queue_one_job_per_patient_and_others_none(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(60, "male"))).res_id  # a new Patient: relevant
        assert await jobs(store) == [("todo", {"patient": pid})]
        await create_all(store, [bp(pid, 150, 95), smoking(pid, "77176002"), condition(pid, "I10")])
        assert len(await jobs(store)) == 1  # coalesced while the first waits
        other = (await store.create(patient(50, "female", name="Trần Thị Bình"))).res_id
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM procrastinate_jobs")
        heart_rate = quantity(pid, "8867-4", 72, "/min")
        await store.create(heart_rate)  # not read by the scores
        await store.create(condition(pid, "K29.7"))  # gastritis: no registry
        stored = await store.read("Patient", other)
        assert stored.content is not None
        await store.update({**stored.content, "name": [{"text": "Trần Thị Bính"}]})  # a name: not relevant
        assert await jobs(store) == []
        await store.update({**stored.content, "birthDate": "1970-01-01"})  # relevant
        await store.create(condition(pid, "J45.9"))  # asthma: the registries read it
        assert sorted(a["patient"] for _, a in await jobs(store)) == sorted([other, pid])
        async with store.transaction() as tx:  # one transaction, two writes, one patient: one job
            await tx.create(quantity(pid, "4548-4", 7.5, "%"))
            await tx.create(quantity(pid, "2093-3", 5.5, "mmol/L"))
        assert len(await jobs(store)) == 2

    run(url, body)


def test_a_rolled_back_write_queues_nothing(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(60, "male"))).res_id
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM procrastinate_jobs")
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await tx.create(bp(pid, 150, 95))
                raise RuntimeError("abandoned")
        assert await jobs(store) == []

    run(url, body)


def test_the_bulk_loader_calls_no_hook(url: str) -> None:
    async def body(store: FhirStore) -> None:
        report = await store.load(
            [
                {**patient(60, "male"), "id": "bulk-1"},
                {**bp("bulk-1", 150, 95), "id": "bulk-bp-1"},
            ]
        )
        assert report.written == 2 and report.rejected == []
        assert await jobs(store) == []

    run(url, body)


def test_the_job_writes_the_risk_assessment_and_the_enrolment(url: str) -> None:
    async def body(store: FhirStore) -> None:
        org = (await store.create({"resourceType": "Organization", "name": "Trạm Y tế xã A"})).res_id
        pid = (await store.create(patient(58, "male", org=org))).res_id
        await create_all(
            store,
            [
                bp(pid, 165, 100),
                smoking(pid, "77176002"),
                quantity(pid, "2093-3", 6.4, "mmol/L"),
                condition(pid, "I10"),
            ],
        )
        await run_worker(wait=False, install_signal_handlers=False)
        assert [s for s, _ in await jobs(store)] == ["succeeded"]
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT res_type, content FROM fhir_resource WHERE pkey = %s"
                " AND res_type IN ('RiskAssessment', 'EpisodeOfCare', 'CarePlan') ORDER BY res_type",
                (pid,),
            )
            rows = await cur.fetchall()
        assert [t for t, _ in rows] == ["CarePlan", "EpisodeOfCare", "RiskAssessment"]
        ra = rows[2][1]
        assert ra["method"]["coding"][0]["code"] == "lab" and len(ra["basis"]) == 3
        episode = rows[1][1]
        assert episode["type"][0]["coding"][0]["code"] == "hypertension"
        assert episode["managingOrganization"] == {"reference": f"Organization/{org}"}
        # the job's own writes (RiskAssessment, EpisodeOfCare, CarePlan) queue nothing further
        assert await jobs(store, "todo") == []

    run(url, body)
