"""FHIRPath Date, DateTime and Time values with partial precision and time zones.

Spec: http://hl7.org/fhirpath/N1/ sections 2.1.4 (Date, DateTime, Time literals), 6.1 "Equality" and
6.2 "Comparison" (values are compared precision by precision; when one value has a component the other
lacks the result is empty; seconds and milliseconds are one precision), 6.6 "Date/Time Arithmetic"
(adding a calendar duration: the amount is truncated to whole units of the quantity; month and year
arithmetic keeps the day unless the month is shorter) and the 2.1 functions ``precision()``,
``lowBoundary()``, ``highBoundary()``.

A value knows its own precision (``None`` for absent components). ``str()`` is the FHIRPath literal
(``@2019-01``, ``@2019-01-02T10:00:00.000+07:00``, ``@T14:30``); ``isoformat()`` is the FHIR JSON form.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from decimal import Decimal
from typing import Final

from .valueobject import ValueObject

# Levels used for comparison and precision.
YEAR, MONTH, DAY, HOUR, MINUTE, SECOND = range(6)

_DATE_RE: Final = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_TIME_RE: Final = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?")
_TZ_RE: Final = re.compile(r"Z|([+-])(\d{2}):(\d{2})")
_DATETIME_RE: Final = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:T(?:(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?(Z|[+-]\d{2}:\d{2})?)?"
)

# Extreme time-zone offsets (minutes) for values written without one.
TZ_MIN: Final = -12 * 60
TZ_MAX: Final = 14 * 60


def _tz_text(tz: int | None) -> str:
    if tz is None:
        return ""
    if tz == 0:
        return "Z"
    sign = "+" if tz > 0 else "-"
    h, m = divmod(abs(tz), 60)
    return f"{sign}{h:02d}:{m:02d}"


def _parse_tz(text: str | None) -> int | None:
    if not text:
        return None
    if text == "Z":
        return 0
    m = _TZ_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid time zone {text!r}")
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return -minutes if m.group(1) == "-" else minutes


def _valid_date(y: int, mo: int | None, d: int | None) -> bool:
    if mo is not None and not 1 <= mo <= 12:
        return False
    return d is None or (mo is not None and 1 <= d <= calendar.monthrange(y, mo)[1])


def _valid_time(h: int, mi: int | None, s: int | None) -> bool:
    return 0 <= h <= 23 and (mi is None or 0 <= mi <= 59) and (s is None or 0 <= s <= 60)


def _sec_value(second: int | None, frac: str | None) -> Decimal | None:
    if second is None:
        return None
    if frac:
        return Decimal(f"{second}.{frac}")
    return Decimal(second)


class FPDate(ValueObject):
    """A FHIRPath Date: year, optionally month, optionally day."""

    __slots__ = ("day", "month", "year")
    _fields = ("year", "month", "day")

    def __init__(self, year: int, month: int | None = None, day: int | None = None) -> None:
        self.year = year
        self.month = month
        self.day = day

    @staticmethod
    def parse(text: str) -> FPDate | None:
        """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; ``None`` when invalid."""
        m = _DATE_RE.fullmatch(text)
        if m is None:
            return None
        y, mo, d = int(m.group(1)), _int(m.group(2)), _int(m.group(3))
        if not _valid_date(y, mo, d):
            return None
        return FPDate(y, mo, d)

    @property
    def level(self) -> int:
        return DAY if self.day is not None else MONTH if self.month is not None else YEAR

    def precision(self) -> int:
        return (4, 6, 8)[self.level]

    def components(self) -> tuple[int | Decimal | None, ...]:
        return (self.year, self.month, self.day, None, None, None)

    def isoformat(self) -> str:
        s = f"{self.year:04d}"
        if self.month is not None:
            s += f"-{self.month:02d}"
            if self.day is not None:
                s += f"-{self.day:02d}"
        return s

    def to_datetime(self) -> FPDateTime:
        return FPDateTime(self.year, self.month, self.day)

    def __str__(self) -> str:
        return "@" + self.isoformat()


class FPDateTime(ValueObject):
    """A FHIRPath DateTime with partial precision and an optional time-zone offset in minutes.

    ``frac`` holds the fraction-of-second digits as written (``"123"``); ``tz`` is the offset from UTC
    in minutes, ``None`` when not given.
    """

    __slots__ = ("day", "frac", "hour", "minute", "month", "second", "tz", "year")
    _fields = ("year", "month", "day", "hour", "minute", "second", "frac", "tz")

    def __init__(
        self,
        year: int,
        month: int | None = None,
        day: int | None = None,
        hour: int | None = None,
        minute: int | None = None,
        second: int | None = None,
        frac: str | None = None,
        tz: int | None = None,
    ) -> None:
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.frac = frac
        self.tz = tz

    @staticmethod
    def parse(text: str) -> FPDateTime | None:
        """Parse a FHIR dateTime / instant or the body of a FHIRPath DateTime literal."""
        m = _DATETIME_RE.fullmatch(text)
        if m is None:
            return None
        g = m.groups()
        y, mo, d = int(g[0]), _int(g[1]), _int(g[2])
        h, mi, s = _int(g[3]), _int(g[4]), _int(g[5])
        if not _valid_date(y, mo, d) or (h is not None and not _valid_time(h, mi, s)):
            return None
        if h is not None and d is None:
            return None
        try:
            tz = _parse_tz(g[7])
        except ValueError:
            return None
        if tz is not None and h is None:
            tz = None  # a zone on a date-only value carries no information
        return FPDateTime(y, mo, d, h, mi, s, g[6], tz)

    @property
    def level(self) -> int:
        for lvl, v in ((SECOND, self.second), (MINUTE, self.minute), (HOUR, self.hour), (DAY, self.day)):
            if v is not None:
                return lvl
        return MONTH if self.month is not None else YEAR

    def precision(self) -> int:
        if self.frac is not None:
            return 17
        return (4, 6, 8, 10, 12, 14)[self.level]

    def components(self) -> tuple[int | Decimal | None, ...]:
        return (self.year, self.month, self.day, self.hour, self.minute, _sec_value(self.second, self.frac))

    def isoformat(self) -> str:
        s = f"{self.year:04d}"
        if self.month is None:
            return s
        s += f"-{self.month:02d}"
        if self.day is None:
            return s
        s += f"-{self.day:02d}"
        if self.hour is None:
            return s
        s += f"T{self.hour:02d}"
        if self.minute is not None:
            s += f":{self.minute:02d}"
            if self.second is not None:
                s += f":{self.second:02d}"
                if self.frac is not None:
                    s += "." + self.frac
        return s + _tz_text(self.tz)

    def to_utc(self, assume_tz: int | None = None) -> FPDateTime:
        """The same instant in UTC (values below hour precision are returned unchanged)."""
        tz = self.tz if self.tz is not None else assume_tz
        if tz is None or tz == 0 or self.hour is None:
            return self
        assert self.month is not None and self.day is not None
        base = _dt.datetime(self.year, self.month, self.day, self.hour, self.minute or 0)
        shifted = base - _dt.timedelta(minutes=tz)
        return self.replace(
            year=shifted.year,
            month=shifted.month,
            day=shifted.day,
            hour=shifted.hour,
            minute=shifted.minute if self.minute is not None else None,
            tz=0,
        )

    def __str__(self) -> str:
        iso = self.isoformat()
        return "@" + iso + ("T" if self.hour is None else "")


class FPTime(ValueObject):
    """A FHIRPath Time (no time zone)."""

    __slots__ = ("frac", "hour", "minute", "second")
    _fields = ("hour", "minute", "second", "frac")

    def __init__(
        self, hour: int, minute: int | None = None, second: int | None = None, frac: str | None = None
    ) -> None:
        self.hour = hour
        self.minute = minute
        self.second = second
        self.frac = frac

    @staticmethod
    def parse(text: str) -> FPTime | None:
        m = _TIME_RE.fullmatch(text)
        if m is None:
            return None
        h, mi, s = int(m.group(1)), _int(m.group(2)), _int(m.group(3))
        if not _valid_time(h, mi, s):
            return None
        return FPTime(h, mi, s, m.group(4))

    @property
    def level(self) -> int:
        return SECOND if self.second is not None else MINUTE if self.minute is not None else HOUR

    def precision(self) -> int:
        if self.frac is not None:
            return 9
        return {HOUR: 2, MINUTE: 4, SECOND: 6}[self.level]

    def components(self) -> tuple[int | Decimal | None, ...]:
        return (self.hour, self.minute, _sec_value(self.second, self.frac))

    def isoformat(self) -> str:
        s = f"{self.hour:02d}"
        if self.minute is not None:
            s += f":{self.minute:02d}"
            if self.second is not None:
                s += f":{self.second:02d}"
                if self.frac is not None:
                    s += "." + self.frac
        return s

    def __str__(self) -> str:
        return "@T" + self.isoformat()


Temporal = FPDate | FPDateTime | FPTime


def _int(s: str | None) -> int | None:
    return None if s is None else int(s)


def _cmp_components(a: tuple[int | Decimal | None, ...], b: tuple[int | Decimal | None, ...]) -> int | None:
    for av, bv in zip(a, b):
        if av is None or bv is None:
            return 0 if av is None and bv is None else None
        if av != bv:
            return -1 if av < bv else 1
    return 0


def compare(a: Temporal, b: Temporal) -> int | None:
    """Three-way comparison; ``None`` when the answer depends on a precision one side lacks.

    Raises ``TypeError`` when the two values are not comparable (a Time against a Date).
    """
    ca = a.__class__
    cb = b.__class__
    if ca is FPTime or cb is FPTime:
        if ca is not cb:
            raise TypeError("a Time is only comparable with a Time")
        return _cmp_components(a.components(), b.components())
    if ca is FPDate or cb is FPDate:
        return _cmp_components(a.components(), b.components())
    x: FPDateTime = a  # type: ignore[assignment]
    y: FPDateTime = b  # type: ignore[assignment]
    if x.hour is not None and y.hour is not None and (x.tz is not None or y.tz is not None):
        if x.tz is not None and y.tz is not None:
            return _cmp_components(x.to_utc().components(), y.to_utc().components())
        # One side has no zone: the answer must hold whatever zone it is in.
        lo = _cmp_components(x.to_utc(TZ_MIN).components(), y.to_utc(TZ_MIN).components())
        hi = _cmp_components(x.to_utc(TZ_MAX).components(), y.to_utc(TZ_MAX).components())
        return lo if lo == hi else None
    return _cmp_components(x.components(), y.components())


def same_precision(a: Temporal, b: Temporal) -> bool:
    """Whether two values stop at the same precision (seconds and milliseconds are one precision)."""
    if isinstance(a, FPTime) != isinstance(b, FPTime):
        return False
    return a.level == b.level


# --- arithmetic -------------------------------------------------------------------------------------

CALENDAR_UNITS: Final = {
    "year": YEAR,
    "years": YEAR,
    "month": MONTH,
    "months": MONTH,
    "week": -1,
    "weeks": -1,
    "day": DAY,
    "days": DAY,
    "hour": HOUR,
    "hours": HOUR,
    "minute": MINUTE,
    "minutes": MINUTE,
    "second": SECOND,
    "seconds": SECOND,
    "millisecond": 6,
    "milliseconds": 6,
}
# UCUM units that are definite durations and may be added to dates (``mo`` and ``a`` may not).
UCUM_TIME_UNITS: Final = {"wk": -1, "d": DAY, "h": HOUR, "min": MINUTE, "s": SECOND, "ms": 6}


def add_duration(value: Temporal, amount: Decimal, unit: str) -> Temporal:
    """``value + amount unit``; raises ``ValueError`` when the unit is not a usable duration."""
    level = CALENDAR_UNITS.get(unit)
    if level is None:
        level = UCUM_TIME_UNITS.get(unit)
        if level is None:
            raise ValueError(f"cannot add a quantity in {unit!r} to a date or time")
    n = int(amount)  # truncate to whole units
    if level == -1:
        level, n = DAY, n * 7
    if isinstance(value, FPTime):
        return _add_time(value, n, level)
    if isinstance(value, FPDate):
        if level > DAY:
            n = _to_days(n, level)
            level = DAY
        dtv = _add_datetime(value.to_datetime(), n, level)
        return FPDate(dtv.year, dtv.month, dtv.day)
    return _add_datetime(value, n, level)


def _to_days(n: int, level: int) -> int:
    per_day = {HOUR: 24, MINUTE: 1440, SECOND: 86400, 6: 86_400_000}[level]
    return int(n / per_day)


def _add_months(y: int, mo: int, months: int) -> tuple[int, int]:
    total = y * 12 + (mo - 1) + months
    return total // 12, total % 12 + 1


def _add_datetime(v: FPDateTime, n: int, level: int) -> FPDateTime:
    if level == YEAR:
        y = v.year + n
        d = v.day
        if d is not None and v.month is not None:
            d = min(d, calendar.monthrange(y, v.month)[1])
        return v.replace(year=y, day=d)
    if level == MONTH:
        if v.month is None:
            return v.replace(year=v.year + int(n / 12))
        y, mo = _add_months(v.year, v.month, n)
        d = v.day
        if d is not None:
            d = min(d, calendar.monthrange(y, mo)[1])
        return v.replace(year=y, month=mo, day=d)
    if v.month is None or v.day is None:
        # Too coarse for a day-based amount: convert to the value's own precision.
        days = n if level == DAY else _to_days(n, level)
        if v.month is None:
            return v.replace(year=v.year + int(days / 365))
        return _add_datetime(v, int(days / 30), MONTH)
    micro = {DAY: 86_400_000_000, HOUR: 3_600_000_000, MINUTE: 60_000_000, SECOND: 1_000_000, 6: 1000}[level]
    frac_us = int(Decimal("0." + v.frac) * 1_000_000) if v.frac else 0
    base = _dt.datetime(v.year, v.month, v.day, v.hour or 0, v.minute or 0, min(v.second or 0, 59), frac_us)
    r = base + _dt.timedelta(microseconds=n * micro)
    frac = v.frac
    if frac is not None or level == 6:
        digits = max(len(frac or ""), 3)
        frac = f"{r.microsecond:06d}"[:digits].ljust(digits, "0")
    return FPDateTime(
        r.year,
        r.month,
        r.day,
        r.hour if v.hour is not None else None,
        r.minute if v.minute is not None else None,
        r.second if v.second is not None else None,
        frac if v.second is not None else None,
        v.tz,
    )


def _add_time(v: FPTime, n: int, level: int) -> FPTime:
    if level < HOUR:
        level, n = HOUR, n * 24 if level == DAY else 0
    micro = {HOUR: 3_600_000_000, MINUTE: 60_000_000, SECOND: 1_000_000, 6: 1000}[level]
    frac_us = int(Decimal("0." + v.frac) * 1_000_000) if v.frac else 0
    total = (v.hour * 3600 + (v.minute or 0) * 60 + (v.second or 0)) * 1_000_000 + frac_us + n * micro
    total %= 86_400 * 1_000_000
    secs, us = divmod(total, 1_000_000)
    h, rem = divmod(secs, 3600)
    mi, s = divmod(rem, 60)
    frac = v.frac
    if frac is not None:
        frac = f"{us:06d}"[: max(len(frac), 3)]
    return FPTime(
        h,
        mi if v.minute is not None else None,
        s if v.second is not None else None,
        frac if v.second is not None else None,
    )


# --- boundaries -------------------------------------------------------------------------------------


def _precision_to_level(p: int, kind: str) -> tuple[int, bool] | None:
    """Map a 2.1 ``precision`` digit count to (level, with milliseconds)."""
    if kind == "time":
        table = {2: (HOUR, False), 4: (MINUTE, False), 6: (SECOND, False), 9: (SECOND, True)}
    else:
        table = {
            4: (YEAR, False),
            6: (MONTH, False),
            8: (DAY, False),
            10: (HOUR, False),
            12: (MINUTE, False),
            14: (SECOND, False),
            17: (SECOND, True),
        }
    return table.get(p)


def boundary(value: Temporal, precision: int | None, high: bool) -> Temporal | None:
    """``lowBoundary()`` / ``highBoundary()`` of a partial date, date-time or time."""
    if isinstance(value, FPTime):
        spec = _precision_to_level(9 if precision is None else precision, "time")
        if spec is None:
            return None
        level, ms = spec
        h = value.hour
        mi = value.minute if value.minute is not None else (59 if high else 0)
        s = value.second if value.second is not None else (59 if high else 0)
        fr = value.frac.ljust(3, "9" if high else "0")[:3] if value.frac else ("999" if high else "000")
        return FPTime(
            h,
            mi if level >= MINUTE else None,
            s if level >= SECOND else None,
            fr if ms else None,
        )
    if isinstance(value, FPDate):
        if precision is None:
            # No precision asked: the boundary as a DateTime, so that it compares with date-times.
            return boundary(value.to_datetime(), 17, high)
        spec = _precision_to_level(precision, "date")
        if spec is None or spec[0] > DAY:
            return boundary(value.to_datetime(), precision, high) if spec is not None else None
        level = spec[0]
        y = value.year
        mo = value.month if value.month is not None else (12 if high else 1)
        d = value.day if value.day is not None else (calendar.monthrange(y, mo)[1] if high else 1)
        return FPDate(y, mo if level >= MONTH else None, d if level >= DAY else None)
    spec = _precision_to_level(17 if precision is None else precision, "date")
    if spec is None:
        return None
    level, ms = spec
    y = value.year
    mo = value.month if value.month is not None else (12 if high else 1)
    d = value.day if value.day is not None else (calendar.monthrange(y, mo)[1] if high else 1)
    if level <= DAY:
        return FPDate(y, mo if level >= MONTH else None, d if level >= DAY else None)
    h = value.hour if value.hour is not None else (23 if high else 0)
    mi = value.minute if value.minute is not None else (59 if high else 0)
    s = value.second if value.second is not None else (59 if high else 0)
    fr = value.frac.ljust(3, "9" if high else "0")[:3] if value.frac else ("999" if high else "000")
    tz = value.tz if value.tz is not None else (TZ_MIN if high else TZ_MAX)
    return FPDateTime(
        y,
        mo,
        d,
        h,
        mi if level >= MINUTE else None,
        s if level >= SECOND else None,
        fr if ms else None,
        tz,
    )


# --- clock ------------------------------------------------------------------------------------------


def now() -> FPDateTime:
    t = _dt.datetime.now().astimezone()
    off = t.utcoffset()
    tz = int(off.total_seconds() // 60) if off is not None else 0
    return FPDateTime(t.year, t.month, t.day, t.hour, t.minute, t.second, f"{t.microsecond // 1000:03d}", tz)


def today() -> FPDate:
    t = _dt.date.today()
    return FPDate(t.year, t.month, t.day)


def time_of_day() -> FPTime:
    t = _dt.datetime.now().time()
    return FPTime(t.hour, t.minute, t.second, f"{t.microsecond // 1000:03d}")
