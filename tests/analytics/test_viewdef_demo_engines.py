"""One view over a demo province's Observations gives identical rows in PostgreSQL, DuckDB and Spark.

A 150-citizen synthetic province (``senhealth.demo``) is loaded into the FHIR store (PostgreSQL);
its Observations are read back from ``fhir_resource`` and run through the reference evaluator
(``run_view``: the store's rows, as ``$run`` sees them), exported as NDJSON (the stored JSON text,
one resource a line, as Bulk Data writes it) and run by the DuckDB runner and by the Spark runner
(Spark SQL, code generation on, as in production). The three row sets must be equal, and large.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import psycopg
import pytest

from senhealth.analytics.viewdef import run_view
from senhealth.analytics.viewdef_duckdb import run_view_duckdb
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.demo.generator import generate_resources
from senhealth.demo.views import OBSERVATION_VALUES_VIEW
from senhealth.fhir.store import FhirStore

from .sqlonfhir_cases import java_missing, multiset, spark_session

pytestmark = pytest.mark.xdist_group("spark")
spark = pytest.fixture(scope="session")(spark_session)

CITIZENS = 150


def _load_and_read_back(url: str) -> list[str]:
    """Load the province into the store; return its Observations as the store holds them (JSON text)."""
    migrate(url)

    async def load() -> None:
        pool = create_pool(url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            report = await FhirStore(pool).load(generate_resources(CITIZENS, seed=5))
            assert not report.rejected
        finally:
            await pool.close()

    asyncio.run(load())
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT coalesce(content_raw, content::text) FROM fhir_resource WHERE res_type = 'Observation'"
        ).fetchall()
    return [r[0] for r in rows]


def test_postgresql_duckdb_and_spark_give_identical_rows(
    schema_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    texts = _load_and_read_back(schema_url)
    assert len(texts) > 1000
    export = tmp_path / "Observation.ndjson"
    export.write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")

    pg_rows = list(run_view(OBSERVATION_VALUES_VIEW, (orjson.loads(t) for t in texts)))
    duck_rows = run_view_duckdb(OBSERVATION_VALUES_VIEW, export)

    assert len(pg_rows) > 2000  # every coding, and one row per blood-pressure component
    assert {r["code"] for r in pg_rows} >= {"8867-4", "85354-9", "8310-5", "29463-7"}
    assert sum(r["component_code"] is not None for r in pg_rows) > 100
    assert all(r["value"] is not None or r["component_code"] is not None for r in pg_rows)
    reference = multiset(pg_rows)
    assert multiset(duck_rows) == reference

    if java_missing():
        pytest.skip("the Spark part needs a Java runtime (java not on PATH)")
    session = request.getfixturevalue("spark")
    from senhealth.analytics.viewdef_spark import run_view_spark

    saved = {
        k: session.conf.get(k) for k in ("spark.sql.codegen.wholeStage", "spark.sql.codegen.factoryMode")
    }
    session.conf.set("spark.sql.codegen.wholeStage", "true")
    session.conf.set("spark.sql.codegen.factoryMode", "FALLBACK")
    try:
        spark_rows = run_view_spark(OBSERVATION_VALUES_VIEW, str(export), session, engine="sql")
    finally:
        for k, v in saved.items():
            session.conf.set(k, v)
    assert multiset(spark_rows) == reference
