"""Bulk import of NDJSON into the store (senhealth.fhir.store.bulk_import) and the bulk round trip.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (the NDJSON an export writes) and the import
proposal https://github.com/smart-on-fhir/bulk-import. Every line is validated; one bad line and nothing
is written (every table as it was); the rows written are those the store's own bulk load writes; and a
demo province exported from one store and imported into an empty one gives the same resources, found
by the same searches.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

from senhealth.analytics.bulk_export import export_to_directory
from senhealth.analytics.bulk_export_request import ExportRequest
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.demo.generator import generate_resources
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.bulk_import import (
    DEFERRABLE_TABLES,
    Chunk,
    ImportReport,
    chunk_lines,
    import_ndjson,
)

T = TypeVar("T")
TABLES = (
    "fhir_locator",
    "fhir_resource",
    "fhir_history",
    "idx_token",
    "idx_string",
    "idx_date",
    "idx_reference",
    "idx_quantity",
    "idx_number",
    "idx_uri",
    "idx_composite",
    "idx_special",
)


@pytest.fixture
def store_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


@pytest.fixture
def other_store_url(database_url: str) -> Iterator[str]:
    """A second migrated schema (the round trip's empty store B)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
        try:
            url = make_conninfo(database_url, options=f"-c search_path={schema}")
            migrate(url)
            yield url
        finally:
            admin.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


def with_stores(urls: list[str], fn: Callable[..., Awaitable[T]]) -> T:
    async def main() -> T:
        pools = [create_pool(u, min_size=1, max_size=4) for u in urls]
        for p in pools:
            await p.open(wait=True)
        try:
            return await fn(*[FhirStore(p) for p in pools])
        finally:
            for p in pools:
                await p.close()

    return asyncio.run(main())


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            t: conn.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(t))).fetchone()[0]
            for t in TABLES
        }  # type: ignore[index]


def lines_of(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


async def run_import(store: FhirStore, data: bytes, size: int = 1000, **kw: Any) -> ImportReport:
    return await import_ndjson(store, chunk_lines("test.ndjson", [data], size), **kw)


def patient(pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}],
        "gender": "female",
        **extra,
    }


def observation(oid: str, pid: str, code: str = "8480-6", value: Any = 120) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-06-01T08:00:00+07:00",
        "valueQuantity": {
            "value": value,
            "unit": "mm[Hg]",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }


def test_chunk_lines_numbers_lines_across_blocks() -> None:
    async def go() -> list[Chunk]:
        blocks = [b'{"a":1}\n\n{"b"', b':2}\r\n  \n{"c":3}']
        return [c async for c in chunk_lines("x", blocks, size=2)]

    chunks = asyncio.run(go())
    assert [c.lines for c in chunks] == [[(1, b'{"a":1}'), (3, b'{"b":2}')], [(5, b'{"c":3}')]]
    assert chunks[-1].offset == 28


def test_a_bad_line_imports_nothing(store_url: str) -> None:
    existing = [patient("p0"), observation("o0", "p0")]
    good = [patient("p1"), observation("o1", "p1"), observation("o2", "p1", value=130.50)]
    bad = [
        b"not json at all",  # line 4
        b"[1, 2]",  # 5: not a resource
        orjson.dumps({"resourceType": "Nope", "id": "x"}),  # 6: unknown type
        orjson.dumps({**observation("o3", "p1"), "status": "maybe"}),  # 7: a code outside its value set
        orjson.dumps(patient("p2", birthDate="1990-02-30")),  # 8: not a date
        orjson.dumps(observation("o1", "p1", value=99)),  # 9: o1 again, in another chunk
    ]
    data = lines_of(good) + b"\n".join(bad) + b"\n"

    async def go(store: FhirStore) -> tuple[ImportReport, dict[str, int]]:
        first = await run_import(store, lines_of(existing), workers=0)
        assert first.committed and first.created == 2
        before = counts(store_url)
        return await run_import(store, data, size=4, workers=0), before

    report, before = with_stores([store_url], go)
    assert before["fhir_resource"] == 2 and before["idx_token"] > 0
    assert counts(store_url) == before  # every table as it was
    assert not report.committed
    by_line = {b.line: b.outcome for b in report.bad}
    assert sorted(by_line) == [4, 5, 6, 7, 8, 9], by_line
    for n, outcome in by_line.items():
        assert outcome["resourceType"] == "OperationOutcome"
        assert all(i["diagnostics"].startswith(f"Line {n} of test.ndjson: ") for i in outcome["issue"])
        assert all(i["location"] == [f"Line[{n}]"] for i in outcome["issue"])
    assert "not valid JSON" in by_line[4]["issue"][0]["diagnostics"]
    assert any("status" in e for i in by_line[7]["issue"] for e in i.get("expression", []))
    assert any("birthDate" in e for i in by_line[8]["issue"] for e in i.get("expression", []))
    assert "Observation/o1 is in this import twice" in by_line[9]["issue"][0]["diagnostics"]
    with psycopg.connect(store_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM fhir_locator WHERE res_id IN ('p1', 'o1', 'o2')"
        ).fetchone() == (0,)


