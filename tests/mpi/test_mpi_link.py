"""Merge and unmerge through ``Patient.link`` on a real store (senhealth.mpi.link).

Spec: https://hl7.org/fhir/R4/patient-definitions.html#Patient.link
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore, NotFound
from senhealth.mpi.link import LinkError, link, linked_ids, unmerge
from senhealth.mpi.match import ScoredPair
from senhealth.mpi.review import ReviewError, decide, enqueue_pairs, list_open

T = TypeVar("T")
CCCD = "https://senhealth.vn/fhir/sid/cccd"


@pytest.fixture
def run_store(schema_url: str) -> Callable[[Callable[[FhirStore], Awaitable[Any]]], Any]:
    migrate(schema_url)

    def run(fn: Callable[[FhirStore], Awaitable[T]]) -> T:
        async def main() -> T:
            pool = create_pool(schema_url, min_size=1, max_size=4)
            await pool.open(wait=True)
            try:
                return await fn(FhirStore(pool))
            finally:
                await pool.close()

        return asyncio.run(main())

    return run


def _patient(pid: str, given: str = "Thị Lan", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"tag": [{"system": "https://senhealth.vn/fhir/tag", "code": "synthetic"}]},
        "identifier": [{"system": CCCD, "value": "027190000001"}],
        "active": True,
        "name": [{"family": "Nguyễn", "given": given.split()}],
        "gender": "female",
        "birthDate": "1990-03-04",
        **extra,
    }


def _link_types(content: dict[str, Any] | None) -> list[tuple[str, str]]:
    assert content is not None
    return [(e["type"], e["other"]["reference"]) for e in content.get("link", [])]


def test_merge_then_unmerge_keeps_history(run_store: Any) -> None:
    async def scenario(store: FhirStore) -> None:
        await store.update(_patient("surv"))
        await store.update(_patient("dup", "Thi Lan"))

        survivor, duplicate = await link(store, "surv", "dup", by="reviewer-1")
        assert (survivor.version, duplicate.version) == (2, 2)
        current_d = (await store.read("Patient", "dup")).content
        current_s = (await store.read("Patient", "surv")).content
        assert current_d is not None and current_s is not None
        assert current_d["active"] is False
        assert _link_types(current_d) == [("replaced-by", "Patient/surv")]
        assert _link_types(current_s) == [("replaces", "Patient/dup")]
        assert current_s["active"] is True
        assert current_d["meta"]["tag"][0]["code"] == "synthetic"  # meta kept

        assert await linked_ids(store, "surv") == {"dup"}
        assert await linked_ids(store, "dup") == {"surv"}

        # merging again changes nothing
        again = await link(store, "surv", "dup", by="reviewer-1")
        assert (again[0].version, again[1].version) == (2, 2)

        survivor, duplicate = await unmerge(store, "surv", "dup", by="reviewer-2")
        assert (survivor.version, duplicate.version) == (3, 3)
        current_d = (await store.read("Patient", "dup")).content
        current_s = (await store.read("Patient", "surv")).content
        assert current_d is not None and current_s is not None
        assert current_d["active"] is True and "link" not in current_d
        assert "link" not in current_s
        assert await linked_ids(store, "surv") == set()

        # history keeps every version: before, merged, unmerged
        history = await store.history("Patient", "dup")
        assert [s.version for s in history.entries] == [3, 2, 1]
        merged = history.entries[1].content
        assert merged is not None and merged["active"] is False
        assert _link_types(merged) == [("replaced-by", "Patient/surv")]
        s_history = await store.history("Patient", "surv")
        assert [_link_types(s.content) for s in s_history.entries] == [[], [("replaces", "Patient/dup")], []]

        with pytest.raises(LinkError):
            await unmerge(store, "surv", "dup")

    run_store(scenario)


def test_merge_refusals(run_store: Any) -> None:
    async def scenario(store: FhirStore) -> None:
        for pid in ("p1", "p2", "p3"):
            await store.update(_patient(pid))
        await link(store, "p1", "p2", by="reviewer-1")
        with pytest.raises(LinkError) as taken:
            await link(store, "p3", "p2", by="reviewer-1")  # p2 already replaced by p1
        assert taken.value.status == 409
        with pytest.raises(LinkError):
            await link(store, "p2", "p3", by="reviewer-1")  # p2 was itself replaced: merge into p1
        with pytest.raises(LinkError) as itself:
            await link(store, "p1", "p1", by="reviewer-1")
        assert itself.value.status == 400
        with pytest.raises(LinkError):
            await link(store, "p1", "p3", by=" ")
        with pytest.raises(NotFound):
            await link(store, "p1", "nobody", by="reviewer-1")
        # nothing half-written: p3 unchanged
        assert (await store.read("Patient", "p3")).version == 1

    run_store(scenario)


def test_linked_ids_follows_chains_and_seealso(run_store: Any) -> None:
    async def scenario(store: FhirStore) -> None:
        await store.update(_patient("a"))
        await store.update(_patient("b"))
        await store.update(_patient("c", link=[{"other": {"reference": "Patient/a"}, "type": "seealso"}]))
        await store.update(
            _patient("d", link=[{"other": {"reference": "Patient/zz-gone"}, "type": "seealso"}])
        )
        await store.update(_patient("e", link=[{"other": {"reference": "Patient/a"}, "type": "refer"}]))
        await link(store, "a", "b", by="reviewer-1")
        assert await linked_ids(store, "b") == {"a"}
        assert await linked_ids(store, "c") == {"a", "b"}  # c → a (seealso) → b (replaces)
        assert await linked_ids(store, "d") == set()  # unknown target: not returned
        assert await linked_ids(store, "e") == set()  # refer is not followed
        assert await linked_ids(store, "c", limit=1) == {"a"}
        async with store.transaction() as tx:
            assert await linked_ids(tx, "c") == {"a", "b"}
            assert await linked_ids(tx.conn, "a") == {"b"}

    run_store(scenario)


def test_decide_and_link_in_one_transaction(run_store: Any) -> None:
    async def scenario(store: FhirStore) -> None:
        await store.update(_patient("r1"))
        await store.update(_patient("r2"))
        async with store.transaction() as tx:
            await enqueue_pairs(tx.conn, [ScoredPair("r2", "r1", 0.8, ("same family name",))])
        async with store.transaction() as tx:
            (item,) = await list_open(tx.conn)
            await link(store, item.patient_a, item.patient_b, by="reviewer-1")
            await decide(tx.conn, item.id, "linked", "reviewer-1")
        assert await linked_ids(store, "r1") == {"r2"}
        # a failed decision rolls the merge back with it
        await unmerge(store, "r1", "r2")
        with pytest.raises(ReviewError):
            async with store.transaction() as tx:
                await link(store, "r1", "r2", by="reviewer-1")
                await decide(tx.conn, item.id, "linked", "reviewer-1")  # already decided: 409
        assert await linked_ids(store, "r1") == set()
        assert (await store.read("Patient", "r2")).content["active"] is True  # type: ignore[index]

    run_store(scenario)
