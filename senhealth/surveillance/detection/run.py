"""The detection run: every watched disease × area through its plan of detectors, every alarm a signal.

For each disease (the configured ones, else every notifiable disease with cases) the run reads the weekly
series of every commune with cases and of their provinces (the same zero-filled counts
:func:`senhealth.surveillance.series.weekly_series` returns, one query per disease instead of one per area),
runs each detector of the disease's plan (:func:`.config.plan_for`) over all areas of a level at once
(:func:`.methods.run_plan`), monitoring the latest weeks (the current ISO week and the one before, in the
platform's time zone) or a range of weeks asked for, and hands every result to
:func:`senhealth.surveillance.alerts.open_signals`: an alarm opens one alert Task per disease × area × week ×
method, and finding it again updates or leaves it (idempotent), so the run can repeat as often as the
series change.

A week counts as an alarm only with at least ``min_cases`` cases (by the disease's group: A 1, B and C 3,
configurable): a detector whose baseline is all zeros alarms at the first case, which for dengue in a
commune is not yet a signal worth an officer's visit. A plan that needs more history than the data hold runs
with fewer years (``b``) or is skipped; both are in the :class:`RunReport`.

The data's first week (``history_start``) is the earliest week in the series unless configured: weeks before
the platform held data are not zeros to learn a baseline from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.alerts import DetectorResult, open_signals
from senhealth.surveillance.detection.config import DetectionConfig, MethodPlan, get_config, plan_for
from senhealth.surveillance.detection.methods import fit_history, history_needed, run_plan
from senhealth.surveillance.notifiable.lists import Disease, list_on
from senhealth.surveillance.series.counts import iso_label, parse_iso_week, week_start

__all__ = ["SYSTEM_PRINCIPAL", "AreaSeries", "RunReport", "detection_run", "monitored_weeks", "read_series"]

SYSTEM_PRINCIPAL = Principal(kind="system", subject="surveillance.detection", roles=frozenset({"system"}))
MAX_WEEKS = 520
"""The longest range of weeks one run monitors (ten years)."""
FREQ = 52

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AreaSeries:
    """Weekly counts of one disease for many areas of one level: ``counts[i]`` is ``areas[i]``'s series."""

    level: str
    areas: tuple[str, ...]
    first_week: date
    """Monday of the first column."""
    counts: FloatArray


@dataclass(slots=True)
class RunReport:
    """What one run did."""

    start: str
    end: str
    diseases: list[str] = field(default_factory=list)
    series: int = 0
    """Area series read (communes and provinces, all diseases)."""
    results: int = 0
    """Monitored weeks evaluated (series × weeks × methods)."""
    alarms: int = 0
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    adjusted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "diseases": self.diseases,
            "series": self.series,
            "results": self.results,
            "alarms": self.alarms,
            "opened": self.opened,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "adjusted": self.adjusted,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def _today(now: datetime | None) -> date:
    from senhealth.core.config import get_settings

    zone = ZoneInfo(get_settings().timezone)
    return (now or datetime.now(zone)).astimezone(zone).date()


def monitored_weeks(
    *,
    start: str | None = None,
    end: str | None = None,
    now: datetime | None = None,
    config: DetectionConfig | None = None,
) -> tuple[date, date]:
    """Mondays of the first and last monitored weeks: ``start``..``end`` (ISO weeks ``2026-W07``), by default
    the last ``monitored_weeks`` weeks ending with the current one. ValueError for a bad or reversed range."""
    config = config or get_config()
    try:
        last = parse_iso_week(end) if end else week_start(_today(now))
        first = parse_iso_week(start) if start else last - timedelta(weeks=config.monitored_weeks - 1)
    except ValueError:
        raise ValueError(f"weeks are ISO weeks such as 2026-W07, not {start!r} / {end!r}") from None
    if start and not end:
        last = max(last, first)
    if first > last:
        raise ValueError(f"the range {iso_label(first)}..{iso_label(last)} runs backwards")
    if (last - first).days // 7 + 1 > MAX_WEEKS:
        raise ValueError(f"at most {MAX_WEEKS} weeks in one run")
    return first, last


async def _history_start(store: FhirStore, config: DetectionConfig) -> date | None:
    if config.history_start:
        return parse_iso_week(config.history_start)
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT min(week_start) FROM surveillance_count_week WHERE cases > 0")
        row = await cur.fetchone()
    return row[0] if row and row[0] is not None else None


async def _diseases_with_cases(store: FhirStore, since: date, until: date) -> list[str]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT disease FROM surveillance_count_week WHERE week_start BETWEEN %s AND %s AND cases > 0",
            (since, until),
        )
        return sorted(str(r[0]) for r in await cur.fetchall())


async def read_series(store: FhirStore, disease: str, *, first: date, last: date) -> dict[str, AreaSeries]:
    """The weekly cases of ``disease`` from ``first``'s week to ``last``'s (zero-filled) of every commune with
    a case in that time and of every province with one (the sum of its communes, as :func:`weekly_series`),
    by level (``commune``, ``province``)."""
    first, last = week_start(first), week_start(last)
    weeks = (last - first).days // 7 + 1
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT province, commune, week_start, sum(cases)::int FROM surveillance_count_week "
            "WHERE disease = %s AND week_start BETWEEN %s AND %s GROUP BY 1, 2, 3",
            (disease, first, last),
        )
        rows = await cur.fetchall()
    communes: dict[str, dict[int, int]] = {}
    provinces: dict[str, dict[int, int]] = {}
    for province, commune, monday, cases in rows:
        column = (monday - first).days // 7
        if province:
            provinces.setdefault(province, {})
            provinces[province][column] = provinces[province].get(column, 0) + cases
        if commune:
            communes.setdefault(commune, {})
            communes[commune][column] = communes[commune].get(column, 0) + cases

    def matrix(level: str, by_area: dict[str, dict[int, int]]) -> AreaSeries:
        areas = tuple(sorted(a for a, cols in by_area.items() if any(v > 0 for v in cols.values())))
        counts = np.zeros((len(areas), weeks))
        for i, area in enumerate(areas):
            for column, value in by_area[area].items():
                counts[i, column] = value
        return AreaSeries(level, areas, first, counts)

    return {"commune": matrix("commune", communes), "province": matrix("province", provinces)}


