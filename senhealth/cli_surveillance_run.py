"""``senhealth surveillance run``: the detection run on demand (docs/surveillance-detectors.md, "The detection run").

``senhealth surveillance run [--from 2026-W05] [--to 2026-W07] [--disease dengue ...] [--by NAME] [--dry-run]
[--queue] [--json]`` runs the detectors of every watched disease × area over the weeks given (default: the
current week and the one before) and opens an alert for every alarm
(:func:`senhealth.surveillance.detection.detection_run`); ``--dry-run`` only counts; ``--queue`` queues the job
``surveillance.detection_run`` for ``senhealth worker`` instead of running here. It uses the database of
``SENHEALTH_DATABASE_URL`` or the embedded PostgreSQL, migrated first. Wiring, in
``senhealth/cli_surveillance.py``::

    from senhealth.cli_surveillance_run import run_command
    surveillance_app.command("run")(run_command)

Typer: https://typer.tiangolo.com/
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from senhealth.cli_database import run_on_database

__all__ = ["run_command"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def run_command(
    start: Annotated[
        str | None, typer.Option("--from", help="First monitored ISO week (2026-W05); default: last week.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last monitored ISO week (2026-W07); default: this week.")
    ] = None,
    disease: Annotated[
        list[str] | None,
        typer.Option(
            "--disease", help="Disease key (dengue, hfmd, measles...); repeatable; default: all watched."
        ),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Who asks (recorded in the alerts' audit events).")
    ] = "senhealth-cli",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count alarms, open no alert.")] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Queue the job for the worker instead.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Chạy bộ phát hiện dịch / run the outbreak detectors now and open an alert for every alarm."""
    from senhealth.core.queue import enqueue
    from senhealth.fhir.access import Principal
    from senhealth.fhir.store import FhirStore
    from senhealth.surveillance.detection import RUN_TASK, detection_run, monitored_weeks

    try:
        monitored_weeks(start=start, end=end)
    except ValueError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    if queue and dry_run:
        err.print("[red]Lỗi / error:[/] --queue and --dry-run together: a queued run always opens alerts")
        raise typer.Exit(2)

    async def work() -> Any:
        if queue:
            args: dict[str, Any] = {"requested_by": by, "trigger": "cli"}
            if start:
                args["start"] = start
            if end:
                args["end"] = end
            if disease:
                args["diseases"] = list(disease)
            return await enqueue(RUN_TASK, args)
        principal = Principal(kind="system", subject=by, roles=frozenset({"system"}))
        return await detection_run(
            FhirStore(),
            start=start,
            end=end,
            diseases=disease or None,
            principal=principal,
            open_alerts=not dry_run,
        )

    try:
        done = run_on_database(work)
    except ValueError as e:
        err.print(f"[red]Lỗi / error:[/] {e}")
        raise typer.Exit(2) from None
    if queue:
        out.print(f"Đã xếp hàng / queued: job {done} ({RUN_TASK})")
        return
    report = done.as_json()
    if json_output:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return
    out.print(
        f"Tuần / weeks {report['start']}..{report['end']} · bệnh / diseases: {', '.join(report['diseases']) or '—'}"
    )
    out.print(
        f"Chuỗi / series {report['series']} · kết quả / results {report['results']} · "
        f"báo động / alarms {report['alarms']} · mở / opened {len(report['opened'])} · "
        f"cập nhật / updated {len(report['updated'])} · {report['seconds']:.1f} s"
        + (" · chạy thử / dry run" if dry_run else "")
    )
    for line in report["adjusted"]:
        out.print(f"  điều chỉnh / adjusted: {line}")
    for line in report["skipped"]:
        out.print(f"  bỏ qua / skipped: {line}")
