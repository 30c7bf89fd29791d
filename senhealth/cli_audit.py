"""``senhealth audit``: check the audit log and answer "who viewed my record" (Typer:
https://typer.tiangolo.com/, Rich progress: https://rich.readthedocs.io/en/stable/progress.html).

- ``senhealth audit verify``: recompute every hash chain of the audit log
  (:mod:`senhealth.security.audit_verify`); exit 0 when intact, 1 with the broken rows listed;
- ``senhealth audit who-viewed PATIENT_ID``: the accesses to one patient's record, newest first
  (:func:`senhealth.security.audit.accesses_to_patient`).

The database is ``--url``, else as for ``senhealth db`` (``SENHEALTH_DATABASE_URL`` or the embedded
PostgreSQL). Run alone as ``python -m senhealth.cli_audit``. Messages: Vietnamese first, then English.
Audit log design: ``docs/audit.md``; BALP: https://profiles.ihe.net/ITI/BALP/.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import orjson
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_db import _database
from senhealth.core.progress import progress_bar
from senhealth.security.audit import Access, accesses_to_patient
from senhealth.security.audit_verify import verify

__all__ = ["audit_app"]

audit_app = typer.Typer(
    name="audit",
    help="Nhật ký truy cập / the audit log: verify, who-viewed.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="PostgreSQL conninfo (default: as for `senhealth db`).")
]


@contextmanager
def _conninfo(url: str | None) -> Iterator[str]:
    if url:
        try:
            yield url
        except psycopg.OperationalError as e:
            err.print(f"[red]Lỗi / error:[/] không kết nối được / cannot connect: {str(e).strip()}")
            raise typer.Exit(2) from None
        return
    with _database() as conninfo:
        yield conninfo


@audit_app.command(name="verify")
def verify_command(
    url: UrlOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every hash chain of the audit log; exit 1 and list the broken rows if any."""
    with _conninfo(url) as conninfo, progress_bar(err, disable=not err.is_terminal) as progress:
        task = progress.add_task("Kiểm tra nhật ký / verifying the audit log", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            report = verify(conninfo, progress=advance)
        except psycopg.errors.UndefinedTable:
            err.print("[red]Lỗi / error:[/] chưa có nhật ký / no audit log: run `senhealth db migrate`")
            raise typer.Exit(2) from None
    if json_output:
        doc = {
            "ok": report.ok,
            "rows": report.rows,
            "chains": report.chains,
            "heads": [{"chain": h.chain, "pos": h.pos, "hash": h.hash.hex()} for h in report.heads],
            "breaks": [
                {"chain": b.chain, "pos": b.pos, "seq": b.seq, "reason": b.reason} for b in report.breaks
            ],
        }
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    for b in report.breaks:
        where = f"seq {b.seq}, pos {b.pos}" if b.seq is not None else "đầu chuỗi / head"
        err.print(f"[red]Chuỗi / chain {b.chain}[/]: {where}: {b.reason}")
    if report.ok:
        err.print(f"Nguyên vẹn / intact: {report.rows} bản ghi / rows in {report.chains} chuỗi / chains")
        return
    err.print(
        f"[red]Bị thay đổi / tampered:[/] {len(report.breaks)} chuỗi hỏng / broken chain(s) of "
        f"{report.chains}, {report.rows} bản ghi / rows read"
    )
    raise typer.Exit(1)


def _line(a: Access) -> list[str]:
    who = a.practitioner or a.principal or "ẩn danh / anonymous"
    if a.break_glass:
        who += f" [khẩn cấp / break-glass: {a.break_glass}]"
    return [
        a.when.isoformat(timespec="seconds"),
        who,
        ", ".join(a.roles),
        a.facility or "",
        a.action if a.outcome == "success" else f"{a.action} ({a.outcome})",
        a.resource or "",
    ]


@audit_app.command(name="who-viewed")
def who_viewed(
    patient_id: Annotated[str, typer.Argument(help="The Patient's id.")],
    url: UrlOption = None,
    limit: Annotated[int, typer.Option(help="How many accesses, newest first.")] = 50,
    before: Annotated[
        datetime | None, typer.Option(help="Only accesses before this time (to page back).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per access.")] = False,
) -> None:
    """List who accessed a patient's record: when, who, role, facility, what."""

    async def fetch(conninfo: str) -> list[Access]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await accesses_to_patient(conn, patient_id, limit=limit, before=before)

    with _conninfo(url) as conninfo:
        accesses = asyncio.run(fetch(conninfo))
    if not accesses:
        err.print(f"Không có truy cập nào / no accesses recorded for Patient/{patient_id}")
        return
    if json_output:
        for a in accesses:
            typer.echo(orjson.dumps(dataclasses.asdict(a)).decode())
        return
    if not out.is_terminal:  # a pipe or a file: one tab-separated line per access, nothing cut
        for a in accesses:
            typer.echo("\t".join(_line(a)))
        return
    table = Table(title=f"Ai đã xem hồ sơ / who viewed Patient/{patient_id}")
    for column in ("Thời điểm / when", "Ai / who", "Vai trò / roles", "Cơ sở / facility", "Việc / action",
                   "Tài nguyên / resource"):  # fmt: skip
        table.add_column(column)
    for a in accesses:
        table.add_row(*_line(a))
    out.print(table)


if __name__ == "__main__":  # pragma: no cover
    audit_app(prog_name="senhealth audit")
