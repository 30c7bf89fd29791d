"""``senhealth views``: run SQL-on-FHIR v2 views over the store, materialise and refresh them, list them.

Spec: https://sql-on-fhir.org/ig/latest/ ; what each command does: docs/analytics.md.

- ``senhealth views run VIEW [--format csv|json|ndjson|parquet] [--output FILE] [--limit N]
  [--patient ID]... [--since INSTANT] [--no-header]``: the view's rows over the whole store (no access
  restriction: an operator's command), streamed to FILE or standard output;
- ``senhealth views materialise VIEW (--table NAME [--schema analytics] | --parquet DIR)``: build a
  PostgreSQL table or a Parquet directory from the view; a stored view is followed by later refreshes;
- ``senhealth views refresh [TARGET] [--queue]``: apply the changes since the last run to TARGET
  (``postgres:<schema>.<table>`` or ``parquet:<dir>``, as ``list`` shows them) or to every target;
  ``--queue`` leaves it to the worker (job ``analytics.refresh_view``);
- ``senhealth views list``: stored views and materialised targets;
- ``senhealth views drop TARGET``: forget a target and remove its table or files.

``VIEW`` is a ViewDefinition JSON file, or the id or canonical URL of a stored view. The commands use the
database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, and apply pending
migrations first. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_views import views_app
    app.add_typer(views_app, name="views")

- Typer: https://typer.tiangolo.com/ · Rich: https://rich.readthedocs.io/en/stable/
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import with_database as _with_database
from senhealth.cli_database import with_pool as _with_pool

__all__ = ["app", "views_app"]


out = Console()
err = Console(stderr=True)

views_app = typer.Typer(
    help="Khung nhìn SQL-on-FHIR / SQL-on-FHIR views: run, materialise, refresh.",
    no_args_is_help=True,
    add_completion=False,
)
app = views_app


async def _view(spec: str) -> tuple[dict[str, Any], str | None]:
    """The view a command names: a JSON file, else a stored view by id or canonical URL."""
    from senhealth.analytics.view_store import ViewNotFound, find_view, get_view
    from senhealth.core.db import get_pool
    from senhealth.fhir.json import parse

    path = Path(spec)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            view = parse(path.read_bytes())
        except (OSError, ValueError) as e:
            raise typer.BadParameter(f"{spec}: {e}") from None
        if not isinstance(view, dict):
            raise typer.BadParameter(f"{spec}: not a JSON object")
        return view, None
    async with get_pool().connection() as conn:
        try:
            stored = await get_view(conn, spec) if "/" not in spec else await find_view(conn, spec)
        except ViewNotFound:
            stored = await find_view(conn, spec)
    return stored.content, stored.id


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]")
    return typer.Exit(1)


@views_app.command("run")
def run_command(
    view: Annotated[str, typer.Argument(help="A ViewDefinition JSON file, or a stored view's id or URL.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, json, ndjson or parquet.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    patient: Annotated[list[str] | None, typer.Option(help="Only these patients' data (repeatable).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only resources updated at or after (ISO instant).")
    ] = None,
    header: Annotated[bool, typer.Option("--header/--no-header", help="CSV header row.")] = True,
) -> None:
    """Run a view over the store and write its rows."""
    from senhealth.analytics.view_run import ViewRun
    from senhealth.analytics.view_source import Source
    from senhealth.analytics.view_store import ViewNotFound, view_problems
    from senhealth.analytics.viewdef import ViewDefinitionError, compile_view
    from senhealth.analytics.viewdef.formats import normalise_format
    from senhealth.core.db import get_pool
    from senhealth.fhir.store import FhirStore

    chosen = normalise_format(fmt)
    if chosen is None:
        raise typer.BadParameter(
            f"unknown format {fmt!r}: csv, json, ndjson or parquet", param_hint="--format"
        )
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"{since!r} is not an ISO instant", param_hint="--since") from None

    async def work(url: str) -> int:
        async def running() -> int:
            definition, _ = await _view(view)
            problems = view_problems(definition)
            if problems:
                raise _fail("; ".join(f"{p}: {m}" for p, m in problems))
            store = FhirStore(get_pool())
            source = Source(since=when, patients=tuple(patient) if patient else None)
            run = ViewRun(
                compile_view(definition),
                chosen,
                header=header,
                limit=limit,
                source=source,
                pool=store.pool,
                param_ids=await store.param_ids(),
            )
            sink: IO[bytes] = output.open("wb") if output is not None else sys.stdout.buffer
            try:
                sink.write(await run.start())
                async for chunk in run.rest():
                    sink.write(chunk)
            finally:
                if output is not None:
                    sink.close()
                else:
                    sink.flush()
            return run.rows

        return await _with_pool(url, running)

    try:
        rows = _with_database(work)
    except (ViewDefinitionError, ViewNotFound) as e:
        raise _fail(str(e)) from None
    err.print(f"{rows} dòng / rows")


@views_app.command("materialise")
def materialise_command(
    view: Annotated[str, typer.Argument(help="A ViewDefinition JSON file, or a stored view's id or URL.")],
    table: Annotated[str | None, typer.Option(help="PostgreSQL table (default: the view's name).")] = None,
    schema: Annotated[str, typer.Option(help="PostgreSQL schema of the table.")] = "analytics",
    parquet: Annotated[
        Path | None, typer.Option(help="A directory of Parquet files instead of a table.")
    ] = None,
) -> None:
    """Build a table (or Parquet directory) of the view's rows; refresh it later with ``refresh``."""
    from senhealth.analytics.materialise import (
        MaterialiseError,
        MaterialiseReport,
        materialise,
        parquet_target,
        postgres_target,
    )
    from senhealth.analytics.view_store import ViewNotFound
    from senhealth.analytics.viewdef import ViewDefinitionError
    from senhealth.core.db import get_pool
    from senhealth.fhir.store import FhirStore

    async def work(url: str) -> MaterialiseReport:
        async def building() -> MaterialiseReport:
            definition, view_id = await _view(view)
            if parquet is not None:
                target = parquet_target(parquet)
            else:
                name = table or definition.get("name")
                if not isinstance(name, str) or not name:
                    raise MaterialiseError("the view has no name: give --table")
                target = postgres_target(schema=schema, table=name)
            store = FhirStore(get_pool())
            return await materialise(
                store.pool,
                target,
                view=None if view_id else definition,
                view_id=view_id,
                param_ids=await store.param_ids(),
            )

        return await _with_pool(url, building)

    try:
        report = _with_database(work)
    except (MaterialiseError, ViewDefinitionError, ViewNotFound) as e:
        raise _fail(str(e)) from None
    out.print(report.summary())


