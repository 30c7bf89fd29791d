"""``senhealth worker`` and ``senhealth jobs list|show``: run background jobs, see how they are doing.

Both use the database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, and
apply pending migrations first. The worker runs until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully:
no new job is taken, running ones finish. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_jobs import jobs_app, worker_command
    app.command("worker")(worker_command)
    app.add_typer(jobs_app, name="jobs")

- Typer: https://typer.tiangolo.com/ · Rich progress bars: https://rich.readthedocs.io/en/stable/progress.html
- procrastinate's worker: https://procrastinate.readthedocs.io/en/stable/howto/basics/worker.html
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

from senhealth.core.queue import STATUSES, JobInfo, QueueError

__all__ = ["app", "jobs_app", "worker_command"]

T = TypeVar("T")

out = Console()
err = Console(stderr=True)

jobs_app = typer.Typer(
    help="Việc chạy nền / background jobs: list them, show one.", no_args_is_help=True, add_completion=False
)
app = typer.Typer(
    help="Background jobs: the worker and the job list.", no_args_is_help=True, add_completion=False
)

_COLOURS = {"todo": "cyan", "doing": "yellow", "succeeded": "green", "failed": "red"}


def _with_database(work: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate

    with database_conninfo() as url:
        migrate(url)
        return asyncio.run(work(url))


async def _with_pool(url: str, work: Callable[[], Awaitable[T]]) -> T:
    from senhealth.core import db

    await db.open_pool(url, max_size=2)
    try:
        return await work()
    finally:
        await db.close_pool()


def worker_command(
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Only these queues (repeatable); default: all.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 1,
    name: Annotated[str | None, typer.Option(help="Name of this worker, shown in the logs.")] = None,
    task_module: Annotated[
        list[str] | None, typer.Option("--task-module", help="Also import this module's tasks (repeatable).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Stop when the queues are empty instead of waiting.")] = False,
) -> None:
    """Run background jobs until Ctrl-C / SIGTERM (then finish the running ones and stop)."""
    from senhealth.app import install_platform
    from senhealth.core.db import display_url
    from senhealth.jobs.worker import run_worker

    # the access policy and audit sink (exports run here are audited), the write hooks (writes made by
    # jobs notify subscribers), the platform's operations
    install_platform()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def work(url: str) -> None:
        err.print(f"Cơ sở dữ liệu / database: {display_url(url)}")
        err.print("Đang chạy việc nền / worker running (Ctrl-C để dừng / to stop)")
        await run_worker(
            conninfo=url,
            queues=queue or None,
            concurrency=concurrency,
            name=name,
            wait=not once,
            task_modules=task_module or (),
        )

    _with_database(work)
    err.print("Đã dừng / stopped")


def _bar(job: JobInfo) -> ProgressBar | str:
    p = job.progress
    if p is None:
        return ""
    if not p.total:
        return f"{p.done}"
    return ProgressBar(total=p.total, completed=min(p.done, p.total), width=30)


@jobs_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
) -> None:
    """List background jobs, newest first."""
    from senhealth.core.queue import list_jobs

    async def work(url: str) -> list[JobInfo]:
        return await _with_pool(url, lambda: list_jobs(status=status, task_name=task, limit=limit))

    try:
        found = _with_database(work)
    except QueueError as e:
        err.print(f"[red]{e.message}[/]")
        raise typer.Exit(2) from None
    if not found:
        err.print("Không có việc nào / no jobs")
        return
    table = Table()
    for header, no_wrap in [
        ("ID", True),
        ("Tác vụ / task", True),
        ("Hàng đợi / queue", False),
        ("Trạng thái / status", True),
        ("Lần / attempts", False),
        ("Tiến độ / progress", False),
    ]:
        table.add_column(header, no_wrap=no_wrap)
    for job in found:
        colour = _COLOURS.get(job.status, "white")
        table.add_row(
            str(job.id), job.task, job.queue, f"[{colour}]{job.status}[/]", str(job.attempts), _bar(job)
        )
    out.print(table)


@jobs_app.command("show")
def show_command(job_id: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Show one job: status, attempts, times and a progress bar."""
    from senhealth.core.queue import get_job

    async def work(url: str) -> JobInfo | None:
        return await _with_pool(url, lambda: get_job(job_id))

    job = _with_database(work) if 0 < job_id < 2**63 else None
    if job is None:
        err.print(f"[red]Không có việc này / no such job:[/] {job_id}")
        raise typer.Exit(1)
    table = Table.grid(padding=(0, 2))
    colour = _COLOURS.get(job.status, "white")
    rows: list[tuple[str, str]] = [
        ("ID", str(job.id)),
        ("Tác vụ / task", job.task),
        ("Hàng đợi / queue", job.queue),
        ("Trạng thái / status", f"[{colour}]{job.status}[/]"),
        ("Số lần chạy / attempts", str(job.attempts)),
        ("Tạo lúc / created", str(job.created_at or "")),
        ("Hẹn lúc / scheduled", str(job.scheduled_at or "")),
        ("Bắt đầu / started", str(job.started_at or "")),
        ("Kết thúc / finished", str(job.finished_at or "")),
    ]
    for label, value in rows:
        table.add_row(f"[bold]{label}[/]", value)
    if job.progress is not None:
        p = job.progress
        count = f"{p.done}/{p.total}" if p.total else str(p.done)
        table.add_row("[bold]Tiến độ / progress[/]", _bar(job))
        table.add_row("", f"{count}  {p.message}")
    out.print(table)


app.command("worker")(worker_command)
app.add_typer(jobs_app, name="jobs")
