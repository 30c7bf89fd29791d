"""``senhealth bulk export|import|status``: Bulk Data from the command line, straight on the database.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (the files and the manifest an export writes; here
the manifest's ``url`` are the file names, ``requiresAccessToken`` false) and the import proposal
https://github.com/smart-on-fhir/bulk-import. The same code as ``$export`` / ``$import``
(:mod:`senhealth.analytics.bulk_export`, :mod:`senhealth.fhir.store.bulk_import`), run in this process,
without the job queue and without the access policy: the command line is the operator's, who holds the
database's credentials (``SENHEALTH_DATABASE_URL``, or the embedded PostgreSQL). Typer:
https://typer.tiangolo.com/ · Rich progress bars: https://rich.readthedocs.io/en/stable/progress.html

Wiring in ``senhealth/cli.py``::

    from senhealth.cli_bulk import bulk_app
    app.add_typer(bulk_app, name="bulk")

Examples::

    senhealth bulk export out/ --type Patient --type Observation --since 2025-01-01T00:00:00Z
    senhealth bulk export out/ --patients --type-filter "Observation?code=8480-6"
    senhealth bulk import out/ --defer-indexes          # every *.ndjson of the directory, all or nothing
    senhealth bulk status
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from senhealth.cli_database import run_on_database

__all__ = ["bulk_app"]

T = TypeVar("T")
out = Console()
err = Console(stderr=True)

bulk_app = typer.Typer(
    help="Bulk Data: xuất / export NDJSON, nhập / import NDJSON (tất cả hoặc không / all or nothing), trạng thái / status.",
    no_args_is_help=True,
    add_completion=False,
)


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` with the process's pool on the configured (or embedded) database, migrated."""
    return run_on_database(work)


@bulk_app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(help="Thư mục ghi tệp / directory for the NDJSON files.")],
    type_: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Only these resource types (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only resources changed after this instant (_since).")
    ] = None,
    type_filter: Annotated[
        list[str] | None,
        typer.Option("--type-filter", help="A search such as 'Observation?code=8480-6' (repeatable)."),
    ] = None,
    elements: Annotated[str | None, typer.Option(help="Only these top-level elements (_elements).")] = None,
    patients: Annotated[
        bool, typer.Option("--patients", help="Patient level: resources in patients' compartments.")
    ] = False,
    group: Annotated[
        str | None, typer.Option(help="Group level: the compartments of this Group's members.")
    ] = None,
    patient: Annotated[
        list[str] | None, typer.Option(help="Only these Patient ids (Patient or Group level).")
    ] = None,
    file_resources: Annotated[int, typer.Option(min=1, help="Resources per NDJSON file.")] = 100_000,
) -> None:
    """Export the store (or some of it) as NDJSON files and a manifest.json, from one snapshot."""
    from senhealth.analytics.bulk_export import export_to_directory
    from senhealth.analytics.bulk_export_request import ExportLevel, parse_export
    from senhealth.fhir.operations.registry import OperationError
    from senhealth.fhir.store import FhirStore

    level: ExportLevel = "group" if group else "patient" if patients or patient else "system"
    params: dict[str, list[Any]] = {}
    if type_:
        params["_type"] = list(type_)
    if since:
        params["_since"] = [since]
    if type_filter:
        params["_typeFilter"] = list(type_filter)
    if elements:
        params["_elements"] = [elements]
    if patient:
        params["patient"] = [{"reference": f"Patient/{p.removeprefix('Patient/')}"} for p in patient]
    try:
        request = parse_export(level, group, params, method="POST", is_lenient=False)
    except OperationError as e:
        err.print(f"[red]{e.expression or 'export'}:[/] {e.message}")
        raise typer.Exit(2) from None
    directory.mkdir(parents=True, exist_ok=True)

    async def work() -> Any:
        with Progress(
            TextColumn("{task.description}"), console=err, transient=True, disable=not err.is_terminal
        ) as bar:
            task = bar.add_task("Xuất / exporting", total=None)

            async def progress(done: int, rtype: str) -> None:
                bar.update(task, description=f"Xuất / exporting: {done} ({rtype})")

            return await export_to_directory(
                FhirStore(), request, directory, file_resources=file_resources, progress=progress
            )

    try:
        result = _run(work)
    except OperationError as e:
        err.print(f"[red]{e.message}[/]")
        raise typer.Exit(1) from None
    manifest = {
        "transactionTime": result.transaction_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request": f"senhealth bulk export ({level})",
        "requiresAccessToken": False,
        "output": [{"type": f["type"], "url": f["name"], "count": f["count"]} for f in result.files],
        "error": [{"type": f["type"], "url": f["name"], "count": f["count"]} for f in result.errors],
    }
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    err.print(
        f"Đã xuất / exported {result.total} resources in {len(result.files)} files to {directory} "
        f"({result.seconds:.1f} s); transactionTime {manifest['transactionTime']}"
    )


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.suffix == ".ndjson" and p.name != "errors.ndjson")
            )
        else:
            found.append(path)
    return found


