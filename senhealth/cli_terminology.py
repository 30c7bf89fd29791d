"""``senhealth terminology``: the code systems the platform ships, and loading the next ICD-10 edition.

- ``senhealth terminology editions``: the ICD-10 editions known, with their validity dates (the one in
  force on a date answers ``$lookup`` / ``$expand`` for that date: docs/terminology.md);
- ``senhealth terminology load-icd10 CSV --edition "TT 06/2026/TT-BYT" --valid-from 2026-07-01``:
  package a new edition of the Ministry's list (same CSV layout as Decision 4469/2020's annex) so that
  the next start loads it too;
- ``senhealth terminology lookup SYSTEM CODE``: a code's display in Vietnamese and English (what
  ``CodeSystem/$lookup`` answers).

Terminology services: https://hl7.org/fhir/R4/terminology-service.html
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["terminology_app"]

terminology_app = typer.Typer(
    help="Danh mục mã / terminology: ICD-10 editions, code look-up.", no_args_is_help=True
)
_out = Console()


@terminology_app.command("editions")
def editions() -> None:
    """The ICD-10 editions of the Ministry of Health known to this installation.

    "used today": the edition answering for today's date (the one in force, or the only one loaded when
    none is: then CodeSystem.version says so).
    """
    from senhealth.fhir.terminology.icd10_editions import edition_on, editions

    current = edition_on(date.today())
    table = Table("version", "edition", "valid from", "valid to", "used today")
    for e in editions():
        table.add_row(
            e.version,
            e.title,
            e.valid_from.isoformat(),
            e.valid_to.isoformat() if e.valid_to else "",
            "✓" if current is not None and e.version == current.version else "",
        )
    _out.print(table)


@terminology_app.command("load-icd10")
def load_icd10(
    csv_path: Annotated[Path, typer.Argument(help="The edition as CSV (Decision 4469/2020's layout).")],
    edition: Annotated[str, typer.Option(help='Its title, e.g. "TT 06/2026/TT-BYT".')],
    valid_from: Annotated[str, typer.Option(help="The day it comes into force (YYYY-MM-DD).")],
    version: Annotated[str | None, typer.Option(help="CodeSystem.version (default: from the title).")] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Where to write the packaged edition (default: the package's data).")
    ] = None,
) -> None:
    """Package the next ICD-10 edition; the platform chooses the edition by date after the next start."""
    from senhealth.fhir.terminology.icd10_editions import load_icd10_edition

    try:
        start = date.fromisoformat(valid_from)
    except ValueError:
        raise typer.BadParameter(
            f"{valid_from!r} is not a date (YYYY-MM-DD)", param_hint="--valid-from"
        ) from None
    if not csv_path.is_file():
        raise typer.BadParameter(f"{csv_path} is not a file", param_hint="CSV_PATH")
    try:
        e = load_icd10_edition(csv_path, edition=edition, valid_from=start, version=version, out_dir=out_dir)
    except ValueError as err:
        _out.print(f"[red]Không nạp được / not loaded:[/red] {err}")
        raise typer.Exit(1) from None
    codes = len(e.document.get("codes", []))
    _out.print(f"ICD-10 {e.version} ({e.title}), từ / from {e.valid_from}: {codes:,} mã / codes → {e.file}")


@terminology_app.command("lookup")
def lookup(
    system: Annotated[str, typer.Argument(help="Code system URL, e.g. http://hl7.org/fhir/sid/icd-10.")],
    code: Annotated[str, typer.Argument(help="The code, e.g. A90.")],
) -> None:
    """A code's display in Vietnamese and English."""
    from senhealth.fhir.terminology.registry import code_system

    cs = code_system(system)
    if cs is None:
        _out.print(f"[red]Không biết hệ mã / unknown code system:[/red] {system}")
        raise typer.Exit(1)
    concept = cs.find(code)
    if concept is None:
        _out.print(f"[red]Không có mã / no such code:[/red] {code} in {system}")
        raise typer.Exit(1)
    _out.print(f"{concept.code}\t{cs.display(code, 'vi') or ''}\t{cs.display(code, 'en') or ''}")
