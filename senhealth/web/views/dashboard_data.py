"""The numbers of the province's dashboards (``/dashboards/``, docs/web-dashboards.md): the indicator
library for a period, a province and an area (the province, a commune, a facility), and its trend.

Everything comes from :func:`senhealth.analytics.indicators.compute_indicators` (docs/indicators.md):
the chosen period is computed by it exactly; the trend's earlier periods run the same aggregations
(:func:`~senhealth.analytics.indicators.run_indicator_sql`) without refreshing the views again, and
past periods are kept for :data:`TREND_TTL_S` seconds in this process (:func:`clear_cache`), since a
page shows 12 periods of 11 indicators.

Areas: an indicator keyed by facility gives a commune the sum of its facilities' numerators and
denominators (the facility's commune: its address's administrative unit); one keyed by commune gives
a commune its own row; referral flows give a commune or a facility the flows that start or end there;
the others (by level of care, by disease) exist for the province only.

The check-up indicators are computed by the check-up domain (:func:`checkup_providers`, the same rule as
``senhealth.api.reports.checkup_providers``: the web layer may not import the API's modules).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

from psycopg import sql

from senhealth.analytics.indicators import (
    CATALOGUE,
    Indicator,
    IndicatorResult,
    IndicatorRow,
    Period,
    Provider,
    compute_indicators,
    ensure_views,
    month,
    parse_period,
    run_indicator_sql,
)
from senhealth.analytics.indicators.views import SCHEMA
from senhealth.analytics.scheduled_reports import analyse_new_views
from senhealth.fhir.store import FhirStore

__all__ = [
    "FACILITY_MEASURES",
    "TREND_TTL_S",
    "Area",
    "Facility",
    "Measure",
    "Value",
    "area_value",
    "checkup_providers",
    "clear_cache",
    "commune_values",
    "default_period",
    "facilities",
    "last_periods",
    "mappable",
    "period_choices",
    "period_kind",
    "prepare_views",
    "results_for",
    "shift",
    "trend",
    "use_views_schema",
    "views_schema",
]

ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
TREND_TTL_S: Final = 900.0
"""How long a past period's rows are reused (the views' scheduled refresh runs every 15 minutes)."""
TREND_LENGTH: Final = 12

PeriodKind = Literal["month", "quarter", "year"]


_VIEWS_SCHEMA: list[str] = [SCHEMA]


def views_schema() -> str:
    """Where the indicator views' tables are (``analytics``; tests use their own schema)."""
    return _VIEWS_SCHEMA[0]


def use_views_schema(schema: str | None) -> None:
    """Read the views' tables from ``schema`` (None: the default); tests reset it."""
    _VIEWS_SCHEMA[0] = schema or SCHEMA


# --- periods ------------------------------------------------------------------------------------------


def period_kind(period: Period) -> PeriodKind:
    if "Q" in period.id:
        return "quarter"
    return "year" if len(period.id) == 4 else "month"


