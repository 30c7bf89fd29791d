"""A station's year of check-up days: who comes first, which working days, how many a day.

Pure functions, no database. The order (:func:`priority_key`): people in a priority group before the others;
among them by the first group they belong to in :data:`~senhealth.checkup.campaigns.vocabulary.PRIORITY_ORDER`
(elderly, disabled, poor, chronic, remote); then more groups before fewer, older before younger, then the
person key (a stable tie-break). Days (:func:`working_days`): Monday to Friday from ``start`` to
31 December, less the fixed-date public holidays (Labour Code 2019 Art. 112: 1 January, 30 April, 1 May,
1–2 September) and any ``holidays`` the province adds (Tết and Hùng Kings' day follow the lunar calendar:
give them). :func:`assign` fills each day with ``capacity_per_day`` people in order, in time slots
through the station's two sessions (07:30–11:30, 13:30–17:00); who does not fit before the year ends is
left unscheduled and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from senhealth.checkup.campaigns.vocabulary import PRIORITY_ORDER

__all__ = ["FIXED_HOLIDAYS", "SESSIONS", "Slot", "assign", "priority_key", "working_days"]

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIXED_HOLIDAYS = ((1, 1), (4, 30), (5, 1), (9, 1), (9, 2))
SESSIONS = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
T = TypeVar("T")


def priority_key(groups: Sequence[str], birth: datetime | None, person: str) -> tuple[int, int, float, str]:
    """Sort key: first group's rank (no group: last), more groups first, older first, then ``person``."""
    ranks = [PRIORITY_ORDER.index(g) for g in groups if g in PRIORITY_ORDER]
    first = min(ranks) if ranks else len(PRIORITY_ORDER)
    born = birth.timestamp() if birth is not None else float("inf")
    return (first, -len(ranks), born, person)


def working_days(year: int, start: date | None = None, holidays: Iterable[date] = ()) -> list[date]:
    """Monday–Friday from ``start`` (default 1 January) to 31 December, without the public holidays."""
    day = start or date(year, 1, 1)
    if day.year != year:
        raise ValueError(f"start {day.isoformat()} is not in {year}")
    off = {date(year, m, d) for m, d in FIXED_HOLIDAYS} | set(holidays)
    out = []
    while day.year == year:
        if day.weekday() < 5 and day not in off:
            out.append(day)
        day += timedelta(days=1)
    return out


@dataclass(frozen=True, slots=True)
class Slot:
    day: date
    start: datetime
    end: datetime


def _slots(day: date, capacity: int) -> list[Slot]:
    minutes = [
        (
            datetime.combine(day, a, ZONE),
            int((datetime.combine(day, b) - datetime.combine(day, a)).seconds / 60),
        )
        for a, b in SESSIONS
    ]
    total = sum(m for _, m in minutes)
    length = max(1, total // capacity)
    out = []
    for i in range(capacity):
        offset = (i * total) // capacity
        for begin, span in minutes:
            if offset < span:
                start = begin + timedelta(minutes=offset)
                out.append(Slot(day, start, start + timedelta(minutes=min(length, span - offset))))
                break
            offset -= span
    return out


def assign(
    ordered: Sequence[T],
    days: Sequence[date],
    capacity_per_day: int,
    taken: Mapping[date, int] | None = None,
) -> tuple[list[tuple[T, Slot]], list[T]]:
    """Give ``ordered`` people slots, ``capacity_per_day`` a day in ``days``; returns (scheduled, left over).

    ``taken``: places already filled on a day (appointments kept from an earlier plan)."""
    if capacity_per_day < 1:
        raise ValueError("capacity_per_day must be at least 1")
    scheduled: list[tuple[T, Slot]] = []
    i = 0
    for day in days:
        if i >= len(ordered):
            break
        used = (taken or {}).get(day, 0)
        for slot in _slots(day, capacity_per_day)[used:]:
            if i >= len(ordered):
                break
            scheduled.append((ordered[i], slot))
            i += 1
    return scheduled, list(ordered[i:])
