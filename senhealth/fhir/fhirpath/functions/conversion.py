"""Conversion functions, and ``iif``.

Spec: http://hl7.org/fhirpath/N1/ section 5.5 "Conversion": ``iif(criterion, true-result
[, otherwise-result])``, ``toBoolean() convertsToBoolean() toInteger() convertsToInteger() toDecimal()
convertsToDecimal() toString() convertsToString() toDate() convertsToDate() toDateTime()
convertsToDateTime() toTime() convertsToTime() toQuantity([unit]) convertsToQuantity([unit])``; each
works on a single item (several items are an error) and gives empty when the value does not convert.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from senhealth.fhir.ucum import CALENDAR_KEYWORDS

from ..context import Context, Fn
from ..equality import as_quantity
from ..errors import FHIRPathEvaluationError
from ..operators import singleton, to_boolean
from ..quantity import Quantity, format_decimal
from ..temporal import FPDate, FPDateTime, FPTime
from ..values import Collection
from .registry import function

_INT_RE: Final = re.compile(r"[+-]?\d+")
_DEC_RE: Final = re.compile(r"[+-]?\d+(?:\.\d+)?")
_QTY_RE: Final = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?")
_TRUE_STRINGS: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE_STRINGS: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})


@function("iif", 2, 3, mode="lazy")
def iif(ctx: Context, focus: Collection, criterion: Fn, then: Fn, otherwise: Fn | None = None) -> Collection:
    if len(focus) > 1:
        raise FHIRPathEvaluationError("iif() can only be applied to a single item")
    this = ctx.this
    ctx.this = focus
    try:
        c = to_boolean(criterion(ctx, focus), "criterion of iif()")
        if c is True:
            return then(ctx, focus)
        return otherwise(ctx, focus) if otherwise is not None else []
    finally:
        ctx.this = this


def to_boolean_value(v: Any) -> bool | None:
    if v.__class__ is bool:
        return bool(v)
    if v.__class__ is int:
        return True if v == 1 else False if v == 0 else None
    if v.__class__ is Decimal:
        return True if v == 1 else False if v == 0 else None
    if v.__class__ is str:
        s = v.lower()
        return True if s in _TRUE_STRINGS else False if s in _FALSE_STRINGS else None
    return None


def to_integer_value(v: Any) -> int | None:
    if v.__class__ is bool:
        return 1 if v else 0
    if v.__class__ is int:
        return int(v)
    if v.__class__ is str and _INT_RE.fullmatch(v):
        return int(v)
    return None


def to_decimal_value(v: Any) -> Decimal | None:
    if v.__class__ is bool:
        return Decimal("1.0") if v else Decimal("0.0")
    if v.__class__ is int:
        return Decimal(v)
    if v.__class__ is Decimal:
        return v
    if v.__class__ is str and _DEC_RE.fullmatch(v):
        return Decimal(v)
    return None


def to_string_value(v: Any) -> str | None:
    if v.__class__ is str:
        return str(v)
    if v.__class__ is bool:
        return "true" if v else "false"
    if v.__class__ is int:
        return str(v)
    if v.__class__ is Decimal:
        return format_decimal(v)
    if v.__class__ is Quantity:
        return str(v)
    if isinstance(v, FPDate | FPDateTime | FPTime):
        return v.isoformat()
    return None


def to_date_value(v: Any) -> FPDate | None:
    if v.__class__ is FPDate:
        return v
    if v.__class__ is FPDateTime:
        return FPDate(v.year, v.month, v.day)
    if v.__class__ is str:
        d = FPDate.parse(v)
        if d is None:
            dt = FPDateTime.parse(v)
            return FPDate(dt.year, dt.month, dt.day) if dt is not None else None
        return d
    return None


def to_datetime_value(v: Any) -> FPDateTime | None:
    if v.__class__ is FPDateTime:
        return v
    if v.__class__ is FPDate:
        return v.to_datetime()
    if v.__class__ is str:
        return FPDateTime.parse(v)
    return None


def to_time_value(v: Any) -> FPTime | None:
    if v.__class__ is FPTime:
        return v
    if v.__class__ is str:
        return FPTime.parse(v)
    return None


def to_quantity_value(v: Any) -> Quantity | None:
    if v.__class__ is Quantity:
        return v
    if v.__class__ is bool:
        return Quantity(Decimal("1.0") if v else Decimal("0.0"), "1")
    if v.__class__ is int or v.__class__ is Decimal:
        return Quantity(Decimal(v), "1")
    if v.__class__ is str:
        m = _QTY_RE.fullmatch(v.strip())
        if m is None:
            return None
        if m.group(3) is not None and m.group(3) not in CALENDAR_KEYWORDS:
            return None
        return Quantity(Decimal(m.group(1)), m.group(2) or m.group(3) or "1")
    q = as_quantity(v)
    return q if q.__class__ is Quantity else None


def _register(name: str, convert: Callable[[Any], Any]) -> None:
    def to(ctx: Context, focus: Collection) -> Collection:
        v = singleton(focus, f"input of to{name}()")
        if v is None:
            return []
        r = convert(v)
        return [] if r is None else [r]

    def converts(ctx: Context, focus: Collection) -> Collection:
        v = singleton(focus, f"input of convertsTo{name}()")
        if v is None:
            return []
        return [convert(v) is not None]

    function("to" + name)(to)
    function("convertsTo" + name)(converts)


for _name, _conv in (
    ("Boolean", to_boolean_value),
    ("Integer", to_integer_value),
    ("Decimal", to_decimal_value),
    ("String", to_string_value),
    ("Date", to_date_value),
    ("DateTime", to_datetime_value),
    ("Time", to_time_value),
):
    _register(_name, _conv)


def _quantity_in(focus: Collection, unit: Collection | None, name: str) -> Quantity | None:
    v = singleton(focus, f"input of {name}()")
    if v is None:
        return None
    q = to_quantity_value(v)
    if q is None or not unit:
        return q
    u = singleton(unit, f"unit of {name}()")
    if u.__class__ is not str:
        raise FHIRPathEvaluationError(f"the unit of {name}() must be a String")
    return q.converted(u)


@function("toQuantity", 0, 1)
def to_quantity(ctx: Context, focus: Collection, unit: Collection | None = None) -> Collection:
    q = _quantity_in(focus, unit, "toQuantity")
    return [] if q is None else [q]


@function("convertsToQuantity", 0, 1)
def converts_to_quantity(ctx: Context, focus: Collection, unit: Collection | None = None) -> Collection:
    if not focus:
        return []
    return [_quantity_in(focus, unit, "convertsToQuantity") is not None]