def test_existing_resources_get_their_next_version(store_url: str) -> None:
    first = [patient("p1"), observation("o1", "p1"), observation("o2", "p1")]
    second = [patient("p1"), observation("o1", "p1", value=150), observation("o3", "p1")]

    async def go(store: FhirStore) -> tuple[ImportReport, ImportReport, int, int]:
        a = await run_import(store, lines_of(first), workers=0)
        b = await run_import(store, lines_of(second), workers=0)
        o1 = await store.read("Observation", "o1")
        p1 = await store.read("Patient", "p1")
        return a, b, o1.version, p1.version

    a, b, o1_version, p1_version = with_stores([store_url], go)
    assert (a.created, a.updated, a.unchanged) == (3, 0, 0)
    assert (b.created, b.updated, b.unchanged) == (1, 1, 1)
    assert (o1_version, p1_version) == (2, 1)
    assert counts(store_url)["fhir_history"] == 5


def _index_rows(url: str) -> list[tuple[Any, ...]]:
    """Every index row by (type, id, parameter, values): comparable across stores (``_lastUpdated``,
    each store's own write time, left out)."""
    out: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES[3:]:
            rows = conn.execute(
                pgsql.SQL(
                    "SELECT l.res_type, l.res_id, p.code, to_jsonb(i) - 'rid' - 'pkey' - 'param_id' FROM {} i"
                    " JOIN fhir_locator l ON l.rid = i.rid JOIN fhir_search_param p ON p.param_id = i.param_id"
                    " WHERE p.code <> '_lastUpdated'"
                ).format(pgsql.Identifier(table))
            ).fetchall()
            out.extend(
                (table, r[0], r[1], r[2], orjson.dumps(r[3], option=orjson.OPT_SORT_KEYS)) for r in rows
            )
    return sorted(out)


def _contents(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every current resource without ``meta.versionId`` / ``meta.lastUpdated`` (what a copy keeps)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for rtype, rid, text in conn.execute(
            "SELECT res_type, res_id, coalesce(content_raw, content::text) FROM fhir_resource"
        ).fetchall():
            content = orjson.loads(text)
            meta = content.get("meta", {})
            meta.pop("versionId", None)
            meta.pop("lastUpdated", None)
            if not meta:
                content.pop("meta", None)
            out[(rtype, rid)] = content
    return out


def test_import_writes_the_rows_of_the_bulk_load(store_url: str, other_store_url: str) -> None:
    """The same resources through $import's pipeline (render processes, history copied in SQL) and
    through FhirStore.load(): the same content, index rows, compartments and history rows."""
    resources = list(generate_resources(12, seed=7))

    async def go(a: FhirStore, b: FhirStore) -> ImportReport:
        report = await run_import(a, lines_of(resources), size=100, workers=2)
        await b.load(resources)
        return report

    report = with_stores([store_url, other_store_url], go)
    assert report.committed and report.created == len(resources)
    assert report.by_type["Observation"] == sum(1 for r in resources if r["resourceType"] == "Observation")
    assert _contents(store_url) == _contents(other_store_url)
    assert _index_rows(store_url) == _index_rows(other_store_url)
    assert report.index_rows == sum(counts(store_url)[t] for t in TABLES[3:])
    query = (
        "SELECT l.res_type, l.res_id, r.pkey = l.pkey, r.compartments, h.version, h.method, h.content = r.content"
        " FROM fhir_locator l JOIN fhir_resource r ON r.rid = l.rid JOIN fhir_history h ON h.rid = l.rid"
        " ORDER BY 1, 2"
    )
    with psycopg.connect(store_url) as ca, psycopg.connect(other_store_url) as cb:
        assert ca.execute(query).fetchall() == cb.execute(query).fetchall()
        assert ca.execute("SELECT DISTINCT version, method FROM fhir_history").fetchall() == [(1, "PUT")]


def _index_definitions(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)",
                ([*DEFERRABLE_TABLES, *(f"{t}_p0" for t in DEFERRABLE_TABLES)],),
            ).fetchall()
        )


