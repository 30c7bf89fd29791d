"""Equality, equivalence and ordering of single items.

Spec: http://hl7.org/fhirpath/N1/ section 6.1 "Equality" (``=``/``!=``: types must match after implicit
conversion Integer -> Decimal, Date -> DateTime, FHIR Quantity -> System Quantity; date-times whose
precisions differ compare as empty), 6.1.3 "Equivalent" (``~``: strings ignore case and collapse
whitespace, decimals are rounded to the less precise operand, dates of different precision are not
equivalent) and 6.2 "Comparison" (``< > <= >=`` on numbers, strings, dates, times and quantities).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import quantity as q
from . import temporal
from .errors import FHIRPathEvaluationError
from .quantity import Quantity
from .temporal import FPDate, FPDateTime, FPTime
from .typemodel import QUANTITY_TYPES
from .values import Node, system_value, type_of

_NUMBERS = (int, Decimal)
_TEMPORAL = (FPDate, FPDateTime, FPTime)


def as_quantity(v: Any) -> Any:
    """A FHIR Quantity node as a System Quantity; anything else unchanged."""
    if v.__class__ is Node and v.type in QUANTITY_TYPES and v.value.__class__ is dict:
        return q.from_fhir(v.value) or v
    return v


def _coerce_str(a: Any, b: Any) -> tuple[Any, Any]:
    """A string compared with a date or time is read as one (untyped JSON has dates as strings)."""
    if a.__class__ is str and isinstance(b, _TEMPORAL):
        parsed = FPTime.parse(a) if b.__class__ is FPTime else (FPDate.parse(a) or FPDateTime.parse(a))
        if parsed is not None:
            return parsed, b
    elif b.__class__ is str and isinstance(a, _TEMPORAL):
        parsed = FPTime.parse(b) if a.__class__ is FPTime else (FPDate.parse(b) or FPDateTime.parse(b))
        if parsed is not None:
            return a, parsed
    return a, b


def equal(a: Any, b: Any) -> bool | None:
    """``a = b`` for single items; ``None`` when the answer is unknown (empty)."""
    a = system_value(a)
    b = system_value(b)
    if a is None or b is None:
        return None
    ca = a.__class__
    cb = b.__class__
    if ca is cb:
        if ca is str or ca is bool or ca is int or ca is Decimal:
            return bool(a == b)
        if ca is Node:
            if a.type in QUANTITY_TYPES and b.type in QUANTITY_TYPES:
                return equal(as_quantity(a), as_quantity(b))
            return bool(a.value == b.value)
        if ca is Quantity:
            c = q.compare(a, b)
            return None if c is None else c == 0
        c2 = temporal.compare(a, b)
        return None if c2 is None else c2 == 0
    if ca is bool or cb is bool:
        return False
    if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
        return bool(a == b)
    a, b = _coerce_str(a, b)
    if isinstance(a, _TEMPORAL) and isinstance(b, _TEMPORAL):
        try:
            c3 = temporal.compare(a, b)
        except TypeError:
            return False
        return None if c3 is None else c3 == 0
    if ca is Quantity or cb is Quantity:
        a = as_quantity(a)
        b = as_quantity(b)
        if a.__class__ is Quantity and b.__class__ is Quantity:
            return equal(a, b)
    return False


def _norm_str(s: str) -> str:
    return " ".join(s.split()).lower()


def equivalent(a: Any, b: Any) -> bool:
    """``a ~ b`` for single items."""
    a = system_value(a)
    b = system_value(b)
    if a is None or b is None:
        return a is None and b is None
    ca = a.__class__
    cb = b.__class__
    if ca is str and cb is str:
        return _norm_str(a) == _norm_str(b)
    if ca is bool or cb is bool:
        return ca is cb and a == b
    if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
        if ca is int and cb is int:
            return bool(a == b)
        return q.round_equal(Decimal(a), Decimal(b))
    a, b = _coerce_str(a, b)
    if isinstance(a, _TEMPORAL) and isinstance(b, _TEMPORAL):
        if not temporal.same_precision(a, b):
            return False
        try:
            return temporal.compare(a, b) == 0
        except TypeError:
            return False
    a = as_quantity(a)
    b = as_quantity(b)
    if a.__class__ is Quantity and b.__class__ is Quantity:
        return q.equivalent(a, b)
    if a.__class__ is Node and b.__class__ is Node:
        return _json_equivalent(a.value, b.value)
    return False


def _json_equivalent(x: Any, y: Any) -> bool:
    if x.__class__ is dict and y.__class__ is dict:
        keys = {k for k in x if k != "id"} | {k for k in y if k != "id"}
        return all(_json_equivalent(x.get(k), y.get(k)) for k in keys)
    if x.__class__ is list and y.__class__ is list:
        return len(x) == len(y) and all(any(_json_equivalent(i, j) for j in y) for i in x)
    if x.__class__ is str and y.__class__ is str:
        return _norm_str(x) == _norm_str(y)
    return bool(x == y)


def compare(a: Any, b: Any) -> int | None:
    """Three-way ordering of single items; ``None`` when unknown; raises when not comparable."""
    a = system_value(a)
    b = system_value(b)
    if a is None or b is None:
        return None
    ca = a.__class__
    cb = b.__class__
    if ca is not bool and cb is not bool:
        if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
            return 0 if a == b else (-1 if a < b else 1)
        if ca is str and cb is str:
            return 0 if a == b else (-1 if a < b else 1)
        a, b = _coerce_str(a, b)
        if isinstance(a, _TEMPORAL) and isinstance(b, _TEMPORAL):
            try:
                return temporal.compare(a, b)
            except TypeError:
                pass
        else:
            a = as_quantity(a)
            b = as_quantity(b)
            if a.__class__ is Quantity and b.__class__ is Quantity:
                return q.compare(a, b)
    raise FHIRPathEvaluationError(f"cannot compare {'.'.join(type_of(a))} with {'.'.join(type_of(b))}")
