"""``python -m bench.fhir_server``: the FHIR server benchmarks, written to ``bench/results/server.md``.

Examples::

    python -m bench.fhir_server                                  # ingest, reads and search mix at 200,000
    python -m bench.fhir_server --only load --resources 2000000 --keep-database     # prints the name
    python -m bench.fhir_server --only read,search --database senhealth_bench_province_1a2b3c4d --explain

Each run replaces, in the results file, the sections it measured (by heading) and keeps the others, so
the 2-million run can be added by hand to the default one. See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from bench.fhir_server import wrk
from bench.fhir_server.common import (
    RESULTS,
    ServerProcess,
    admin_url,
    bench_database,
    describe_machine,
    load_average,
    pg_description,
    server_description,
    table,
)
from bench.fhir_server.http_ingest import IngestRow, bulk_ingest, http_ingest
from bench.fhir_server.reads import ReadResult, read_benchmark
from bench.fhir_server.searchmix import (
    SHAPES,
    LoadStats,
    MixResult,
    describe_database,
    draw_queries,
    explain,
    load_province,
    resource_count,
    run_mix,
    warm_up,
)

INGEST_TARGET = 3000
READ_TARGET_RPS, READ_TARGET_P99 = 2000, 25.0
SEARCH_TARGET_P95 = 50.0
TITLE = "# FHIR server benchmarks"
INTRO = (
    "Written by `python -m bench.fhir_server` (see `docs/benchmarks.md`); each section says when, on "
    "what and how it was measured. Latencies are in milliseconds. *CPU per item* is the CPU time of the "
    "server's processes, of the benchmark database's PostgreSQL backends and of the client (this process "
    "and wrk) divided by the items; *CPU ceiling/s* = CPUs / that CPU per item: what the machine could "
    "give with nothing else running (derived, not measured)."
)


def _context(load: str, workers: int | None, url: str) -> list[str]:
    lines = [
        f"Measured {date.today().isoformat()}. Machine: {describe_machine()}.",
        f"{pg_description(url)}.",
    ]
    if workers is not None:
        lines.append(f"Server: {server_description(workers)}.")
    lines.append(f"Load average before the run: {load} (the machine is shared with other work).")
    return [" ".join(lines[:1]), "", *lines[1:]]


def ingest_section(rows: list[IngestRow], load: str, workers: int, url: str) -> list[str]:
    body = [
        (
            name,
            f"{r.resources:,}",
            f"{r.seconds:.1f}",
            f"**{r.rate:,.0f}**",
            f"{r.cpu.ceiling(r.resources):,.0f}",
            r.cpu.per(r.resources),
            r.cpu.busy(),
            note,
        )
        for r in rows
        for name, note in [(r.name, r.note)]
    ]
    best = max((r.rate for r in rows if r.name.startswith("HTTP")), default=0.0)
    verdict = "meets" if best >= INGEST_TARGET else "MISSES"
    return [
        "## Ingest over HTTP: the Synthea transaction bundles",
        "",
        *_context(load, workers, url),
        "",
        *table(
            [
                "ingest",
                "resources",
                "s",
                "resources/s",
                "CPU ceiling/s",
                "CPU per resource",
                "machine",
                "note",
            ],
            body,
            "lrrrrlll",
        ),
        "",
        f"HTTP ingest {verdict} the target of {INGEST_TARGET:,} resources/s (best HTTP pass: {best:,.0f}/s).",
    ]


def province_section(stats: LoadStats, load: str, url: str) -> list[str]:
    lines = [f"## Province database, {stats.resources:,} resources", "", *_context(load, None, url), ""]
    if stats.reused:
        lines.append(f"Reused database `{stats.reused}` (loaded by an earlier run).")
    else:
        cpu = stats.cpu.per(stats.resources) if stats.cpu else ""
        lines += [
            f"Loaded {stats.resources:,} resources ({stats.citizens:,} citizens and the care network, "
            f"seed 1) through the bulk path of `senhealth load` (`load_items`, in-process, batches of "
            f"1,000) in {stats.seconds:,.0f} s: **{stats.rate:,.0f} resources/s** including generation "
            f"({stats.generation_seconds:,.0f} s of it; "
            f"{stats.resources / max(1e-9, stats.seconds - stats.generation_seconds):,.0f}/s without). "
            f"CPU per resource: {cpu}. `VACUUM ANALYZE`: {stats.vacuum_seconds:,.0f} s.",
        ]
    lines += [
        "",
        f"Database size {stats.database_bytes / 2**30:,.1f} GiB; "
        + ", ".join(f"{t} {n:,}" for t, n in stats.counts[:10])
        + ".",
    ]
    return lines


def _reads(
    args: argparse.Namespace, server: ServerProcess, url: str, headers: dict[str, str] | None = None
) -> ReadResult:
    """The read benchmark with the command line's settings."""
    return read_benchmark(
        server,
        url,
        connections=args.read_connections,
        duration=args.read_duration,
        warmup=args.read_warmup,
        ids=args.read_ids,
        tool=args.client,
        headers=headers,
    )


