"""``senhealth demo``: the synthetic showcase of the platform.

- ``senhealth demo``: the embedded database, a synthetic province of 2,000 citizens, the server at
  http://127.0.0.1:8000 (``--no-serve`` to load and exit);
- ``senhealth demo tour``: a short tour of the FHIR core on a bundled synthetic patient;
- ``senhealth demo generate --citizens N --seed S --out DIR``: a synthetic province as FHIR transaction
  bundles or NDJSON (see ``docs/demo.md`` and :mod:`senhealth.demo.generator`).

Synthetic data only: every person, facility and record these commands produce or show is invented.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from senhealth.core.json import dumps

EXAMPLES = Path(__file__).resolve().parent / "examples"
err = Console(stderr=True)

demo_app = typer.Typer(
    help="The platform on synthetic data. With no sub-command: database, a synthetic province, the server.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _example(name: str) -> Any:
    return orjson.loads((EXAMPLES / name).read_bytes())


def _dumps(value: Any) -> str:
    return dumps(value, pretty=False)


@demo_app.callback()
def demo(
    ctx: typer.Context,
    citizens: Annotated[
        int, typer.Option("--citizens", "-n", min=0, help="Citizens of the province.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the province.")] = 1,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve: Annotated[
        bool, typer.Option(help="Serve the API after loading (--no-serve: load and exit).")
    ] = True,
) -> None:
    """The platform on its own database with a synthetic province, served at http://127.0.0.1:8000.

    Uses SENHEALTH_DATABASE_URL, or else the embedded PostgreSQL; applies the migrations; loads a
    synthetic province (once per citizens and seed); serves the FHIR API at /fhir and its docs at /docs.
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    import psycopg

    from senhealth.cli_server import load_items, serve_command
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate
    from senhealth.core.progress import progress_bar
    from senhealth.demo.generator import generate_province

    marker = {"citizens": citizens, "seed": seed}
    _demo_environment()
    with database_conninfo() as url:
        migrate(url)
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT value FROM platform_info WHERE key = 'demo_province'").fetchone()
        if row is not None and row[0] == marker:
            err.print(
                f"Tỉnh mẫu đã có / synthetic province already loaded ({citizens} citizens, seed {seed})"
            )
        else:
            with progress_bar(err) as progress:
                task = progress.add_task(
                    f"Nạp tỉnh mẫu / loading a province of {citizens}", total=citizens + 1
                )
                counts = asyncio.run(
                    load_items(url, generate_province(citizens, seed), advance=lambda: progress.advance(task))
                )
            with psycopg.connect(url) as conn:
                conn.execute(
                    "INSERT INTO platform_info (key, value) VALUES ('demo_province', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                    (orjson.dumps(marker).decode(),),
                )
            err.print(f"Đã nạp / loaded: {counts['created'] + counts['updated']} tài nguyên / resources")
        _show_accounts(url, host, port)
        if serve:
            with _background_worker(url):
                serve_command(host=host, port=port)


@contextmanager
def _background_worker(url: str) -> Iterator[None]:
    """``senhealth worker`` beside the demo server: Bulk Data exports, subscription deliveries and view
    refreshes are background jobs, and a demo without a worker would leave them waiting. Its log goes to
    ``<data_dir>/demo-worker.log``."""
    import os
    import subprocess
    import sys

    from senhealth.core.config import get_settings

    log_path = get_settings().data_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-c", "from senhealth.cli import app; app()", "worker"],
            env={**os.environ, "SENHEALTH_DATABASE_URL": url},
            stdout=log,
            stderr=log,
        )
        err.print(f"Việc nền / background jobs: senhealth worker (log: {log_path})")
        try:
            yield
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _show_accounts(url: str, host: str, port: int) -> None:
    """Create the demo's sign-in accounts and print them with the web addresses."""
    import asyncio

    from senhealth.checkup.forms import install_forms
    from senhealth.core import db
    from senhealth.core.config import get_settings
    from senhealth.demo.accounts import DEMO_PASSWORD, ensure_demo_accounts
    from senhealth.demo.signing import ensure_demo_signing
    from senhealth.fhir.store import FhirStore
    from senhealth.security.accounts import get_user

    async def create() -> tuple[list[Any], list[str]]:
        await db.open_pool(url, max_size=2)
        try:
            made = await ensure_demo_accounts(url)
            doctor = await get_user("bs.demo")
            hospital = (doctor.facility or "").removeprefix("Organization/") if doctor is not None else ""
            where = next((a.where for a in made if a.username == "bs.demo"), "")
            issued = await ensure_demo_signing(
                get_settings(),
                hospital=hospital or None,
                hospital_name=where,
                base_url=f"http://{host}:{port}",
            )
            await install_forms(FhirStore(db.get_pool()))  # the check-up Questionnaires (idempotent)
            return made, issued
        finally:
            await db.close_pool()

    made, issued = asyncio.run(create())
    if issued:
        err.print(f"Chứng thư ký số mẫu / demo signing certificates: {', '.join(issued)}")
    err.print(
        f"Ứng dụng web / web application: http://{host}:{port}/app  ·  cổng người dân / portal: /portal"
    )
    err.print(f"Tài khoản mẫu / demo accounts (mật khẩu / password: {DEMO_PASSWORD}):")
    for account in made:
        err.print(f"  {account.username:<15} {account.role:<23} {account.where}")