def shift(period: Period, steps: int) -> Period:
    """The period ``steps`` periods of the same kind after (negative: before) ``period``."""
    kind = period_kind(period)
    if kind == "year":
        return parse_period(str(period.year + steps))
    if kind == "quarter":
        index = period.year * 4 + (period.start.month - 1) // 3 + steps
        return parse_period(f"{index // 4}Q{index % 4 + 1}")
    index = period.year * 12 + period.start.month - 1 + steps
    return month(index // 12, index % 12 + 1)


def last_periods(period: Period, n: int = TREND_LENGTH) -> list[Period]:
    """The ``n`` periods ending with ``period``, oldest first."""
    return [shift(period, k) for k in range(-(n - 1), 1)]


def today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def default_period(on: dt.date | None = None) -> Period:
    """The last complete month."""
    day = (on or today()).replace(day=1) - dt.timedelta(days=1)
    return month(day.year, day.month)


def period_choices(chosen: Period, on: dt.date | None = None) -> dict[PeriodKind, list[Period]]:
    """The periods offered by the page's select: 24 months, 8 quarters, 5 years (and the chosen one)."""
    base = month((on or today()).year, (on or today()).month)
    out: dict[PeriodKind, list[Period]] = {
        "month": [shift(base, -k) for k in range(24)],
        "quarter": [
            shift(parse_period(f"{base.year}Q{(base.start.month - 1) // 3 + 1}"), -k) for k in range(8)
        ],
        "year": [parse_period(str(base.year - k)) for k in range(5)],
    }
    kind = period_kind(chosen)
    if chosen not in out[kind]:
        out[kind].append(chosen)
    return out


# --- facilities ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    code: str
    name: str
    commune: str
    province: str


async def facilities(
    store: FhirStore, *, schema: str = SCHEMA, province: str | None = None
) -> list[Facility]:
    """The facilities (Organizations with a facility code) of the indicator views, by code."""
    await ensure_views(store.pool, ["ind_organization"], param_ids=await store.param_ids(), schema=schema)
    query = sql.SQL(
        "SELECT id, facility_code, coalesce(name, ''), coalesce(commune, ''), coalesce(province, '') "
        "FROM {} WHERE facility_code IS NOT NULL ORDER BY facility_code"
    ).format(sql.Identifier(schema, "ind_organization"))
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(query)).fetchall()
    found = [Facility(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]
    return [f for f in found if province is None or f.province == province]


# --- the check-up indicators ----------------------------------------------------------------------------


def checkup_providers(store: FhirStore) -> dict[str, Provider]:
    """Providers for ``checkup-coverage``, ``htn-control`` and ``dm-control`` (per commune of the province)."""
    from senhealth.checkup.dashboard import CheckupDashboard, checkup_dashboard
    from senhealth.core.geo import province_of_commune

    boards: dict[int, CheckupDashboard] = {}

    async def provide(indicator: Indicator, period: Period, province: str) -> list[IndicatorRow]:
        board = boards.get(period.year)
        if board is None:
            board = boards[period.year] = await checkup_dashboard(store, period.year)
        name = {"checkup-coverage": "coverage"}.get(indicator.id, indicator.id)
        rows = []
        for commune in board.communes:
            if not commune.commune_code or province_of_commune(commune.commune_code) != province:
                continue
            ratio = commune.ratio(name)
            value = indicator.value(ratio.numerator, ratio.denominator)
            rows.append(
                IndicatorRow(
                    commune.commune_code, commune.commune_name, ratio.numerator, ratio.denominator, value
                )
            )
        return rows

    return {"checkup-coverage": provide, "htn-control": provide, "dm-control": provide}


# --- results for a period -----------------------------------------------------------------------------


def _total(indicator: Indicator, rows: Sequence[IndicatorRow]) -> IndicatorRow:
    """The province's total row (the rule of :func:`compute_indicators`)."""
    numerator = sum(r.numerator for r in rows)
    denominators = [r.denominator for r in rows if r.denominator is not None]
    denominator: int | None
    if indicator.kind == "count":
        denominator = None
    elif indicator.kind == "per100k":
        denominator = max(denominators) if denominators else None
    else:
        denominator = sum(denominators)
    return IndicatorRow("", "", numerator, denominator, indicator.value(numerator, denominator))


_CACHE: dict[tuple[str, str, str, str, int], tuple[float, list[IndicatorRow]]] = {}


def clear_cache() -> None:
    """Forget the past periods' rows kept for trends."""
    _CACHE.clear()


async def _rows(
    store: FhirStore,
    indicator: Indicator,
    period: Period,
    province: str,
    providers: Mapping[str, Provider],
    schema: str,
) -> tuple[list[IndicatorRow], bool]:
    key = (schema, indicator.id, period.id, province, id(store.pool))
    past = period.end <= today()
    hit = _CACHE.get(key)
    if past and hit is not None and hit[0] > time.monotonic():
        return hit[1], True
    if indicator.sql is not None:
        rows = await run_indicator_sql(store.pool, indicator, period, province, schema=schema)
    elif indicator.id in providers:
        rows = await providers[indicator.id](indicator, period, province)
    else:
        return [], False
    if past:
        _CACHE[key] = (time.monotonic() + TREND_TTL_S, rows)
    return rows, True


async def prepare_views(store: FhirStore, schema: str | None = None) -> dict[tuple[str, str], int]:
    """Bring every indicator view's table up to date (and analysed); the store's search parameter ids."""
    schema = schema or views_schema()
    param_ids = await store.param_ids()
    names = sorted({v for i in CATALOGUE for v in i.views})
    await ensure_views(store.pool, names, param_ids=param_ids, schema=schema)
    await analyse_new_views(store.pool, schema)  # statistics, or the aggregations crawl
    return param_ids


async def results_for(
    store: FhirStore,
    period: Period,
    province: str,
    *,
    providers: Mapping[str, Provider],
    schema: str | None = None,
) -> list[IndicatorResult]:
    """Every indicator for ``period``: :func:`compute_indicators` itself (views refreshed first)."""
    schema = schema or views_schema()
    param_ids = await store.param_ids()
    await ensure_views(
        store.pool, {v for i in CATALOGUE for v in i.views}, param_ids=param_ids, schema=schema
    )
    await analyse_new_views(store.pool, schema)  # statistics, or the aggregations crawl
    return await compute_indicators(
        store.pool, period, province, param_ids=param_ids, schema=schema, providers=providers
    )


async def trend(
    store: FhirStore,
    current: Sequence[IndicatorResult],
    *,
    providers: Mapping[str, Provider],
    schema: str | None = None,
    n: int = TREND_LENGTH,
) -> list[dict[str, IndicatorResult]]:
    """The ``n`` periods ending with ``current``'s (oldest first), each ``{indicator id: result}``; the
    last is ``current`` itself. Call after :func:`results_for` (the views are then current)."""
    schema = schema or views_schema()
    if not current:
        return []
    period, province = current[0].period, current[0].province
    out: list[dict[str, IndicatorResult]] = []
    for p in last_periods(period, n)[:-1]:
        by_id = {}
        for indicator in CATALOGUE:
            rows, available = await _rows(store, indicator, p, province, providers, schema)
            by_id[indicator.id] = IndicatorResult(
                indicator, p, province, rows, _total(indicator, rows), available
            )
        out.append(by_id)
    out.append({r.indicator.id: r for r in current})
    return out


# --- areas --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    numerator: int
    denominator: int | None
    value: float | None


@dataclass(frozen=True, slots=True)
class Area:
    """Where the numbers are: the province (``code`` its 2 digits), a commune or a facility."""

    kind: Literal["province", "commune", "facility"]
    code: str
    facility_codes: frozenset[str] = frozenset()
    """For a commune: the codes of its facilities."""


def _sum(indicator: Indicator, rows: Sequence[IndicatorRow]) -> Value:
    numerator = sum(r.numerator for r in rows)
    if indicator.kind == "count":
        return Value(numerator, None, float(numerator))
    denominator = sum(r.denominator or 0 for r in rows)
    return Value(numerator, denominator, indicator.value(numerator, denominator))


def area_value(result: IndicatorResult, area: Area) -> Value | None:
    """``result``'s value for ``area``; None when the indicator has no breakdown there or was not computed."""
    if not result.available:
        return None
    ind = result.indicator
    if area.kind == "province":
        return Value(result.total.numerator, result.total.denominator, result.total.value)
    if ind.dimension == "facility":
        codes = area.facility_codes if area.kind == "commune" else frozenset({area.code})
        return _sum(ind, [r for r in result.rows if r.key in codes])
    if ind.dimension == "commune" and area.kind == "commune":
        return _sum(ind, [r for r in result.rows if r.key == area.code])
    if ind.dimension == "flow":
        codes = area.facility_codes if area.kind == "commune" else frozenset({area.code})
        flows = [
            r
            for r in result.rows
            if r.extra.get("from_facility") in codes or r.extra.get("to_facility") in codes
        ]
        return _sum(ind, flows)
    return None


def mappable(indicator: Indicator) -> bool:
    """Whether the indicator has a value per commune (its own rows, or its facilities' summed)."""
    return indicator.dimension in ("commune", "facility")


def commune_values(result: IndicatorResult, facility_list: Sequence[Facility]) -> dict[str, Value]:
    """Per commune code: the indicator's value (communes without any row are left out)."""
    ind = result.indicator
    if ind.dimension == "commune":
        return {r.key: Value(r.numerator, r.denominator, r.value) for r in result.rows if r.key}
    if ind.dimension != "facility":
        return {}
    commune_of = {f.code: f.commune for f in facility_list if f.commune}
    grouped: dict[str, list[IndicatorRow]] = {}
    for r in result.rows:
        if (commune := commune_of.get(r.key)) is not None:
            grouped.setdefault(commune, []).append(r)
    out = {c: _sum(ind, rows) for c, rows in grouped.items()}
    if ind.kind != "count":  # a commune whose facilities saw nobody has no rate
        out = {c: v for c, v in out.items() if v.denominator}
    return out


# --- a facility's own measures ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measure:
    """A number of the facility page: from ``indicator``'s row of the facility (``part``: which number)."""

    id: str
    indicator: str
    kind: Literal["count", "ratio"]
    part: Literal["value", "denominator", "outgoing", "incoming"] = "value"


FACILITY_MEASURES: Final = (
    Measure("emr-adoption", "emr-adoption", "ratio"),
    Measure("visits", "emr-adoption", "count", "denominator"),
    Measure("referrals-out", "referral-flows", "count", "outgoing"),
    Measure("referrals-in", "referral-flows", "count", "incoming"),
    Measure("telemedicine-volume", "telemedicine-volume", "count"),
    Measure("dq-missing-personal-id", "dq-missing-personal-id", "ratio"),
)


def measure_value(measure: Measure, results: Mapping[str, IndicatorResult], code: str) -> Value | None:
    result = results.get(measure.indicator)
    if result is None or not result.available:
        return None
    if measure.part in ("outgoing", "incoming"):
        end = "from_facility" if measure.part == "outgoing" else "to_facility"
        n = sum(r.numerator for r in result.rows if r.extra.get(end) == code)
        return Value(n, None, float(n))
    rows = [r for r in result.rows if r.key == code]
    if measure.part == "denominator":
        n = sum(r.denominator or 0 for r in rows)
        return Value(n, None, float(n))
    return _sum(result.indicator, rows)
