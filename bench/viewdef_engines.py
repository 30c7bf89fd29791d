"""One SQL-on-FHIR view on three engines: ``python -m bench.viewdef_engines --citizens N``.

A synthetic province (``senhealth.demo``, N citizens) is loaded into a scratch database on the local
PostgreSQL; its Observations are then turned into rows by the same ViewDefinition (codings with
``forEach``, blood-pressure components with ``forEachOrNull``, quantities through ``ofType``):

- **PostgreSQL + run_view**: ``SELECT`` the stored JSON from ``fhir_resource``, parse it, run the
  reference evaluator (what ``ViewDefinition/$run`` does over the store), one Python process;
- **DuckDB** over the NDJSON export of those rows and over the Parquet layout of
  ``senhealth.analytics.parquet_resources`` (the view compiled to one SQL query; DuckDB's threads);
- **Spark SQL** (``local[*]``: every core of this machine) over the same NDJSON and Parquet, and the
  **Spark Python** engine (run_view in the Python workers) over the NDJSON.

Each figure is the best of ``--repeat`` runs (the first Spark run also warms the JVM), in view rows per
second and Observations per second, end to end from the files (or the table) to Python rows. The rows
of every engine are checked equal to the reference's. Prints a Markdown table with the machine and
writes it to ``bench/results/viewdef_engines.md``. Needs PostgreSQL (``SENHEALTH_BENCH_DATABASE_URL``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``) and, for Spark, Java 17+.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.__main__ import machine
from bench.ingest import DEFAULT_SERVER, ROOT, scratch_database
from senhealth.analytics.parquet_resources import write_resources_parquet
from senhealth.analytics.viewdef import run_view
from senhealth.analytics.viewdef_duckdb import run_view_duckdb
from senhealth.core.db import create_pool
from senhealth.demo.generator import generate_resources
from senhealth.demo.views import OBSERVATION_VALUES_VIEW
from senhealth.fhir.store import FhirStore


def _norm(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        Decimal(str(v)).normalize() if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) else v
        for v in row.values()
    )


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return sorted(map(_norm, a), key=repr) == sorted(map(_norm, b), key=repr)


async def _load(url: str, citizens: int) -> int:
    pool = create_pool(url, min_size=1, max_size=4)
    await pool.open(wait=True)
    try:
        report = await FhirStore(pool).load(generate_resources(citizens, seed=1))
        return report.total
    finally:
        await pool.close()


def _postgres(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT coalesce(content_raw, content::text) FROM fhir_resource WHERE res_type = 'Observation'"
        )
        return list(run_view(OBSERVATION_VALUES_VIEW, (orjson.loads(r[0]) for r in cur)))


def best(fn: Callable[[], list[dict[str, Any]]], repeat: int) -> tuple[float, list[dict[str, Any]]]:
    times, rows = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t)
    return min(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=2000, help="province size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best counts")
    parser.add_argument("--no-spark", action="store_true", help="leave Spark out")
    parser.add_argument("--spark-master", default="local[*]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "viewdef_engines.md")
    args = parser.parse_args()
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="viewdef-bench-"))
    results: list[tuple[str, float, int, str]] = []
    try:
        with scratch_database(server) as url:
            t = time.perf_counter()
            loaded = asyncio.run(_load(url, args.citizens))
            load_s = time.perf_counter() - t
            with psycopg.connect(url) as conn:
                texts = [
                    r[0]
                    for r in conn.execute(
                        "SELECT coalesce(content_raw, content::text) FROM fhir_resource WHERE res_type = 'Observation'"
                    )
                ]
            seconds, reference = best(lambda: _postgres(url), args.repeat)
            results.append(("PostgreSQL → run_view (1 Python process)", seconds, len(reference), "reference"))
        n_obs = len(texts)
        ndjson = work / "Observation.ndjson"
        ndjson.write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")
        parquet = work / "Observation.parquet"
        write_resources_parquet((orjson.loads(t) for t in texts), parquet)

        def check(name: str, fn: Callable[[], list[dict[str, Any]]]) -> None:
            seconds, rows = best(fn, args.repeat)
            results.append(
                (name, seconds, len(rows), "same rows" if _same(rows, reference) else "**ROWS DIFFER**")
            )

        check("DuckDB, NDJSON", lambda: run_view_duckdb(OBSERVATION_VALUES_VIEW, ndjson))
        check("DuckDB, Parquet", lambda: run_view_duckdb(OBSERVATION_VALUES_VIEW, parquet))
        if not args.no_spark and shutil.which("java"):
            from senhealth.analytics.viewdef_spark import get_spark, run_view_spark

            spark = get_spark(args.spark_master)
            spark.sparkContext.setLogLevel("ERROR")
            check(
                "Spark SQL, NDJSON",
                lambda: run_view_spark(OBSERVATION_VALUES_VIEW, str(ndjson), spark, engine="sql"),
            )
            check(
                "Spark SQL, Parquet",
                lambda: run_view_spark(OBSERVATION_VALUES_VIEW, str(parquet), spark, engine="sql"),
            )
            check("Spark, run_view in Python workers, NDJSON",
                  lambda: run_view_spark(OBSERVATION_VALUES_VIEW, str(ndjson), spark, engine="python"))  # fmt: skip
            spark_note = f"Spark {spark.version}, master {args.spark_master}"
            spark.stop()
        else:
            spark_note = "Spark left out"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"Machine: {machine()}",
        f"Province: {args.citizens:,} citizens, {loaded:,} resources loaded in {load_s:.1f} s; "
        f"{n_obs:,} Observations ({ndjson_size(texts) / 1e6:.1f} MB of JSON); best of {args.repeat} runs; {spark_note}",
        "",
        f"Load average before the run: {load_before}",
        "",
        "| engine | seconds | view rows | rows/s | Observations/s | rows |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {name} | {s:.2f} | {n:,} | **{n / s:,.0f}** | {n_obs / s:,.0f} | {note} |"
            for name, s, n, note in results
        ),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


def ndjson_size(texts: list[str]) -> int:
    return sum(len(t.encode()) + 1 for t in texts)


if __name__ == "__main__":
    main()
