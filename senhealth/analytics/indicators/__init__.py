"""The province's indicator library: SQL-on-FHIR views + aggregations, versioned (issue 11, build item 1).

docs/indicators.md lists the indicators and their definitions.

- :mod:`.catalogue`: the indicators (id, version, kind, titles, views, aggregation);
- :mod:`.views`: the packaged ViewDefinitions (``views/*.json``), materialised and refreshed;
- :mod:`.period`: reporting periods (DHIS2 period identifiers) and local days;
- :mod:`.compute`: :func:`compute_indicators` for a period and a province.
"""

from __future__ import annotations

from .catalogue import CATALOGUE, Indicator, get_indicator
from .compute import IndicatorResult, IndicatorRow, Provider, compute_indicators, run_indicator_sql
from .period import Period, month, parse_period
from .views import VIEW_NAMES, ensure_views, load_view

__all__ = [
    "CATALOGUE",
    "VIEW_NAMES",
    "Indicator",
    "IndicatorResult",
    "IndicatorRow",
    "Period",
    "Provider",
    "compute_indicators",
    "ensure_views",
    "get_indicator",
    "load_view",
    "month",
    "parse_period",
    "run_indicator_sql",
]
