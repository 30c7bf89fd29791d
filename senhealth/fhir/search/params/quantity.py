"""Quantity index values: the value range as given, its units, and the UCUM canonical form.

Spec: https://hl7.org/fhir/R4/search.html#quantity

A value is stored as an inclusive range ``low .. high`` so that one row shape covers every source:

==========================  ====================  ===========================================
source                      low .. high           system / code / unit
==========================  ====================  ===========================================
Quantity (Age, Duration..)  value .. value        system, code, unit
Quantity with ``<`` / <=    None .. value         (the comparator opens the range)
Quantity with ``>`` / >=    value .. None
Range                       low.value .. high     from low (or high)
Money                       value .. value        ``urn:iso:std:iso:4217``, currency, currency
==========================  ====================  ===========================================

When the unit is UCUM (system ``http://unitsofmeasure.org``, or no system and a code UCUM knows) the
canonical range and code are filled from :mod:`senhealth.fhir.ucum` (``mg/dL`` -> ``g.m-3``), so
``value-quantity=0.1|http://unitsofmeasure.org|g/L`` finds 10 mg/dL. ``SampledData`` is not indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink, to_decimal
from senhealth.fhir.ucum import UCUM_SYSTEM, canonical

__all__ = ["CURRENCY_SYSTEM", "SINKS", "QuantityValue"]

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


@dataclass(frozen=True, slots=True)
class QuantityValue:
    low: Decimal | None  # inclusive; None: unbounded
    high: Decimal | None
    system: str | None
    code: str | None
    unit: str | None
    canonical_low: Decimal | None = None  # UCUM canonical form, when known
    canonical_high: Decimal | None = None
    canonical_code: str | None = None

    @property
    def value(self) -> Decimal | None:
        """The single value of a plain Quantity (None for a range)."""
        return self.low if self.low == self.high else None


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _make(
    low: Decimal | None, high: Decimal | None, system: str | None, code: str | None, unit: str | None
) -> QuantityValue:
    if code is not None and (system == UCUM_SYSTEM or system is None):
        conv = canonical(code)
        if conv is not None:
            factor, offset, ccode = conv
            return QuantityValue(
                low,
                high,
                system,
                code,
                unit,
                None if low is None else low * factor + offset,
                None if high is None else high * factor + offset,
                ccode,
            )
    return QuantityValue(low, high, system, code, unit)


def quantity(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    v = to_decimal(value.get("value"))
    if v is None:
        return
    comparator = value.get("comparator")
    low: Decimal | None = v
    high: Decimal | None = v
    if comparator in ("<", "<="):
        low = None
    elif comparator in (">", ">="):
        high = None
    out.append(_make(low, high, _s(value.get("system")), _s(value.get("code")), _s(value.get("unit"))))


def range_(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    lo, hi = value.get("low"), value.get("high")
    lo = lo if lo.__class__ is dict else {}
    hi = hi if hi.__class__ is dict else {}
    low, high = to_decimal(lo.get("value")), to_decimal(hi.get("value"))
    if low is None and high is None:
        return
    units = lo if low is not None else hi
    out.append(_make(low, high, _s(units.get("system")), _s(units.get("code")), _s(units.get("unit"))))


def money(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    v = to_decimal(value.get("value"))
    if v is not None:
        currency = _s(value.get("currency"))
        out.append(QuantityValue(v, v, CURRENCY_SYSTEM if currency else None, currency, currency))


SINKS: dict[str, Sink] = {
    **{
        t: quantity
        for t in ("Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity")
    },
    "Range": range_,
    "Money": money,
}
