"""Ingest benchmark of the FHIR store: ``python -m bench.ingest``.

Measures resources per second, on this machine, into a fresh database on the local PostgreSQL:

- ``FhirStore.load()`` of every Synthea resource (``../shared/data/synthea``: transaction bundles whose
  ``urn:uuid:`` references are first rewritten to ``Type/id`` with ``rewrite_references``);
- the same load again: every resource is then compared with the stored version and left unchanged;
- ``load()`` of the synthetic province (``senhealth.demo.generate_resources``), generated beforehand;
- ``FhirStore.create()`` one resource at a time, one transaction each (the interactive write path).

Validation, search-index extraction and every index row are included; fsync and synchronous_commit
stay on. Besides wall-clock resources/s it reports the CPU time per resource of this process and of the
database's server processes (from /proc): on a shared machine those vary less than the rate. The server is ``SENHEALTH_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a database ``senhealth_bench_<random>`` is created
and dropped. Prints a Markdown table and writes it to ``bench/results/ingest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.__main__ import SYNTHEA, machine
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.references import bundle_mapping, rewrite_references

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def synthea_resources() -> list[dict[str, Any]]:
    """Every resource of the Synthea bundles, references rewritten to ``Type/id``."""
    out: list[dict[str, Any]] = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        entries = bundle.get("entry", [])
        mapping = bundle_mapping(entries)
        out.extend(rewrite_references(e["resource"], mapping) for e in entries if "resource" in e)
    return out


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    name = f"senhealth_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name))
        )
    url = make_conninfo(server, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


CLOCK = os.sysconf("SC_CLK_TCK")


async def server_cpu(store: FhirStore) -> float:
    """CPU seconds used so far by this database's server processes (Linux /proc; 0 when unreadable)."""
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [int(r[0]) for r in await cur.fetchall()]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK


class Measure:
    """Wall time, and CPU time of this process and of the server's processes, per resource."""

    def __init__(self, store: FhirStore) -> None:
        self.store = store

    async def __aenter__(self) -> Measure:
        gc.collect()
        self.server = await server_cpu(self.store)
        self.cpu = time.process_time()
        self.wall = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.server = await server_cpu(self.store) - self.server

    def row(self, name: str, n: int, note: str) -> tuple[str, int, float, str]:
        cpu = f"CPU {self.cpu / n * 1e6:,.0f} µs Python + {self.server / n * 1e6:,.0f} µs PostgreSQL"
        return name, n, n / self.wall, f"{cpu}; {note}" if note else cpu


async def timed_load(
    store: FhirStore, name: str, resources: list[dict[str, Any]], batch_size: int, note: str = ""
) -> tuple[str, int, float, str]:
    async with Measure(store) as m:
        report = await store.load(resources, batch_size=batch_size)
    if report.rejected:
        first = report.rejected[0]
        raise SystemExit(f"{len(report.rejected)} resources rejected, first: {first}")
    return m.row(name, report.total, note)


async def timed_creates(store: FhirStore, resources: list[dict[str, Any]]) -> tuple[str, int, float, str]:
    async with Measure(store) as m:
        for r in resources:
            await store.create(r)
    return m.row("create(), one per transaction, in a loop", len(resources), "Synthea resources")


async def run(url: str, citizens: int, creates: int, batch_size: int) -> list[tuple[str, int, float, str]]:
    rows: list[tuple[str, int, float, str]] = []
    synthea = synthea_resources()
    from senhealth.demo import generate_resources

    t0 = time.perf_counter()
    province = list(generate_resources(citizens, 1))
    generated = len(province) / (time.perf_counter() - t0)
    # The inputs are held in memory here (a real load streams them): keep the garbage collector from
    # walking them again and again, which would be a cost of this benchmark, not of the store.
    gc.collect()
    gc.freeze()
    pool = create_pool(url, min_size=2, max_size=4)
    await pool.open(wait=True)
    try:
        store = FhirStore(pool)
        await store.param_ids()
        await store.load(synthea[:50])  # compile validators and extractors of the common types first
        async with pool.connection() as conn:
            await conn.execute(
                "TRUNCATE fhir_locator, fhir_resource, fhir_history, idx_token, idx_string, idx_date, "
                "idx_reference, idx_quantity, idx_number, idx_uri, idx_composite, idx_special"
            )
        rows.append(await timed_load(store, "load(), Synthea, new", synthea, batch_size))
        rows.append(await timed_load(store, "load(), Synthea again (all unchanged)", synthea, batch_size))
        rows.append(
            await timed_load(
                store,
                f"load(), province generator ({citizens:,} citizens)",
                province,
                batch_size,
                f"generated at {generated:,.0f}/s (not counted)",
            )
        )
        fresh = [{k: v for k, v in r.items() if k != "id"} for r in synthea[:creates]]
        rows.append(await timed_creates(store, fresh))
    finally:
        await pool.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=1000, help="province size for the generator run")
    parser.add_argument("--creates", type=int, default=2000, help="resources for the create() loop")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.md")
    args = parser.parse_args()
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with scratch_database(server) as url:
        rows = asyncio.run(run(url, args.citizens, args.creates, args.batch_size))
    with psycopg.connect(server) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        durability = conn.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
        ).fetchone()
    lines = [
        f"Machine: {machine()}",
        f"PostgreSQL {version[0] if version else '?'} on the same machine, fsync={durability[0] if durability else '?'}, "
        f"synchronous_commit={durability[1] if durability else '?'}; batch size {args.batch_size}",
        "",
        f"Load average before the run: {load_before}",
        "",
        "| ingest | resources | resources/s | note |",
        "|---|---:|---:|---|",
        *(f"| {name} | {n:,} | **{rate:,.0f}** | {note} |" for name, n, rate, note in rows),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
