"""``senhealth retention``: the retention of medical records (docs/retention.md).

- ``senhealth retention report [--as-of DATE] [--until-year YEAR] [--json]``: how many documents become
  destroyable in which year, by type and facility (:func:`senhealth.emr.retention.report.retention_report`);
- ``senhealth retention status COMPOSITION_ID [--as-of DATE]``: one document's rule, episode end, holds,
  and whether it may be destroyed;
- ``senhealth retention hold place TARGET --reason TEXT --by NAME`` (``Composition/<id>``,
  ``Encounter/<id>`` or ``Patient/<id>``), ``hold release HOLD_ID --reason TEXT --by NAME``,
  ``hold list [--target T] [--all]``; placing and releasing are audited;
- ``senhealth retention purge [COMPOSITION_ID...] --reason TEXT --by NAME [--as-of DATE] [--dry-run]
  [--queue]``: destroy the documents given (none: every document due); anything under retention,
  kept permanently or on hold is refused and listed (exit status 1 when something was refused). Runs
  here by default; ``--queue`` queues the task ``emr.retention_purge`` for ``senhealth worker``.

They use the database of ``SENHEALTH_DATABASE_URL`` or the embedded PostgreSQL, migrated first, and
record in the platform's audit log. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_retention import retention_app
    app.add_typer(retention_app, name="retention")

Typer: https://typer.tiangolo.com/ · Rich tables: https://rich.readthedocs.io/en/stable/tables.html
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import run_on_database

__all__ = ["hold_app", "retention_app"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

retention_app = typer.Typer(
    help="Lưu trữ hồ sơ bệnh án / retention: report, status, legal holds, purge.",
    no_args_is_help=True,
    add_completion=False,
)
hold_app = typer.Typer(
    help="Giữ hồ sơ theo yêu cầu pháp lý / legal holds: place, release, list.",
    no_args_is_help=True,
    add_completion=False,
)
retention_app.add_typer(hold_app, name="hold")

AsOf = Annotated[
    str | None, typer.Option("--as-of", help="The day to judge retention on (YYYY-MM-DD; default today).")
]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with the hold or in the audit log).")]
By = Annotated[str, typer.Option("--by", help="Who does it (a name or user name, recorded).")]


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]Lỗi / error:[/] ngày không hợp lệ / not a date (YYYY-MM-DD): {value!r}")
        raise typer.Exit(2) from None


def _zone() -> str:
    from senhealth.core.config import get_settings

    return get_settings().timezone


def _install_audit() -> None:
    from senhealth.fhir import access
    from senhealth.security.audit import PostgresAuditSink

    if access.audit_sink() is access.NO_AUDIT:
        access.install(sink=PostgresAuditSink())


def _principal(by: str) -> Any:
    from senhealth.fhir.access import Principal

    return Principal(kind="user", subject=by, roles=frozenset({"facility_admin"}), claims={"name": by})


@retention_app.command("report")
def report_command(
    as_of: AsOf = None,
    until_year: Annotated[
        int | None, typer.Option("--until-year", help="Leave out documents destroyable only after this year.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """How many documents become destroyable in which year, by type and facility."""
    from senhealth.core.db import get_pool
    from senhealth.emr.retention.report import retention_report
    from senhealth.fhir.store import FhirStore

    when, zone = _date(as_of), _zone()

    async def work() -> Any:
        return await retention_report(FhirStore(get_pool()), as_of=when, zone=zone, until_year=until_year)

    report = run_on_database(work)
    if json_output:
        out.print_json(json.dumps(report.as_json(), ensure_ascii=False))
        return
    table = Table(title=f"Báo cáo lưu trữ / retention report — {report.as_of}")
    for column in ("Năm / year", "Loại / type", "Cơ sở / facility", "Số / count", "Hết hạn / due"):
        table.add_column(column)
    for r in report.rows:
        table.add_row(str(r.year), r.doc_type, r.facility, str(r.count), "✓" if r.due else "")
    out.print(table)
    out.print(f"Tổng / total: {report.total} · hết hạn / destroyable now: {report.due}")
    if report.kept:
        out.print("Không được hủy / kept: " + ", ".join(f"{k}: {v}" for k, v in sorted(report.kept.items())))


@retention_app.command("status")
def status_command(composition_id: str, as_of: AsOf = None) -> None:
    """One document's retention: rule, episode end, holds, decision."""
    from senhealth.core.db import get_pool
    from senhealth.emr.retention.scan import retention_status
    from senhealth.fhir.store import FhirStore

    when, zone = _date(as_of) or datetime.now(UTC).date(), _zone()

    async def work() -> Any:
        return await retention_status(FhirStore(get_pool()), composition_id, zone=zone)

    status = run_on_database(work)
    if status is None:
        err.print(f"[red]Không có hồ sơ / no such document:[/] Composition/{composition_id}")
        raise typer.Exit(1)
    en, vi = status.explain(when)
    rule = status.classification.rule.key if status.classification else "-"
    out.print(f"Composition/{composition_id} · {status.doc_type or '?'} · {status.facility or '?'}")
    out.print(f"quy định / rule: {rule} · kết thúc đợt / episode end: {status.episode_end or '-'}")
    out.print(f"được hủy từ / destroyable from: {status.purgeable_from or '-'}")
    out.print(f"{status.decision(when)}: {vi} / {en}")


