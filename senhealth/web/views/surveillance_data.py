"""What the CDC's pages read: open alerts (through the FHIR API, as the signed-in user), the epidemic curve
with its endemic channel, incidence per commune, cases per disease and week (docs/web-surveillance.md).

Alerts are FHIR Tasks (docs/surveillance-alerts.md) and are read through the platform's FHIR API with the
user's token (:mod:`senhealth.web.fhir_client`), so the access policy and the audit apply. The counts are
aggregates of the surveillance series (``surveillance_count_week``, docs/surveillance.md): no person in
them. The curve uses :func:`senhealth.surveillance.series.weekly_series` and
:func:`senhealth.surveillance.detectors.endemic_channel.channel_table`; incidence per commune sums the same
weekly table over the period (one grouped query, equal to summing ``weekly_series`` per commune) and divides
by :func:`senhealth.surveillance.series.population`'s figure (the latest up to the period's year, read for
every commune at once with the same rule).

Endemic channel: "mean ± 2 SD" of the same ISO week ±1 week in up to 5 previous years (``meansd``, ``k`` 2,
``w`` 1; WHO/PAHO dengue guidance), counting only the years since the area's series has data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.geo import province_codes, province_map, province_of_commune
from senhealth.surveillance.alerts import Alert
from senhealth.surveillance.alerts.model import ALERT_SYSTEM, is_alert
from senhealth.surveillance.detectors.endemic_channel import channel_table
from senhealth.surveillance.notifiable.lists import Disease, list_on
from senhealth.surveillance.series import iso_label, parse_iso_week, week_start, weekly_series
from senhealth.web.fhir_client import FhirClient

__all__ = [
    "CHANNEL_B",
    "CHANNEL_K",
    "CHANNEL_W",
    "INCIDENCE_BREAKS",
    "OPEN_STATUSES",
    "CommuneIncidence",
    "Curve",
    "alert_history",
    "busiest_province",
    "cases_by_disease",
    "curve",
    "disease_by_key",
    "disease_of_alert",
    "diseases",
    "incidence",
    "open_alerts",
    "province_of_area",
    "response_actions",
    "weeks_in_year",
]

CHANNEL_B: Final = 5
CHANNEL_W: Final = 1
CHANNEL_K: Final = 2.0
INCIDENCE_BREAKS: Final = (1.0, 10.0, 50.0, 100.0)
"""Class breaks of incidence per 100,000 over the map's period."""
OPEN_STATUSES: Final = "requested,accepted,in-progress"
"""``Task.status`` of the steps before closure (docs/surveillance-alerts.md)."""


# --- diseases ----------------------------------------------------------------------------------------------


def diseases(day: dt.date | None = None) -> list[Disease]:
    """The notifiable diseases of the list in force on ``day`` (today), group then Vietnamese name."""
    found = list_on(day or dt.date.today()).diseases.values()
    return sorted(found, key=lambda d: (d.group, d.name_vi))


def disease_by_key(key: str, day: dt.date | None = None) -> Disease | None:
    return list_on(day or dt.date.today()).diseases.get(key)


def disease_of_alert(alert: Alert) -> Disease | None:
    """The notifiable disease of an alert's ICD-10 code, under the list in force in its week."""
    try:
        day = parse_iso_week(alert.week)
    except (ValueError, IndexError):
        day = dt.date.today()
    return list_on(day).for_code(alert.disease)


def province_of_area(area: str) -> str | None:
    """The province (2 digits) of an alert's area (a commune's 5 digits, or a province itself)."""
    if len(area) == 2:
        return area if area in province_codes() else None
    return province_of_commune(area)


def weeks_in_year(year: int) -> int:
    return dt.date(year, 12, 28).isocalendar().week


# --- alerts, through the FHIR API --------------------------------------------------------------------------


async def open_alerts(client: FhirClient) -> list[Alert]:
    """The alerts not yet closed, as the user may read them (most recent week first)."""
    tasks = await client.search_all(
        "Task", [("code", f"{ALERT_SYSTEM}|alert"), ("status", OPEN_STATUSES), ("_count", "200")], pages=10
    )
    alerts = [Alert.from_task(t) for t in tasks if is_alert(t)]
    return sorted((a for a in alerts if a.step.value != "closed"), key=lambda a: (a.week, a.id), reverse=True)


async def alert_history(client: FhirClient, alert_id: str) -> list[Alert]:
    """Every version of the alert's Task, oldest first (``Task/[id]/_history``)."""
    bundle = await client.operation(f"Task/{alert_id}/_history", [("_count", "200")])
    versions = [
        Alert.from_task(e["resource"])
        for e in bundle.get("entry", []) or []
        if isinstance(e.get("resource"), dict) and is_alert(e["resource"])
    ]
    return sorted(versions, key=lambda a: a.version)


async def response_actions(client: FhirClient, alert_id: str) -> list[dict[str, Any]]:
    """The alert's response-action Tasks, oldest first."""
    found = await client.search_all(
        "Task",
        [("part-of", f"Task/{alert_id}"), ("code", f"{ALERT_SYSTEM}|response-action"), ("_count", "100")],
    )
    return sorted(found, key=lambda t: str(t.get("authoredOn", "")))


# --- the epidemic curve and its endemic channel -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Curve:
    """One ISO year of weekly counts of a disease in an area, with the endemic channel of each week.

    ``observed`` runs to ``last_observed`` (weeks after it are not shown); the channel lists have one
    value per week of the year (None when the area has no earlier year of data: ``years`` is then 0).
    """

    disease: str
    area: str
    year: int
    labels: tuple[str, ...]
    observed: tuple[int, ...]
    lower: tuple[float, ...] | None
    centre: tuple[float, ...] | None
    upper: tuple[float, ...] | None
    years: int

    def row(self, label: str) -> int | None:
        return self.labels.index(label) if label in self.labels else None


