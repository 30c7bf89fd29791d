"""The mixed load test: ``python -m bench.load --citizens N --users 4,8,16,32,64 --step 60``.

1. A province of ``--citizens`` (``senhealth.demo.write_province``, NDJSON) is imported into a fresh
   database on the local PostgreSQL with ``$import`` (:func:`senhealth.fhir.store.bulk_import.import_ndjson`),
   then ``VACUUM ANALYZE``.
2. The platform's server (``senhealth.app:build_app``, what ``senhealth serve --workers N`` runs: sign-in
   required, the role policy, an audit row per access) starts on a loopback port
   (:class:`bench.fhir_server.common.ServerProcess`).
3. Bearer tokens are minted with the server's own keys: a system client (``system/*.cruds``) for the
   clinical work and a provincial officer for the indicator reports.
4. ``locust`` runs ``bench/load/locustfile.py`` headless at each user count for ``--step`` seconds (after
   a warm-up request of each kind), one step after the other on the same database: the writes of a step
   stay for the next. Throughput (requests/s), p50 / p95 / p99 and failures come from locust's CSV.
5. The knee: the last step with no failures and a p95 within ``--p95-limit`` (500 ms: a clinician's
   screen that still feels immediate), when a later step went past it; the table marks it. The errors of
   failed requests are listed (locust's ``_failures.csv``).

Locust, the server and PostgreSQL share this machine's cores: the load generator's CPU is counted against
the server (said in the results). Prints a Markdown report and writes ``bench/results/load_mixed.md``.
Needs ``locust`` (``pip install locust``; a bench dependency, not the platform's).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg

from bench.__main__ import machine
from bench.fhir_server.common import ServerProcess, load_average, pg_description
from bench.ingest import DEFAULT_SERVER, scratch_database
from senhealth.core.config import Settings
from senhealth.core.db import create_pool
from senhealth.demo import Options, write_province
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.bulk_import import chunk_lines, import_ndjson, shutdown_workers
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService
from senhealth.security.oauth.users import UserInfo

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass
class Step:
    users: int
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    per_name: list[dict[str, str]]
    load: str
    errors: list[str]


async def _import(url: str, directory: Path) -> tuple[int, float]:
    pool = create_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        blobs = [p.read_bytes() for p in sorted(directory.glob("*.ndjson"))]
        data = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blobs if b)
        t0 = time.perf_counter()
        report = await import_ndjson(
            FhirStore(pool),
            chunk_lines("province.ndjson", [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]),
        )
        if not report.committed:
            raise RuntimeError(f"import failed: {report.bad[:3]}")
        return report.created, time.perf_counter() - t0
    finally:
        await pool.close()
        shutdown_workers()


def _data_file(directory: Path, tokens: TokenService, out: Path, period: str, report_weight: int) -> None:
    patients = []
    for line in (directory / "Patient.ndjson").read_bytes().splitlines()[:3000]:
        p = orjson.loads(line)
        name = p["name"][0]
        cccd = next((i["value"] for i in p.get("identifier", []) if i["system"].endswith("/cccd")), "")
        patients.append(
            {
                "id": p["id"],
                "family": name["family"],
                "given": name["given"][-1],
                "birth": p["birthDate"],
                "cccd": cccd,
            }
        )
    orgs = [orjson.loads(x) for x in (directory / "Organization.ndjson").read_bytes().splitlines()]
    org = next(o["id"] for o in orgs if o.get("identifier"))
    practitioner = orjson.loads((directory / "Practitioner.ndjson").read_bytes().splitlines()[0])["id"]
    clinical = tokens.mint(
        tokens.access_claims(client_id="load-his", scope="system/*.cruds", user=None, lifetime_s=86400)
    )
    officer = UserInfo(id="load-officer", username="so.yte.load", roles=frozenset({"provincial_officer"}))
    report = tokens.mint(
        tokens.access_claims(client_id="load-web", scope="openid user/*.rs", user=officer, lifetime_s=86400)
    )
    out.write_text(
        json.dumps(
            {
                "patients": patients,
                "organization": org,
                "practitioner": practitioner,
                "clinical_token": clinical,
                "report_token": report,
                "period": period,
                "province": "24",
                "report_weight": report_weight,
            }
        ),
        encoding="utf-8",
    )


def _run_step(base: str, data: Path, users: int, seconds: int, work: Path) -> Step:
    prefix = work / f"u{users}"
    load = load_average()
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
        "-r", str(max(1, users // 2)), "--run-time", f"{seconds}s", "--host", base, "--csv", str(prefix),
        "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "SENHEALTH_LOAD_DATA": str(data)}
    subprocess.run(cmd, env=env, cwd=ROOT, check=False, capture_output=True, timeout=seconds + 120)
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    errors = []
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with failures.open(encoding="utf-8") as f:
            errors = [f"{r['Occurrences']} × {r['Name']}: {r['Error'][:120]}" for r in csv.DictReader(f)]
    return Step(
        users,
        int(total["Request Count"]),
        int(total["Failure Count"]),
        float(total["Requests/s"]),
        float(total["50%"]),
        float(total["95%"]),
        float(total["99%"]),
        [r for r in rows if r["Name"] != "Aggregated"],
        load,
        errors,
    )


def _warm(base: str, data: Path) -> None:
    """One request of each kind before measuring (first compilations, the report's views built)."""
    d = json.loads(data.read_text(encoding="utf-8"))
    pid = d["patients"][0]["id"]
    for path, token in (
        (f"/fhir/Patient/{pid}", d["clinical_token"]),
        (f"/fhir/Patient/{pid}/$everything?_count=100", d["clinical_token"]),
        (f"/api/indicators?period={d['period']}&province=24", d["report_token"]),
    ):
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=600) as answer:
            answer.read()


