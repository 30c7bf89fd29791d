"""Progress bars for long work on the command line (Rich: https://rich.readthedocs.io/en/stable/progress.html).

Every long job shows progress (DESIGN.md §6). The bar goes to standard error, so standard output stays
clean for JSON, and disappears when done.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["progress_bar"]


def progress_bar(console: Console, *, disable: bool = False) -> Progress:
    """A transient bar with the task's description, count done of total, and the time left."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=disable,
    )
