"""The shape every index normaliser shares.

Spec: https://hl7.org/fhir/R4/search.html#ptypes

A normaliser ("sink") receives one FHIR JSON value whose type the compiler knows statically, and appends
zero or more index values to ``out``. Each parameter-type module exports ``SINKS``: FHIR type name ->
sink; a type missing from the table contributes nothing to that kind of parameter (for example
``SampledData`` for a quantity parameter).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeAlias

from senhealth.fhir.search.context import ExtractContext

__all__ = ["Sink", "to_decimal"]

Sink: TypeAlias = Callable[[Any, ExtractContext, list[Any]], None]


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number as a Decimal; floats go through their shortest repr, so 0.1 stays 0.1."""
    cls = value.__class__
    if cls is float:
        return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else None
    if cls is int:
        return Decimal(value)
    if cls is Decimal:
        return value if value.is_finite() else None
    if cls is str:
        try:
            d = Decimal(value)
        except ArithmeticError:
            return None
        return d if d.is_finite() else None
    return None