@cache
def _area_names() -> dict[str, str]:
    from senhealth.core import geo

    names: dict[str, str] = {}
    for code in geo.province_codes():
        shape = geo.province_map(code)
        names[code] = shape.name
        names.update({c.code: c.name for c in shape.communes})
    return names


def _area_display(area: str) -> str:
    try:
        return _area_names().get(area, "")
    except (OSError, KeyError, ValueError):  # the packaged map is optional for the run
        return ""


def _number(value: float) -> float | None:
    """A defined, non-negative value to 6 decimals (as the alert Task stores it, so a re-run compares equal)."""
    return round(float(value), 6) if np.isfinite(value) and value >= 0 else None


def _results(
    disease: Disease,
    plan: MethodPlan,
    series: AreaSeries,
    first: int,
    min_cases: int,
    report: RunReport,
) -> list[DetectorResult]:
    outcome = run_plan(plan, series.counts, first, FREQ)
    observed = series.counts[:, first:]
    alarm = outcome.alarm & (observed >= min_cases)
    labels = [iso_label(series.first_week + timedelta(weeks=first + j)) for j in range(observed.shape[1])]
    out = []
    for i, area in enumerate(series.areas):
        if len(area) not in (2, 5) or not area.isdigit():
            continue
        for j, week in enumerate(labels):
            raised = bool(alarm[i, j])
            out.append(
                DetectorResult(
                    disease=disease.icd10[0],
                    area=area,
                    week=week,
                    method=plan.method,
                    observed=float(observed[i, j]),
                    expected=_number(outcome.expected[i, j]),
                    upperbound=_number(outcome.upperbound[i, j]),
                    alarm=raised,
                    disease_display=disease.name_vi,
                    area_display=_area_display(area) if raised else "",
                )
            )
    report.results += len(out)
    report.alarms += int(alarm.sum())
    return out


async def detection_run(
    store: FhirStore,
    *,
    start: str | None = None,
    end: str | None = None,
    diseases: Sequence[str] | None = None,
    now: datetime | None = None,
    principal: Principal | None = None,
    config: DetectionConfig | None = None,
    open_alerts: bool = True,
) -> RunReport:
    """Run the detectors over the monitored weeks (see the module docstring) and open the signals.

    ``start``/``end``: ISO weeks (default: the latest ``monitored_weeks``); ``diseases``: keys (default: the
    configured ones, else every notifiable disease with cases); ``principal``: who asked (recorded in the
    alerts' audit; default the system); ``open_alerts=False`` only counts (a dry run).
    """
    config = config or get_config()
    t0 = time.perf_counter()
    first_week, last_week = monitored_weeks(start=start, end=end, now=now, config=config)
    report = RunReport(iso_label(first_week), iso_label(last_week))
    history = await _history_start(store, config)
    if history is None:
        report.seconds = time.perf_counter() - t0
        return report
    if last_week < history:
        report.skipped.append(f"no data before {iso_label(history)}")
        report.seconds = time.perf_counter() - t0
        return report
    first_week = max(first_week, history)
    listed = list_on(last_week + timedelta(days=6))
    wanted = list(diseases or config.diseases or await _diseases_with_cases(store, history, last_week))
    levels = [level for level in config.levels]
    results: list[DetectorResult] = []
    for key in wanted:
        disease = listed.diseases.get(key)
        if disease is None or not disease.icd10:
            report.skipped.append(f"{key}: not a notifiable disease with an ICD-10 code in {listed.id}")
            continue
        report.diseases.append(key)
        plans = plan_for(key, config)
        need = max((history_needed(p, FREQ) for p in plans), default=0)
        read_from = max(history, first_week - timedelta(weeks=need))
        first = (first_week - read_from).days // 7
        by_level = await read_series(store, key, first=read_from, last=last_week)
        min_cases = config.min_cases.get(disease.group, 1)
        for level in levels:
            series = by_level[level]
            report.series += len(series.areas)
            if not series.areas:
                continue
            for plan in plans:
                if level not in plan.levels:
                    continue
                fitted, note = fit_history(plan, first, FREQ)
                if fitted is None:
                    report.skipped.append(f"{key} {level}: {note}")
                    continue
                if note:
                    report.adjusted.append(f"{key} {level}: {note}")
                try:
                    results.extend(_results(disease, fitted, series, first, min_cases, report))
                except ValueError as e:
                    report.skipped.append(f"{key} {level}: {plan.label}: {e}")
    if open_alerts:
        done = await open_signals(store, results, now=now, principal=principal or SYSTEM_PRINCIPAL)
        report.opened = [d.alert.id for d in done if d.opened]
        report.updated = [d.alert.id for d in done if d.updated]
        report.unchanged = len(done) - len(report.opened) - len(report.updated)
    report.seconds = time.perf_counter() - t0
    return report
