"""``senhealth surveillance``: outbreak detection from the command line.

``senhealth surveillance run`` runs the configured detectors over the store's series now (docs/surveillance-detectors.md).
``senhealth surveillance detect --method METHOD --input FILE.csv [--param NAME=VALUE ...]`` reads ``week,count``
(:mod:`senhealth.surveillance.detectors.series`) and prints CSV ``week,observed,expected,upperbound,alarm`` for the
monitored weeks. Parameters take the R package ``surveillance``'s names (``alpha``, ``b``, ``w``, ``k``, ``h``,
``c.ARL``, ...), plus ``range_start`` (1-based index of the first monitored week) and, for EARS,
``mode=cdc|r-parity``. Methods: docs/surveillance-detectors.md.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from senhealth.cli_surveillance_run import run_command

__all__ = ["surveillance_app"]

err = Console(stderr=True)

surveillance_app = typer.Typer(
    help="Giám sát dịch bệnh / disease surveillance: outbreak detectors over count series.",
    no_args_is_help=True,
    add_completion=False,
)


@surveillance_app.callback()
def surveillance() -> None:
    """Giám sát dịch bệnh / surveillance (a group: its commands below)."""


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@surveillance_app.command("detect")
def detect_command(
    method: Annotated[
        str, typer.Option("--method", help="ears-c1, ears-c2, ears-c3, cusum, farrington, ...")
    ],
    input_file: Annotated[
        Path, typer.Option("--input", help="CSV with the header week,count ('-' reads stdin)")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE, the R package's names (repeatable)")
    ] = None,
) -> None:
    """Run one detector over a series and print week,observed,expected,upperbound,alarm for the monitored weeks."""
    from senhealth.surveillance.detectors import Params
    from senhealth.surveillance.detectors import method as find_method
    from senhealth.surveillance.detectors.series import parse_series

    try:
        spec = find_method(method)
        text = sys.stdin.read() if str(input_file) == "-" else input_file.read_text(encoding="utf-8-sig")
        series = parse_series(text)
        params = Params.parse(method, param or [])
        range_start = params.optional_integer("range_start")
        freq = params.integer("freq", series.freq)
        rows = spec.run(series.counts, params, range_start, freq)
        params.check_all_used()
    except FileNotFoundError:
        err.print(f"[red]Không tìm thấy tệp / file not found:[/] {input_file}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]Lỗi / error:[/] {exc}")
        raise typer.Exit(2) from None
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["week", "observed", "expected", "upperbound", "alarm"])
    for row in rows:
        out.writerow(
            [
                series.labels[row.index],
                _number(row.observed),
                _number(row.expected),
                _number(row.upperbound),
                1 if row.alarm else 0,
            ]
        )


# ``senhealth surveillance run``: the detection run over the store's series, now (the worker runs it hourly)
surveillance_app.command("run")(run_command)
