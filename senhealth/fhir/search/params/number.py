"""Number index values: a Decimal range (a single value, or a Range's low .. high).

Spec: https://hl7.org/fhir/R4/search.html#number

Numbers are kept as ``Decimal`` exactly as written (a JSON float goes through its shortest repr, so
``0.1`` stays ``0.1``); the search side applies the implicit precision of the *search* value. The only
R4 number parameter on a Range is ``RiskAssessment.probability`` (decimal | Range).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink, to_decimal

__all__ = ["SINKS", "NumberValue"]


@dataclass(frozen=True, slots=True)
class NumberValue:
    low: Decimal | None  # inclusive; equal to high for a plain number
    high: Decimal | None

    @property
    def value(self) -> Decimal | None:
        return self.low if self.low == self.high else None


def number(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is bool:
        return
    d = to_decimal(value)
    if d is not None:
        out.append(NumberValue(d, d))


def range_(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    lo, hi = value.get("low"), value.get("high")
    low = to_decimal(lo.get("value")) if lo.__class__ is dict else None
    high = to_decimal(hi.get("value")) if hi.__class__ is dict else None
    if low is not None or high is not None:
        out.append(NumberValue(low, high))


SINKS: dict[str, Sink] = {
    **{t: number for t in ("decimal", "integer", "positiveInt", "unsignedInt", "integer64")},
    "Range": range_,
}
