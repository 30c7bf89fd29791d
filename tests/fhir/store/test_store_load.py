"""FhirStore.load(): the bulk path (resources as updates, COPY in batches)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_support import INDEX_TABLES, observation, organization, patient

from senhealth.fhir.search.extract import extract
from senhealth.fhir.store import FhirStore, InvalidResource, LoadReport, NotFound
from senhealth.fhir.store.index_rows import index_rows
from senhealth.fhir.store.meta import same_content
from senhealth.fhir.store.references import bundle_mapping, rewrite_references
from senhealth.fhir.store.write import content_from_text

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "synthea"


def synthea() -> list[dict[str, Any]]:
    if not SYNTHEA.is_dir():
        pytest.skip(f"the Synthea sample data is not next to the repository ({SYNTHEA})")
    out: list[dict[str, Any]] = []
    for path in sorted(SYNTHEA.glob("*.json")):
        entries = orjson.loads(path.read_bytes())["entry"]
        mapping = bundle_mapping(entries)
        out.extend(rewrite_references(e["resource"], mapping) for e in entries)
    return out


def test_load_all_synthea(run_store: Any, sql: Any) -> None:
    resources = synthea()
    assert len(resources) == 12724
    reports: list[int] = []

    unique = {(r["resourceType"], r["id"]): r for r in resources}  # the last of each: what is stored

    async def go(store: FhirStore) -> tuple[LoadReport, dict[tuple[str, str], int]]:
        report = await store.load(resources, progress=lambda r: reports.append(r.total))
        # every resource readable through the API (a sample: all are checked in SQL below)
        for (rtype, rid_), r in list(unique.items())[::97]:
            stored = await store.read(rtype, rid_)
            assert same_content(r, stored.content or {})
        return report, await store.param_ids()

    report, ids = run_store(go)
    assert not report.rejected
    # organizations and practitioners recur across bundles, not always identical (a later version)
    assert report.created == len(unique) == 12596
    assert report.unchanged + report.updated == len(resources) - len(unique) and report.updated > 0
    assert reports and reports == sorted(reports) and reports[-1] == report.total

    rows = sql(
        "SELECT res_type, res_id, rid, version, coalesce(content_raw, content::text) FROM fhir_resource"
    )
    assert len(rows) == len(unique)
    rid_of: dict[tuple[str, str], int] = {}
    for rtype, rid_, rid, version, text in rows:
        assert version >= 1
        assert same_content(unique[(rtype, rid_)], content_from_text(text))
        rid_of[(rtype, rid_)] = rid
    assert sql("SELECT count(*), count(DISTINCT rid) FROM fhir_history") == [
        (len(unique) + report.updated, len(unique))
    ]

    counts: dict[int, int] = {}
    for table in INDEX_TABLES:
        for rid, n in sql(f"SELECT rid, count(*) FROM {table} GROUP BY rid"):
            counts[rid] = counts.get(rid, 0) + n
    expected_total = 0
    for key, r in unique.items():
        expected = sum(len(v) for v in index_rows(extract(r), ids, "", 0).values())
        expected += 1  # _lastUpdated, set by the store
        assert counts.get(rid_of[key], 0) == expected, key
        expected_total += expected
    assert expected_total == sum(counts.values())
    assert report.index_rows >= expected_total  # rows written, the replaced versions' included
    # Observations sit in their patient's partition
    assert sql(
        "SELECT count(*) FROM fhir_resource WHERE res_type = 'Observation' AND pkey <> content->'subject'->>'reference'"
        " AND 'Patient/' || pkey <> content->'subject'->>'reference'"
    ) == [(0,)]


def test_load_is_an_update_per_resource(run_store: Any, sql: Any) -> None:
    pat = patient(id="p1")
    org = organization()
    obs = observation("Patient/p1", id="o1")

    async def go(store: FhirStore) -> None:
        first = await store.load([pat, dict(org, id="org1"), obs, organization("no id yet")])
        assert (first.created, first.updated, first.unchanged, first.rejected) == (4, 0, 0, [])
        assert first.written == 4 and first.per_second > 0
        again = await store.load([pat, dict(org, id="org1"), obs])
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
        await store.delete("Organization", "org1")
        changed = await store.load(
            [
                dict(pat, gender="female"),
                dict(org, id="org1"),
                observation("Patient/p2", id="o1"),
                patient(id="p2"),
            ]
        )
        assert (changed.created, changed.updated, changed.unchanged) == (2, 2, 0)
        assert (await store.read("Patient", "p1")).version == 2
        assert (await store.read("Organization", "org1")).version == 3  # 1, deleted 2, back as 3
        moved = await store.read("Observation", "o1")
        assert moved.version == 2
        history = await store.history("Observation", "o1")
        assert [e.version for e in history.entries] == [2, 1] and [e.method for e in history.entries] == [
            "PUT",
            "PUT",
        ]

    run_store(go)
    assert sql("SELECT pkey FROM fhir_resource WHERE res_id = 'o1'") == [("p2",)]
    assert {r[0] for r in sql("SELECT pkey FROM fhir_history WHERE res_id = 'o1'")} == {"p2"}
    assert {
        r[0]
        for r in sql(
            "SELECT DISTINCT pkey FROM idx_token WHERE rid = (SELECT rid FROM fhir_locator WHERE res_id = 'o1')"
        )
    } == {"p2"}
    assert sql(
        "SELECT count(*) FROM idx_token t JOIN fhir_locator l USING (rid) WHERE l.res_id = 'p1' AND t.code = 'female'"
    ) == [(1,)]
    assert sql(
        "SELECT count(*) FROM idx_token t JOIN fhir_locator l USING (rid) WHERE l.res_id = 'p1' AND t.code = 'male'"
    ) == [(0,)]
    assert sql("SELECT method FROM fhir_history WHERE content->>'name' = 'no id yet'") == [("POST",)]


def test_load_twice_the_same_id_in_one_run(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        report = await store.load(
            [patient(id="p"), patient(id="p", gender="female"), patient(id="p", gender="female")]
        )
        assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
        assert (await store.read("Patient", "p")).version == 2

    run_store(go)


def test_invalid_resources_are_reported_or_raised(run_store: Any, sql: Any) -> None:
    bad = {"resourceType": "Patient", "id": "bad", "gender": "robot"}

    async def resources() -> AsyncIterator[dict[str, Any]]:
        for r in (patient(id="ok1"), bad, patient(id="ok2")):
            yield r

    async def go(store: FhirStore) -> None:
        report = await store.load(resources(), batch_size=1)
        assert report.created == 2 and len(report.rejected) == 1
        rejected = report.rejected[0]
        assert (rejected.position, rejected.res_type, rejected.res_id) == (1, "Patient", "bad")
        assert rejected.outcome["issue"][0]["severity"] == "error"
        with pytest.raises(NotFound):
            await store.read("Patient", "bad")
        with pytest.raises(InvalidResource):
            await store.load([patient(id="ok3"), bad], on_error="raise", batch_size=10)
        with pytest.raises(ValueError):
            await store.load([], on_error="ignore")

    run_store(go)
    assert sql("SELECT res_id FROM fhir_resource ORDER BY res_id") == [("ok1",), ("ok2",)]


def test_a_database_error_stops_the_load(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        async with store.pool.connection() as conn:
            await conn.execute("ALTER TABLE idx_string ADD CONSTRAINT short CHECK (length(value) < 5)")
        with pytest.raises(Exception, match="short"):
            await store.load((patient(id=f"p{i}") for i in range(50)), batch_size=7)

    run_store(go)
    assert sql("SELECT count(*) FROM fhir_resource") == [(0,)]
