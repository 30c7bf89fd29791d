"""Math functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.7 "Math" (STU in 2.0, normative in 2.1): ``abs() ceiling()
exp() floor() ln() log(base) power(exponent) round([precision]) sqrt() truncate()``. Inputs are single
Integer or Decimal items (``abs`` also takes a Quantity); results that are not real numbers
(``(-1).sqrt()``) are empty. Transcendental results are computed with extra digits and rounded to 28
significant digits so that ``16.log(2) = 4.0`` holds exactly.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Context
from ..errors import FHIRPathEvaluationError
from ..operators import singleton
from ..quantity import Quantity
from ..values import Collection, type_of
from .registry import function

_WIDE = decimal.Context(prec=60)
_NARROW = decimal.Context(prec=28)


def _number(focus: Collection, name: str) -> Any:
    v = singleton(focus, f"input of {name}()")
    if v is None:
        return None
    if v.__class__ is bool or not isinstance(v, int | Decimal):
        raise FHIRPathEvaluationError(f"{name}() needs a number, not {'.'.join(type_of(v))}")
    return v


def _exact(value: Decimal) -> Decimal:
    return _NARROW.plus(value)


@function("abs")
def abs_(ctx: Context, focus: Collection) -> Collection:
    v = singleton(focus, "input of abs()")
    if v is None:
        return []
    if v.__class__ is Quantity:
        return [Quantity(abs(v.value), v.unit)]
    return [abs(_number(focus, "abs"))]


def _integral(name: str, rounding: str) -> None:
    def impl(ctx: Context, focus: Collection) -> Collection:
        v = _number(focus, name)
        if v is None:
            return []
        if v.__class__ is int:
            return [v]
        return [int(v.to_integral_value(rounding=rounding))]

    function(name)(impl)


_integral("ceiling", ROUND_CEILING)
_integral("floor", ROUND_FLOOR)
_integral("truncate", ROUND_DOWN)


def _transcendental(name: str, f: Callable[[Decimal], Decimal]) -> None:
    def impl(ctx: Context, focus: Collection) -> Collection:
        v = _number(focus, name)
        if v is None:
            return []
        try:
            return [_exact(f(Decimal(v)))]
        except (decimal.InvalidOperation, ValueError):
            return []

    function(name)(impl)


_transcendental("exp", lambda d: d.exp(_WIDE))
_transcendental("ln", lambda d: d.ln(_WIDE) if d > 0 else _raise())
_transcendental("sqrt", lambda d: d.sqrt(_WIDE) if d >= 0 else _raise())


def _raise() -> Decimal:
    raise ValueError("not a real number")


@function("log", 1)
def log(ctx: Context, focus: Collection, base: Collection) -> Collection:
    v = _number(focus, "log")
    b = _number(base, "log")
    if v is None or b is None or v <= 0 or b <= 0 or b == 1:
        return []
    return [_exact(Decimal(v).ln(_WIDE) / Decimal(b).ln(_WIDE))]


@function("power", 1)
def power(ctx: Context, focus: Collection, exponent: Collection) -> Collection:
    v = _number(focus, "power")
    e = _number(exponent, "power")
    if v is None or e is None:
        return []
    if v.__class__ is int and e.__class__ is int and e >= 0:
        return [v**e]
    try:
        r = _WIDE.power(Decimal(v), Decimal(e))
    except (decimal.InvalidOperation, decimal.DivisionByZero):
        return []
    return [_exact(r)]


@function("round", 0, 1)
def round_(ctx: Context, focus: Collection, precision: Collection | None = None) -> Collection:
    v = _number(focus, "round")
    if v is None:
        return []
    p = 0
    if precision is not None:
        pv = singleton(precision, "precision of round()")
        if pv is None:
            return []
        if pv.__class__ is not int or pv < 0:
            raise FHIRPathEvaluationError("round() needs a non-negative Integer precision")
        p = pv
    return [Decimal(v).quantize(Decimal(1).scaleb(-p), rounding=ROUND_HALF_UP)]
