"""The change feed's horizon: a version of a transaction still running holds the feed back (docs/storage.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from store_support import observation, patient

from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.change_feed import changes, horizon


def test_feed_lists_every_version_in_order(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        async with store.pool.connection() as conn:
            assert await horizon(conn) == 0
            assert (await changes(conn, 0)).changes == []
        pat = await store.create(patient(), res_id="p1")
        await store.update(dict(pat.content or {}, gender="female"))
        obs = await store.create(observation("Patient/p1"))
        await store.delete("Observation", obs.res_id)
        async with store.pool.connection() as conn:
            page = await changes(conn, 0)
            assert page.complete
            assert [(c.res_type, c.res_id, c.version, c.deleted) for c in page.changes] == [
                ("Patient", "p1", 1, False),
                ("Patient", "p1", 2, False),
                ("Observation", obs.res_id, 1, False),
                ("Observation", obs.res_id, 2, True),
            ]
            seqs = [c.seq for c in page.changes]
            assert seqs == sorted(seqs) and page.position == seqs[-1] == page.horizon
            only = await changes(conn, 0, types=["Observation"])
            assert [c.res_type for c in only.changes] == ["Observation", "Observation"]
            assert only.position == page.position  # advanced over the Patient versions too
            first = await changes(conn, 0, limit=3)
            assert not first.complete and first.position == seqs[2]
            rest = await changes(conn, first.position)
            assert [c.seq for c in rest.changes] == seqs[3:]

    run_store(go)


def test_a_running_transaction_holds_the_horizon_back(run_store: Any) -> None:
    """Writer A takes a seq and stays open; writer B takes a larger seq and commits. The feed must not
    move past A's seq until A commits, else a reader that stored B's seq as its position loses A."""

    async def go(store: FhirStore) -> None:
        await store.create(patient(), res_id="p0")
        a_wrote = asyncio.Event()
        a_may_commit = asyncio.Event()

        async def writer_a() -> None:
            async with store.transaction() as tx:
                await tx.create(patient(), res_id="slow")
                a_wrote.set()
                await a_may_commit.wait()

        task = asyncio.create_task(writer_a())
        await a_wrote.wait()
        await store.create(patient(), res_id="fast")  # commits, with a seq above A's
        async with store.pool.connection() as conn:
            page = await changes(conn, 0)
            ids = [c.res_id for c in page.changes]
            assert ids == ["p0"], ids  # "fast" is committed but above the horizon A holds
            a_may_commit.set()
            await task
            later = await changes(conn, page.position)
            assert sorted(c.res_id for c in later.changes) == ["fast", "slow"]
            assert [c.seq for c in later.changes] == sorted(c.seq for c in later.changes)

    run_store(go)


def test_a_rolled_back_transaction_releases_the_horizon(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        class Stop(Exception):
            pass

        try:
            async with store.transaction() as tx:
                await tx.create(patient(), res_id="gone")
                raise Stop
        except Stop:
            pass
        done = await store.create(patient(), res_id="kept")
        async with store.pool.connection() as conn:
            page = await changes(conn, 0)
            assert [c.res_id for c in page.changes] == ["kept"]
            assert page.horizon >= done.seq

    run_store(go)