def test_defer_indexes_on_a_first_load(store_url: str) -> None:
    resources = list(generate_resources(5, seed=3))
    indexes = _index_definitions(store_url)
    assert len(indexes) > 30

    async def go(store: FhirStore) -> tuple[ImportReport, int]:
        report = await run_import(store, lines_of(resources), workers=0, defer_indexes=True)
        with pytest.raises(ValueError, match="empty store"):
            await run_import(store, lines_of(resources), workers=0, defer_indexes=True)
        ids = await store.param_ids()
        async with store.pool.connection() as conn:
            found = await search(
                conn, parse_search("Observation", [("code", "8480-6"), ("_total", "accurate")]), ids
            )
        return report, found.total or 0

    report, total = with_stores([store_url], go)
    assert report.committed and report.index_seconds > 0
    assert _index_definitions(store_url) == indexes  # every index is back, on every partition
    assert total == sum(
        1
        for r in resources
        if r["resourceType"] == "Observation"
        and any(c.get("code") == "8480-6" for c in r["code"].get("coding", []))
    )


def test_round_trip_of_the_demo_province(store_url: str, other_store_url: str, tmp_path: Path) -> None:
    """Load a 150-citizen demo province into store A, export everything, import the files into an empty
    store B: B holds the same resources (type, id and content; meta.versionId and meta.lastUpdated are
    the new store's own) and the same index rows, and the same searches find the same resources."""
    resources = list(generate_resources(150, seed=11))
    searches = [
        ("Observation", [("code", "85354-9")]),
        ("Patient", [("family", "le")]),
        ("Condition", [("code", "https://senhealth.vn/fhir/CodeSystem/icd10-vn|I10")]),
        ("Encounter", [("date", "ge2024-01-01")]),
        (
            "Observation",
            [("subject:Patient.gender", "female"), ("code", "8867-4"), ("value-quantity", "gt90")],
        ),
        ("Immunization", [("patient:Patient.family", "nguyen")]),
    ]

    async def found(store: FhirStore) -> list[list[str]]:
        ids = await store.param_ids()
        out: list[list[str]] = []
        async with store.pool.connection() as conn:
            for rtype, params in searches:
                result = await search(conn, parse_search(rtype, [*params, ("_count", "1000")]), ids)
                out.append(sorted(m.res_id for m in result.matches))
        return out

    async def go(a: FhirStore, b: FhirStore) -> tuple[list[list[str]], list[list[str]], ImportReport, int]:
        loaded = await a.load(resources)
        assert not loaded.rejected
        result = await export_to_directory(a, ExportRequest(level="system"), tmp_path)
        files = [tmp_path / f["name"] for f in result.files]

        async def chunks() -> Any:
            for path in files:
                async for chunk in chunk_lines(path.name, [path.read_bytes()]):
                    yield chunk

        report = await import_ndjson(b, chunks())
        return await found(a), await found(b), report, result.total

    in_a, in_b, report, exported = with_stores([store_url, other_store_url], go)
    assert exported == len(resources) and report.committed
    assert report.created == len(resources)
    assert _contents(store_url) == _contents(other_store_url)
    assert _index_rows(store_url) == _index_rows(other_store_url)
    assert in_a == in_b
    assert all(in_a), in_a  # the searches find something


def test_command_line_export_and_import(
    store_url: str, other_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``senhealth bulk export DIR`` then ``senhealth bulk import DIR`` into another database; a bad file
    exits 1 naming its line and imports nothing."""
    from typer.testing import CliRunner

    from senhealth.cli_bulk import bulk_app
    from senhealth.core.config import get_settings

    runner = CliRunner()
    resources = list(generate_resources(8, seed=5))
    with_stores([store_url], lambda s: s.load(resources))

    def invoke(url: str, *args: str) -> Any:
        monkeypatch.setenv("SENHEALTH_DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            return runner.invoke(bulk_app, list(args))
        finally:
            get_settings.cache_clear()

    exported = invoke(store_url, "export", str(tmp_path / "out"), "--file-resources", "50")
    assert exported.exit_code == 0, exported.output
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert sum(o["count"] for o in manifest["output"]) == len(resources)
    assert manifest["requiresAccessToken"] is False and manifest["transactionTime"].endswith("Z")
    imported = invoke(other_store_url, "import", str(tmp_path / "out"), "--workers", "0")
    assert imported.exit_code == 0, imported.output
    assert f"{len(resources)} mới / created" in imported.output
    assert _contents(store_url) == _contents(other_store_url)

    (tmp_path / "bad.ndjson").write_bytes(
        lines_of([patient("cli-1")]) + b'{"resourceType": "Patient", "gender": "x"}\n'
    )
    failed = invoke(other_store_url, "import", str(tmp_path / "bad.ndjson"), "--workers", "0")
    assert failed.exit_code == 1
    assert "Line 2 of bad.ndjson" in failed.output and "nothing imported" in failed.output
    with psycopg.connect(other_store_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM fhir_locator WHERE res_id = 'cli-1'").fetchone() == (0,)
