"""The search mix on the synthetic province: six search shapes, p50 / p95 at concurrency 1 and 8.

``python -m bench.fhir_server --only search [--resources 2000000]``.

**Data.** A database filled with ``--resources`` resources (default 200,000) of the synthetic
province (:func:`senhealth.demo.generate_province`, seed 1, Bắc Ninh): the care network, then citizens
until the count is reached (about 27 resources each: 2 million is about 74,000 citizens). They are
loaded in this process through the bulk path of ``senhealth load``
(:func:`senhealth.cli_server.load_items`, batches of 1,000), generated on the fly (the generation time is
measured apart and reported), then ``VACUUM ANALYZE``. ``--database NAME`` reuses a database loaded by
an earlier run (``--keep-database`` keeps it), without loading.

**Queries.** For each shape, parameters are drawn from the data (``setseed``: the same draws on the
same data); queries repeat only where the data does (common diagnosis codes in ``_has``):

| shape | request |
|---|---|
| ``patient-identifier`` | ``Patient?identifier=<system>\\|<value>``, a patient's CCCD or insurance number |
| ``patient-name-birthdate`` | ``Patient?name=<family name>&birthdate=<date>`` (the family name of a patient, so ``Nguyễn`` 38 % of the time) |
| ``obs-patient-code-date`` | ``Observation?patient=Patient/<id>&code=<system>\\|<code>&date=ge<d-180>&date=le<d+180>`` around an observation of that patient |
| ``encounter-include`` | ``Encounter?patient=Patient/<id>&_include=Encounter:practitioner`` |
| ``obs-chain-identifier`` | ``Observation?subject.identifier=<cccd system>\\|<cccd>`` |
| ``patient-has-condition`` | ``Patient?_has:Condition:patient:code=<system>\\|<code>``, the code of a random Condition (so common diagnoses come up as often as they occur) |

Every query is a first page (``_count`` 20; no ``_total``: the server's default gives a total only
when the first page holds every match, so nothing is counted beyond the page). The table's "mean
matches" is the mean number of matches on that page (20 at most). At each concurrency level (``--search-concurrency``, default 1 and 8), ``--queries``
(default 200) queries of each shape, all shuffled together, run from that many keep-alive
connections after a warm-up of 10 queries per shape (other draws); latency is measured by the client
from sending the request to the last byte of the answer. ``--explain`` prints EXPLAIN (ANALYZE,
BUFFERS) of the slowest query of each shape (its page query and its count query).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from bench.fhir_server.client import Call, Sample, closed_loop, once
from bench.fhir_server.common import CpuMeter, CpuReading, ServerProcess, percentile

__all__ = ["SHAPES", "LoadStats", "MixResult", "Query", "draw_queries", "explain", "load_province", "run_mix"]

CCCD = "https://senhealth.vn/fhir/sid/cccd"
SHAPES = (
    "patient-identifier",
    "patient-name-birthdate",
    "obs-patient-code-date",
    "encounter-include",
    "obs-chain-identifier",
    "patient-has-condition",
)
RESOURCES_PER_CITIZEN = 26.5


@dataclass(frozen=True, slots=True)
class Query:
    shape: str
    res_type: str
    params: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        return f"/fhir/{self.res_type}?{urlencode(self.params, quote_via=quote, safe='/:')}"


@dataclass
class LoadStats:
    resources: int = 0
    citizens: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    database_bytes: int = 0
    counts: list[tuple[str, int]] = field(default_factory=list)
    cpu: CpuReading | None = None
    reused: str | None = None

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


# --- loading ----------------------------------------------------------------------------------------


def _bundles(target: int, stats: LoadStats, seed: int) -> Iterator[dict[str, Any]]:
    """The province's bundles until ``target`` resources; time spent generating goes to ``stats``."""
    from senhealth.demo import generate_province

    citizens = int(target / RESOURCES_PER_CITIZEN * 1.5) + 10
    it = generate_province(citizens, seed)
    while stats.resources < target:
        t0 = time.perf_counter()
        bundle = next(it, None)
        stats.generation_seconds += time.perf_counter() - t0
        if bundle is None:
            return
        n = len(bundle.get("entry", []))
        stats.resources += n
        stats.citizens += 1
        yield bundle
    stats.citizens -= 1  # the network bundle is not a citizen


