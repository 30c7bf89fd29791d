"""Every indicator of the library on a generated province: ``python -m bench.indicators_province --citizens N``.

Issue 11's must-show: every indicator (docs/indicators.md) for a province of 200,000 citizens in ≤ 60 s,
timed **from raw resources** (a full build) and **from incrementally refreshed views** (after a day's new
data), with an extrapolation to 1 million. Steps (only the ones marked *timed* count):

1. **Data** (not timed, reported): the province's NDJSON (``senhealth.demo.write_province``, one file per
   resource type, kept in ``--data``, by default under the system's temporary directory, reused when
   present), plus the resources the demo generator does not make and the indicators read: a clinical
   document (Composition) for 65 % of the encounters and a signature Provenance (tag
   ``signature-record|signature``) for 45 %, a referral ServiceRequest (SNOMED CT 3457005) from a
   commune station to the provincial hospital for 1.5 %, a telehealth Appointment for 0.5 % — chosen
   by the encounter id, so the same data every run.
2. **Check-up sample** (not timed, reported): ``--checkup-citizens`` citizens (a province of its own)
   imported into the store with ``$import`` (:func:`senhealth.fhir.store.bulk_import.import_ndjson`).
   The three check-up indicators are the check-up dashboard's SQL over the store's index tables
   (``senhealth.api.reports.checkup_providers``), so they need a loaded store; the 200,000-citizen
   store does not fit this machine's disk (about 8 kB a resource with history and indexes:
   docs/scale.md), so they are *timed* on the sample and scaled linearly (said so in the table).
3. **Full build from raw resources** (*timed*): the nine indicator views over the NDJSON — DuckDB's
   compiled SQL where the view compiles (``senhealth.analytics.viewdef_duckdb``), else the reference
   evaluator in ``--workers`` processes (the views using ``|`` or ``split()``: docs/analytics-engines.md)
   — written into the views' PostgreSQL tables exactly as ``senhealth.analytics.materialise`` builds
   them (same columns, types, index and state row, at the change feed's horizon), then the eight SQL
   aggregations (:func:`senhealth.analytics.indicators.compute_indicators`, whose refresh finds nothing).
4. **A day's new data** (not timed, reported): new citizens whose resources number a day's volume of a
   province this size (``--day-resources``, default the generator's resources per citizen per year ×
   citizens / 365), with their documents, signatures, referrals and appointments, written by
   ``FhirStore.load`` (validated, indexed, in the change feed).
5. **Incremental** (*timed*): ``compute_indicators`` again: each view's table is refreshed from the
   change feed (only the day's resources are evaluated) and the aggregations run.

The surveillance bookkeeping the two surveillance indicators read (``surveillance_case``,
``surveillance_count_day``, ``surveillance_population``; kept by the case writer as reports arrive) and
pending duplicate pairs (``mpi_review``) are seeded from the data before the timing (not timed): cases
from the Conditions with a notifiable ICD-10 code, one pending pair per 1,000 patients.

The server is ``SENHEALTH_BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
a database ``senhealth_bench_<random>`` is created and dropped. Prints a Markdown table and writes it to
``bench/results/indicators_<citizens>.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import psycopg

from bench.__main__ import machine
from bench.ingest import DEFAULT_SERVER, scratch_database
from senhealth.analytics.indicators import (
    CATALOGUE,
    VIEW_NAMES,
    compute_indicators,
    ensure_views,
    load_view,
    parse_period,
    run_indicator_sql,
)
from senhealth.analytics.materialise import (
    _pg_create,
    _pg_index,
    _pg_insert,
    _save,
    postgres_target,
)
from senhealth.analytics.viewdef import compile_view
from senhealth.analytics.viewdef_duckdb import run_view_duckdb
from senhealth.analytics.viewdef_sql import Unsupported
from senhealth.analytics.viewdef_sql import compile_view as compile_sql
from senhealth.api.reports import checkup_providers
from senhealth.checkup.dashboard import checkup_dashboard
from senhealth.core.db import create_pool
from senhealth.demo import Options, write_province
from senhealth.demo.context import Context
from senhealth.demo.facility_resources import network_resources
from senhealth.demo.fhir_types import Refs
from senhealth.demo.generator import citizen
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.bulk_import import chunk_lines, import_ndjson, shutdown_workers
from senhealth.fhir.store.change_feed import horizon

ROOT = Path(__file__).resolve().parents[1]
PROVINCE: Final = "24"
SIG_TAG: Final = {"system": "https://senhealth.vn/fhir/CodeSystem/signature-record", "code": "signature"}
SNOMED: Final = "http://snomed.info/sct"
NS: Final = uuid.UUID("6f1c1d9e-4b7a-4d55-9a57-3c1e00000011")  # uuid5 namespace of the extras
EXTRA_TYPES: Final = ("Composition", "Provenance", "ServiceRequest", "Appointment")
SKIP_STATUS: Final = frozenset({"planned", "cancelled", "entered-in-error"})


# --- data ------------------------------------------------------------------------------------------------


def _uid(kind: str, base: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}:{base}"))


@dataclass
class Network:
    """What the extras need from the care network: stations, the provincial hospital, locations."""

    stations: set[str] = field(default_factory=set)
    hospital: str = ""
    location_of: dict[str, str] = field(default_factory=dict)  # organization id -> a location id

    @classmethod
    def of(cls, resources: Iterable[Mapping[str, Any]]) -> Network:
        net = cls()
        for res in resources:
            if res["resourceType"] == "Organization":
                text = " ".join(t.get("text", "") for t in res.get("type", []))
                if text.startswith("Trạm"):
                    net.stations.add(res["id"])
                elif "tỉnh" in text and res.get("identifier") and not net.hospital:
                    net.hospital = res["id"]
            elif res["resourceType"] == "Location":
                ref = res.get("managingOrganization", {}).get("reference", "")
                if ref.startswith("Organization/"):
                    net.location_of.setdefault(ref[13:], res["id"])
        return net

    @classmethod
    def read(cls, data: Path) -> Network:
        lines = [
            *(data / "Organization.ndjson").read_bytes().splitlines(),
            *(data / "Location.ndjson").read_bytes().splitlines(),
        ]
        return cls.of(orjson.loads(line) for line in lines)


def extras(encounter: Mapping[str, Any], net: Network) -> Iterator[dict[str, Any]]:
    """The document, signature, referral and telehealth appointment of one encounter (by its id)."""
    if encounter.get("status") in SKIP_STATUS:
        return
    eid = encounter["id"]
    pick = int(hashlib.blake2b(eid.encode(), digest_size=4).hexdigest(), 16) % 1000
    subject = encounter["subject"]
    start = encounter.get("period", {}).get("start", "2025-01-01T08:00:00+07:00")
    provider = encounter.get("serviceProvider", {}).get("reference", "")
    org = {"reference": provider} if provider else {"display": "?"}
    if pick < 650:
        cid = _uid("composition", eid)
        yield {
            "resourceType": "Composition",
            "id": cid,
            "status": "final",
            "type": {
                "coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]
            },
            "subject": subject,
            "encounter": {"reference": f"Encounter/{eid}"},
            "date": start,
            "author": [org],
            "title": "Bệnh án",
        }
        if pick < 450:
            yield {
                "resourceType": "Provenance",
                "id": _uid("signature", eid),
                "meta": {"tag": [SIG_TAG]},
                "target": [{"reference": f"Composition/{cid}"}],
                "recorded": start,
                "agent": [{"who": org}],
                "signature": [
                    {
                        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                        "when": start,
                        "who": org,
                    }
                ],
            }
    org_id = provider[13:]
    if 650 <= pick < 665 and org_id in net.stations and net.hospital:
        yield {
            "resourceType": "ServiceRequest",
            "id": _uid("referral", eid),
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}],
            "subject": subject,
            "encounter": {"reference": f"Encounter/{eid}"},
            "authoredOn": start,
            "requester": org,
            "performer": [{"reference": f"Organization/{net.hospital}"}],
        }
    location = net.location_of.get(org_id)
    if 665 <= pick < 670 and location:
        yield {
            "resourceType": "Appointment",
            "id": _uid("appointment", eid),
            "status": "fulfilled",
            "serviceType": [{"coding": [{"code": "telehealth", "display": "Khám từ xa"}]}],
            "start": start,
            "end": encounter.get("period", {}).get("end", start),
            "participant": [
                {"actor": subject, "status": "accepted"},
                {"actor": {"reference": f"Location/{location}"}, "status": "accepted"},
            ],
        }


def ensure_data(data: Path, citizens: int, seed: int) -> tuple[str, Counter[str]]:
    """The province's NDJSON and the extras in ``data``; what was done, with its seconds."""
    marker, generated = data / "complete.json", data / "generated.json"
    if marker.exists():
        return "generated by an earlier run", Counter(orjson.loads(marker.read_bytes())["resources"])
    note = []
    if generated.exists():  # the province is there (written by an earlier run), the extras are not
        counts = Counter(orjson.loads(generated.read_bytes())["resources"])
        note.append("province generated by an earlier run")
    else:
        started = time.perf_counter()
        counts = Counter(write_province(data, Options(citizens, seed), fmt="ndjson").resources)
        generated.write_bytes(orjson.dumps({"citizens": citizens, "seed": seed, "resources": counts}))
        note.append(f"province generated in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    net = Network.read(data)
    handles = {t: (data / f"{t}.ndjson").open("wb") for t in EXTRA_TYPES}
    try:
        with (data / "Encounter.ndjson").open("rb") as f:
            for line in f:
                for res in extras(orjson.loads(line), net):
                    handles[res["resourceType"]].write(orjson.dumps(res) + b"\n")
                    counts[res["resourceType"]] += 1
    finally:
        for h in handles.values():
            h.close()
    note.append(
        f"documents, signatures, referrals and appointments added in {time.perf_counter() - started:.0f} s"
    )
    marker.write_bytes(orjson.dumps({"citizens": citizens, "seed": seed, "resources": counts}))
    return ", ".join(note), counts


def day_resources(citizens: int, seed: int, first: int, volume: int) -> list[dict[str, Any]]:
    """New citizens from number ``first`` on, with their extras, until ``volume`` resources."""
    ctx = Context(Options(citizens, seed))
    data_net = Network.of(network_resources(ctx.network, Refs("ndjson")))
    out: list[dict[str, Any]] = []
    index = first
    while len(out) < volume:
        resources = citizen(ctx, index, Refs("ndjson"))[1]
        out.extend(resources)
        for res in resources:
            if res["resourceType"] == "Encounter":
                out.extend(extras(res, data_net))
        index += 1
    return out


# --- the views from raw resources -----------------------------------------------------------------------


def _python_rows(args: tuple[str, Path, int, int]) -> list[dict[str, Any]]:
    """The view's rows of the lines that begin in ``[start, end)`` of the NDJSON file."""
    name, path, start, end = args
    compiled = compile_view(load_view(name))
    out: list[dict[str, Any]] = []
    with path.open("rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()  # to the first line beginning at or after ``start``
        while f.tell() < end:
            line = f.readline()
            if not line:
                break
            res = orjson.loads(line)
            for row in compiled.rows(res):
                out.append({"_resource_id": res["id"], **row})
    return out


def _ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges ``[start, end)`` covering the file."""
    size = path.stat().st_size
    step = max(1, size // parts)
    return [(i, min(size, i + step)) for i in range(0, size, step)]


def view_rows(
    name: str, data: Path, pool: ProcessPoolExecutor, workers: int, engine: str = "duckdb"
) -> tuple[list[dict[str, Any]], str]:
    """The rows of indicator view ``name`` over the NDJSON in ``data`` and the engine that made them:
    ``duckdb`` (compiled SQL, else ``run_view`` in ``workers`` processes) or ``spark`` (local mode,
    ``engine="auto"``: Spark SQL, else ``run_view`` in Spark's Python workers)."""
    view = load_view(name)
    path = data / f"{view['resource']}.ndjson"
    if not path.exists() or path.stat().st_size == 0:
        return [], "none (no resources)"
    if engine == "spark":
        from senhealth.analytics.viewdef_spark import get_spark, run_view_spark

        try:
            compile_sql(view, "spark")
            how = "Spark SQL"
        except Unsupported:
            how = "Spark, run_view in Python workers"
        rows = run_view_spark(view, str(path), get_spark(f"local[{workers}]"), engine="auto")
        for r in rows:
            r["_resource_id"] = r["id"]
        return rows, how
    try:
        compile_sql(view, "duckdb")
    except Unsupported:
        parts = [(name, path, a, b) for a, b in _ranges(path, workers * 4)]
        rows = [r for chunk in pool.map(_python_rows, parts) for r in chunk]
        return rows, f"run_view × {workers} processes"
    rows = run_view_duckdb(view, str(path))
    for r in rows:
        r["_resource_id"] = r["id"]
    return rows, "DuckDB SQL"


# --- database --------------------------------------------------------------------------------------------

Pool = Any


async def build_views(pool: Pool, data: Path, workers: int, engine: str) -> list[tuple[str, int, str, float]]:
    """Every indicator view's table built from the NDJSON, as materialise() leaves it; per view: name,
    rows, engine, seconds."""
    out = []
    with ProcessPoolExecutor(workers) as procs:
        async with pool.connection() as conn:
            top = await horizon(conn)
        for name in VIEW_NAMES:
            t0 = time.perf_counter()
            rows, how = await asyncio.to_thread(view_rows, name, data, procs, workers, engine)
            view = load_view(name)
            compiled = compile_view(view)
            target = postgres_target(table=name)
            async with pool.connection() as conn, conn.transaction():
                await _pg_create(conn, target, compiled)
                await _pg_insert(conn, target, compiled, rows)
                await _pg_index(conn, target)
                await _save(conn, target, None, view, top, len(rows), built=True)
            out.append((name, len(rows), how, time.perf_counter() - t0))
    return out


NOTIFIABLE: Final = {  # ICD-10 prefix -> (disease, group, deadline); a small part of the surveillance list
    "A90": ("dengue", "B", "24h"),
    "A91": ("dengue", "B", "24h"),
    "A97": ("dengue", "B", "24h"),
    "B05": ("measles", "B", "24h"),
    "B08.4": ("hfmd", "B", "24h"),
    "J10": ("influenza", "C", "weekly"),
    "J11": ("influenza", "C", "weekly"),
    "A09": ("diarrhoea", "C", "weekly"),
    "A01": ("typhoid", "B", "48h"),
    "B01": ("varicella", "C", "weekly"),
}


async def seed_bookkeeping(pool: Pool, citizens: int, year: int) -> dict[str, int]:
    """Surveillance cases and counts from the notifiable Conditions, population, pending duplicate pairs."""
    cases = " UNION ALL ".join(
        f"SELECT '{prefix}' AS prefix, '{d}' AS disease, '{g}' AS grp, '{dl}' AS deadline"
        for prefix, (d, g, dl) in NOTIFIABLE.items()
    )
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            f"""
            INSERT INTO surveillance_case (case_id, disease, list_id, disease_group, icd10, patient_id, patients,
                province, commune, case_date, first_evidence, last_evidence, diagnosed_at, detected_at,
                deadline, deadline_at, reported_at, classification)
            SELECT c._resource_id, n.disease, 'tt54', n.grp, c.icd, c.patient, ARRAY[c.patient],
                   p.province, coalesce(p.commune, ''), d::date, d::date, d::date, d, d, n.deadline,
                   d + CASE n.deadline WHEN '24h' THEN interval '24 hours' WHEN '48h' THEN interval '48 hours'
                                       ELSE interval '7 days' END,
                   d + (abs(hashtext(c._resource_id)) % 96) * interval '1 hour',
                   'confirmed'
            FROM analytics.ind_condition c
            JOIN ({cases}) n ON c.icd LIKE n.prefix || '%'
            JOIN analytics.ind_patient p ON p.id = c.patient
            JOIN analytics.ind_encounter e ON e.id = c.encounter
            CROSS JOIN LATERAL (SELECT e.start::timestamptz AS d) t
            WHERE c.patient IS NOT NULL AND e.start IS NOT NULL AND p.province IS NOT NULL
            """
        )
        await conn.execute(
            """
            INSERT INTO surveillance_count_day (disease, province, commune, day, cases, confirmed, deaths)
            SELECT disease, province, commune, case_date, count(*), count(*), 0
            FROM surveillance_case GROUP BY 1, 2, 3, 4
            """
        )
        await conn.execute(
            "INSERT INTO surveillance_population (area, level, province, year, population)"
            " VALUES (%s, 'province', %s, %s, %s)",
            (PROVINCE, PROVINCE, year, citizens),
        )
        await conn.execute(
            """
            INSERT INTO mpi_review (patient_a, patient_b, score)
            SELECT a.id, b.id, 0.8 FROM
              (SELECT id, row_number() OVER (ORDER BY id) AS n FROM analytics.ind_patient) a
              JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM analytics.ind_patient) b ON b.n = a.n + 1
            WHERE a.n % 1000 = 0
            """
        )
        counts = {}
        for table in ("surveillance_case", "surveillance_count_day", "mpi_review"):
            cur = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


async def import_sample(store: FhirStore, citizens: int, seed: int, directory: Path) -> tuple[int, float]:
    """A province of ``citizens`` imported with ``$import``; resources and seconds."""
    write_province(directory, Options(citizens, seed), fmt="ndjson")
    blobs = [p.read_bytes() for p in sorted(directory.glob("*.ndjson"))]
    data = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs if b)
    t0 = time.perf_counter()
    report = await import_ndjson(
        store, chunk_lines("sample.ndjson", [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)])
    )
    seconds = time.perf_counter() - t0
    if not report.committed:
        raise RuntimeError(f"the sample import failed: {report.bad[:3]}")
    return report.created, seconds


