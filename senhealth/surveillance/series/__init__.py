"""Surveillance time series: case counts per disease x commune x day and ISO week (province totals by
aggregation), kept up to date in the case writer's transaction, and population denominators for rates
per 100,000. The detectors read :func:`weekly_series`. See :mod:`.counts`, :mod:`.population`.
"""

from senhealth.surveillance.series.counts import (
    WeekCount,
    daily_series,
    iso_label,
    parse_iso_week,
    rebuild,
    week_start,
    weekly_series,
)
from senhealth.surveillance.series.population import (
    PopulationRow,
    count_from_patient_index,
    population,
    rate_per_100k,
    set_population,
)

__all__ = [
    "PopulationRow",
    "WeekCount",
    "count_from_patient_index",
    "daily_series",
    "iso_label",
    "parse_iso_week",
    "population",
    "rate_per_100k",
    "rebuild",
    "set_population",
    "week_start",
    "weekly_series",
]
