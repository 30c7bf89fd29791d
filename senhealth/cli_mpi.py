"""``senhealth mpi``: the master patient index's batch de-duplication and its review queue.

- ``senhealth mpi dedup [--full] [--wait]``: queue the de-duplication job (task ``mpi.deduplicate``,
  run by ``senhealth worker``; follow it with ``senhealth jobs show ID``), or with ``--wait`` run it
  here with a progress bar. Without ``--full`` only the records whose identifying data changed since
  the last run are acted on (docs/mpi.md, "The de-duplication job");
- ``senhealth mpi review list [--limit N] [--after ID]``: the open pairs, oldest first;
- ``senhealth mpi review decide PAIR_ID linked|distinct --by USER [--survivor ID] [--note TEXT]``:
  record a verdict; ``linked`` also merges the two records (``Patient.link``,
  https://hl7.org/fhir/R4/patient.html#links) in the same transaction, into ``--survivor`` or the
  record the job would keep (the one that already replaces others, else the more complete, else the
  older).

They use the database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, and
apply pending migrations first. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_mpi import mpi_app
    app.add_typer(mpi_app, name="mpi")

- Typer: https://typer.tiangolo.com/ · Rich progress bars: https://rich.readthedocs.io/en/stable/progress.html
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import with_database as _with_database
from senhealth.cli_database import with_pool as _with_pool

__all__ = ["mpi_app", "review_app"]


out = Console()
err = Console(stderr=True)

mpi_app = typer.Typer(
    help="Chỉ mục bệnh nhân / master patient index: de-duplication and the review queue.",
    no_args_is_help=True,
    add_completion=False,
)
review_app = typer.Typer(
    help="Hàng đợi xem xét / review queue: pairs that may be one person.",
    no_args_is_help=True,
    add_completion=False,
)
mpi_app.add_typer(review_app, name="review")


@mpi_app.command("dedup")
def dedup_command(
    full: Annotated[
        bool, typer.Option("--full", help="Act on every record, not only those changed since the last run.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Run it here and show progress, instead of queueing a job.")
    ] = False,
) -> None:
    """Find duplicate patient records: link the certain pairs, queue the doubtful ones for review."""
    from senhealth.core.db import get_pool
    from senhealth.core.progress import progress_bar
    from senhealth.core.queue import AlreadyQueued, enqueue
    from senhealth.fhir.store import FhirStore
    from senhealth.mpi.tasks import TASK, DedupReport, run_deduplication

    if not wait:

        async def queue(url: str) -> int:
            return await _with_pool(url, lambda: enqueue(TASK, {"full": full}, dedupe_key=TASK))

        try:
            job_id = _with_database(queue)
        except AlreadyQueued:
            err.print("Đã có một lượt đang chờ / a de-duplication job is already waiting")
            raise typer.Exit(1) from None
        out.print(f"Đã xếp hàng / queued: job {job_id} (senhealth jobs show {job_id})")
        return

    async def run(url: str) -> DedupReport:
        with progress_bar(err) as bar:
            task_id = bar.add_task("Bắt đầu / starting", total=None)

            async def progress(done: int, total: int | None, message: str) -> None:
                bar.update(task_id, completed=done, total=total, description=message)

            async def work() -> DedupReport:
                return await run_deduplication(FhirStore(get_pool()), full=full, progress=progress)

            return await _with_pool(url, work)

    report = _with_database(run)
    out.print(report.summary())
    for line in report.errors[:20]:
        err.print(f"[red]{line}[/red]")
    if report.skipped:
        raise typer.Exit(1)


@review_app.command("list")
def review_list_command(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, oldest first.")] = 50,
    after: Annotated[int | None, typer.Option(help="Only pairs after this id (the next page).")] = None,
) -> None:
    """List the open review pairs, oldest first."""
    from senhealth.core.db import transaction
    from senhealth.mpi.review import ReviewItem, list_open

    async def work(url: str) -> list[ReviewItem]:
        async def listing() -> list[ReviewItem]:
            async with transaction() as conn:
                return await list_open(conn, limit, after)

        return await _with_pool(url, listing)

    items = _with_database(work)
    if not items:
        out.print("Không có cặp nào / no open pairs")
        return
    table = Table("id", "patient a", "patient b", "score", "reasons", "created")
    for item in items:
        table.add_row(
            str(item.id),
            item.patient_a,
            item.patient_b,
            f"{item.score:.3f}",
            ", ".join(item.reasons),
            item.created.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@review_app.command("decide")
def review_decide_command(
    pair_id: Annotated[int, typer.Argument(help="The pair's id (senhealth mpi review list).")],
    decision: Annotated[str, typer.Argument(help="linked (one person) or distinct (two people).")],
    by: Annotated[str, typer.Option("--by", help="Who decides (user name): recorded with the verdict.")],
    survivor: Annotated[
        str | None, typer.Option(help="linked: the record to keep (default: as the job chooses).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the decision.")] = None,
) -> None:
    """Decide a review pair; ``linked`` also merges the two records, in the same transaction."""
    from senhealth.core.db import get_pool
    from senhealth.fhir.store import FhirStore, Gone, NotFound
    from senhealth.mpi.link import LinkError, link
    from senhealth.mpi.review import ReviewError, ReviewItem, decide, get_pair
    from senhealth.mpi.tasks import choose_survivor

    if decision not in ("linked", "distinct"):
        err.print(f"quyết định không hợp lệ / decision must be 'linked' or 'distinct', not {decision!r}")
        raise typer.Exit(2)

    async def work(url: str) -> tuple[ReviewItem, str | None]:
        async def deciding() -> tuple[ReviewItem, str | None]:
            store = FhirStore(get_pool())
            async with store.transaction() as tx:
                pair = await get_pair(tx.conn, pair_id)
                if pair is None:
                    raise ReviewError(f"No review pair {pair_id}", 404)
                kept: str | None = None
                if decision == "linked":
                    both = (pair.patient_a, pair.patient_b)
                    if survivor is not None and survivor not in both:
                        raise ReviewError(f"--survivor must be {both[0]} or {both[1]}")
                    kept = survivor or await choose_survivor(store, *both)
                    other = both[1] if kept == both[0] else both[0]
                    await link(store, kept, other, by=by)
                item = await decide(
                    tx.conn, pair_id, "linked" if decision == "linked" else "distinct", by, note
                )
                return item, kept

        return await _with_pool(url, deciding)

    try:
        item, kept = _with_database(work)
    except (ReviewError, LinkError, NotFound, Gone) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if kept is not None:
        merged = item.patient_b if kept == item.patient_a else item.patient_a
        out.print(f"Cặp {item.id}: linked by {item.decided_by}; Patient/{merged} merged into Patient/{kept}")
    else:
        out.print(f"Cặp {item.id}: distinct, by {item.decided_by}")