async def _audit_hold(conn: Any, hold: Any, by: str, event: str, when: datetime, reason: str) -> None:
    """The audit event of placing or releasing a legal hold, in the same transaction."""
    from senhealth.fhir.access import AccessEvent, audit_sink

    kind, _, ident = hold.target.partition("/")
    await audit_sink().record(
        conn,
        AccessEvent(
            when=when, principal=_principal(by), action="operation", res_type=kind, res_id=ident,
            query="retention-hold", patients=[ident] if kind == "Patient" else [],
            details={"event": event, "hold": hold.id, "reason": reason},
        ),
    )  # fmt: skip


@hold_app.command("place")
def hold_place_command(target: str, reason: Reason, by: By) -> None:
    """Place a legal hold on Composition/<id>, Encounter/<id> or Patient/<id>."""
    from senhealth.core.db import transaction
    from senhealth.emr.retention.hold import HoldError, place_hold

    _install_audit()

    async def work() -> Any:
        async with transaction() as conn:
            hold = await place_hold(conn, target, reason=reason, by=by)
            await _audit_hold(conn, hold, by, "legal-hold-placed", hold.placed_at, hold.reason)
            return hold

    try:
        hold = run_on_database(work)
    except HoldError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    out.print(f"Đã giữ / hold placed: #{hold.id} {hold.target} ({hold.reason})")


@hold_app.command("release")
def hold_release_command(hold_id: int, reason: Reason, by: By) -> None:
    """Release a legal hold."""
    from senhealth.core.db import transaction
    from senhealth.emr.retention.hold import HoldError, release_hold

    _install_audit()

    async def work() -> Any:
        async with transaction() as conn:
            hold = await release_hold(conn, hold_id, reason=reason, by=by)
            await _audit_hold(
                conn, hold, by, "legal-hold-released", hold.released_at or datetime.now(UTC), reason
            )
            return hold

    try:
        hold = run_on_database(work)
    except HoldError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    out.print(f"Đã bỏ giữ / hold released: #{hold.id} {hold.target}")


@hold_app.command("list")
def hold_list_command(
    target: Annotated[str | None, typer.Option("--target", help="Only the holds on this target.")] = None,
    include_released: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
) -> None:
    """The legal holds, newest first."""
    from senhealth.core.db import transaction
    from senhealth.emr.retention.hold import HoldError, list_holds

    async def work() -> Any:
        async with transaction() as conn:
            return await list_holds(conn, target=target, include_released=include_released)

    try:
        holds = run_on_database(work)
    except HoldError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    if not holds:
        out.print("Không có lệnh giữ / no holds")
    for h in holds:
        released = (
            f" · bỏ giữ / released {h.released_at:%Y-%m-%d} {h.released_by}: {h.release_reason}"
            if h.released_at
            else ""
        )
        out.print(f"#{h.id} {h.target} · {h.reason} · {h.placed_by} · {h.placed_at:%Y-%m-%d %H:%M}{released}")


@retention_app.command("purge")
def purge_command(
    compositions: Annotated[
        list[str] | None, typer.Argument(help="Composition ids (none: every document due).")
    ] = None,
    reason: Reason = "",
    by: By = "",
    as_of: AsOf = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be destroyed; destroy nothing.")
    ] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Queue the purge for the worker instead.")] = False,
) -> None:
    """Destroy documents whose retention has ended; refuse (and list) anything else."""
    from senhealth.core.db import get_pool
    from senhealth.core.queue import enqueue
    from senhealth.emr.retention.purge import PurgeError, purge
    from senhealth.emr.retention.tasks import TASK
    from senhealth.fhir.store import FhirStore

    if not reason.strip() or not by.strip():
        err.print("[red]Lỗi / error:[/] cần --reason và --by / --reason and --by are required")
        raise typer.Exit(2)
    when, zone = _date(as_of), _zone()
    if queue:
        args = {"reason": reason, "compositions": compositions or None, "dry_run": dry_run, "requested_by": by,
                "as_of": when.isoformat() if when else None, "zone": zone}  # fmt: skip

        async def enqueue_it() -> Any:
            return await enqueue(TASK, args)

        job_id = run_on_database(enqueue_it)
        out.print(f"Đã xếp hàng / queued: job {job_id} (senhealth jobs show {job_id})")
        return
    _install_audit()

    async def work() -> Any:
        return await purge(
            FhirStore(get_pool()), compositions or None, as_of=when, zone=zone, dry_run=dry_run,
            principal=_principal(by), reason=reason,
        )  # fmt: skip

    try:
        report = run_on_database(work)
    except PurgeError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    verb = "Sẽ hủy / would destroy" if dry_run else "Đã hủy / destroyed"
    for p in report.purged:
        out.print(
            f"{verb}: Composition/{p.composition} ({p.rule}, {p.years} năm/years, từ/from {p.purgeable_from})"
        )
    for r in report.refused:
        err.print(f"[yellow]Từ chối / refused:[/] Composition/{r.composition}: {r.reason_vi} / {r.reason}")
    out.print(json.dumps(report.summary(), ensure_ascii=False))
    if report.refused:
        raise typer.Exit(1)