async def _first_week(conn: AsyncConnection[TupleRow], disease: str, area: str) -> dt.date | None:
    column = "commune" if len(area) == 5 else "province"
    cur = await conn.execute(
        f"SELECT min(week_start) FROM surveillance_count_week WHERE disease = %s AND {column} = %s AND cases > 0",
        (disease, area),
    )
    row = await cur.fetchone()
    return row[0] if row and row[0] is not None else None


async def curve(
    conn: AsyncConnection[TupleRow], disease: str, area: str, year: int, *, through: dt.date | None = None
) -> Curve:
    """The weekly counts of ``disease`` (a notifiable-disease key) in ``area`` (commune or province code)
    in ISO ``year`` up to ``through``'s week (default: the year's end or this week, whichever is first),
    and the endemic channel of every week of that year (see the module docstring)."""
    n_weeks = weeks_in_year(year)
    first_monday = dt.date.fromisocalendar(year, 1, 1)
    last_monday = dt.date.fromisocalendar(year, n_weeks, 1)
    today = dt.date.today()
    upto = min(last_monday, week_start(through or today))
    started = await _first_week(conn, disease, area)
    years = 0 if started is None else min(CHANNEL_B, max(0, year - started.isocalendar().year))
    history_start = dt.date.fromisocalendar(year - years, 1, 1) - dt.timedelta(days=7 * CHANNEL_W)
    series = await weekly_series(
        conn,
        disease,
        start=history_start,
        end=last_monday,
        commune=area if len(area) == 5 else None,
        province=area if len(area) != 5 else None,
    )
    counts = [w.count for w in series]
    weeks = [(w.week_start.isocalendar().year, w.week_start.isocalendar().week) for w in series]
    year_start = weeks.index((year, 1))
    this_year = series[year_start:]
    shown = [w.count for w in this_year if w.week_start <= upto] if first_monday <= upto else []
    lower = centre = upper = None
    if years >= 1:
        channel = channel_table(
            counts, year_start=year_start, b=years, w=CHANNEL_W, k=CHANNEL_K, method="meansd", weeks=weeks
        )
        lower, centre, upper = channel.lower, channel.centre, channel.upper
    return Curve(
        disease=disease,
        area=area,
        year=year,
        labels=tuple(iso_label(w.week_start) for w in this_year),
        observed=tuple(shown),
        lower=lower,
        centre=centre,
        upper=upper,
        years=years,
    )


# --- incidence per commune and cases per disease ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommuneIncidence:
    code: str
    name: str
    cases: int
    population: int | None

    @property
    def rate(self) -> float | None:
        """Cases per 100,000 over the period (None without a population figure)."""
        return self.cases * 100_000 / self.population if self.population else None


async def incidence(
    conn: AsyncConnection[TupleRow], disease: str, province: str, *, end: dt.date, weeks: int
) -> list[CommuneIncidence]:
    """Every commune of ``province``'s map: cases of ``disease`` in the ``weeks`` ISO weeks ending with
    ``end``'s week, and its population in ``end``'s year; communes of the series not on the map are
    added (name = code)."""
    last = week_start(end)
    first = last - dt.timedelta(days=7 * (weeks - 1))
    cur = await conn.execute(
        "SELECT commune, sum(cases)::int FROM surveillance_count_week WHERE disease = %s AND province = %s"
        " AND week_start BETWEEN %s AND %s GROUP BY commune",
        (disease, province, first, last),
    )
    cases = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
    pmap = province_map(province)
    codes = sorted({c.code for c in pmap.communes} | set(cases))
    cur = await conn.execute(
        "SELECT DISTINCT ON (area) area, population FROM surveillance_population"
        " WHERE level = 'commune' AND year <= %s AND area = ANY(%s) ORDER BY area, year DESC",
        (end.year, codes),
    )
    populations = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
    out = [
        CommuneIncidence(c.code, c.name, cases.get(c.code, 0), populations.get(c.code)) for c in pmap.communes
    ]
    known = {c.code for c in pmap.communes}
    out += [
        CommuneIncidence(code, code, n, populations.get(code))
        for code, n in sorted(cases.items())
        if code not in known
    ]
    return out


async def cases_by_disease(
    conn: AsyncConnection[TupleRow], province: str, *, first: dt.date, last: dt.date
) -> dict[str, dict[str, int]]:
    """Cases per disease and ISO week label in ``province`` from ``first``'s week to ``last``'s."""
    cur = await conn.execute(
        "SELECT disease, week_start, sum(cases)::int FROM surveillance_count_week WHERE province = %s"
        " AND week_start BETWEEN %s AND %s GROUP BY disease, week_start",
        (province, week_start(first), week_start(last)),
    )
    out: dict[str, dict[str, int]] = {}
    for disease, monday, n in await cur.fetchall():
        out.setdefault(str(disease), {})[iso_label(monday)] = int(n)
    return out


async def busiest_province(conn: AsyncConnection[TupleRow], alerts: list[Alert]) -> str | None:
    """The province of most open alerts, else of most cases in the series; None when nothing is known."""
    found = Counter(p for a in alerts if (p := province_of_area(a.area)))
    if found:
        return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    cur = await conn.execute(
        "SELECT province FROM surveillance_count_week WHERE province <> '' GROUP BY province"
        " ORDER BY sum(cases) DESC, province LIMIT 1"
    )
    row = await cur.fetchone()
    return str(row[0]) if row and str(row[0]) in province_codes() else None
