"""Concurrent writers of one resource (https://hl7.org/fhir/R4/http.html#concurrency): with If-Match
exactly one writer per version wins; without it, writes queue on the locator row and none is lost."""

from __future__ import annotations

import asyncio
from typing import Any

from store_support import patient

from senhealth.fhir.store import FhirStore, Stored, VersionConflict

WRITERS = 20


def test_if_match_one_winner_per_version(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> list[Any]:
        made = await store.create(patient())

        async def writer(i: int) -> Any:
            body = dict(made.content or {}, gender="female" if i % 2 else "other", birthDate=f"19{50 + i}")
            try:
                stored, _ = await store.update(body, if_match=1)
                return stored
            except VersionConflict as e:
                return e

        return await asyncio.gather(*(writer(i) for i in range(WRITERS)))

    results = run_store(go, max_size=WRITERS)
    winners = [r for r in results if isinstance(r, Stored)]
    losers = [r for r in results if isinstance(r, VersionConflict)]
    assert len(winners) == 1 and winners[0].version == 2
    assert len(losers) == WRITERS - 1 and all(e.current == 2 and e.status == 412 for e in losers)
    assert sql("SELECT version FROM fhir_locator") == [(2,)]
    assert sql("SELECT count(*) FROM fhir_history") == [(2,)]


def test_no_lost_update_without_if_match(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> tuple[Stored, list[Stored]]:
        made = await store.create(patient())

        async def writer(i: int) -> Stored:
            stored, _ = await store.update(dict(made.content or {}, birthDate=f"19{50 + i}"))
            return stored

        return made, list(await asyncio.gather(*(writer(i) for i in range(WRITERS))))

    made, results = run_store(go, max_size=WRITERS)
    assert sorted(r.version for r in results) == list(range(2, WRITERS + 2))
    history = sql(
        "SELECT version, content->>'birthDate' FROM fhir_history WHERE rid = %s ORDER BY 1", (made.rid,)
    )
    assert len(history) == WRITERS + 1
    assert sorted(b for _, b in history[1:]) == sorted(f"19{50 + i}" for i in range(WRITERS))
    versions = sql("SELECT version, seq FROM fhir_history ORDER BY version")
    assert [s for _, s in versions] == sorted(s for _, s in versions)  # versions in seq order
    assert sql("SELECT version FROM fhir_resource") == [(WRITERS + 1,)]


def test_concurrent_update_as_create_of_one_id(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> list[tuple[Stored, bool]]:
        return list(
            await asyncio.gather(
                *(store.update(patient(id="same", birthDate=f"19{50 + i}")) for i in range(WRITERS))
            )
        )

    results = run_store(go, max_size=WRITERS)
    assert sum(created for _, created in results) == 1
    assert sorted(s.version for s, _ in results) == list(range(1, WRITERS + 1))
    assert sql("SELECT count(*) FROM fhir_locator") == [(1,)]
    assert sql("SELECT count(*) FROM fhir_history") == [(WRITERS,)]