@bulk_app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="NDJSON files, or directories of *.ndjson files.")],
    defer_indexes: Annotated[
        bool,
        typer.Option("--defer-indexes", help="First load into an empty store: build the indexes at the end."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Render processes (default: one per CPU; 0: none).")
    ] = None,
    max_errors: Annotated[int, typer.Option(min=1, help="Stop after this many bad lines.")] = 100,
) -> None:
    """Import NDJSON: every line validated and indexed, all in one transaction (one bad line: nothing)."""
    from senhealth.fhir.store import FhirStore
    from senhealth.fhir.store.bulk_import import (
        Chunk,
        ImportReport,
        chunk_lines,
        import_ndjson,
        shutdown_workers,
    )

    files = _files(paths)
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        err.print(f"[red]Không tìm thấy tệp / no such file:[/] {', '.join(missing) or 'no *.ndjson'}")
        raise typer.Exit(2)
    total = sum(f.stat().st_size for f in files)

    async def work() -> ImportReport:
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("Nhập / importing", total=total)

            async def chunks() -> AsyncIterator[Chunk]:
                done = 0
                for path in files:

                    def blocks(p: Path = path) -> Any:
                        with open(p, "rb") as f:
                            while block := f.read(1 << 20):
                                yield block

                    async for chunk in chunk_lines(path.name, blocks()):
                        bar.update(task, completed=done + chunk.offset)
                        yield chunk
                    done += path.stat().st_size

            try:
                return await import_ndjson(
                    FhirStore(), chunks(), defer_indexes=defer_indexes, workers=workers, max_errors=max_errors
                )
            finally:
                shutdown_workers()

    try:
        report = _run(work)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    if not report.committed:
        for bad in report.bad[:20]:
            for issue in bad.outcome.get("issue", []):
                where = ", ".join(issue.get("expression", []))
                err.print(f"[red]{issue.get('diagnostics')}[/]" + (f" ({where})" if where else ""))
        more = len(report.bad) - 20
        err.print(
            f"[red]Không nhập gì / nothing imported:[/] {len(report.bad)}{'+' if report.truncated else ''} bad line(s)"
            + (f", {more} more not shown" if more > 0 else "")
        )
        raise typer.Exit(1)
    rate = report.per_second
    err.print(
        f"Đã nhập / imported: {report.created} mới / created, {report.updated} cập nhật / updated, "
        f"{report.unchanged} không đổi / unchanged; {report.index_rows} index rows; {report.seconds:.1f} s "
        f"({rate:,.0f} resources/s)"
        + (f", indexes built in {report.index_seconds:.1f} s" if defer_indexes else "")
    )


@bulk_app.command("status")
def status_command(
    job: Annotated[str | None, typer.Argument(help="A job id: show it in full (JSON).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs listed.")] = 20,
) -> None:
    """The newest $export / $import jobs, or one job."""
    from senhealth.analytics.bulk_jobs import BulkJob, get_job, list_jobs

    if job is not None:
        found: BulkJob | None = _run(lambda: get_job(job))
        if found is None:
            err.print(f"[red]Không có việc này / no such job:[/] {job}")
            raise typer.Exit(1)
        data = {
            "id": found.id,
            "kind": found.kind,
            "status": found.status,
            "requester": found.requester,
            "request": found.request,
            "transactionTime": found.transaction_time.isoformat() if found.transaction_time else None,
            "output": found.output,
            "errors": found.errors,
            "summary": found.summary,
            "outcome": found.outcome,
            "directory": found.directory,
            "createdAt": found.created_at.isoformat(),
            "finishedAt": found.finished_at.isoformat() if found.finished_at else None,
            "expiresAt": found.expires_at.isoformat() if found.expires_at else None,
        }
        out.print_json(orjson.dumps(data).decode())
        return
    jobs = _run(lambda: list_jobs(limit))
    table = Table("id", "kind", "status", "requester", "created", "files", "summary")
    for j in jobs:
        table.add_row(
            j.id,
            j.kind,
            j.status,
            j.requester or "-",
            f"{j.created_at:%Y-%m-%d %H:%M:%S}",
            str(len(j.output)),
            ", ".join(f"{k}={v}" for k, v in list(j.summary.items())[:4]),
        )
    out.print(table)
