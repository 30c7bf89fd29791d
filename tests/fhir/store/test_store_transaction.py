"""store.transaction(): several writes in one database transaction (https://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

from typing import Any

import pytest
from store_support import TABLES, observation, patient

from senhealth.core import db
from senhealth.fhir.store import Conflict, FhirStore, InvalidResource, NotFound, Stored, VersionConflict


class Boom(Exception):
    pass


def test_writes_commit_together(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> tuple[Stored, Stored]:
        async with store.transaction() as tx:
            pat = await tx.create(patient(), res_id="p1")
            obs = await tx.create(observation("Patient/p1"))
            v2, _ = await tx.update(dict(pat.content or {}, gender="female"))
            assert (await tx.read("Patient", "p1")).version == 2  # read your own writes
            cur = await tx.conn.execute("SELECT count(*) FROM fhir_resource")
            assert await cur.fetchone() == (2,)
        return v2, obs

    v2, obs = run_store(go)
    assert sql("SELECT res_id, version FROM fhir_resource ORDER BY rid") == [("p1", 2), (obs.res_id, 1)]
    assert sql("SELECT count(*) FROM fhir_history") == [(3,)]
    assert v2.version == 2


def test_an_exception_rolls_back_everything(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        await store.create(patient(), res_id="keep")
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                await tx.create(patient(), res_id="p1")
                await tx.create(observation("Patient/p1"))
                await tx.update(patient(id="keep", gender="female"))
                await tx.delete("Patient", "keep")
                raise Boom
        with pytest.raises(NotFound):
            await store.read("Patient", "p1")
        assert (await store.read("Patient", "keep")).version == 1

    run_store(go)
    assert sql("SELECT res_id, version FROM fhir_resource") == [("keep", 1)]
    assert sql("SELECT count(*) FROM fhir_history") == [(1,)]
    for table in TABLES[3:]:
        assert sql(f"SELECT count(DISTINCT rid) FROM {table}") in ([(0,)], [(1,)]), table


def test_an_error_leaving_the_block_rolls_back_everything(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        with pytest.raises(Conflict, match="already exists"):
            async with store.transaction() as tx:
                await tx.create(patient(), res_id="p1")
                await tx.create(observation("Patient/p1"))
                await tx.create(patient(), res_id="p1")

    run_store(go)
    for table in TABLES:
        assert sql(f"SELECT count(*) FROM {table}") == [(0,)], table


def test_store_errors_leave_the_transaction_usable(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        await store.create(patient(), res_id="taken")
        async with store.transaction() as tx:
            with pytest.raises(Conflict):
                await tx.create(patient(), res_id="taken")
            with pytest.raises(VersionConflict):
                await tx.update(patient(id="absent"), if_match=1)  # its placeholder is removed
            with pytest.raises(InvalidResource):
                await tx.update(patient(id="bad", name=[{"family": "nul\u0000"}]))
            await tx.create(patient(), res_id="after")
        with pytest.raises(NotFound):
            await store.read("Patient", "absent")
        made = await store.create(patient(), res_id="absent")
        assert made.version == 1

    run_store(go)
    assert sql("SELECT res_id, version FROM fhir_locator ORDER BY res_id") == [
        ("absent", 1),
        ("after", 1),
        ("taken", 1),
    ]


def test_store_calls_join_a_core_transaction(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        hooks: list[str] = []
        with pytest.raises(Boom):
            async with db.transaction(store.pool):
                await store.create(patient(), res_id="inner")
                assert (await store.read("Patient", "inner")).version == 1
                raise Boom
        async with db.transaction(store.pool):
            await store.create(patient(), res_id="kept")
            db.on_commit(lambda: hooks.append("committed"))
        assert hooks == ["committed"]

    run_store(go)
    assert sql("SELECT res_id FROM fhir_resource") == [("kept",)]