def load_province(url: str, resources: int, seed: int = 1) -> LoadStats:
    """Fill the (empty) database with about ``resources`` province resources, then VACUUM ANALYZE."""
    from senhealth.cli_server import load_items

    stats = LoadStats()
    with CpuMeter(url) as meter:
        t0 = time.perf_counter()
        counts = asyncio.run(load_items(url, _bundles(resources, stats, seed)))
        stats.seconds = time.perf_counter() - t0
    stats.cpu = meter.reading
    if counts["rejected"]:
        raise SystemExit(f"the province load rejected {counts['rejected']} resources")
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    stats.vacuum_seconds = time.perf_counter() - t0
    describe_database(url, stats)
    return stats


def describe_database(url: str, stats: LoadStats) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT res_type, count(*) FROM fhir_resource GROUP BY res_type ORDER BY 2 DESC"
        ).fetchall()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    stats.counts = [(str(t), int(n)) for t, n in rows]
    stats.database_bytes = int(size[0]) if size else 0
    if not stats.resources:
        stats.resources = sum(n for _, n in stats.counts)


def resource_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM fhir_locator").fetchone()
    return int(row[0]) if row else 0


# --- queries ---------------------------------------------------------------------------------------


def _sample(conn: psycopg.Connection[Any], res_type: str, columns: str, n: int) -> list[tuple[Any, ...]]:
    """``columns`` (over ``r``) of ``n`` random resources of ``res_type`` (picked on the narrow locator)."""
    query = sql.SQL(
        "SELECT {} FROM (SELECT rid FROM fhir_locator WHERE res_type = %s AND version > 0 "
        "AND NOT deleted ORDER BY random() LIMIT %s) s JOIN fhir_resource r ON r.rid = s.rid"
    ).format(sql.SQL(columns))
    return list(conn.execute(query, (res_type, n)).fetchall())


def _ref_id(reference: str | None) -> str | None:
    if not reference or not reference.startswith("Patient/"):
        return None
    return reference.split("/", 1)[1]


def draw_queries(url: str, per_shape: int, seed: float = 0.17) -> dict[str, list[Query]]:
    """``per_shape`` queries of each shape, parameters drawn from the data."""
    out: dict[str, list[Query]] = {s: [] for s in SHAPES}
    rng = random.Random(seed)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(%s)", (seed,))
        patients = _sample(
            conn,
            "Patient",
            "r.content->'identifier', r.content->'name'->0->>'family', r.content->>'birthDate'",
            per_shape * 3,
        )
        for identifiers, family, birth in patients:
            ids = [i for i in identifiers or [] if i.get("system") and i.get("value")]
            if ids and len(out["patient-identifier"]) < per_shape:
                pick = rng.choice(ids)
                out["patient-identifier"].append(
                    Query(
                        "patient-identifier",
                        "Patient",
                        (("identifier", f"{pick['system']}|{pick['value']}"),),
                    )
                )
            if family and birth and len(out["patient-name-birthdate"]) < per_shape:
                out["patient-name-birthdate"].append(
                    Query("patient-name-birthdate", "Patient", (("name", family), ("birthdate", birth)))
                )
            cccd = next((i["value"] for i in ids if i["system"] == CCCD), None)
            if cccd and len(out["obs-chain-identifier"]) < per_shape:
                out["obs-chain-identifier"].append(
                    Query("obs-chain-identifier", "Observation", (("subject.identifier", f"{CCCD}|{cccd}"),))
                )
        observations = _sample(
            conn,
            "Observation",
            "r.content->'subject'->>'reference', r.content->'code'->'coding'->0->>'system', "
            "r.content->'code'->'coding'->0->>'code', r.content->>'effectiveDateTime'",
            per_shape * 2,
        )
        for subject, system, code, when in observations:
            patient = _ref_id(subject)
            if not (patient and system and code and when) or len(out["obs-patient-code-date"]) >= per_shape:
                continue
            day = date.fromisoformat(when[:10])
            low, high = day - timedelta(days=180), day + timedelta(days=180)
            out["obs-patient-code-date"].append(
                Query(
                    "obs-patient-code-date",
                    "Observation",
                    (
                        ("patient", f"Patient/{patient}"),
                        ("code", f"{system}|{code}"),
                        ("date", f"ge{low.isoformat()}"),
                        ("date", f"le{high.isoformat()}"),
                    ),
                )
            )
        encounters = _sample(conn, "Encounter", "r.content->'subject'->>'reference'", per_shape * 2)
        for (subject,) in encounters:
            patient = _ref_id(subject)
            if patient and len(out["encounter-include"]) < per_shape:
                out["encounter-include"].append(
                    Query(
                        "encounter-include",
                        "Encounter",
                        (("patient", f"Patient/{patient}"), ("_include", "Encounter:practitioner")),
                    )
                )
        conditions = _sample(
            conn,
            "Condition",
            "r.content->'code'->'coding'->0->>'system', r.content->'code'->'coding'->0->>'code'",
            per_shape * 2,
        )
        for system, code in conditions:
            if system and code and len(out["patient-has-condition"]) < per_shape:
                out["patient-has-condition"].append(
                    Query(
                        "patient-has-condition",
                        "Patient",
                        (("_has:Condition:patient:code", f"{system}|{code}"),),
                    )
                )
    return out


