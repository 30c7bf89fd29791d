"""Automatic case detection on a real PostgreSQL: the write hook queues a job that the worker runs; a
case from each kind of evidence; a laboratory result upgrades it; a linked duplicate record's case is
merged; deadlines and late reports; line lists with their filters and signals; the list switch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from surveillance_support import (
    COMMUNE_A,
    COMMUNE_B,
    DENGUE_NS1,
    PROVINCE,
    at,
    condition,
    encounter,
    lab,
    patient,
    run,
)

import senhealth.surveillance.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.jobs.worker import run_worker
from senhealth.mpi.link import link
from senhealth.surveillance.cases import (
    DETECT_TASK,
    detect_for_patient,
    install_case_detection,
    line_list,
    line_list_with_signals,
    mark_reported,
    report_signal,
    set_outcome,
    uninstall_case_detection,
)
from senhealth.surveillance.series import weekly_series


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    """One migrated schema for the module (each test writes its own patients)."""
    import uuid

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    schema = f"test_surv_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conninfo = make_conninfo(database_url, options=f"-c search_path={schema}")
        try:
            migrate(conninfo)
            yield conninfo
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def hooked() -> Iterator[None]:
    uninstall_case_detection()
    install_case_detection()
    try:
        yield
    finally:
        uninstall_case_detection()


async def cases_of(store: FhirStore, pid: str, *, everything: bool = False) -> list[dict[str, Any]]:
    async with store.pool.connection() as conn:
        rows = await line_list(conn, include_inactive=everything, now=at("2026-12-31"))
    return [r for r in rows if pid in r["patients"]]


async def new_patient(store: FhirStore, name: str = "Nguyễn Văn An", commune: str = COMMUNE_A) -> str:
    return (await store.create(patient(name, commune))).res_id


def test_the_hook_queues_one_job_per_patient_and_the_worker_detects(url: str, hooked: None) -> None:
    async def body(store: FhirStore) -> None:
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM procrastinate_jobs")
        pid = await new_patient(store)
        await store.create(condition(pid, "I10", at("2026-03-10")))  # hypertension: not notifiable
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (DETECT_TASK,)
            )
            assert (await cur.fetchone()) == (0,)
        await store.create(condition(pid, "A97.0", at("2026-03-10"), onset="2026-03-09"))
        await store.create(lab(pid, DENGUE_NS1, at("2026-03-10", 11)))
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT args FROM procrastinate_jobs WHERE task_name = %s AND status = 'todo'", (DETECT_TASK,)
            )
            assert [r[0] for r in await cur.fetchall()] == [{"patient": pid}]  # coalesced
        await run_worker(wait=False, install_signal_handlers=False)
        (case,) = await cases_of(store, pid)
        assert (case["disease"], case["classification"], case["commune"]) == (
            "dengue",
            "confirmed",
            COMMUNE_A,
        )
        qr = await store.read("QuestionnaireResponse", case["caseId"])
        assert qr.content is not None and qr.content["status"] == "in-progress"
        assert qr.content["subject"] == {"reference": f"Patient/{pid}"}
        assert await store.read("Questionnaire", "notifiable-case-report")

    run(url, body)


def test_a_case_from_each_kind_of_evidence(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pa, pb, pc = [await new_patient(store, n) for n in ("Lê Văn Ba", "Trần Thị Bốn", "Phạm Văn Năm")]
        await store.create(condition(pa, "B05", at("2026-03-02")))
        await store.create(encounter(pb, "B08.4", at("2026-03-03")))
        await store.create(lab(pc, DENGUE_NS1, at("2026-03-04")))
        for pid in (pa, pb, pc):
            done = await detect_for_patient(store, pid, now=at("2026-03-05"))
            assert len(done.created) == 1
            again = await detect_for_patient(store, pid, now=at("2026-03-06"))
            assert again.created == [] and again.updated == [] and len(again.unchanged) == 1  # idempotent
        got = {p: (await cases_of(store, p))[0] for p in (pa, pb, pc)}
        assert (got[pa]["disease"], got[pa]["classification"]) == ("measles", "probable")
        assert (got[pb]["disease"], got[pb]["classification"], got[pb]["evidence"][0][:10]) == (
            "hfmd",
            "suspected",
            "Encounter/",
        )
        assert (got[pc]["disease"], got[pc]["classification"], got[pc]["icd10"]) == (
            "dengue",
            "confirmed",
            "",
        )

    run(url, body)


def test_a_laboratory_result_upgrades_and_death_sets_the_outcome(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = await new_patient(store)
        await store.create(encounter(pid, "A97.1", at("2026-04-01")))
        await detect_for_patient(store, pid, now=at("2026-04-01", 10))
        (case,) = await cases_of(store, pid)
        assert case["classification"] == "suspected" and case["outcome"] == "unknown"
        await store.create(lab(pid, DENGUE_NS1, at("2026-04-02")))
        await store.create(encounter(pid, "A97.2", at("2026-04-05"), died=True))
        done = await detect_for_patient(store, pid, now=at("2026-04-06"))
        assert done.updated == [case["caseId"]] and done.created == []
        (after,) = await cases_of(store, pid)
        assert (after["classification"], after["outcome"], after["icd10"]) == ("confirmed", "died", "A97.2")
        assert after["detected"] == case["detected"]  # the case keeps its detection time
        qr = await store.read("QuestionnaireResponse", case["caseId"])
        assert qr.version == 2 and qr.content is not None
        severity = next(i for i in qr.content["item"] if i["linkId"] == "dengue")["item"][0]["answer"][0]
        assert severity["valueCoding"]["code"] == "severe"
        await set_outcome(store, case["caseId"], "recovered")  # by hand: detection keeps it
        await detect_for_patient(store, pid, now=at("2026-04-07"))
        assert (await cases_of(store, pid))[0]["outcome"] == "recovered"

    run(url, body)


def test_a_linked_duplicate_record_has_one_case(url: str) -> None:
    async def body(store: FhirStore) -> None:
        survivor = await new_patient(store, "Hoàng Thị Sáu")
        duplicate = await new_patient(store, "Hoàng Thị Sáu")
        await store.create(condition(survivor, "B08.4", at("2026-05-04"), verification="provisional"))
        await store.create(condition(duplicate, "B08.4", at("2026-05-05")))
        await detect_for_patient(store, survivor, now=at("2026-05-05", 10))
        await detect_for_patient(store, duplicate, now=at("2026-05-05", 11))
        first = (await cases_of(store, survivor))[0]
        second = (await cases_of(store, duplicate))[0]
        await mark_reported(store, second["caseId"], at=at("2026-05-05", 12))
        async with store.pool.connection() as conn:
            series = await weekly_series(
                conn, "hfmd", commune=COMMUNE_A, start=date(2026, 5, 4), end=date(2026, 5, 4)
            )
        before = series[0].count
        await link(store, survivor, duplicate, by="test")
        done = await detect_for_patient(store, duplicate, now=at("2026-05-06"))
        assert done.merged == [second["caseId"]] and done.updated == [first["caseId"]]
        (case,) = await cases_of(store, survivor)
        assert case["caseId"] == first["caseId"] and case["patient"] == survivor
        assert sorted(case["patients"]) == sorted([survivor, duplicate])
        assert case["classification"] == "probable"  # the duplicate's confirmed diagnosis counts
        assert case["reported"] == "2026-05-05T12:00:00+07:00"  # the earlier report is kept
        merged = next(
            r for r in await cases_of(store, duplicate, everything=True) if r["caseId"] == second["caseId"]
        )
        assert merged["status"] == "merged"
        qr = await store.read("QuestionnaireResponse", second["caseId"])
        assert qr.content is not None and qr.content["status"] == "entered-in-error"
        async with store.pool.connection() as conn:
            series = await weekly_series(
                conn, "hfmd", commune=COMMUNE_A, start=date(2026, 5, 4), end=date(2026, 5, 4)
            )
        assert series[0].count == before - 1

    run(url, body)


def test_deadline_late_and_overdue(url: str) -> None:
    async def body(store: FhirStore) -> None:
        on_time, late, waiting = [await new_patient(store, n) for n in ("A Một", "B Hai", "C Ba")]
        for pid in (on_time, late, waiting):
            await store.create(condition(pid, "A00", at("2026-06-01", 8)))  # cholera: 24 h
            await detect_for_patient(store, pid, now=at("2026-06-01", 9))
        ids = {pid: (await cases_of(store, pid))[0]["caseId"] for pid in (on_time, late, waiting)}
        await mark_reported(store, ids[on_time], at=at("2026-06-02", 7))
        await mark_reported(store, ids[late], at=at("2026-06-02", 10))
        async with store.pool.connection() as conn:
            rows = {r["caseId"]: r for r in await line_list(conn, "cholera", now=at("2026-06-03"))}
        assert rows[ids[on_time]]["deadlineAt"] == "2026-06-02T08:00:00+07:00"
        assert (rows[ids[on_time]]["late"], rows[ids[on_time]]["overdue"]) == (False, False)
        assert (rows[ids[late]]["late"], rows[ids[late]]["overdue"]) == (True, False)
        assert (rows[ids[waiting]]["late"], rows[ids[waiting]]["overdue"]) == (False, True)
        qr = await store.read("QuestionnaireResponse", ids[late])
        assert qr.content is not None and qr.content["status"] == "completed"

    run(url, body)


def test_line_list_filters_and_signals(url: str) -> None:
    async def body(store: FhirStore) -> None:
        in_a = await new_patient(store, "Đỗ Văn Bảy", COMMUNE_A)
        in_b = await new_patient(store, "Đỗ Văn Tám", COMMUNE_B)
        await store.create(condition(in_a, "A53.9", at("2026-02-02"), verification="provisional"))  # syphilis
        await store.create(condition(in_b, "A53.9", at("2026-02-20")))
        for pid in (in_a, in_b):
            await detect_for_patient(store, pid, now=at("2026-02-21"))
        await report_signal(
            store, "5 ca sốt phát ban trong một thôn", "cluster", province=PROVINCE, commune=COMMUNE_B,
            sent=at("2026-02-19"),
        )  # fmt: skip
        async with store.pool.connection() as conn:
            everyone = await line_list(conn, "syphilis")
            in_commune = await line_list(conn, "syphilis", commune=COMMUNE_B)
            early = await line_list(conn, "syphilis", start=date(2026, 2, 1), end=date(2026, 2, 10))
            probable = await line_list(conn, "syphilis", classification="probable")
            both = await line_list(
                conn, "syphilis", classification=["suspected", "probable"], province=PROVINCE
            )
            with_signals = await line_list_with_signals(conn, "syphilis", commune=COMMUNE_B, lang="en")
        assert [r["patient"] for r in everyone] == [in_a, in_b]
        assert [r["patient"] for r in in_commune] == [in_b]
        assert [r["patient"] for r in early] == [in_a]
        assert [r["patient"] for r in probable] == [in_b]
        assert len(both) == 2 and everyone[0]["group"] == "C" and everyone[0]["isoWeek"] == "2026-W06"
        assert [r["patient"] for r in with_signals["cases"]] == [in_b]
        assert with_signals["cases"][0]["diseaseName"] == "Syphilis"
        (signal,) = with_signals["signals"]
        assert (signal["category"], signal["commune"], signal["categoryName"]) == (
            "cluster",
            COMMUNE_B,
            "Cluster of cases",
        )

    run(url, body)


def test_the_list_in_force_follows_the_case_date(url: str) -> None:
    async def body(store: FhirStore) -> None:
        june, july = await new_patient(store, "Vũ Văn Chín"), await new_patient(store, "Vũ Văn Mười")
        await store.create(condition(june, "B05", at("2026-06-30", 23)))
        await store.create(condition(july, "B05", at("2026-07-01", 8)))
        for pid in (june, july):
            await detect_for_patient(store, pid, now=at("2026-07-01", 9))
        assert (await cases_of(store, june))[0]["list"] == "tt54-2015"
        assert (await cases_of(store, july))[0]["list"] == "vn-2026"

    run(url, body)


def test_deleted_evidence_withdraws_the_case_and_a_late_relapse_is_a_new_episode(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = await new_patient(store, "Ngô Thị Mười Một")
        first = await store.create(condition(pid, "B08.4", at("2026-01-05")))
        await detect_for_patient(store, pid, now=at("2026-01-05", 10))
        await store.create(condition(pid, "B08.4", at("2026-01-05") + timedelta(days=45)))  # > 30 days later
        done = await detect_for_patient(store, pid, now=at("2026-02-20"))
        assert len(done.created) == 1 and len(await cases_of(store, pid)) == 2
        await store.delete("Condition", first.res_id)
        done = await detect_for_patient(store, pid, now=at("2026-02-21"))
        assert len(done.withdrawn) == 1
        assert len(await cases_of(store, pid)) == 1

    run(url, body)