async def _timed_checkup(store: FhirStore, period_id: str) -> tuple[float, float, int]:
    """The three check-up indicators through their providers (each computes the dashboard), and one
    dashboard computation alone: seconds, seconds, rows."""
    period = parse_period(period_id)
    providers = checkup_providers(store)
    t0 = time.perf_counter()
    rows = 0
    for indicator in CATALOGUE:
        if indicator.id in providers:
            rows += len(await providers[indicator.id](indicator, period, PROVINCE))
    three = time.perf_counter() - t0
    t0 = time.perf_counter()
    await checkup_dashboard(store, period.year)
    return three, time.perf_counter() - t0, rows


async def _timed_sql(pool: Pool, store: FhirStore, period_id: str, now: datetime) -> tuple[float, list[Any]]:
    sql_ids = [i.id for i in CATALOGUE if i.sql is not None]
    t0 = time.perf_counter()
    results = await compute_indicators(
        pool, parse_period(period_id), PROVINCE, param_ids=await store.param_ids(), only=sql_ids, now=now
    )
    return time.perf_counter() - t0, results


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Measured:
    citizens: int
    resources: int
    data_note: str
    engine: str
    per_indicator: dict[str, float]
    sample_citizens: int
    sample_resources: int
    sample_import_s: float
    views: list[tuple[str, int, str, float]]
    views_s: float
    seeded: dict[str, int]
    sql_full_s: float
    checkup_sample_s: float
    dashboard_once_s: float
    checkup_rows: int
    day_resources: int
    day_load_s: float
    refresh_s: float
    refresh: list[tuple[str, int, float]]
    indicator_rows: dict[str, int]
    indicator_totals: dict[str, Any]
    load_before: str


