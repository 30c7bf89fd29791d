"""Date and time component functions of FHIRPath 2.1.

Spec: https://build.fhir.org/ig/HL7/FHIRPath/ (2.1, STU) section "Date and Time functions":
``yearOf() monthOf() dayOf() hourOf() minuteOf() secondOf() millisecondOf() timezoneOffsetOf()
dateOf() timeOf()``; a component the value does not have gives empty.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..context import Context
from ..operators import singleton
from ..temporal import FPDate, FPDateTime, FPTime
from ..values import Collection
from .registry import function


def _component(name: str, get: Callable[[Any], Any]) -> None:
    def impl(ctx: Context, focus: Collection) -> Collection:
        v = singleton(focus, f"input of {name}()")
        if not isinstance(v, FPDate | FPDateTime | FPTime):
            return []
        try:
            r = get(v)
        except AttributeError:
            return []
        return [] if r is None else [r]

    function(name)(impl)


def _millis(v: Any) -> int | None:
    if v.second is None:
        return None
    return int((v.frac or "0").ljust(3, "0")[:3])


def _tz_hours(v: FPDateTime) -> Decimal | None:
    return None if v.tz is None else Decimal(v.tz) / 60


_component("yearOf", lambda v: v.year)
_component("monthOf", lambda v: v.month)
_component("dayOf", lambda v: v.day)
_component("hourOf", lambda v: v.hour)
_component("minuteOf", lambda v: v.minute)
_component("secondOf", lambda v: v.second)
_component("millisecondOf", _millis)
_component("timezoneOffsetOf", _tz_hours)
_component("dateOf", lambda v: FPDate(v.year, v.month, v.day) if isinstance(v, FPDate | FPDateTime) else None)
_component(
    "timeOf",
    lambda v: (
        FPTime(v.hour, v.minute, v.second, v.frac)
        if isinstance(v, FPDateTime) and v.hour is not None
        else None
    ),
)