@views_app.command("refresh")
def refresh_command(
    target: Annotated[
        str | None, typer.Argument(help="postgres:<schema>.<table> or parquet:<dir>; default all.")
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue the job for the worker instead.")] = False,
) -> None:
    """Apply the changes since the last run to one target, or to all."""
    from senhealth.analytics.materialise import (
        MaterialiseError,
        MaterialiseReport,
        Target,
        refresh,
        refresh_all,
    )
    from senhealth.analytics.tasks import TASK
    from senhealth.analytics.viewdef import ViewDefinitionError
    from senhealth.core.db import get_pool
    from senhealth.core.queue import enqueue
    from senhealth.fhir.store import FhirStore

    if queue:

        async def queued(url: str) -> int:
            return await _with_pool(url, lambda: enqueue(TASK, {"target": target} if target else {}))

        job_id = _with_database(queued)
        out.print(f"Đã xếp hàng / queued: job {job_id} (senhealth jobs show {job_id})")
        return

    async def work(url: str) -> list[MaterialiseReport]:
        async def refreshing() -> list[MaterialiseReport]:
            store = FhirStore(get_pool())
            ids = await store.param_ids()
            if target:
                return [await refresh(store.pool, Target.parse(target), param_ids=ids)]
            return await refresh_all(store.pool, param_ids=ids)

        return await _with_pool(url, refreshing)

    try:
        reports = _with_database(work)
    except (MaterialiseError, ViewDefinitionError) as e:
        raise _fail(str(e)) from None
    for r in reports:
        out.print(r.summary())
    if not reports:
        out.print("Chưa có khung nhìn nào được cụ thể hoá / nothing materialised yet")


@views_app.command("list")
def list_command() -> None:
    """Stored views and materialised targets."""
    from senhealth.analytics.materialise import list_materialisations
    from senhealth.analytics.view_store import StoredView, list_views
    from senhealth.core.db import get_pool

    async def work(url: str) -> tuple[list[StoredView], list[dict[str, Any]]]:
        async def listing() -> tuple[list[StoredView], list[dict[str, Any]]]:
            pool = get_pool()
            async with pool.connection() as conn:
                views = await list_views(conn, limit=1000)
            return views, await list_materialisations(pool)

        return await _with_pool(url, listing)

    views, targets = _with_database(work)
    table = Table("id", "name", "resource", "version", "url", title="Khung nhìn / views")
    for v in views:
        c = v.content
        table.add_row(
            v.id, str(c.get("name") or ""), str(c.get("resource")), str(v.version), str(c.get("url") or "")
        )
    out.print(table)
    mats = Table("target", "view", "rows", "position", "refreshed", title="Cụ thể hoá / materialised")
    for m in targets:
        mats.add_row(
            m["id"],
            str(m["name"] or m["view_id"] or ""),
            str(m["rows"]),
            str(m["position"]),
            m["refreshed_at"].strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(mats)


@views_app.command("drop")
def drop_command(
    target: Annotated[str, typer.Argument(help="postgres:<schema>.<table> or parquet:<dir>.")],
) -> None:
    """Forget a materialised target and remove its table or files."""
    from senhealth.analytics.materialise import MaterialiseError, Target, drop_materialisation
    from senhealth.core.db import get_pool

    async def work(url: str) -> bool:
        return await _with_pool(url, lambda: drop_materialisation(get_pool(), Target.parse(target)))

    try:
        dropped = _with_database(work)
    except MaterialiseError as e:
        raise _fail(str(e)) from None
    if not dropped:
        raise _fail(f"{target} is not materialised")
    out.print(f"Đã xoá / dropped {target}")
