"""Reading a count series from ``week,count`` CSV: the input of ``senhealth surveillance detect``.

The ``week`` column is one of (the same kind on every row, oldest first, no gaps):

- an integer index ``1..n`` (consecutive);
- an ISO 8601 week ``2025-W07`` (https://en.wikipedia.org/wiki/ISO_week_date; consecutive weeks, a year of 53
  weeks included);
- a date ``2025-02-10``: weekly when the rows are 7 days apart, daily when 1 day apart.

``count`` is a non-negative number (counts are whole numbers in practice; R accepts any non-negative value).
Points per year: 52 for weeks, 365 for days (R's ``freq``), unless given.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

__all__ = ["Series", "parse_series"]

_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Series:
    labels: tuple[str, ...]
    """The ``week`` column as written."""
    counts: tuple[float, ...]
    freq: int
    """Points per year: 52 (weekly) or 365 (daily)."""


def _iso_monday(label: str) -> date | None:
    m = _ISO_WEEK.match(label)
    if not m:
        return None
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ValueError(f"week {label!r} is not an ISO week of that year") from None


def _date(label: str) -> date | None:
    try:
        return date.fromisoformat(label)
    except ValueError:
        return None


def parse_series(text: str) -> Series:
    """The series in ``text``; ValueError naming the line of the first problem."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValueError("the input is empty: write a header 'week,count' and one row per week")
    header = [cell.strip().lower() for cell in rows[0]]
    if header[:2] != ["week", "count"]:
        raise ValueError(f"line 1: the header must be 'week,count' (found {','.join(rows[0])!r})")
    labels: list[str] = []
    counts: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise ValueError(f"line {line}: write week,count")
        label, raw = row[0].strip(), row[1].strip()
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"line {line}: count {raw!r} is not a number") from None
        if math.isnan(value) or value < 0:
            raise ValueError(f"line {line}: count {raw!r} must be a number ≥ 0")
        labels.append(label)
        counts.append(value)
    if not counts:
        raise ValueError("no rows after the header")
    return Series(tuple(labels), tuple(counts), _frequency(labels))


def _frequency(labels: list[str]) -> int:
    if all(label.isdigit() for label in labels):
        for line, (a, b) in enumerate(pairwise(labels), start=3):
            if int(b) != int(a) + 1:
                raise ValueError(
                    f"line {line}: week {b} does not follow week {a} (indices must be consecutive)"
                )
        return 52
    reader = _iso_monday if _iso_monday(labels[0]) is not None else _date
    if reader(labels[0]) is None:
        raise ValueError(
            f"line 2: week {labels[0]!r}: write an index (1), an ISO week (2025-W07) or a date (2025-02-10)"
        )
    days: list[date] = []
    for line, label in enumerate(labels, start=2):
        day = reader(label)
        if day is None:
            raise ValueError(f"line {line}: week {label!r} is not of the same kind as the first row")
        days.append(day)
    weekly = reader is _iso_monday or len(days) < 2 or days[1] - days[0] == timedelta(days=7)
    step = timedelta(days=7 if weekly else 1)
    for line, (before, after) in enumerate(pairwise(days), start=3):
        if after - before != step:
            raise ValueError(
                f"line {line}: {labels[line - 2]!r} does not follow {labels[line - 3]!r} (no gaps, oldest first)"
            )
    return 52 if step.days == 7 else 365
