"""Ingest over HTTP: the Synthea transaction bundles POSTed to ``/fhir``; the bulk path for comparison.

``python -m bench.fhir_server --only ingest``. What it does, on a fresh database:

1. starts the server (:class:`~bench.fhir_server.common.ServerProcess`, ``--workers``);
2. POSTs every bundle of ``../shared/data/synthea`` (as the file's bytes, largest first) from
   ``--ingest-concurrency`` connections, ``Prefer: return=minimal``; resources/s = resources the
   ``transaction-response`` Bundles report created (201) / wall time of the whole pass. Three passes:
   the first on a cold server (every worker compiles the validators and extractors of each type on
   first use), then a warm one, then a warm one answering with the resources
   (``Prefer: return=representation``, the default when a client sends no ``Prefer``). Every POST
   creates new resources (server-assigned ids), so each pass writes the same 12,724 resources again;
3. for comparison, on another fresh database, the bulk path of ``senhealth load``
   (:func:`senhealth.cli_server.load_items`) over the same files, in this process, after the
   validators and extractors were warmed up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.__main__ import SYNTHEA
from bench.fhir_server.client import Call, closed_loop, once
from bench.fhir_server.common import CpuMeter, CpuReading, ServerProcess, bench_database

__all__ = ["IngestRow", "bulk_ingest", "http_ingest", "synthea_bundles"]


@dataclass(frozen=True, slots=True)
class IngestRow:
    name: str
    resources: int
    seconds: float
    cpu: CpuReading
    note: str = ""

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def synthea_bundles() -> list[tuple[str, bytes, int]]:
    """(file name, bytes, entries) of every Synthea bundle, largest first."""
    if not SYNTHEA.is_dir():
        raise SystemExit(f"Synthea sample not found at {SYNTHEA}: the benchmark needs ../shared/data/synthea")
    out = []
    for path in SYNTHEA.glob("*.json"):
        raw = path.read_bytes()
        out.append((path.name, raw, len(orjson.loads(raw).get("entry", []))))
    out.sort(key=lambda b: -len(b[1]))
    return out


def _created(body: bytes) -> int:
    answer = orjson.loads(body)
    return sum(
        1
        for e in answer.get("entry", [])
        if str(e.get("response", {}).get("status", "")).startswith(("200", "201"))
    )


async def _post_all(
    server: ServerProcess, bundles: list[tuple[str, bytes, int]], concurrency: int, prefer: str
) -> tuple[int, float]:
    calls = [
        Call(
            name,
            "/fhir",
            "POST",
            raw,
            (("Content-Type", "application/fhir+json"), ("Prefer", f"return={prefer}")),
        )
        for name, raw, _ in bundles
    ]
    samples, wall = await closed_loop(server.host, server.port, concurrency, once(calls))
    failed = [s for s in samples if s.status != 200]
    if failed:
        first = failed[0]
        raise SystemExit(
            f"{len(failed)} bundles failed; {first.tag}: HTTP {first.status} {first.body[:2000]!r}"
        )
    return sum(_created(s.body) for s in samples), wall


def http_ingest(workers: int, concurrency: int) -> list[IngestRow]:
    """The three HTTP passes (see the module docstring)."""
    bundles = synthea_bundles()
    total = sum(n for _, _, n in bundles)
    rows: list[IngestRow] = []
    passes = [
        ("cold server", "minimal"),
        ("warm server", "minimal"),
        ("warm server, answers with the resources", "representation"),
    ]
    with bench_database("ingest") as url, ServerProcess(url, workers=workers) as server:
        for label, prefer in passes:
            with CpuMeter(url, server.pid) as meter:
                created, wall = asyncio.run(_post_all(server, bundles, concurrency, prefer))
            if created != total:
                raise SystemExit(f"{label}: {created} resources created, expected {total}")
            assert meter.reading is not None
            rows.append(
                IngestRow(
                    f"HTTP `POST /fhir`, {len(bundles)} transaction bundles, {concurrency} connections, "
                    f"{label}",
                    created,
                    wall,
                    meter.reading,
                    f"`Prefer: return={prefer}`",
                )
            )
    return rows


def _warm_up(bundles: list[tuple[str, bytes, int]]) -> None:
    """Compile the validators and extractors of every type in the bundles (what a cold start pays)."""
    from senhealth.fhir.bundle_flatten import flatten_transaction
    from senhealth.fhir.search.extract import extract
    from senhealth.fhir.validation import validate

    seen: set[str] = set()
    for _, raw, _ in bundles:
        for resource in flatten_transaction(orjson.loads(raw)) or []:
            if resource["resourceType"] not in seen:
                seen.add(resource["resourceType"])
                validate(resource)
                extract(resource)


def bulk_ingest() -> IngestRow:
    """``senhealth load``'s bulk path (``load_items``) over the same files, into a fresh database."""
    from senhealth.cli_server import load_items

    bundles = synthea_bundles()
    _warm_up(bundles)
    files = sorted(SYNTHEA.glob("*.json"))

    def items() -> Iterator[Any]:
        for path in files:
            yield orjson.loads(path.read_bytes())

    with bench_database("bulk") as url:
        with CpuMeter(url) as meter:
            t0 = time.perf_counter()
            counts = asyncio.run(load_items(url, items()))
            wall = time.perf_counter() - t0
        assert meter.reading is not None
        if counts["rejected"]:
            raise SystemExit(f"bulk load rejected {counts['rejected']} resources")
        processed = counts["created"] + counts["updated"] + counts["unchanged"]
        return IngestRow(
            f"bulk path of `senhealth load` (`load_items`), {len(files)} files, in-process",
            processed,
            wall,
            meter.reading,
            f"files read and parsed inside the timing; batches of 1,000; {counts['created']:,} created, "
            f"{counts['unchanged'] + counts['updated']:,} repeated in several files (kept ids) compared",
        )


def files_size() -> int:
    return sum(p.stat().st_size for p in Path(SYNTHEA).glob("*.json"))
