"""Computing the indicator library for a period and a province.

:func:`compute_indicators` makes the views' tables current (:func:`.views.ensure_views`: built the first
time, then refreshed incrementally from the change feed), runs each indicator's aggregation (one SQL
statement each, parameters ``start``/``end`` (local days, end exclusive), ``province``, ``year``, ``now``)
and asks the given providers for the others (the check-up dashboard's rates). Results carry the
indicator's id and version, the period and the province; every row its numerator and denominator.

These are system computations over all patients: only counts leave (no person is listed); who may see
them is the caller's decision (``senhealth.api.reports``: the provincial roles).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from .catalogue import CATALOGUE, Indicator, get_indicator, indicator_sql
from .period import Period, local_day_sql
from .views import SCHEMA, VIEW_NAMES, ensure_views

__all__ = [
    "IndicatorResult",
    "IndicatorRow",
    "Provider",
    "compute_indicators",
    "run_indicator_sql",
]

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    key: str
    label: str
    numerator: int
    denominator: int | None
    value: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    indicator: Indicator
    period: Period
    province: str
    rows: list[IndicatorRow]
    total: IndicatorRow
    available: bool = True
    """False when the indicator is computed by a provider the caller did not give."""

    def to_json(self) -> dict[str, Any]:
        ind = self.indicator
        return {
            "id": ind.id,
            "version": ind.version,
            "kind": ind.kind,
            "title_vi": ind.title_vi,
            "title_en": ind.title_en,
            "dimension": ind.dimension,
            "period": self.period.id,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "province": self.province,
            "available": self.available,
            "rows": [r.to_json() for r in self.rows],
            "total": self.total.to_json(),
        }


Provider = Callable[[Indicator, Period, str], Awaitable[list[IndicatorRow]]]
"""Computes an indicator without SQL of its own: ``(indicator, period, province) -> rows``."""


def _fragments(schema: str) -> dict[str, sql.Composable]:
    out: dict[str, sql.Composable] = {name: sql.Identifier(schema, name) for name in VIEW_NAMES}
    out["e_start_day"] = sql.SQL(local_day_sql("e.start"))
    out["r_day"] = sql.SQL(local_day_sql("r.authored"))
    return out


def _total(indicator: Indicator, rows: list[IndicatorRow]) -> IndicatorRow:
    numerator = sum(r.numerator for r in rows)
    denominators = [r.denominator for r in rows if r.denominator is not None]
    denominator: int | None
    if indicator.kind == "count":
        denominator = None
    elif indicator.kind == "per100k":  # every row has the province's population
        denominator = max(denominators) if denominators else None
    else:
        denominator = sum(denominators)
    return IndicatorRow("", "", numerator, denominator, indicator.value(numerator, denominator))


async def run_indicator_sql(
    pool: Pool,
    indicator: Indicator,
    period: Period,
    province: str,
    *,
    schema: str = SCHEMA,
    now: datetime | None = None,
) -> list[IndicatorRow]:
    """The rows of ``indicator``'s aggregation (its views' tables must exist: :func:`ensure_views`)."""
    if indicator.sql is None:
        raise ValueError(f"{indicator.id} has no aggregation SQL: it is computed by a provider")
    statement = sql.SQL(indicator_sql(indicator.sql)).format(**_fragments(schema))
    params = {
        "start": period.start,
        "end": period.end,
        "province": province,
        "year": period.year,
        "now": now or datetime.now(UTC),
    }
    async with pool.connection() as conn:
        cur = await conn.execute(statement, params)
        names = [d.name for d in cur.description or ()]
        rows = await cur.fetchall()
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        numerator = int(record.pop("numerator") or 0)
        raw = record.pop("denominator")
        denominator = None if raw is None else int(raw)
        key = str(record.pop("key") or "")
        label = str(record.pop("label") or "")
        extra = {k: int(v) if isinstance(v, int) else v for k, v in record.items()}
        out.append(
            IndicatorRow(key, label, numerator, denominator, indicator.value(numerator, denominator), extra)
        )
    return out


async def compute_indicators(
    pool: Pool,
    period: Period,
    province: str,
    *,
    param_ids: Mapping[tuple[str, str], int],
    schema: str = SCHEMA,
    providers: Mapping[str, Provider] | None = None,
    only: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[IndicatorResult]:
    """Every indicator of the library (or those of ``only``) for ``period`` and ``province`` (2 digits)."""
    chosen = [get_indicator(i) for i in only] if only is not None else list(CATALOGUE)
    await ensure_views(pool, (v for i in chosen for v in i.views), param_ids=param_ids, schema=schema)
    results = []
    for indicator in chosen:
        available = True
        if indicator.sql is not None:
            rows = await run_indicator_sql(pool, indicator, period, province, schema=schema, now=now)
        elif providers is not None and indicator.id in providers:
            rows = await providers[indicator.id](indicator, period, province)
        else:
            rows, available = [], False
        results.append(IndicatorResult(indicator, period, province, rows, _total(indicator, rows), available))
    return results
