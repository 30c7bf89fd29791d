"""``senhealth reports``: the Ministry's form 14/BCT, the indicator library, DHIS2 exports, from the data.

Docs: docs/reports-14bct.md, docs/indicators.md, docs/dhis2.md.

- ``senhealth reports 14bct --year Y --month M [--province CODE] [--format json|csv|xlsx|pdf] [--output FILE]``:
  form 14/BCT of the month (default province: the one of most facilities in the store); to FILE, else
  JSON and CSV to standard output (XLSX and PDF need ``--output``);
- ``senhealth reports indicators --period YYYYMM [--province CODE] [--indicator ID]...``: the library as JSON;
- ``senhealth reports dhis2-export --period YYYYMM --org-unit CODE [--data-set CODE] [--approved-only]``:
  a DHIS2 ``dataValueSets`` JSON.

The commands use the database of ``SENHEALTH_DATABASE_URL`` (or the embedded PostgreSQL), migrated first;
they are an operator's commands (no access restriction). Wiring in ``senhealth/cli.py``::

    from senhealth.cli_reports import reports_app
    app.add_typer(reports_app, name="reports")

- Typer: https://typer.tiangolo.com/
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from senhealth.cli_database import run_command

__all__ = ["app", "reports_app"]

err = Console(stderr=True)

reports_app = typer.Typer(
    help="Báo cáo và chỉ số / reports and indicators: 14/BCT, the indicator library, DHIS2.",
    no_args_is_help=True,
    add_completion=False,
)
app = reports_app

FormatOption = Annotated[str, typer.Option("--format", "-f", help="json | csv | xlsx | pdf")]


def _emit(body: bytes, output: Path | None) -> None:
    if output is not None:
        output.write_bytes(body)
        err.print(f"[green]{output}[/] ({len(body):,} bytes)")
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()


async def _province(given: str | None) -> str:
    from senhealth.analytics.reports.bct14 import default_province
    from senhealth.core.db import get_pool

    if given is not None:
        if len(given) != 2 or not given.isdigit():
            err.print("[red]--province: mã tỉnh gồm 2 chữ số / a 2-digit province code[/]")
            raise typer.Exit(2)
        return given
    found = await default_province(get_pool())
    if found is None:
        err.print("[red]không có cơ sở y tế nào trong kho / no facility in the store: give --province[/]")
        raise typer.Exit(1)
    return found


@reports_app.command("14bct")
def bct14(
    year: Annotated[int, typer.Option("--year", "-y", min=1900, max=9998)],
    month: Annotated[int, typer.Option("--month", "-m", min=1, max=12)],
    province: Annotated[str | None, typer.Option("--province", "-p", help="2-digit province code")] = None,
    fmt: FormatOption = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Biểu 14/BCT: bệnh tật, tử vong theo chương ICD-10 / form 14/BCT: morbidity and mortality by ICD-10 chapter."""
    from senhealth.analytics.reports import FORMATS, render, report_14bct

    if fmt not in FORMATS:
        err.print(f"[red]--format: one of {', '.join(FORMATS)}[/]")
        raise typer.Exit(2)
    if fmt in ("xlsx", "pdf") and output is None:
        err.print(f"[red]--format {fmt} cần --output FILE / needs --output FILE[/]")
        raise typer.Exit(2)

    async def work() -> bytes:
        from senhealth.core.db import get_pool
        from senhealth.fhir.store import FhirStore

        store = FhirStore(get_pool())
        code = await _province(province)
        report = await report_14bct(store.pool, year, month, code, param_ids=await store.param_ids())
        return render(report, fmt)

    _emit(run_command(work), output)


@reports_app.command("indicators")
def indicators(
    period: Annotated[str, typer.Option("--period", help="DHIS2 period: YYYYMM, YYYYQn or YYYY")],
    province: Annotated[str | None, typer.Option("--province", "-p")] = None,
    indicator: Annotated[list[str] | None, typer.Option("--indicator", "-i", help="only these ids")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Thư viện chỉ số / the indicator library for a period and a province, as JSON."""
    from senhealth.analytics.indicators import compute_indicators, parse_period
    from senhealth.api.reports import checkup_providers

    try:
        per = parse_period(period)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None

    async def work() -> bytes:
        from senhealth.core.db import get_pool
        from senhealth.fhir.store import FhirStore

        store = FhirStore(get_pool())
        code = await _province(province)
        results = await compute_indicators(
            store.pool,
            per,
            code,
            param_ids=await store.param_ids(),
            providers=checkup_providers(store),
            only=indicator,
        )
        return orjson.dumps(
            {"period": per.id, "province": code, "indicators": [r.to_json() for r in results]},
            option=orjson.OPT_INDENT_2,
        )

    _emit(run_command(work), output)


@reports_app.command("dhis2-export")
def dhis2_export(
    period: Annotated[str, typer.Option("--period", help="YYYYMM")],
    org_unit: Annotated[str, typer.Option("--org-unit", help="facility code, or a 2-digit province code")],
    data_set_code: Annotated[str | None, typer.Option("--data-set")] = None,
    approved_only: Annotated[bool, typer.Option("--approved-only")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """DHIS2 dataValueSets JSON (idScheme=CODE) of the stored aggregate forms."""
    from senhealth.analytics.dhis2 import data_set, data_value_sets
    from senhealth.analytics.indicators import parse_period

    try:
        per = parse_period(period)
        sets = [data_set(data_set_code)] if data_set_code else None
    except (ValueError, KeyError) as e:
        err.print(f"[red]{str(e).strip(chr(39))}[/]")
        raise typer.Exit(2) from None

    async def work() -> bytes:
        from senhealth.core.db import get_pool
        from senhealth.fhir.store import FhirStore

        body = await data_value_sets(
            FhirStore(get_pool()), per, org_unit, sets=sets, approved_only=approved_only
        )
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)

    _emit(run_command(work), output)