def platform_reads(args: argparse.Namespace, url: str, resources: int, core_rps: float | None) -> list[str]:
    """The read benchmark on the platform's app (``senhealth.app:build_app``): bearer token checked on
    every request (a system client's ``system/*.rs`` token), the role policy asked, and an audit row
    written per read, against the FHIR core alone measured just before (issue 4: keep >= 75 %)."""
    import tempfile

    from senhealth.core.config import Settings
    from senhealth.core.migrate import migrate
    from senhealth.security.audit_verify import verify
    from senhealth.security.oauth.config import OAuthConfig
    from senhealth.security.oauth.tokens import TokenService

    migrate(url)
    with tempfile.TemporaryDirectory(prefix="senbench-platform-") as data_dir:
        cfg = OAuthConfig.from_settings(Settings(database_url=url, data_dir=Path(data_dir)))
        tokens = TokenService.from_config(cfg)
        token = tokens.mint(
            tokens.access_claims(client_id="bench", scope="system/*.rs", user=None, lifetime_s=3600)
        )
        env = {"SENHEALTH_DATA_DIR": data_dir, "SENHEALTH_AUTH_REQUIRED": "true"}
        rows_before = _audit_rows(url)
        with ServerProcess(url, workers=args.workers, app="senhealth.app:build_app", env=env) as server:
            load = load_average()
            print(f"reads with auth and audit (load average {load}) ...", file=sys.stderr)
            result = _reads(args, server, url, {"Authorization": f"Bearer {token}"})
    # The server has stopped: its buffered read records are written (the app drains them at shutdown).
    written = _audit_rows(url) - rows_before
    started = time.perf_counter()
    report = verify(url)
    checked = time.perf_counter() - started
    lines = read_section(
        result, resources, load, args.workers, url, ", with sign-in, access policy and audit"
    )
    lines += [
        "",
        f"Audit rows written during the run, warm-up included: {written:,} (measured reads: "
        f"{result.requests:,}). `senhealth audit verify` of the whole log afterwards: "
        f"{'intact' if report.ok else f'BROKEN ({len(report.breaks)} chains)'}, {report.rows:,} rows "
        f"in {checked:.1f} s.",
    ]
    if core_rps:
        share = result.rps / core_rps
        lines += [
            "",
            f"Against the FHIR core alone measured just before ({core_rps:,.0f} requests/s): **{share:.0%}** "
            f"of its throughput ({'meets' if share >= 0.75 else 'MISSES'} the target of 75 %).",
        ]
    return lines


