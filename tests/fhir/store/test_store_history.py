"""History at instance, type and system level with _since, _at, _count and cursors
(https://hl7.org/fhir/R4/http.html#history)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from store_support import observation, patient

from senhealth.fhir.store import FhirStore, InvalidCursor, Stored


async def scenario(store: FhirStore) -> dict[str, Stored]:
    """p v1, o1 v1, p v2, o2 v1, o1 v2, p v3 (delete), o1 v3; a few ms apart."""
    out: dict[str, Stored] = {}

    async def step(name: str, stored: Stored | None) -> None:
        assert stored is not None
        out[name] = stored
        await asyncio.sleep(0.004)

    await step("p1", await store.create(patient(), res_id="p"))
    await step("o1v1", await store.create(observation("Patient/p"), res_id="o1"))
    await step("p2", (await store.update(patient(id="p", gender="female")))[0])
    await step("o2v1", await store.create(observation("Patient/p", value=8), res_id="o2"))
    await step("o1v2", (await store.update(observation("Patient/p", value=9, id="o1")))[0])
    await step("p3", await store.delete("Patient", "p"))
    await step("o1v3", (await store.update(observation("Patient/p", value=10, id="o1")))[0])
    return out


def names(entries: list[Stored], made: dict[str, Stored]) -> list[str]:
    by_seq = {s.seq: n for n, s in made.items()}
    return [by_seq[e.seq] for e in entries]


ALL = ["o1v3", "p3", "o1v2", "o2v1", "p2", "o1v1", "p1"]


def test_levels_newest_first_with_deletes(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        made = await scenario(store)
        system = await store.history()
        assert names(system.entries, made) == ALL and system.total == 7 and system.next_cursor is None
        typed = await store.history("Observation")
        assert names(typed.entries, made) == ["o1v3", "o1v2", "o2v1", "o1v1"]
        inst = await store.history("Patient", "p")
        assert names(inst.entries, made) == ["p3", "p2", "p1"] and inst.total == 3
        delete = inst.entries[0]
        assert delete.deleted and delete.method == "DELETE" and delete.content is None and delete.version == 3
        assert [e.method for e in inst.entries[1:]] == ["PUT", "POST"]
        assert inst.entries[1].content and inst.entries[1].content["gender"] == "female"
        assert (await store.history("Patient", "nobody")).entries == []

    run_store(go)


def test_since_at_count_and_cursor(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        made = await scenario(store)
        since = await store.history(since=made["o2v1"].last_updated)
        assert names(since.entries, made) == ["o1v3", "p3", "o1v2", "o2v1"]
        inst_since = await store.history("Observation", "o1", since=made["o1v2"].last_updated)
        assert names(inst_since.entries, made) == ["o1v3", "o1v2"] and inst_since.total == 2

        at = made["o2v1"].last_updated + timedelta(milliseconds=1)  # after o2v1, before o1v2
        current = await store.history(at=at)
        assert names(current.entries, made) == ["o2v1", "p2", "o1v1"]
        assert names((await store.history("Observation", "o1", at=at)).entries, made) == ["o1v1"]
        after_delete = made["p3"].last_updated + timedelta(milliseconds=1)
        assert names((await store.history("Patient", at=after_delete)).entries, made) == ["p3"]
        before_all = made["p1"].last_updated - timedelta(seconds=1)
        assert (await store.history(at=before_all)).entries == []

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await store.history(count=3, cursor=cursor)
            pages += 1
            seen += names(page.entries, made)
            assert len(page.entries) <= 3
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ALL and pages == 3

        # a new write lands before the first page and does not shift the pages already handed out
        first = await store.history("Observation", count=2)
        await store.update(observation("Patient/p", value=11, id="o2"))
        rest = await store.history("Observation", count=10, cursor=first.next_cursor)
        assert names(first.entries, made) + names(rest.entries, made) == ["o1v3", "o1v2", "o2v1", "o1v1"]
        assert rest.total is None and first.total is None

        counted = await store.history("Patient", "p", count=0)
        assert counted.entries == [] and counted.total == 3
        with pytest.raises(InvalidCursor):
            await store.history(cursor="bogus!")

    run_store(go)
