"""The surveillance series on a real PostgreSQL: counts move with every case change in the detection's
transaction, weeks and days are zero-filled, province totals add the communes, a rebuild gives the same
counts, and populations give rates per 100,000."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from surveillance_support import COMMUNE_A, COMMUNE_B, DENGUE_NS1, PROVINCE, at, condition, lab, patient, run

from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.cases import detect_for_patient
from senhealth.surveillance.series import (
    PopulationRow,
    count_from_patient_index,
    daily_series,
    iso_label,
    parse_iso_week,
    population,
    rate_per_100k,
    rebuild,
    set_population,
    weekly_series,
)


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    schema = f"test_series_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conninfo = make_conninfo(database_url, options=f"-c search_path={schema}")
        try:
            migrate(conninfo)
            yield conninfo
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_iso_weeks() -> None:
    assert iso_label(date(2026, 1, 1)) == "2026-W01"
    assert iso_label(date(2027, 1, 1)) == "2026-W53"  # 2026 has 53 ISO weeks
    assert parse_iso_week("2026-W07") == date(2026, 2, 9)
    assert parse_iso_week("2026W53") == date(2026, 12, 28)
    assert rate_per_100k(3, 20_000) == 15.0 and rate_per_100k(3, None) is None and rate_per_100k(1, 0) is None


def test_counts_increment_move_and_zero_fill(url: str) -> None:
    async def body(store: FhirStore) -> None:
        a1 = (await store.create(patient("Một", COMMUNE_A))).res_id
        a2 = (await store.create(patient("Hai", COMMUNE_A))).res_id
        b1 = (await store.create(patient("Ba", COMMUNE_B))).res_id
        await store.create(condition(a1, "A97.0", at("2026-09-08"), onset="2026-09-07"))  # Monday W37
        await store.create(condition(a2, "A97.1", at("2026-09-16")))  # W38
        await store.create(condition(b1, "A90", at("2026-09-16")))  # W38, other commune
        for pid in (a1, a2, b1):
            await detect_for_patient(store, pid, now=at("2026-09-17"))
        start, end = date(2026, 8, 31), date(2026, 9, 27)  # W36 … W39
        async with store.pool.connection() as conn:
            a = await weekly_series(conn, "dengue", commune=COMMUNE_A, start=start, end=end)
            p = await weekly_series(conn, "dengue", province=PROVINCE, start=start, end=end)
            conf = await weekly_series(
                conn, "dengue", province=PROVINCE, start=start, end=end, measure="confirmed"
            )
            days = await daily_series(
                conn, "dengue", commune=COMMUNE_A, start=date(2026, 9, 6), end=date(2026, 9, 8)
            )
        assert [(w.label, w.count) for w in a] == [
            ("2026-W36", 0),
            ("2026-W37", 1),
            ("2026-W38", 1),
            ("2026-W39", 0),
        ]
        assert [w.count for w in p] == [0, 1, 2, 0]
        assert [w.count for w in conf] == [0, 0, 0, 0]
        assert days == [
            (date(2026, 9, 6), 0),
            (date(2026, 9, 7), 1),
            (date(2026, 9, 8), 0),
        ]  # on the onset day
        # a confirming result: the case moves to confirmed; an onset recorded later moves it a week back
        await store.create(lab(a2, DENGUE_NS1, at("2026-09-17")))
        await store.create(condition(a2, "A97.1", at("2026-09-17"), onset="2026-09-13"))  # Sunday of W37
        await detect_for_patient(store, a2, now=at("2026-09-18"))
        async with store.pool.connection() as conn:
            a = await weekly_series(conn, "dengue", commune=COMMUNE_A, start=start, end=end)
            conf = await weekly_series(
                conn, "dengue", commune=COMMUNE_A, start=start, end=end, measure="confirmed"
            )
            cur = await conn.execute(
                "SELECT disease, commune, week_start, cases FROM surveillance_count_week ORDER BY 1, 2, 3"
            )
            incremental = await cur.fetchall()
            async with conn.transaction(force_rollback=True):
                assert await rebuild(conn) == 3
                cur = await conn.execute(
                    "SELECT disease, commune, week_start, cases FROM surveillance_count_week WHERE cases <> 0 ORDER BY 1, 2, 3"
                )
                rebuilt = await cur.fetchall()
        assert [w.count for w in a] == [0, 2, 0, 0]
        assert [w.count for w in conf] == [0, 1, 0, 0]
        assert [r for r in incremental if r[3] != 0] == rebuilt

    run(url, body)


def test_a_rolled_back_detection_leaves_the_series_untouched(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient("Bốn", COMMUNE_B))).res_id
        await store.create(condition(pid, "B05", at("2026-10-05")))

        async def weekly() -> list[int]:
            async with store.pool.connection() as conn:
                s = await weekly_series(
                    conn, "measles", commune=COMMUNE_B, start=date(2026, 10, 5), end=date(2026, 10, 5)
                )
            return [w.count for w in s]

        assert await weekly() == [0]
        from senhealth.surveillance.cases import detect as detect_module

        original = detect_module.upsert_row

        async def failing(conn: object, row: object) -> None:
            raise RuntimeError("disk full")

        detect_module.upsert_row = failing  # type: ignore[assignment]
        try:
            with pytest.raises(RuntimeError):
                await detect_for_patient(store, pid, now=at("2026-10-06"))
        finally:
            detect_module.upsert_row = original
        assert await weekly() == [0]
        await detect_for_patient(store, pid, now=at("2026-10-06"))
        assert await weekly() == [1]

    run(url, body)


def test_population_configured_counted_and_province_totals(url: str) -> None:
    async def body(store: FhirStore) -> None:
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM surveillance_population")
            await conn.execute("DELETE FROM fhir_resource WHERE res_type = 'Patient'")
        for name, commune in (("Năm", COMMUNE_A), ("Sáu", COMMUNE_A), ("Bảy", COMMUNE_B)):
            await store.create(patient(name, commune))
        async with store.pool.connection() as conn:
            await set_population(conn, [PopulationRow(COMMUNE_A, "commune", PROVINCE, 2025, 12_000, "Xã A")])
            assert await count_from_patient_index(conn, 2026) == 2
            assert await population(conn, 2026, commune=COMMUNE_B) == 1  # counted from the index
            assert await population(conn, 2026, commune=COMMUNE_A) == 2  # the 2026 count is the latest
            assert await population(conn, 2025, commune=COMMUNE_A) == 12_000
            assert await population(conn, 2024, commune=COMMUNE_A) is None
            assert await population(conn, 2025, province=PROVINCE) == 12_000
            assert await population(conn, 2026, province=PROVINCE) == 3
            await set_population(conn, [PopulationRow(PROVINCE, "province", PROVINCE, 2026, 1_900_000)])
            assert await population(conn, 2026, province=PROVINCE) == 1_900_000
            await set_population(conn, [PopulationRow(COMMUNE_A, "commune", PROVINCE, 2026, 15_000)])
            await count_from_patient_index(conn, 2026)  # a configured figure is kept
            assert await population(conn, 2026, commune=COMMUNE_A) == 15_000

    run(url, body)