# --- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShapeStats:
    shape: str
    queries: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_total: float
    slowest: Query | None


@dataclass
class MixResult:
    concurrency: int
    seconds: float
    queries: int
    shapes: list[ShapeStats]
    cpu: CpuReading

    @property
    def qps(self) -> float:
        return self.queries / self.seconds if self.seconds else 0.0


def _stats(shape: str, samples: list[tuple[Sample, Query]]) -> ShapeStats:
    times = [s.seconds * 1000 for s, _ in samples]
    # matches on the (first) page: the server gives a total only when that page holds them all
    totals = [s.body.count(b'"mode":"match"') for s, _ in samples]
    slowest = max(samples, key=lambda sq: sq[0].seconds)[1] if samples else None
    return ShapeStats(
        shape,
        len(samples),
        sum(1 for s, _ in samples if s.status != 200),
        percentile(times, 50),
        percentile(times, 95),
        percentile(times, 99),
        max(times, default=0.0),
        sum(totals) / len(totals) if totals else float("nan"),
        slowest,
    )


def run_mix(
    server: ServerProcess, url: str, queries: dict[str, list[Query]], concurrency: int, seed: int = 7
) -> MixResult:
    """Every query once, shuffled, from ``concurrency`` connections."""
    todo = [q for qs in queries.values() for q in qs]
    random.Random(seed + concurrency).shuffle(todo)
    by_path = {q.path: q for q in todo}
    calls = [Call(q.shape, q.path) for q in todo]
    with CpuMeter(url, server.pid) as meter:
        samples, wall = asyncio.run(closed_loop(server.host, server.port, concurrency, once(calls)))
    assert meter.reading is not None
    failed = [s for s in samples if s.status != 200]
    for s in failed[:3]:
        print(f"search failed: {s.tag} HTTP {s.status} {s.body[:300]!r}")
    grouped: dict[str, list[tuple[Sample, Query]]] = {shape: [] for shape in queries}
    for sample in samples:
        grouped[sample.tag].append((sample, by_path[sample.path]))
    return MixResult(concurrency, wall, len(samples), [_stats(s, grouped[s]) for s in queries], meter.reading)


def warm_up(server: ServerProcess, queries: dict[str, list[Query]]) -> None:
    calls = [Call(q.shape, q.path) for qs in queries.values() for q in qs]
    asyncio.run(closed_loop(server.host, server.port, 2, once(calls), keep_body=lambda _c: False))


# --- EXPLAIN ---------------------------------------------------------------------------------------


def explain(url: str, query: Query) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the page query and the count query the server runs for ``query``
    (each planned once before, so that planning is timed with warm catalog caches)."""
    from senhealth.fhir.search.request import parse_search
    from senhealth.fhir.search.sql import ParamIds, build_count, build_page

    request = parse_search(query.res_type, list(query.params))
    with psycopg.connect(url, autocommit=True) as conn:
        mapping = {
            (str(t), str(c)): int(i)
            for t, c, i in conn.execute("SELECT res_type, code, param_id FROM fhir_search_param").fetchall()
        }
        ids = ParamIds(mapping)
        page, _ = build_page(request, ids, limit=request.count + 1)
        count = build_count(request, ids)
        parts = [f"### {query.shape}: `{query.path}`"]
        for label, stmt in (("page", page), ("count", count)):
            # the first run fills this connection's catalog caches, as a pooled connection has them
            conn.execute(sql.SQL("EXPLAIN ") + stmt.query, stmt.params, prepare=False).fetchall()
            rows = conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + stmt.query, stmt.params, prepare=False
            ).fetchall()
            parts.append(f"{label}:\n" + "\n".join(str(r[0]) for r in rows))
    return "\n\n".join(parts)
