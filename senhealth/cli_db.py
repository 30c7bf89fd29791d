"""``senhealth db``: prepare, migrate and inspect the database (Typer: https://typer.tiangolo.com/).

- ``senhealth db init``: create the database (server) or the embedded cluster, then apply migrations;
- ``senhealth db migrate``: apply pending migrations;
- ``senhealth db status``: mode, URL (without password), applied and pending migrations;
- ``senhealth db start`` / ``stop``: keep the embedded server running between commands, or stop it.

With ``SENHEALTH_DATABASE_URL`` set, every command works on that server; without it, on the embedded
PostgreSQL, which a command starts for its own run (and stops after, unless it was already running).
Run alone as ``python -m senhealth.cli_db``. Messages: Vietnamese first, then English.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import psycopg
import typer
from rich.console import Console

from senhealth.core.config import get_settings
from senhealth.core.db import display_url, ensure_database
from senhealth.core.embedded_postgres import EmbeddedPostgresError, embedded_server
from senhealth.core.migrate import MigrationError, MigrationStatus, load_migrations, migrate, status

__all__ = ["db_app"]

db_app = typer.Typer(
    name="db",
    help="Cơ sở dữ liệu / the database: init, migrate, status, start, stop.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_HINT_SERVER = "kiểm tra / check SENHEALTH_DATABASE_URL, or unset it to use the embedded PostgreSQL"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]Lỗi / error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def _database(keep_running: bool = False) -> Iterator[str]:
    """The conninfo to work on: the server URL, or the embedded server (started for the block if needed)."""
    settings = get_settings()
    try:
        if settings.database_url:
            yield settings.database_url
            return
        server = embedded_server(settings)
        if keep_running:
            yield server.ensure_running()
            return
        with server.running() as conninfo:
            yield conninfo
    except EmbeddedPostgresError as e:
        raise _fail(f"PostgreSQL nhúng / embedded PostgreSQL: {e.message}") from None
    except MigrationError as e:
        raise _fail(e.message) from None
    except psycopg.OperationalError as e:
        where = display_url(settings.database_url) if settings.database_url else "embedded"
        hint = _HINT_SERVER if settings.database_url else "xem / see `senhealth db status`"
        if "does not exist" in str(e):
            hint = "tạo nó bằng / create it with `senhealth db init`"
        raise _fail(f"không kết nối được / cannot connect to {where}: {str(e).strip()}\n{hint}", 2) from None


def _report_applied(applied: list[Any]) -> None:
    if not applied:
        typer.echo("Không có migration mới: cơ sở dữ liệu đã cập nhật / nothing to apply: up to date")
        return
    typer.echo(f"Đã áp dụng {len(applied)} migration / applied {len(applied)} migration(s):")
    for m in applied:
        typer.echo(f"  {m.label}")


@db_app.command()
def init(
    run_migrations: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Also apply pending migrations.")
    ] = True,
    keep_running: Annotated[
        bool, typer.Option(help="Leave the embedded PostgreSQL running afterwards.")
    ] = False,
) -> None:
    """Create the database if missing (embedded: initdb and start), then apply the migrations."""
    settings = get_settings()
    if settings.database_url:
        try:
            created = ensure_database(settings.database_url)
        except psycopg.Error as e:
            raise _fail(
                f"không tạo được cơ sở dữ liệu / cannot create the database: {e}\n{_HINT_SERVER}", 2
            ) from None
        verb = "Đã tạo / created" if created else "Đã có sẵn / already exists:"
        typer.echo(f"{verb} {display_url(settings.database_url)}")
        message = ""
    else:
        server = embedded_server(settings)
        verb = "Đã có sẵn / already initialised:" if server.is_initialized() else "Đã khởi tạo / initialised"
        message = f"{verb} PostgreSQL nhúng / embedded PostgreSQL in {server.server_dir}"
    with _database(keep_running) as conninfo:
        if message:
            typer.echo(message)
        if run_migrations:
            _report_applied(migrate(conninfo))
    if keep_running and not settings.database_url:
        typer.echo("Đang chạy / running; dừng bằng / stop with: senhealth db stop")


@db_app.command(name="migrate")
def migrate_command() -> None:
    """Apply the pending migrations, in order, each in one transaction."""
    with _database() as conninfo:
        _report_applied(migrate(conninfo))


def _status_json(mode: str, url: str, state: MigrationStatus | None, pending: list[Any]) -> str:
    doc = {
        "mode": mode,
        "url": url,
        "initialized": state is not None,
        "applied": [
            {"version": a.version, "name": a.name, "checksum": a.checksum, "applied_at": a.applied_at}
            for a in (state.applied if state else [])
        ],
        "pending": [{"version": m.version, "name": m.name} for m in pending],
        "changed": [m.label for m in (state.changed if state else [])],
        "unknown": [a.label for a in (state.unknown if state else [])],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


@db_app.command(name="status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the mode (server or embedded), the URL without password, applied and pending migrations."""
    settings = get_settings()
    mode = "server" if settings.database_url else "embedded"
    state: MigrationStatus | None = None
    if settings.database_url:
        url = display_url(settings.database_url)
        with _database() as conninfo:
            state = status(conninfo)
        where = "máy chủ / server"
    else:
        server = embedded_server(settings)
        url = display_url(server.conninfo)
        where = f"nhúng / embedded, {server.server_dir}"
        if server.is_initialized():
            with _database() as conninfo:
                state = status(conninfo)
    pending = state.pending if state else load_migrations()
    if as_json:
        typer.echo(_status_json(mode, url, state, pending))
    else:
        typer.echo(f"Chế độ / mode: {where}")
        typer.echo(f"URL: {url}")
        if state is None:
            typer.echo("Chưa khởi tạo / not initialised: chạy / run `senhealth db init`")
        else:
            typer.echo(f"Đã áp dụng / applied: {len(state.applied)}")
            for a in state.applied:
                typer.echo(f"  {a.label}  {a.applied_at:%Y-%m-%d %H:%M:%S%z}")
        typer.echo(f"Chưa áp dụng / pending: {len(pending)}")
        for m in pending:
            typer.echo(f"  {m.label}")
        for m in state.changed if state else []:
            err.print(f"[red]Đã bị sửa sau khi áp dụng / changed after it was applied:[/] {m.label}")
        for a in state.unknown if state else []:
            err.print(f"[red]Không có tệp / unknown to this version:[/] {a.label}")
    if state and (state.changed or state.unknown):
        raise typer.Exit(1)


@db_app.command()
def start() -> None:
    """Start the embedded PostgreSQL and leave it running (initdb first if needed)."""
    if get_settings().database_url:
        typer.echo("SENHEALTH_DATABASE_URL đã đặt: không có gì để khởi động / is set: nothing to start")
        return
    with _database(keep_running=True) as conninfo:
        typer.echo(f"PostgreSQL nhúng đang chạy / embedded PostgreSQL running: {display_url(conninfo)}")
        typer.echo("Dừng bằng / stop with: senhealth db stop")


@db_app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL (fast shutdown: open sessions end, committed data stays)."""
    if get_settings().database_url:
        typer.echo("SENHEALTH_DATABASE_URL đã đặt: không có gì để dừng / is set: nothing to stop")
        return
    try:
        stopped = embedded_server().stop()
    except EmbeddedPostgresError as e:
        raise _fail(e.message) from None
    typer.echo("Đã dừng / stopped" if stopped else "Không chạy / was not running")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(db_app(prog_name="senhealth db"))
