"""Inputs of the capacity model (docs/scale.md): ``python -m bench.load.capacity --citizens N``.

- **Resources per citizen per year**: the demo generator (``senhealth.demo.generate_resources``) run for
  the same citizens over 1, 2 and 3 simulated years; the growth per year, by resource type, divided by
  the citizens (the first year also holds what a citizen has once: the Patient, the childhood
  vaccinations).
- **Bytes per resource in PostgreSQL**: the generated province (``--years`` years) imported with
  ``$import`` (validated and indexed, as in production) into a fresh database, then ``VACUUM ANALYZE``;
  table, TOAST and index sizes of every partition of the store's tables, per resource; and the WAL the
  import wrote, per resource (what a streaming replica and the archive receive).

The server is ``SENHEALTH_BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
a database ``senhealth_bench_<random>`` is created and dropped. Prints Markdown and writes it to
``bench/results/load_capacity.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.__main__ import machine
from bench.ingest import DEFAULT_SERVER, scratch_database
from senhealth.core.db import create_pool
from senhealth.demo import Options, generate_resources, write_province
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.bulk_import import chunk_lines, import_ndjson, shutdown_workers

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("fhir_resource", "fhir_history", "fhir_locator", "idx_%")


def per_year(citizens: int, seed: int) -> tuple[dict[int, Counter[str]], Counter[str]]:
    counts = {
        y: Counter(r["resourceType"] for r in generate_resources(citizens, seed, years=float(y)))
        for y in (1, 2, 3)
    }
    growth = Counter({t: (counts[3][t] - counts[1][t]) / 2 for t in set(counts[3]) | set(counts[1])})
    return counts, growth


SIZES = """
SELECT CASE WHEN p.relname LIKE 'idx\\_%%' THEN 'idx_* (9 tables)' ELSE p.relname END AS family,
       sum(pg_relation_size(t.relid)) AS heap,
       sum(pg_total_relation_size(t.relid) - pg_relation_size(t.relid) - pg_indexes_size(t.relid)) AS toast,
       sum(pg_indexes_size(t.relid)) AS indexes,
       sum(pg_total_relation_size(t.relid)) AS total
FROM pg_class p CROSS JOIN LATERAL (
    SELECT relid, isleaf FROM pg_partition_tree(p.oid) UNION ALL SELECT p.oid, true WHERE p.relkind = 'r'
) t
WHERE p.relnamespace = 'public'::regnamespace AND p.relkind IN ('p', 'r') AND NOT p.relispartition
  AND (p.relname IN ('fhir_resource', 'fhir_history', 'fhir_locator') OR p.relname LIKE 'idx\\_%%')
  AND t.isleaf
GROUP BY 1 ORDER BY 5 DESC
"""


async def loaded(url: str, directory: Path) -> tuple[int, float, int]:
    pool = create_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        blobs = [p.read_bytes() for p in sorted(directory.glob("*.ndjson"))]
        data = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs if b)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pg_current_wal_lsn()")
            row = await cur.fetchone()
            assert row is not None
            lsn0 = row[0]
        t0 = time.perf_counter()
        report = await import_ndjson(
            FhirStore(pool),
            chunk_lines("p.ndjson", [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]),
        )
        seconds = time.perf_counter() - t0
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", (lsn0,))
            row = await cur.fetchone()
            assert row is not None
        return report.created, seconds, int(row[0])
    finally:
        await pool.close()
        shutdown_workers()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    counts, growth = per_year(args.citizens, args.seed)
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    with tempfile.TemporaryDirectory(prefix="senhealth-capacity-") as tmp, scratch_database(server) as url:
        write_province(Path(tmp), Options(args.citizens, args.seed), fmt="ndjson")
        resources, seconds, wal = asyncio.run(loaded(url, Path(tmp)))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            sizes = conn.execute(SIZES).fetchall()
            json_bytes = conn.execute("SELECT sum(octet_length(content::text)) FROM fhir_resource").fetchone()
            db = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert json_bytes is not None and db is not None
    c = args.citizens
    per_cy = sum(growth.values()) / c
    lines = [
        "# Capacity model inputs (bench/load/capacity.py)",
        "",
        f"Date {datetime.now(UTC):%Y-%m-%d}. Machine: {machine()}. Generator seed {args.seed}, {c:,} citizens.",
        "",
        "Resources generated over 1, 2 and 3 simulated years, and the growth per citizen per year:",
        "",
        "| resource type | 1 year | 2 years | 3 years | per citizen per year |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {t} | {counts[1][t]:,} | {counts[2][t]:,} | {counts[3][t]:,} | {growth[t] / c:.2f} |"
            for t in sorted(counts[3], key=lambda t: -counts[3][t])
        ),
        f"| **all** | {sum(counts[1].values()):,} | {sum(counts[2].values()):,} | {sum(counts[3].values()):,} | "
        f"**{per_cy:.2f}** |",
        "",
        f"Loaded sample: the {c:,}-citizen province over 2 years, {resources:,} resources imported with `$import` "
        f"in {seconds:.0f} s ({resources / seconds:,.0f}/s); mean JSON {json_bytes[0] / resources:,.0f} bytes a "
        f"resource; WAL written by the import **{wal / resources:,.0f} bytes a resource**; database "
        f"{db[0] / 2**20:,.0f} MiB = **{db[0] / resources:,.0f} bytes a resource** (after `VACUUM ANALYZE`).",
        "",
        "| tables | heap bytes/resource | TOAST | indexes | total |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {fam} | {h / resources:,.0f} | {t / resources:,.0f} | {i / resources:,.0f} | {tot / resources:,.0f} |"
            for fam, h, t, i, tot in sizes
        ),
        f"| **store tables** | | | | **{sum(r[4] for r in sizes) / resources:,.0f}** |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (ROOT / "bench" / "results" / "load_capacity.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