def _audit_rows(url: str) -> int:
    """Rows in the audit log (the chains' heads count them)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(pos), 0) FROM audit_chain").fetchone()
    return int(row[0]) if row else 0


def read_section(
    r: ReadResult, resources: int, load: str, workers: int, url: str, title: str = ""
) -> list[str]:
    ok = r.rps >= READ_TARGET_RPS and r.p99_ms < READ_TARGET_P99 and r.errors == 0
    return [
        f"## Read by id, {resources:,} resources{title}",
        "",
        *_context(load, workers, url),
        "",
        f"`GET /fhir/{{type}}/{{id}}` over {sum(n for _, n in r.types):,} ids drawn at random: "
        + ", ".join(f"{t} {n:,}" for t, n in r.types)
        + f". Driver: {r.tool}; {r.seconds:.0f} s measured after a warm-up.",
        "",
        *table(
            [
                "requests",
                "requests/s",
                "p50",
                "p90",
                "p99",
                "max",
                "errors",
                "CPU ceiling/s",
                "CPU per request",
                "machine",
            ],
            [
                (
                    f"{r.requests:,}",
                    f"**{r.rps:,.0f}**",
                    f"{r.p50_ms:.1f}",
                    f"{r.p90_ms:.1f}",
                    f"**{r.p99_ms:.1f}**",
                    f"{r.max_ms:.0f}",
                    f"{r.errors:,}",
                    f"{r.cpu.ceiling(r.requests):,.0f}",
                    r.cpu.per(r.requests),
                    r.cpu.busy(),
                )
            ],
            "rrrrrrrrll",
        ),
        "",
        f"Reads {'meet' if ok else 'MISS'} the target of {READ_TARGET_RPS:,} requests/s with p99 < "
        f"{READ_TARGET_P99:.0f} ms.",
    ]


def search_section(mixes: list[MixResult], resources: int, load: str, workers: int, url: str) -> list[str]:
    header = ["shape", "mean matches (page of 20)"]
    for m in mixes:
        header += [f"c={m.concurrency} p50", f"c={m.concurrency} p95"]
    header += ["errors"]
    rows = []
    shapes = [s.shape for s in mixes[0].shapes]
    for i, shape in enumerate(shapes):
        stats = [m.shapes[i] for m in mixes]
        row: list[str] = [f"`{shape}`", f"{stats[0].mean_total:,.1f}"]
        for s in stats:
            row += [f"{s.p50_ms:.1f}", f"**{s.p95_ms:.1f}**"]
        row.append(str(sum(s.errors for s in stats)))
        rows.append(row)
    worst = max((s.p95_ms for m in mixes for s in m.shapes), default=0.0)
    worst_c1 = max((s.p95_ms for m in mixes if m.concurrency == 1 for s in m.shapes), default=worst)
    examples = [f"- `{s.shape}`: `{s.slowest.path}`" for s in mixes[0].shapes if s.slowest is not None]
    subset = (
        ""
        if set(shapes) == set(SHAPES)
        else f" ({len(shapes)} shapes: without {', '.join(sorted(set(SHAPES) - set(shapes)))})"
    )
    return [
        f"## Search mix{subset}, {resources:,} resources",
        "",
        *_context(load, workers, url),
        "",
        f"{mixes[0].shapes[0].queries} queries of each shape per concurrency level, parameters drawn "
        "from the data, shuffled together; first pages (`_count` 20, the default total: none beyond the page). Latency from the "
        "client (Python asyncio, keep-alive).",
        "",
        *table(header, rows, "l" + "r" * (len(header) - 1)),
        "",
        *table(
            ["concurrency", "queries", "queries/s", "CPU ceiling/s", "CPU per query", "machine"],
            [
                (
                    m.concurrency,
                    f"{m.queries:,}",
                    f"{m.qps:,.0f}",
                    f"{m.cpu.ceiling(m.queries):,.0f}",
                    m.cpu.per(m.queries),
                    m.cpu.busy(),
                )
                for m in mixes
            ],
            "rrrrll",
        ),
        "",
        f"Worst p95: {worst:.1f} ms (concurrency 1: {worst_c1:.1f} ms); target p95 < "
        f"{SEARCH_TARGET_P95:.0f} ms at 2 million resources.",
        "",
        "The slowest query of each shape (concurrency 1):",
        "",
        *examples,
    ]


def merge(path: Path, sections: list[list[str]]) -> str:
    """The results file with ``sections`` replacing those of the same heading (others kept)."""
    existing: list[tuple[str, list[str]]] = []
    if path.exists():
        current: list[str] | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                current = [line]
                existing.append((line, current))
            elif current is not None:
                current.append(line)
    new = {s[0]: s for s in sections}
    out = [TITLE, "", INTRO, ""]
    done: set[str] = set()
    for heading, lines in existing:
        chosen = new.get(heading, lines)
        done.add(heading)
        out += [*_trim(chosen), ""]
    for s in sections:
        if s[0] not in done:
            out += [*_trim(s), ""]
    return "\n".join(out).rstrip() + "\n"


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description="Sen Health FHIR server benchmarks (loopback HTTP)")
    ap.add_argument(
        "--only",
        default="ingest,read,search",
        help="comma list of ingest, read, search, platform (reads with sign-in, policy and audit); "
        "load: only load the province (with --keep-database)",
    )
    ap.add_argument("--resources", type=int, default=200_000, help="province size for read and search")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes for reads and searches")
    ap.add_argument(
        "--ingest-workers",
        type=int,
        default=4,
        help="uvicorn worker processes for the ingest (two per core: a worker validating a Bundle holds its core)",
    )
    ap.add_argument("--ingest-concurrency", type=int, default=8)
    ap.add_argument("--skip-bulk", action="store_true", help="ingest: leave out the bulk-path comparison")
    ap.add_argument("--read-connections", type=int, default=32)
    ap.add_argument("--read-duration", type=float, default=20)
    ap.add_argument("--read-warmup", type=float, default=5)
    ap.add_argument("--read-ids", type=int, default=10_000)
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto", help="read driver")
    ap.add_argument("--queries", type=int, default=200, help="search: queries per shape and level")
    ap.add_argument("--search-concurrency", default="1,8")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="search: comma list of shapes to run")
    ap.add_argument("--database", help="reuse this (loaded) database for read and search")
    ap.add_argument("--keep-database", action="store_true", help="keep the province database")
    ap.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest query per shape")
    ap.add_argument("--out", type=Path, default=RESULTS / "server.md")
    args = ap.parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - {"ingest", "load", "read", "search", "platform"}
    if unknown:
        ap.error(f"--only: unknown {', '.join(sorted(unknown))}")
    odd = {x.strip() for x in args.shapes.split(",") if x.strip()} - set(SHAPES)
    if odd:
        ap.error(f"--shapes: unknown {', '.join(sorted(odd))}; known: {', '.join(SHAPES)}")
    if "read" in parts and args.client in ("auto", "wrk") and not wrk.available():
        msg = "wrk not found (apt-get install -y wrk): reads use the Python client"
        if args.client == "wrk":
            ap.error(msg)
        print(msg, file=sys.stderr)
    sections: list[list[str]] = []

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(merge(args.out, sections), encoding="utf-8")

    if "ingest" in parts:
        load = load_average()
        print(f"ingest over HTTP (load average {load}) ...", file=sys.stderr)
        rows = http_ingest(args.ingest_workers, args.ingest_concurrency)
        if not args.skip_bulk:
            rows.append(bulk_ingest())
        sections.append(ingest_section(rows, load, args.ingest_workers, admin_url()))
        print("\n".join(sections[-1]))
        save()

    if parts & {"load", "read", "search", "platform"}:
        with bench_database("province", reuse=args.database, keep=args.keep_database) as url:
            load = load_average()
            stats = LoadStats()
            if args.database and resource_count(url) > 0:
                stats.reused = args.database
                describe_database(url, stats)
            else:
                print(f"loading {args.resources:,} province resources (load {load}) ...", file=sys.stderr)
                stats = load_province(url, args.resources)
            if stats.reused:  # keep the section of the run that loaded it (with its load rate)
                print("\n".join(province_section(stats, load, url)))
            else:
                sections.append(province_section(stats, load, url))
                print("\n".join(sections[-1]))
                save()
            if not parts & {"read", "search", "platform"}:
                return
            core_rps: float | None = None
            with ServerProcess(url, workers=args.workers) as server:
                if "read" in parts:
                    load = load_average()
                    print(f"reads (load average {load}) ...", file=sys.stderr)
                    result = _reads(args, server, url)
                    sections.append(read_section(result, stats.resources, load, args.workers, url))
                    print("\n".join(sections[-1]))
                    save()
                    core_rps = result.rps
                if "platform" in parts:
                    sections.append(platform_reads(args, url, stats.resources, core_rps))
                    print("\n".join(sections[-1]))
                    save()
                if "search" in parts:
                    load = load_average()
                    print(f"search mix (load average {load}) ...", file=sys.stderr)
                    levels = [int(c) for c in args.search_concurrency.split(",") if c.strip()]
                    wanted = [x.strip() for x in args.shapes.split(",") if x.strip()]
                    drawn = {
                        k: v
                        for k, v in draw_queries(url, args.queries * len(levels) + 10).items()
                        if k in wanted
                    }
                    warm_up(server, {s: q[:10] for s, q in drawn.items()})
                    mixes = []
                    for i, level in enumerate(levels):
                        start = 10 + i * args.queries
                        chosen = {s: q[start : start + args.queries] for s, q in drawn.items()}
                        mixes.append(run_mix(server, url, chosen, level))
                    sections.append(search_section(mixes, stats.resources, load, args.workers, url))
                    print("\n".join(sections[-1]))
                    save()
                    if args.explain:
                        for shape_stats in mixes[0].shapes:
                            if shape_stats.slowest is not None:
                                print(explain(url, shape_stats.slowest))
                                print()


if __name__ == "__main__":
    main()