def knee(steps: list[Step], p95_limit: float) -> int | None:
    """Index of the knee: the last step with no failures and p95 within ``p95_limit`` ms, provided a later
    step exceeded it (else None: the limit was never passed)."""
    within = [i for i, s in enumerate(steps) if s.failures == 0 and s.p95 <= p95_limit]
    if not within or within[-1] == len(steps) - 1:
        return None
    return within[-1]


def report(args: argparse.Namespace, steps: list[Step], resources: int, import_s: float, url: str) -> str:
    k = knee(steps, args.p95_limit)
    best = k if k is not None else len(steps) - 1
    peak = max(steps, key=lambda s: s.rps)
    lines = [
        "# Mixed load test (bench/load)",
        "",
        f"Date {datetime.now(UTC):%Y-%m-%d}. Machine: {machine()}; {pg_description(url)}.",
        f"Province: {args.citizens:,} citizens, {resources:,} resources imported with `$import` in {import_s:.0f} s.",
        f"Server: `senhealth.app:build_app` (sign-in, role policy, audit per access), {args.workers} uvicorn",
        "workers; locust in one process on the same machine (its CPU competes with the server's).",
        f"Each step {args.step} s, think time 0.5–2 s per user; workload: bench/load/locustfile.py.",
        "",
        "| users | requests | requests/s | p50 ms | p95 ms | p99 ms | failures | load average before |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, s in enumerate(steps):
        mark = " **knee**" if i == k else ""
        lines.append(
            f"| {s.users}{mark} | {s.requests:,} | {s.rps:.1f} | {s.p50:.0f} | {s.p95:.0f} | {s.p99:.0f} | "
            f"{s.failures} | {s.load} |"
        )
    at = steps[best]
    errors = [f"- {s.users} users: {e}" for s in steps for e in s.errors]
    lines += [
        "",
        f"Knee (the last step with p95 ≤ {args.p95_limit:.0f} ms and no failures; the next one passed it): "
        + (
            f"**{at.users} users, {at.rps:.1f} requests/s, p50 {at.p50:.0f} ms, p95 {at.p95:.0f} ms**."
            if k is not None
            else f"not reached; at {at.users} users {at.rps:.1f} requests/s, p95 {at.p95:.0f} ms."
        )
        + f" Highest throughput: {peak.rps:.1f} requests/s at {peak.users} users (p95 {peak.p95:.0f} ms).",
        f"Indicator reports in the mix: weight {args.report_weight} of {98 + args.report_weight}.",
        *(["", "Failed requests:", "", *errors] if errors else []),
        "",
        f"Per request kind at {at.users} users:",
        "",
        "| request | count | p50 ms | p95 ms | failures |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['Type']} {r['Name']} | {int(r['Request Count']):,} | {float(r['50%']):.0f} | "
            f"{float(r['95%']):.0f} | {r['Failure Count']} |"
            for r in sorted(at.per_name, key=lambda r: r["Name"])
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--citizens", type=int, default=5000)
    parser.add_argument("--users", default="4,8,16,32,64")
    parser.add_argument("--step", type=int, default=60, help="seconds per user count")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--period", default="202511")
    parser.add_argument("--p95-limit", type=float, default=500.0, help="ms: the knee's latency bound")
    parser.add_argument(
        "--report-weight",
        type=int,
        default=2,
        help="weight of the indicator report among 100 tasks (0: none)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load_mixed.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    server_url = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    users = [int(u) for u in args.users.split(",")]
    with tempfile.TemporaryDirectory(prefix="senhealth-load-") as tmp, scratch_database(server_url) as url:
        work = Path(tmp)
        province = work / "province"
        write_province(province, Options(args.citizens, 1), fmt="ndjson")
        resources, import_s = asyncio.run(_import(url, province))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        data_dir = work / "data"
        data_dir.mkdir()
        tokens = TokenService.from_config(
            OAuthConfig.from_settings(Settings(database_url=url, data_dir=data_dir))
        )
        data = work / "load.json"
        _data_file(province, tokens, data, args.period, args.report_weight)
        env = {"SENHEALTH_DATA_DIR": str(data_dir), "SENHEALTH_AUTH_REQUIRED": "true"}
        steps: list[Step] = []
        with ServerProcess(url, workers=args.workers, app="senhealth.app:build_app", env=env) as server:
            _warm(server.base, data)
            for u in users:
                print(f"{u} users ...", file=sys.stderr)
                steps.append(_run_step(server.base, data, u, args.step, work))
                print(
                    f"  {steps[-1].rps:.1f} req/s p95 {steps[-1].p95:.0f} ms failures {steps[-1].failures}",
                    file=sys.stderr,
                )
    text = report(args, steps, resources, import_s, server_url)
    print(text)
    if not args.no_write:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
