"""The FHIRPath Quantity: a decimal value with a UCUM unit or a calendar duration keyword.

Spec: http://hl7.org/fhirpath/N1/ sections 2.1.4 "Quantity" (literals ``5 'mg'``, ``4 days``), 6.1
"Equality" (quantities are equal when their values are equal after conversion to a common unit;
``year``/``month`` are not the UCUM ``a``/``mo``), 6.1.4 "Equivalent" (values rounded to the precision of
the least precise operand), 6.2 "Comparison" and 6.6 "Math" (``*`` and ``/`` combine units).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from senhealth.fhir import ucum

from .valueobject import ValueObject

UCUM_SYSTEM: Final = "http://unitsofmeasure.org"


def format_decimal(d: Decimal) -> str:
    """A decimal as FHIRPath writes it: plain notation, scale kept (``1.0``, ``0.00000001``)."""
    s = format(d, "f")
    return "0" if s == "-0" else s


class Quantity(ValueObject):
    """``value`` in ``unit`` (a UCUM code, or a calendar keyword such as ``days``)."""

    __slots__ = ("unit", "value")
    _fields = ("value", "unit")

    def __init__(self, value: Decimal, unit: str = "1") -> None:
        self.value = value
        self.unit = unit

    def __str__(self) -> str:
        v = format_decimal(self.value)
        if self.unit in ucum.CALENDAR_KEYWORDS:
            return f"{v} {self.unit}"
        return f"{v} '{self.unit}'"

    @property
    def canonical_unit(self) -> str:
        """Calendar keywords in singular form; UCUM codes as they are."""
        return ucum.CALENDAR_KEYWORDS.get(self.unit, self.unit)

    def converted(self, unit: str) -> Quantity | None:
        """This quantity expressed in ``unit``; ``None`` when the units are not commensurable."""
        f = ucum.conversion_factor(self.canonical_unit, ucum.CALENDAR_KEYWORDS.get(unit, unit))
        if f is None:
            return None
        return Quantity(self.value * f if f != 1 else self.value, unit)


def from_fhir(value: dict[str, object]) -> Quantity | None:
    """A FHIR Quantity (or Age, Duration, ...) JSON object as a FHIRPath Quantity."""
    v = value.get("value")
    if v is None or isinstance(v, bool):
        return None
    try:
        dv = v if isinstance(v, Decimal) else Decimal(str(v))
    except InvalidOperation:
        return None
    code = value.get("code")
    system = value.get("system")
    if isinstance(code, str) and code:
        if system is None or system == UCUM_SYSTEM:
            return Quantity(dv, code)
        return Quantity(dv, f"{system}|{code}")  # not UCUM: only equal to itself
    text = value.get("unit")
    if isinstance(text, str) and text:
        return Quantity(dv, text)
    return Quantity(dv, "1")


def compare(a: Quantity, b: Quantity) -> int | None:
    """Three-way comparison after converting ``b`` to ``a``'s unit; ``None`` if not comparable."""
    bc = b.converted(a.unit)
    if bc is None:
        return None
    if a.value == bc.value:
        return 0
    return -1 if a.value < bc.value else 1


def decimal_scale(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def round_equal(a: Decimal, b: Decimal, scale: int | None = None) -> bool:
    """Decimal equivalence: equal when rounded to the precision of the less precise operand."""
    s = min(decimal_scale(a), decimal_scale(b)) if scale is None else scale
    q = Decimal(1).scaleb(-s)
    return a.quantize(q) == b.quantize(q)


def equivalent(a: Quantity, b: Quantity) -> bool:
    bc = b.converted(a.unit)
    if bc is None:
        return False
    return round_equal(a.value, bc.value, min(decimal_scale(a.value), decimal_scale(b.value)))


def _ucum(q: Quantity) -> str:
    u = q.canonical_unit
    return ucum.CALENDAR_TO_UCUM.get(u, u)


def _combine(u1: str, u2: str, op: str) -> str:
    def wrap(u: str) -> str:
        return f"({u})" if ("." in u or "/" in u) else u

    if op == "*":
        if u1 == "1":
            return u2
        if u2 == "1":
            return u1
        if u1 == u2 and u1.isalpha():
            return u1 + "2"
        return f"{wrap(u1)}.{wrap(u2)}"
    if u1 == u2:
        return "1"
    if u2 == "1":
        return u1
    return f"{wrap(u1)}/{wrap(u2)}"


def multiply(a: Quantity, b: Quantity) -> Quantity:
    return Quantity(a.value * b.value, _combine(_ucum(a), _ucum(b), "*"))


def divide(a: Quantity, b: Quantity) -> Quantity | None:
    if b.value == 0:
        return None
    return Quantity(a.value / b.value, _combine(_ucum(a), _ucum(b), "/"))


def add(a: Quantity, b: Quantity, sign: int = 1) -> Quantity | None:
    bc = b.converted(a.unit)
    if bc is None:
        return None
    return Quantity(a.value + sign * bc.value, a.unit)
