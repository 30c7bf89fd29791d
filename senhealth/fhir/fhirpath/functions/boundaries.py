"""Precision functions of FHIRPath 2.1.

Spec: https://build.fhir.org/ig/HL7/FHIRPath/ (2.1) sections "lowBoundary", "highBoundary",
"precision" and "comparable": the least and greatest values a decimal, quantity, date, date-time or time
could have given the precision it was written with (``1.587.lowBoundary()`` is ``1.5865``), the number
of digits of precision, and whether two quantities have commensurable units.

Decimals: the boundary is the value minus (plus) half a unit of its last digit, cut to ``precision``
decimal places (default 8; more than 28 or less than 0 gives empty); the low boundary of a negative
number is the negated high boundary of its magnitude. Dates without a precision argument give a
date-time boundary, so that ``start.lowBoundary() < end.highBoundary()`` compares a date with a date-time.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from senhealth.fhir.ucum import comparable as units_comparable

from .. import temporal
from ..context import Context
from ..errors import FHIRPathEvaluationError
from ..operators import singleton
from ..quantity import Quantity, decimal_scale
from ..temporal import FPDate, FPDateTime, FPTime
from ..values import Collection
from .registry import function

_MAX_DIGITS = 28


def decimal_boundary(value: Decimal, precision: int | None, high: bool) -> Decimal | None:
    p = 8 if precision is None else precision
    if p < 0 or p > _MAX_DIGITS:
        return None
    if value < 0 or (value == 0 and value.is_signed()):
        r = decimal_boundary(-value, p, not high)
        return None if r is None else r.copy_negate()
    half = Decimal(5).scaleb(-decimal_scale(value) - 1)
    exact = value + half if high else value - half
    q = Decimal(1).scaleb(-p)
    return exact.quantize(q, rounding=ROUND_HALF_UP if high else ROUND_DOWN)


def _boundary(focus: Collection, precision: Collection | None, high: bool) -> Collection:
    name = "highBoundary" if high else "lowBoundary"
    v = singleton(focus, f"input of {name}()")
    if v is None:
        return []
    p: Any = None
    if precision is not None:
        p = singleton(precision, f"precision of {name}()")
        if p is None:
            return []
        if p.__class__ is not int:
            raise FHIRPathEvaluationError(f"the precision of {name}() must be an Integer")
    if v.__class__ is int or v.__class__ is Decimal:
        r = decimal_boundary(Decimal(v), p, high)
        return [] if r is None else [r]
    if v.__class__ is Quantity:
        r = decimal_boundary(v.value, p, high)
        return [] if r is None else [Quantity(r, v.unit)]
    if isinstance(v, FPDate | FPDateTime | FPTime):
        b = temporal.boundary(v, p, high)
        return [] if b is None else [b]
    return []


@function("lowBoundary", 0, 1)
def low_boundary(ctx: Context, focus: Collection, precision: Collection | None = None) -> Collection:
    return _boundary(focus, precision, high=False)


@function("highBoundary", 0, 1)
def high_boundary(ctx: Context, focus: Collection, precision: Collection | None = None) -> Collection:
    return _boundary(focus, precision, high=True)


@function("precision")
def precision(ctx: Context, focus: Collection) -> Collection:
    v = singleton(focus, "input of precision()")
    if v is None:
        return []
    if v.__class__ is Decimal:
        return [decimal_scale(v)]
    if v.__class__ is int:
        return [0]
    if v.__class__ is Quantity:
        return [decimal_scale(v.value)]
    if isinstance(v, FPDate | FPDateTime | FPTime):
        return [v.precision()]
    return []


@function("comparable", 1)
def comparable(ctx: Context, focus: Collection, other: Collection) -> Collection:
    a = singleton(focus, "input of comparable()")
    b = singleton(other, "argument of comparable()")
    if a is None or b is None:
        return []
    if a.__class__ is not Quantity or b.__class__ is not Quantity:
        raise FHIRPathEvaluationError("comparable() needs two quantities")
    return [units_comparable(a.canonical_unit, b.canonical_unit)]
