"""Read by id: ``GET /fhir/{type}/{id}`` from 32 concurrent connections for a fixed time.

``python -m bench.fhir_server --only read``. On the province database of the search mix (200,000
resources by default): ``--read-ids`` ids drawn at random (``setseed``: the same ids on the same data),
an equal share from each of the most common resource types plus Patient, shuffled into one list of
paths that every connection walks through from its own offset. A warm-up of ``--read-warmup`` seconds,
then ``--read-duration`` seconds measured. ``wrk`` drives it when installed (``apt-get install -y wrk``),
else the Python client (:mod:`bench.fhir_server.client`), which takes a larger share of the CPU.
Errors: failed connections, timeouts and answers other than 200.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import psycopg

from bench.fhir_server import wrk
from bench.fhir_server.client import Call, closed_loop, rotating
from bench.fhir_server.common import CpuMeter, CpuReading, ServerProcess, percentile

__all__ = ["ReadResult", "read_benchmark", "sample_read_paths"]

READ_TYPES = 6  # the most common types, plus Patient


@dataclass(frozen=True, slots=True)
class ReadResult:
    tool: str
    connections: int
    seconds: float
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu: CpuReading
    types: list[tuple[str, int]]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def sample_read_paths(url: str, n: int, seed: float = 0.42) -> list[str]:
    """``n`` read paths (``/fhir/Type/id``), an equal share per type, shuffled."""
    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "SELECT res_type, count(*) FROM fhir_locator WHERE version > 0 AND NOT deleted "
            "GROUP BY res_type ORDER BY 2 DESC"
        ).fetchall()
        types = [str(t) for t, _ in counts[:READ_TYPES]]
        if "Patient" not in types and any(t == "Patient" for t, _ in counts):
            types.append("Patient")
        conn.execute("SELECT setseed(%s)", (seed,))
        paths: list[str] = []
        for t in types:
            rows = conn.execute(
                "SELECT res_id FROM fhir_locator WHERE res_type = %s AND version > 0 AND NOT deleted "
                "ORDER BY random() LIMIT %s",
                (t, n // len(types) + 1),
            ).fetchall()
            paths.extend(f"/fhir/{t}/{r[0]}" for r in rows)
    random.Random(seed).shuffle(paths)
    return paths[:n]


def read_benchmark(
    server: ServerProcess,
    url: str,
    *,
    connections: int = 32,
    duration: float = 20,
    warmup: float = 5,
    ids: int = 10_000,
    tool: str = "auto",
    headers: dict[str, str] | None = None,
) -> ReadResult:
    paths = sample_read_paths(url, ids)
    per_type: dict[str, int] = {}
    for p in paths:
        t = p.split("/")[2]
        per_type[t] = per_type.get(t, 0) + 1
    use_wrk = wrk.available() if tool == "auto" else tool == "wrk"
    if tool == "wrk" and not use_wrk:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or --client python)")
    if headers and not use_wrk:
        raise SystemExit("reads with a bearer token need wrk: apt-get install -y wrk")
    if use_wrk:
        wrk.run_wrk(server.base, paths, connections=connections, duration=warmup, headers=headers)
        with CpuMeter(url, server.pid) as meter:
            w = wrk.run_wrk(server.base, paths, connections=connections, duration=duration, headers=headers)
        assert meter.reading is not None
        return ReadResult(
            f"wrk, {connections} connections, 2 threads",
            connections,
            w.seconds,
            w.requests,
            w.socket_errors + w.status_errors,
            w.p50_ms,
            w.p90_ms,
            w.p99_ms,
            w.max_ms,
            meter.reading,
            sorted(per_type.items(), key=lambda kv: -kv[1]),
        )
    calls = [Call("read", p) for p in paths]
    asyncio.run(
        closed_loop(server.host, server.port, connections, rotating(calls), duration=warmup, keep_body=_no)
    )
    with CpuMeter(url, server.pid) as meter:
        samples, wall = asyncio.run(
            closed_loop(
                server.host, server.port, connections, rotating(calls, 1), duration=duration, keep_body=_no
            )
        )
    assert meter.reading is not None
    times = [s.seconds * 1000 for s in samples]
    return ReadResult(
        f"Python asyncio client, {connections} connections (wrk not installed)",
        connections,
        wall,
        len(samples),
        sum(1 for s in samples if s.status != 200),
        percentile(times, 50),
        percentile(times, 90),
        percentile(times, 99),
        max(times, default=0.0),
        meter.reading,
        sorted(per_type.items(), key=lambda kv: -kv[1]),
    )


def _no(_call: Call) -> bool:
    return False