async def run(url: str, args: argparse.Namespace, data: Path) -> Measured:
    data_note, counts = ensure_data(data, args.citizens, args.seed)
    resources = sum(counts.values())
    pool = create_pool(url, min_size=1, max_size=4)
    await pool.open(wait=True)
    store = FhirStore(pool)
    now = datetime(2026, 1, 15, tzinfo=UTC)
    try:
        await store.param_ids()
        sample_n, sample_s = 0, 0.0
        if args.checkup_citizens:
            with tempfile.TemporaryDirectory(prefix="senhealth-sample-") as tmp:
                sample_n, sample_s = await import_sample(
                    store, args.checkup_citizens, args.seed + 1, Path(tmp)
                )
            shutdown_workers()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        # full build from raw resources
        t0 = time.perf_counter()
        views = await build_views(pool, data, args.workers, args.engine)
        views_s = time.perf_counter() - t0
        seeded = await seed_bookkeeping(pool, args.citizens, int(args.period[:4]))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        sql_full_s, _ = await _timed_sql(pool, store, args.period, now)
        checkup_s, dashboard_s, checkup_rows = await _timed_checkup(store, args.period)
        # a day's new data, then the incremental refresh
        volume = args.day_resources or round(resources / args.citizens / args.years * args.citizens / 365)
        day = day_resources(args.citizens, args.seed, args.citizens + 1, volume)
        t0 = time.perf_counter()
        report = await store.load(day, on_error="raise")
        day_load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        reports = await ensure_views(pool, VIEW_NAMES, param_ids=await store.param_ids())
        refresh_only_s = time.perf_counter() - t0
        sql_inc_s, results = await _timed_sql(pool, store, args.period, now)
        refresh_s = refresh_only_s + sql_inc_s
        refresh = [(r.target.split(".")[-1], r.changed, r.seconds) for r in reports]
        per_indicator = {}
        for indicator in CATALOGUE:
            if indicator.sql is not None:
                t0 = time.perf_counter()
                await run_indicator_sql(pool, indicator, parse_period(args.period), PROVINCE, now=now)
                per_indicator[indicator.id] = time.perf_counter() - t0
    finally:
        await pool.close()
    return Measured(
        citizens=args.citizens,
        resources=resources,
        data_note=data_note,
        engine=args.engine,
        per_indicator=per_indicator,
        sample_citizens=args.checkup_citizens,
        sample_resources=sample_n,
        sample_import_s=sample_s,
        views=views,
        views_s=views_s,
        seeded=seeded,
        sql_full_s=sql_full_s,
        checkup_sample_s=checkup_s,
        dashboard_once_s=dashboard_s,
        checkup_rows=checkup_rows,
        day_resources=report.total if hasattr(report, "total") else len(day),
        day_load_s=day_load_s,
        refresh_s=refresh_s,
        refresh=[(n, c, s) for n, c, s in refresh] + [("(8 aggregations)", 0, sql_inc_s)],
        indicator_rows={r.indicator.id: len(r.rows) for r in results},
        indicator_totals={r.indicator.id: r.total.value for r in results},
        load_before=load_before,
    )


