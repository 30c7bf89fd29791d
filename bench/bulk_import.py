"""Bulk import benchmark: ``python -m bench.bulk_import --citizens N``.

Measures, on this machine, resources per second into a fresh database on the local PostgreSQL, for the
NDJSON of a synthetic province (``senhealth.demo.generate_resources``, serialised beforehand, not counted):

- ``$import`` (:func:`senhealth.fhir.store.bulk_import.import_ndjson`): every line parsed, validated,
  stamped and indexed, all in one transaction, render processes warm (their start is not counted);
- the same with ``defer_indexes`` (a first load: the PostgreSQL indexes dropped, built again before the
  commit): the rate with the index build, and the index build alone;
- ``FhirStore.load()`` of the same resources (the store's batch-by-batch bulk path), for comparison;
- a raw ``COPY`` of the same resources' JSON into a bare table (type, id, jsonb; no key, no index) and a
  raw ``COPY`` of every row the import writes (resource, history, locator and index rows, as rendered by
  the import) into bare copies of the store's tables without keys or indexes: what PostgreSQL alone
  costs for the same data.

Besides wall-clock resources/s it reports the CPU time per resource of this process, of the render
processes and of the database's server processes (from /proc). fsync and synchronous_commit stay on.
The server is ``SENHEALTH_BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
databases ``senhealth_bench_<random>`` are created and dropped. Prints a Markdown table and writes it to
``bench/results/bulk_import.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.__main__ import machine
from bench.ingest import CLOCK, DEFAULT_SERVER, scratch_database, server_cpu
from senhealth.core.db import create_pool
from senhealth.demo.generator import generate_resources
from senhealth.fhir.store import FhirStore, bulk_import
from senhealth.fhir.store.bulk_import import (
    ImportReport,
    chunk_lines,
    import_ndjson,
    shutdown_workers,
    start_workers,
)
from senhealth.fhir.store.index_rows import COLUMNS
from senhealth.fhir.store.meta import now

ROOT = Path(__file__).resolve().parents[1]
TARGET = 6000.0


@dataclass
class Row:
    name: str
    resources: int
    seconds: float
    python_us: float = 0.0
    workers_us: float = 0.0
    server_us: float = 0.0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds > 0 else 0.0


def _worker_cpu() -> float:
    """CPU seconds of the render processes so far (Linux /proc)."""
    executor = bulk_import._executor
    if executor is None:
        return 0.0
    total = 0
    for pid in list(getattr(executor, "_processes", {}) or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / CLOCK


async def _measured(
    url: str, name: str, n: int, work: Callable[[FhirStore], Awaitable[Any]], note: str = ""
) -> tuple[Row, Any]:
    pool = create_pool(url, min_size=2, max_size=4)
    await pool.open(wait=True)
    try:
        store = FhirStore(pool)
        await store.param_ids()
        gc.collect()
        c0, w0, s0, t0 = time.process_time(), _worker_cpu(), await server_cpu(store), time.perf_counter()
        result = await work(store)
        seconds = time.perf_counter() - t0
        c, w, s = time.process_time() - c0, _worker_cpu() - w0, await server_cpu(store) - s0
        return Row(name, n, seconds, c / n * 1e6, w / n * 1e6, s / n * 1e6, note), result
    finally:
        await pool.close()


def _chunks(data: bytes) -> Any:
    return chunk_lines("bench.ndjson", [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)])


async def _import(url: str, data: bytes, n: int, workers: int | None, defer: bool) -> Row:
    async def work(store: FhirStore) -> ImportReport:
        return await import_ndjson(store, _chunks(data), workers=workers, defer_indexes=defer)

    name = "$import, deferred indexes" if defer else "$import, validated and indexed"
    row, report = await _measured(url, name, n, work)
    assert report.committed and report.created == n, (report.bad[:3], report.created)
    count = workers if workers is not None else bulk_import.default_workers()
    label = f"{count} render process{'es' if count != 1 else ''}"
    row.note = label + (f"; index build {report.index_seconds:.1f} s of it" if defer else "")
    return row


async def _load(url: str, resources: list[dict[str, Any]]) -> Row:
    async def work(store: FhirStore) -> Any:
        return await store.load(resources)

    row, report = await _measured(url, "FhirStore.load(), batches of 1000", len(resources), work)
    assert not report.rejected
    row.note = "one transaction per batch, no render processes"
    return row


def _raw_json(url: str, resources: list[dict[str, Any]]) -> Row:
    text = "".join(
        f"{r['resourceType']}\t{r['id']}\t{orjson.dumps(r).decode().replace(chr(92), chr(92) * 2)}\n"
        for r in resources
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_json (res_type text, res_id text, content jsonb)")
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy("COPY raw_json FROM STDIN") as copy:
            for i in range(0, len(text), 1 << 20):
                copy.write(text[i : i + (1 << 20)])
        seconds = time.perf_counter() - t0
    return Row(
        "raw COPY of the JSON into a bare table",
        len(resources),
        seconds,
        note="type, id, jsonb; no key, no index",
    )


def _raw_rows(url: str, data: bytes, n: int) -> Row:
    """Every row the import writes, rendered by the import's own code, COPYed into bare tables."""
    from senhealth.fhir.store.bulk_import import _param_blob, _render, _Task

    async def params() -> dict[tuple[str, str], int]:
        pool = create_pool(url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            return await FhirStore(pool).param_ids()
        finally:
            await pool.close()

    blob = _param_blob(asyncio.run(params()))
    lines = [(i + 1, line) for i, line in enumerate(data.splitlines())]
    when = now()
    resources: list[str] = []
    locators: list[str] = []
    index: dict[str, list[str]] = {}
    for start in range(0, len(lines), 1000):
        part = lines[start : start + 1000]
        done = _render(
            _Task("raw", part, [(start + k + 1, start + k + 1) for k in range(len(part))], when, blob, ())
        )
        resources.append(done.resources.decode())
        locators.append("".join(f"{k[0]}\t{k[1]}\t{k[2]}\t{k[3]}\t1\tf\n" for k in done.keys))
        for table, text in done.index.items():
            index.setdefault(table, []).append(text.decode())
    history = [
        "".join(
            "\t".join([*cols[:6], "PUT", "f", *cols[7:]]) + "\n"
            for cols in (line.split("\t") for line in part.splitlines())
        )
        for part in resources
    ]
    tables = {"raw_resource": "fhir_resource", "raw_history": "fhir_history", "raw_locator": "fhir_locator"}
    tables.update({f"raw_{t}": t for t in COLUMNS})
    with psycopg.connect(url, autocommit=True) as conn:
        for raw, source in tables.items():
            conn.execute(f"CREATE TABLE {raw} (LIKE {source})")
        copies = {
            "COPY raw_resource (pkey, rid, res_type, res_id, version, last_updated, compartments, content,"
            " content_raw, seq) FROM STDIN": resources,
            "COPY raw_history (pkey, rid, res_type, res_id, version, last_updated, method, deleted, content,"
            " content_raw, seq) FROM STDIN": history,
            "COPY raw_locator (res_type, res_id, rid, pkey, version, deleted) FROM STDIN": locators,
        }
        for table, parts in index.items():
            copies[f"COPY raw_{table} (pkey, rid, param_id, {', '.join(COLUMNS[table])}) FROM STDIN"] = parts
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for statement, parts in copies.items():
                with cur.copy(statement) as copy:
                    for chunk_text in parts:
                        copy.write(chunk_text)
        seconds = time.perf_counter() - t0
    rows = sum(p.count("\n") for parts in copies.values() for p in parts)
    return Row("raw COPY of every row the import writes", n, seconds, note=f"{rows:,} rows into bare tables")


def run(citizens: int, workers: int | None, server: str) -> list[Row]:
    resources = list(generate_resources(citizens, seed=1))
    data = b"".join(orjson.dumps(r) + b"\n" for r in resources)
    n = len(resources)
    print(f"{citizens} citizens: {n:,} resources, {len(data) / 1e6:.1f} MB of NDJSON", flush=True)
    rows: list[Row] = []
    asyncio.run(start_workers(workers))
    for defer in (False, True):
        with scratch_database(server) as url:
            rows.append(asyncio.run(_import(url, data, n, workers, defer)))
            print(f"  {rows[-1].name}: {rows[-1].rate:,.0f}/s", flush=True)
    with scratch_database(server) as url:
        rows.append(asyncio.run(_load(url, resources)))
        print(f"  {rows[-1].name}: {rows[-1].rate:,.0f}/s", flush=True)
    with scratch_database(server) as url:
        rows.append(_raw_json(url, resources))
        rows.append(_raw_rows(url, data, n))
    shutdown_workers()
    return rows


def table(rows: list[Row], server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')"
            ).fetchall()
        )
    pg = str(version[0]).split(",")[0] if version else "PostgreSQL"
    raw = next(r for r in rows if r.name.startswith("raw COPY of every row"))
    lines = [
        f"Machine: {machine()}",
        f"{pg} on the same machine, fsync={settings.get('fsync')}, synchronous_commit="
        f"{settings.get('synchronous_commit')}, shared_buffers={int(settings.get('shared_buffers', 0)) * 8 // 1024} MB",
        f"Load average before the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        "| ingest | resources | resources/s | vs raw COPY of every row | CPU µs/resource: this process + render processes + PostgreSQL | note |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        cpu = f"{r.python_us:.0f} + {r.workers_us:.0f} + {r.server_us:.0f}" if r.server_us else ""
        share = f"{r.rate / raw.rate:.0%}" if raw.rate else ""
        lines.append(f"| {r.name} | {r.resources:,} | **{r.rate:,.0f}** | {share} | {cpu} | {r.note} |")
    lines.append("")
    lines.append(f"Target for $import with validation and indexing: {TARGET:,.0f} resources/s.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_import", description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=1000, help="citizens of the synthetic province")
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: one per CPU)")
    parser.add_argument("--server", default=os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bulk_import.md")
    args = parser.parse_args(argv)
    rows = run(args.citizens, args.workers, args.server)
    text = table(rows, args.server)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
