"""Index values per search-parameter type, and the normalisers that produce them.

Spec: https://hl7.org/fhir/R4/search.html#ptypes

One module per parameter type; each defines a small frozen, slotted value class (what one row of that
type's index table holds, less the resource and parameter columns) and ``SINKS``, its normalisers by FHIR
type. :data:`SINKS_BY_PARAM_TYPE` maps a parameter type (``token``, ``string``, ...) to that table.
Composite parameters are assembled by the compiler from their components' values.
"""

from __future__ import annotations

from typing import TypeAlias

from senhealth.fhir.search.params import date, number, quantity, reference, special, string, token, uri
from senhealth.fhir.search.params.base import Sink
from senhealth.fhir.search.params.composite import CompositeValue
from senhealth.fhir.search.params.date import DateValue
from senhealth.fhir.search.params.number import NumberValue
from senhealth.fhir.search.params.quantity import QuantityValue
from senhealth.fhir.search.params.reference import ReferenceValue
from senhealth.fhir.search.params.special import NearValue
from senhealth.fhir.search.params.string import StringValue
from senhealth.fhir.search.params.token import TokenValue
from senhealth.fhir.search.params.uri import UriValue

__all__ = [
    "SINKS_BY_PARAM_TYPE",
    "CompositeValue",
    "DateValue",
    "IndexValue",
    "NearValue",
    "NumberValue",
    "QuantityValue",
    "ReferenceValue",
    "Sink",
    "StringValue",
    "TokenValue",
    "UriValue",
]

IndexValue: TypeAlias = (
    TokenValue
    | StringValue
    | DateValue
    | ReferenceValue
    | QuantityValue
    | NumberValue
    | UriValue
    | CompositeValue
    | NearValue
)

SINKS_BY_PARAM_TYPE: dict[str, dict[str, Sink]] = {
    "token": token.SINKS,
    "string": string.SINKS,
    "date": date.SINKS,
    "reference": reference.SINKS,
    "quantity": quantity.SINKS,
    "number": number.SINKS,
    "uri": uri.SINKS,
    "special": special.SINKS,
}
