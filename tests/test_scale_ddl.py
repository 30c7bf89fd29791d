"""The scale path's layout (docs/scale.md): the FHIR tables hash-partitioned by the patient-compartment key
(migration 0002 with ``SENHEALTH_PARTITIONS``), and the Citus distribution DDL (deploy/citus/).

- a schema migrated with 8 partitions holds a small demo province: each patient's rows sit in one
  partition of every table (the same remainder everywhere), and the store's read paths on one patient
  touch one partition (EXPLAIN: plan-time pruning for ``pkey = $1``, run-time pruning for the read by id
  through the locator); a compartment search (``compartments @> [id]``, ``$everything``) visits them all;
- the Citus DDL names every table of the migrated schema exactly once (distributed, reference, local), its
  unique constraints hold the distribution column as Citus requires, and it applies on a plain
  PostgreSQL (no citus extension) as a no-op that says so.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from senhealth.core.config import get_settings
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.demo import generate_resources
from senhealth.fhir.store import FhirStore

ROOT = Path(__file__).resolve().parents[1]
DDL = ROOT / "deploy" / "citus" / "10_distribute.sql"
PARTITIONS = 8
FHIR_TABLES = (
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
def partitioned_url(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A schema migrated with 8 partitions per FHIR table, holding a 12-citizen demo province."""
    monkeypatch.setenv("SENHEALTH_PARTITIONS", str(PARTITIONS))
    get_settings.cache_clear()
    try:
        migrate(schema_url)
    finally:
        monkeypatch.delenv("SENHEALTH_PARTITIONS")
        get_settings.cache_clear()

    async def load() -> None:
        pool = create_pool(schema_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            report = await FhirStore(pool).load(generate_resources(12, 7), on_error="raise")
            assert report.total > 300
        finally:
            await pool.close()

    asyncio.run(load())
    with psycopg.connect(schema_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield schema_url


def _relations(plan: Any, executed_only: bool = False) -> list[str]:
    """Relation names scanned in an EXPLAIN (FORMAT JSON) plan (with ANALYZE: only nodes that ran)."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        ran = not executed_only or node.get("Actual Loops", 1) > 0
        if "Relation Name" in node and ran:
            found.append(node["Relation Name"])
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _explain(
    conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...], analyze: bool = False
) -> Any:
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    row = conn.execute(f"EXPLAIN ({options}) {query}", params).fetchone()
    assert row is not None
    return row[0]


def test_a_patients_rows_live_in_one_partition_and_reads_prune(partitioned_url: str) -> None:
    with psycopg.connect(partitioned_url, autocommit=True) as conn:
        info = conn.execute("SELECT value FROM platform_info WHERE key = 'fhir_partitions'").fetchone()
        assert info is not None and info[0] == PARTITIONS
        for table in FHIR_TABLES:
            row = conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (table,)
            ).fetchone()
            assert row == (PARTITIONS,), table
        spread = conn.execute("SELECT count(DISTINCT tableoid) FROM fhir_resource").fetchone()
        assert spread is not None and spread[0] >= 4  # 12 patients and the shared '' key over 8 partitions

        patient = conn.execute(
            "SELECT r.res_id FROM fhir_resource r WHERE r.res_type = 'Patient'"
            " ORDER BY (SELECT count(*) FROM fhir_resource o WHERE o.pkey = r.res_id) DESC LIMIT 1"
        ).fetchone()
        assert patient is not None
        pid = patient[0]
        suffixes: set[str] = set()
        for table in FHIR_TABLES:
            rows = conn.execute(
                f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE pkey = %s", (pid,)
            ).fetchall()
            assert len(rows) <= 1, (table, rows)
            suffixes.update(r[0].rsplit("_p", 1)[1] for r in rows)
        assert len(suffixes) == 1  # the same remainder in every table: the rows are co-located

        part = f"_p{suffixes.pop()}"
        # a patient's record ($everything-like read by the partition key): one partition at plan time
        plan = _explain(conn, "SELECT res_type, res_id FROM fhir_resource WHERE pkey = %s", (pid,))
        assert _relations(plan) == [f"fhir_resource{part}"]
        # a search inside the patient's partition, with the store's index join (i.pkey = r.pkey)
        plan = _explain(
            conn,
            "SELECT r.res_id FROM fhir_resource r WHERE r.pkey = %s AND r.res_type = 'Observation'"
            " AND EXISTS (SELECT 1 FROM idx_token i WHERE i.pkey = r.pkey AND i.rid = r.rid AND i.code = '8480-6')",
            (pid,),
        )
        assert sorted(set(_relations(plan))) == [f"fhir_resource{part}", f"idx_token{part}"]
        # the store's read by id: the locator gives (pkey, rid), run-time pruning keeps one partition
        from senhealth.fhir.store.read import _READ

        plan = _explain(conn, _READ, ("Patient", pid), analyze=True)
        scanned = [r for r in _relations(plan, executed_only=True) if r.startswith("fhir_resource")]
        assert scanned == [f"fhir_resource{part}"]
        # a compartment search (compartments @> [id], what $everything runs) visits every partition
        plan = _explain(conn, "SELECT res_id FROM fhir_resource WHERE compartments @> ARRAY[%s]", (pid,))
        assert len({r for r in _relations(plan) if r.startswith("fhir_resource")}) == PARTITIONS


def test_the_store_works_on_the_partitioned_layout(partitioned_url: str) -> None:
    async def check() -> None:
        pool = create_pool(partitioned_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            store = FhirStore(pool)
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT res_id FROM fhir_resource WHERE res_type = 'Encounter' LIMIT 1"
                )
                row = await cur.fetchone()
            assert row is not None
            enc = await store.read("Encounter", row[0])
            content = enc.content
            assert content is not None
            patient = content["subject"]["reference"].split("/")[1]
            content["status"] = "entered-in-error"
            stored, _ = await store.update(content, if_match=enc.version)
            assert stored.version == enc.version + 1
            page = await store.history("Encounter", row[0])
            assert [e.version for e in page.entries] == [stored.version, enc.version]
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT DISTINCT tableoid::regclass::text FROM fhir_history WHERE pkey = %s", (patient,)
                )
                assert len(await cur.fetchall()) == 1
        finally:
            await pool.close()

    asyncio.run(check())


_CALL = re.compile(r"^SELECT pg_temp\.(distribute|reference|local)\('([a-z_]+)'(?:, '([a-z_]+)')?", re.M)


def _classified() -> dict[str, str]:
    """table -> ``distribute:<column>``, ``reference`` or ``local``, from the DDL's calls."""
    out: dict[str, str] = {}
    for kind, table, column in _CALL.findall(DDL.read_text(encoding="utf-8")):
        kind = f"{kind}:{column}" if kind == "distribute" else kind
        assert table not in out, f"{table} is named twice in {DDL.name}"
        out[table] = kind
    return out


def test_citus_ddl_names_every_table_once(schema_url: str) -> None:
    migrate(schema_url)
    with psycopg.connect(schema_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        ).fetchall()
    tables = {r[0] for r in rows}
    classified = _classified()
    assert set(classified) == tables, (
        f"not in {DDL.name}: {sorted(tables - set(classified))}; unknown: {sorted(set(classified) - tables)}"
    )
    assert {t for t, k in classified.items() if k == "distribute:pkey"} == set(FHIR_TABLES)
    assert classified["fhir_locator"] == "distribute:res_id"
    assert classified["audit_event"] == classified["audit_chain"] == "distribute:chain"


def test_citus_unique_constraints_hold_the_distribution_column(schema_url: str) -> None:
    migrate(schema_url)
    classified = _classified()
    with psycopg.connect(schema_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, k.conname, array_agg(a.attname::text) FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(k.conkey)"
            " WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u') AND NOT c.relispartition"
            " GROUP BY 1, 2"
        ).fetchall()
    dropped = set(re.findall(r"ALTER TABLE (\w+) DROP CONSTRAINT (\w+)", DDL.read_text(encoding="utf-8")))
    assert ("fhir_locator", "fhir_locator_rid_key") in dropped
    seen = set()
    for table, name, columns in rows:
        kind = classified[table]
        if (table, name) in dropped:
            seen.add((table, name))
            continue
        if kind.startswith("distribute:"):
            assert kind.split(":")[1] in columns, (table, name, columns)
    assert seen == dropped  # every constraint the DDL drops exists under that name


def test_citus_ddl_applies_on_plain_postgresql_as_a_no_op(schema_url: str) -> None:
    migrate(schema_url)
    notices: list[str] = []
    with psycopg.connect(schema_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citus'").fetchone():
            pytest.skip("this PostgreSQL has citus: the no-op check is for plain PostgreSQL")
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(DDL.read_text(encoding="utf-8").encode())
        unique = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'fhir_locator_rid_key'"
            " AND connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        ).fetchone()
    skipped = [n for n in notices if n.startswith("senhealth-citus: no citus extension, skipped:")]
    assert len(skipped) == len(_classified()) + 2  # one per table, plus the locator's two ALTERs
    assert any(
        "create_distributed_table('fhir_history', 'pkey', colocate_with => 'fhir_resource')" in n
        for n in skipped
    )
    assert unique == (1,)  # nothing changed
