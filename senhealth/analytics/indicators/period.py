"""Reporting periods (a month, a quarter, a year) as Viet Nam calendar days, and SQL for the local day of a
FHIR ``dateTime`` kept as text by the views.

A period is ``[start, end)`` in local days (Asia/Ho_Chi_Minh). FHIR dates may be partial (``2025``,
``2025-03``): the views keep them as text, and :func:`local_day_sql` gives the local calendar day of a
full date or date-time (``NULL`` for a partial one). DHIS2 period identifiers (``202501`` monthly,
``2025Q1`` quarterly, ``2025`` yearly) are parsed by :func:`parse_period`:
https://docs.dhis2.org/en/develop/using-the-api/dhis-core-version-master/data.html (period format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["ZONE", "Period", "local_day_sql", "month", "parse_period"]

ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in local days; ``id`` is the DHIS2 period identifier."""

    id: str
    start: date
    end: date

    @property
    def year(self) -> int:
        return self.start.year


def month(year: int, month_: int) -> Period:
    """The calendar month ``year-month_`` (ValueError for a month outside 1..12 or a year outside 1900..9998)."""
    if not 1 <= month_ <= 12 or not 1900 <= year <= 9998:
        raise ValueError(f"tháng không hợp lệ / not a month: {year}-{month_}")
    end = date(year + 1, 1, 1) if month_ == 12 else date(year, month_ + 1, 1)
    return Period(f"{year}{month_:02d}", date(year, month_, 1), end)


_MONTHLY: Final = re.compile(r"^(\d{4})(\d{2})$")
_QUARTERLY: Final = re.compile(r"^(\d{4})Q([1-4])$")
_YEARLY: Final = re.compile(r"^(\d{4})$")


def parse_period(text: str) -> Period:
    """A DHIS2 period identifier: ``YYYYMM``, ``YYYYQn`` or ``YYYY``; ValueError otherwise."""
    text = text.strip()
    if m := _MONTHLY.match(text):
        return month(int(m[1]), int(m[2]))
    if m := _QUARTERLY.match(text):
        year, quarter = int(m[1]), int(m[2])
        first = month(year, 3 * quarter - 2)
        return Period(text, first.start, month(year, 3 * quarter).end)
    if m := _YEARLY.match(text):
        year = int(m[1])
        if not 1900 <= year <= 9998:
            raise ValueError(f"kỳ báo cáo không hợp lệ / not a period: {text!r}")
        return Period(text, date(year, 1, 1), date(year + 1, 1, 1))
    raise ValueError(f"kỳ báo cáo không hợp lệ / not a period (YYYYMM, YYYYQn or YYYY): {text!r}")


def local_day_sql(column: str) -> str:
    """SQL for the Viet Nam calendar day of ``column`` (FHIR date or dateTime as text); NULL when partial."""
    return (
        f"(CASE WHEN length({column}) >= 16 THEN ({column}::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
        f" WHEN length({column}) = 10 THEN {column}::date END)"
    )
