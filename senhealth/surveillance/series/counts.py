"""Case counts per disease × commune × day and × ISO week, kept up to date with every case change, and the
zero-filled series the detectors read.

Spec: ISO 8601 week dates (weeks start on Monday; week 1 holds the year's first Thursday), as
:meth:`datetime.date.isocalendar` computes them; Viet Nam's surveillance reports by epidemiological
(ISO) week.

Incremental: the case writer (:mod:`senhealth.surveillance.cases.detect`) calls :func:`apply_change`
with what a case counted before and after, in the same transaction as the case report: the series and
the case reports can never disagree, and a rolled-back detection leaves both untouched. A case counts
on its ``case_date`` (onset, else the first evidence) in the commune of the patient's home address;
``confirmed`` and ``deaths`` count the cases confirmed and those that died. Province totals are sums over
the province's communes (one indexed range per disease and province). :func:`rebuild` recomputes every
count from the case index (derived data, DESIGN.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

__all__ = [
    "Counted",
    "WeekCount",
    "apply_change",
    "daily_series",
    "iso_label",
    "parse_iso_week",
    "rebuild",
    "week_start",
    "weekly_series",
]

Measure = Literal["cases", "confirmed", "deaths"]
_MEASURES: Final = ("cases", "confirmed", "deaths")


@dataclass(frozen=True, slots=True)
class Counted:
    """What one case adds to the counts."""

    disease: str
    province: str
    commune: str
    day: date
    confirmed: bool
    died: bool


@dataclass(frozen=True, slots=True)
class WeekCount:
    week_start: date
    count: int

    @property
    def label(self) -> str:
        return iso_label(self.week_start)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def iso_label(day: date) -> str:
    """``2026-W07``: the ISO week of ``day``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(label: str) -> date:
    """The Monday of ISO week ``2026-W07`` (``2026W07`` too)."""
    text = label.strip().upper().replace("-W", "W")
    year, week = text.split("W")
    return date.fromisocalendar(int(year), int(week), 1)


_DAY = (
    "INSERT INTO surveillance_count_day AS t (disease, province, commune, day, cases, confirmed, deaths) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (disease, province, commune, day) DO UPDATE SET "
    "cases = t.cases + EXCLUDED.cases, confirmed = t.confirmed + EXCLUDED.confirmed, "
    "deaths = t.deaths + EXCLUDED.deaths"
)
_WEEK = (
    "INSERT INTO surveillance_count_week AS t (disease, province, commune, week_start, iso_year, iso_week,"
    " cases, confirmed, deaths) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (disease, province, commune, week_start) DO UPDATE SET "
    "cases = t.cases + EXCLUDED.cases, confirmed = t.confirmed + EXCLUDED.confirmed, "
    "deaths = t.deaths + EXCLUDED.deaths"
)


async def apply_change(conn: AsyncConnection[TupleRow], old: Counted | None, new: Counted | None) -> None:
    """Move one case's contribution from ``old`` to ``new`` (None: it did not / does not count)."""
    if old == new:
        return
    for counted, sign in ((old, -1), (new, 1)):
        if counted is None:
            continue
        c = counted
        deltas = (sign, sign * int(c.confirmed), sign * int(c.died))
        await conn.execute(_DAY, (c.disease, c.province, c.commune, c.day, *deltas))
        monday = week_start(c.day)
        year, week, _ = monday.isocalendar()
        await conn.execute(_WEEK, (c.disease, c.province, c.commune, monday, year, week, *deltas))


def _area(commune: str | None, province: str | None) -> tuple[str, str]:
    if commune is not None:
        return "commune = %s", commune
    if province is not None:
        return "province = %s", province
    raise ValueError("a series is for a commune or a province")


async def weekly_series(
    conn: AsyncConnection[TupleRow],
    disease: str,
    *,
    start: date,
    end: date,
    commune: str | None = None,
    province: str | None = None,
    measure: Measure = "cases",
) -> list[WeekCount]:
    """Counts of ``disease`` per ISO week from ``start``'s week to ``end``'s, zero-filled, for a commune
    (its code) or a province (the sum of its communes)."""
    if measure not in _MEASURES:
        raise ValueError(f"measure {measure!r} is not one of {_MEASURES}")
    where, value = _area(commune, province)
    first, last = week_start(start), week_start(end)
    cur = await conn.execute(
        f"SELECT week_start, sum({measure})::int FROM surveillance_count_week "
        f"WHERE disease = %s AND {where} AND week_start BETWEEN %s AND %s GROUP BY week_start",
        (disease, value, first, last),
    )
    found = {row[0]: int(row[1]) for row in await cur.fetchall()}
    out: list[WeekCount] = []
    monday = first
    while monday <= last:
        out.append(WeekCount(monday, found.get(monday, 0)))
        monday += timedelta(days=7)
    return out


async def daily_series(
    conn: AsyncConnection[TupleRow],
    disease: str,
    *,
    start: date,
    end: date,
    commune: str | None = None,
    province: str | None = None,
    measure: Measure = "cases",
) -> list[tuple[date, int]]:
    """Counts of ``disease`` per day from ``start`` to ``end``, zero-filled (see :func:`weekly_series`)."""
    if measure not in _MEASURES:
        raise ValueError(f"measure {measure!r} is not one of {_MEASURES}")
    where, value = _area(commune, province)
    cur = await conn.execute(
        f"SELECT day, sum({measure})::int FROM surveillance_count_day "
        f"WHERE disease = %s AND {where} AND day BETWEEN %s AND %s GROUP BY day",
        (disease, value, start, end),
    )
    found = {row[0]: int(row[1]) for row in await cur.fetchall()}
    return [
        (start + timedelta(days=i), found.get(start + timedelta(days=i), 0))
        for i in range((end - start).days + 1)
    ]


async def rebuild(conn: AsyncConnection[TupleRow]) -> int:
    """Recompute every count from the active cases of the case index; returns the number of cases."""
    await conn.execute("DELETE FROM surveillance_count_day")
    await conn.execute("DELETE FROM surveillance_count_week")
    await conn.execute(
        "INSERT INTO surveillance_count_day (disease, province, commune, day, cases, confirmed, deaths) "
        "SELECT disease, province, commune, case_date, count(*), "
        "count(*) FILTER (WHERE classification = 'confirmed'), count(*) FILTER (WHERE outcome = 'died') "
        "FROM surveillance_case WHERE status = 'active' GROUP BY 1, 2, 3, 4"
    )
    await conn.execute(
        "INSERT INTO surveillance_count_week (disease, province, commune, week_start, iso_year, iso_week,"
        " cases, confirmed, deaths) "
        "SELECT disease, province, commune, w, extract(isoyear FROM w)::int, extract(week FROM w)::int,"
        " sum(cases), sum(confirmed), sum(deaths) "
        "FROM (SELECT *, date_trunc('week', day)::date AS w FROM surveillance_count_day) d GROUP BY 1, 2, 3, 4"
    )
    cur = await conn.execute("SELECT count(*) FROM surveillance_case WHERE status = 'active'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