def _demo_environment() -> None:
    """Settings that make the demo usable on one machine: this machine is the facility network (staff
    sign in without a second factor; administrators still need one), and the notifiable diseases of the
    synthetic province (dengue, hand-foot-and-mouth disease, measles, influenza) are those public-health
    officers follow. Only where the environment does not set them already."""
    import os

    from senhealth.core.config import get_settings

    os.environ.setdefault("SENHEALTH_FACILITY_NETWORKS", '["127.0.0.0/8", "::1/128"]')
    os.environ.setdefault("SENHEALTH_NOTIFIABLE_ICD10", '["A90", "A91", "A97", "B08.4", "B05", "J09", "J10"]')
    get_settings.cache_clear()


@demo_app.command()
def tour() -> None:
    """A short tour on a synthetic patient: FHIRPath, validation and search indexing (no database)."""
    from senhealth.fhir.fhirpath import evaluate
    from senhealth.fhir.search.extract import extract_to_json
    from senhealth.fhir.validation import validate

    out = Console()
    patient = _example("patient-vn.json")
    broken = _example("patient-vn-broken.json")
    out.rule("Sen Health · FHIRPath")
    for expr in (
        "Patient.name.where(use = 'official').text",
        "Patient.identifier.where(system = 'https://senhealth.vn/fhir/sid/cccd').value",
        "Patient.birthDate <= today() - 18 years",
        "Patient.address.first().district",
    ):
        out.print(f"[bold]{expr}[/] → {_dumps(evaluate(patient, expr))}")
    out.rule("Kiểm tra dữ liệu / validation")
    out.print("patient-vn.json:", _dumps(validate(patient)))
    out.print("patient-vn-broken.json:")
    out.print(_dumps(validate(broken)))
    out.rule("Chỉ mục tìm kiếm / search index")
    idx = extract_to_json(patient)
    out.print(_dumps({k: idx[k] for k in list(idx)[:6]}))


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value}") from None


@demo_app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into (created if missing).")],
    citizens: Annotated[int, typer.Option("--citizens", "-n", min=0, help="How many citizens.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes.")] = 1,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="bundle: one transaction Bundle per citizen; ndjson: Bulk Data."),
    ] = "bundle",
    province: Annotated[
        str,
        typer.Option(help="2025 province code (2 digits), e.g. 24 Bắc Ninh, 01 Hà Nội, 79 TP Hồ Chí Minh."),
    ] = "24",
    as_of: Annotated[
        str, typer.Option("--as-of", help="The generator's 'today' (YYYY-MM-DD).")
    ] = "2025-12-31",
    years: Annotated[float, typer.Option(min=0.1, max=20, help="Years of care before --as-of.")] = 2.0,
    epidemic_scale: Annotated[
        float, typer.Option(min=0.0, help="Multiplies dengue and hand-foot-and-mouth incidence.")
    ] = 1.0,
    force: Annotated[
        bool, typer.Option(help="Write into a non-empty directory (replacing earlier output).")
    ] = False,
) -> None:
    """Generate a synthetic province (synthetic data only): citizens, facilities and their care as FHIR R4."""
    from senhealth.core.progress import progress_bar
    from senhealth.demo.context import Options
    from senhealth.demo.geography import load_province, province_codes
    from senhealth.demo.writers import FORMATS, clear_output, write_province

    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    code = province.zfill(2)
    if code not in province_codes():
        raise typer.BadParameter(
            f"unknown 2025 province code {province!r}; known: {', '.join(province_codes())}"
        )
    if out.exists() and any(out.iterdir()):
        if not force:
            err.print(f"[red]Thư mục không trống / directory not empty:[/] {out} (use --force)")
            raise typer.Exit(2)
        clear_output(out)
    options = Options(citizens, seed, code, _as_of(as_of), years, epidemic_scale)
    started = time.perf_counter()
    with progress_bar(err) as progress:
        task = progress.add_task(f"Tạo dữ liệu / generating {load_province(code).name}", total=citizens)
        summary = write_province(out, options, fmt, lambda n: progress.advance(task, n))
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.resources.items()))
    err.print(
        f"{summary.citizens:,} công dân / citizens, {summary.total:,} tài nguyên / resources "
        f"in {summary.files:,} files → {out} ({elapsed:.1f} s)"
    )
    err.print(counts)