def report(m: Measured, args: argparse.Namespace) -> str:
    scale = m.citizens / m.sample_citizens if m.sample_citizens else 0.0
    checkup_scaled = m.checkup_sample_s * scale
    full = m.views_s + m.sql_full_s + checkup_scaled
    inc = m.refresh_s + checkup_scaled
    lines = [
        f"# Indicators for a province of {m.citizens:,} citizens (bench/indicators_province.py)",
        "",
        f"Date {datetime.now(UTC):%Y-%m-%d}. Machine: {machine()}; PostgreSQL on the same machine (default",
        f"settings), {args.workers} evaluator processes; load average before the timed part: {m.load_before}.",
        f"Province: {m.citizens:,} citizens, seed {args.seed}, {m.resources:,} resources in NDJSON"
        + f" ({m.data_note}; not counted)"
        + f"; period {args.period}, province {PROVINCE}.",
        "",
        "| step | seconds | |",
        "|---|---:|---|",
        f"| full build: the nine views from the NDJSON into their tables ({m.engine}) | {m.views_s:.1f} | timed |",
        f"| full build: the eight SQL aggregations | {m.sql_full_s:.1f} | timed |",
        *(
            [
                f"| the three check-up indicators (dashboard SQL over the store) at {m.sample_citizens:,} citizens "
                f"({m.sample_resources:,} resources imported in {m.sample_import_s:.0f} s) | "
                f"{m.checkup_sample_s:.1f} | timed on the sample; × {scale:.1f} = **{checkup_scaled:.1f} s** at "
                f"{m.citizens:,} (linear, not measured) |",
                f"| (one computation of the check-up dashboard at {m.sample_citizens:,}: the three providers "
                f"compute it once each) | {m.dashboard_once_s:.1f} | × {scale:.1f} = "
                f"{m.dashboard_once_s * scale:.1f} s |",
            ]
            if m.sample_citizens
            else ["| the three check-up indicators | – | not measured in this run (`--checkup-citizens 0`) |"]
        ),
        f"| **every indicator from raw resources** | **{full:.1f}** | views + aggregations"
        + (" + check-up (scaled) |" if m.sample_citizens else " (check-up not included) |"),
        f"| a day's new data: {m.day_resources:,} resources written by `FhirStore.load` | {m.day_load_s:.1f} | "
        "not counted (the day's writes) |",
        f"| incremental: refresh of the nine tables + the eight aggregations | {m.refresh_s:.1f} | timed |",
        f"| **every indicator from incrementally refreshed views** | **{inc:.1f}** | refresh + aggregations + "
        "check-up (scaled) |",
        "",
        "Views (full build):",
        "",
        "| view | rows | engine | seconds |",
        "|---|---:|---|---:|",
        *(f"| `{n}` | {rows:,} | {engine} | {s:.1f} |" for n, rows, engine, s in m.views),
        "",
        "Incremental refresh (resources re-evaluated per view, seconds):",
        "",
        "| view | resources changed | seconds |",
        "|---|---:|---:|",
        *(f"| `{n}` | {c:,} | {s:.2f} |" for n, c, s in m.refresh),
        "",
        "Each aggregation alone, after the refresh (seconds): "
        + ", ".join(f"`{k}` {v:.2f}" for k, v in m.per_indicator.items())
        + ".",
        "",
        f"Seeded bookkeeping (not timed): {', '.join(f'{k} {v:,}' for k, v in m.seeded.items())}.",
        "",
        "Indicator rows and totals after the refresh: "
        + "; ".join(
            f"`{k}` {m.indicator_rows[k]} rows, total {_fmt(m.indicator_totals[k])}" for k in m.indicator_rows
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.3f}" if isinstance(value, float) and value < 10 else f"{value:,.0f}"


async def verify(server: str, args: argparse.Namespace, data: Path) -> list[str]:
    """The full build's tables (NDJSON → views) against the store's own build (the same NDJSON imported
    with ``$import``, then ``ensure_views``): the same rows in every table; the differences, if any."""
    ensure_data(data, args.citizens, args.seed)
    tables: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    with scratch_database(server) as raw_url, scratch_database(server) as store_url:
        for label, url in (("raw", raw_url), ("store", store_url)):
            pool = create_pool(url, min_size=1, max_size=4)
            await pool.open(wait=True)
            try:
                store = FhirStore(pool)
                if label == "raw":
                    await build_views(pool, data, args.workers, args.engine)
                else:
                    blobs = [f.read_bytes() for f in sorted(data.glob("*.ndjson"))]
                    text = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs if b)
                    step = 1 << 20
                    report = await import_ndjson(
                        store,
                        chunk_lines("all.ndjson", [text[i : i + step] for i in range(0, len(text), step)]),
                    )
                    shutdown_workers()
                    assert report.committed, report.bad[:3]
                    await ensure_views(pool, VIEW_NAMES, param_ids=await store.param_ids())
                async with pool.connection() as conn:
                    for name in VIEW_NAMES:
                        cur = await conn.execute(f"SELECT t::text FROM analytics.{name} t ORDER BY 1")
                        tables.setdefault(name, {})[label] = await cur.fetchall()
            finally:
                await pool.close()
    problems = []
    for name, got in tables.items():
        if got["raw"] == got["store"]:
            print(f"{name}: {len(got['raw']):,} rows, identical")
        else:
            problems.append(
                f"{name}: {len(got['raw'])} rows from the NDJSON, {len(got['store'])} from the store"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--citizens", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--years", type=float, default=2.0, help="years the generator simulates (its default)"
    )
    parser.add_argument("--period", default="202511")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="full build's engine")
    parser.add_argument("--checkup-citizens", type=int, default=10_000)
    parser.add_argument("--day-resources", type=int, default=0, help="default: a day's volume at this size")
    parser.add_argument("--data", type=Path, default=None, help="where the NDJSON is kept (outside the repo)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--verify", action="store_true", help="only check that the full build equals the store's own build"
    )
    args = parser.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"senhealth-province-{args.citizens}-{args.seed}"
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    if args.verify:
        problems = asyncio.run(verify(server, args, data))
        print("\n".join(problems) or "every view: the same rows from the NDJSON as from the store")
        raise SystemExit(1 if problems else 0)
    with scratch_database(server) as url:
        measured = asyncio.run(run(url, args, data))
    text = report(measured, args)
    print(text)
    if not args.no_write:
        out = args.out or ROOT / "bench" / "results" / f"indicators_{args.citizens}.md"
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
