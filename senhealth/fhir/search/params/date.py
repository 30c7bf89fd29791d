"""Date index values: the inclusive UTC instant range a value covers at its precision.

Spec: https://hl7.org/fhir/R4/search.html#date and https://hl7.org/fhir/R4/datatypes.html#dateTime

Every date-like value is an interval, because it is only as exact as written: ``2020`` covers
2020-01-01T00:00:00 .. 2020-12-31T23:59:59.999999, ``2020-03`` the month, ``2020-03-04`` the day,
``...T10:30:00`` the second and ``...T10:30:00.12`` the hundredth of a second. Both ends are inclusive and
converted to timezone-aware UTC ``datetime``. Values without a UTC offset (dates always; dateTimes and
instants that omit it, although FHIR requires one whenever a time is given) are read in the context's
zone, :data:`senhealth.fhir.search.context.DEFAULT_TZ` (Asia/Ho_Chi_Minh, +07:00) by default: a Vietnamese
birth date ``1990-05-17`` is 1990-05-16T17:00:00Z .. 1990-05-17T16:59:59.999999Z.

``Period``: start's low .. end's high; a missing end (or start) is ``None``, unbounded, as the spec asks
("an open period"). ``Timing``: the outer limits only (spec: "the specified scheduling details are
ignored"): the earliest event or ``repeat.boundsPeriod.start`` .. the latest event or its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "DateValue", "date_range"]

_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DateValue:
    low: datetime | None  # inclusive, UTC; None: unbounded below
    high: datetime | None  # inclusive, UTC; None: unbounded above


_DATE_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_US = timedelta(microseconds=1)


def _zone(text: str | None, default: tzinfo) -> tzinfo:
    if text is None:
        return default
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    offset = timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
    return UTC if not offset else timezone(sign * offset)


def _utc(local: datetime, zone: tzinfo, low: bool) -> datetime:
    try:
        return local.replace(tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):
        return _MIN if low else _MAX


_SECOND = timedelta(seconds=1) - _US


def _to_the_second(text: str) -> tuple[datetime, datetime] | None:
    """The range of ``YYYY-MM-DDThh:mm:ss`` with ``Z`` or ``+hh:mm`` (what most dateTimes and instants
    look like), read by ``datetime.fromisoformat`` (C); None when the text has another shape or is not a
    valid time (the general parser then decides). Same result as the general parser: the offset is
    fixed, so the second's last microsecond is the start's plus 999,999 µs in any zone."""
    n = len(text)
    if not (
        (n == 25 and text[22] == ":" and (text[19] == "+" or text[19] == "-"))
        or (n == 20 and text[19] == "Z")
    ):
        return None
    if text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    if not "0001" < text[:4] < "9999":
        return None  # the first and last years: their edges overflow, which the general parser handles
    try:
        low = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return low, low + _SECOND


@lru_cache(maxsize=16384)
def date_range(text: str, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """The inclusive UTC range of a FHIR date / dateTime / instant string, or None if it is not one."""
    found = _to_the_second(text)
    if found is not None:
        return found
    return _general_range(text, tz)


def _general_range(text: str, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """:func:`date_range` for every shape (the definition; ``_to_the_second`` is its fast path)."""
    m = _DATE_RE.fullmatch(text.strip())
    if m is None:
        return None
    year_s, month_s, day_s, hour_s, minute_s, second_s, frac, zone_s = m.groups()
    try:
        year = int(year_s)
        if month_s is None:
            low = datetime(year, 1, 1)
            high = datetime(year + 1, 1, 1) - _US if year < 9999 else datetime.max
        elif day_s is None:
            month = int(month_s)
            low = datetime(year, month, 1)
            nxt = datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)
            high = nxt - _US
        elif hour_s is None:
            low = datetime(year, int(month_s), int(day_s))
            high = low + timedelta(days=1) - _US
        else:
            base = datetime(year, int(month_s), int(day_s), int(hour_s), int(minute_s))
            if second_s is None:
                low, high = base, base + timedelta(minutes=1) - _US
            elif frac is None:
                low = base.replace(second=int(second_s))
                high = low + timedelta(seconds=1) - _US
            else:
                digits = frac[:6]
                low = base.replace(second=int(second_s), microsecond=int(digits.ljust(6, "0")))
                high = low + timedelta(microseconds=10 ** (6 - len(digits))) - _US
        zone = _zone(zone_s, tz)  # an offset of 24 h or more, or 60 minutes: not a time zone
    except (ValueError, OverflowError):
        return None
    return _utc(low, zone, True), _utc(high, zone, False)


@lru_cache(maxsize=16384)
def _value(text: str, tz: tzinfo) -> DateValue | None:
    """The value of a date string (immutable: one instance serves every occurrence)."""
    r = date_range(text, tz)
    return DateValue(r[0], r[1]) if r is not None else None


def primitive(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if isinstance(value, str):
        found = _value(value, ctx.tz)
        if found is not None:
            out.append(found)


def _low(value: Any, ctx: ExtractContext) -> datetime | None:
    r = date_range(value, ctx.tz) if isinstance(value, str) else None
    return r[0] if r else None


def _high(value: Any, ctx: ExtractContext) -> datetime | None:
    r = date_range(value, ctx.tz) if isinstance(value, str) else None
    return r[1] if r else None


def period(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    low = _low(value.get("start"), ctx)
    high = _high(value.get("end"), ctx)
    if low is not None or high is not None:
        out.append(DateValue(low, high))


def timing(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    lows: list[datetime] = []
    highs: list[datetime] = []
    for event in value.get("event") or ():
        r = date_range(event, ctx.tz) if isinstance(event, str) else None
        if r is not None:
            lows.append(r[0])
            highs.append(r[1])
    open_low = open_high = False
    repeat = value.get("repeat")
    bounds = repeat.get("boundsPeriod") if repeat.__class__ is dict else None
    if bounds.__class__ is dict:
        b_low = _low(bounds.get("start"), ctx)
        b_high = _high(bounds.get("end"), ctx)
        if b_low is None:
            open_low = True
        else:
            lows.append(b_low)
        if b_high is None:
            open_high = True
        else:
            highs.append(b_high)
    if not lows and not highs:
        return
    out.append(
        DateValue(
            None if open_low or not lows else min(lows),
            None if open_high or not highs else max(highs),
        )
    )


#: Age, Range and string choices of date-like elements (Procedure.performed[x], ...) are not dates.
SINKS: dict[str, Sink] = {
    "date": primitive,
    "dateTime": primitive,
    "instant": primitive,
    "Period": period,
    "Timing": timing,
}
