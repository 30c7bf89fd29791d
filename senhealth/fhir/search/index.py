"""The search index of one resource: its values grouped by parameter type, then by parameter code.

Spec: https://hl7.org/fhir/R4/search.html#ptypes

The store writes one index table per parameter type in the same transaction as the resource; the
grouping here matches: ``index.token["code"]`` is the list of :class:`TokenValue` rows for the ``code``
parameter, and :meth:`SearchIndex.rows` yields ``(param_type, code, value)`` for a bulk insert. Values are
de-duplicated per parameter (first occurrence kept, order otherwise as found).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from senhealth.fhir.search.params import (
    CompositeValue,
    DateValue,
    IndexValue,
    NearValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

__all__ = ["PARAM_TYPES", "SearchIndex", "value_to_json"]

#: The parameter types, in the order of the SearchIndex fields.
PARAM_TYPES = ("token", "string", "date", "reference", "quantity", "number", "uri", "composite", "special")


@dataclass(slots=True)
class SearchIndex:
    resource_type: str
    token: dict[str, list[TokenValue]] = field(default_factory=dict)
    string: dict[str, list[StringValue]] = field(default_factory=dict)
    date: dict[str, list[DateValue]] = field(default_factory=dict)
    reference: dict[str, list[ReferenceValue]] = field(default_factory=dict)
    quantity: dict[str, list[QuantityValue]] = field(default_factory=dict)
    number: dict[str, list[NumberValue]] = field(default_factory=dict)
    uri: dict[str, list[UriValue]] = field(default_factory=dict)
    composite: dict[str, list[CompositeValue]] = field(default_factory=dict)
    special: dict[str, list[NearValue]] = field(default_factory=dict)

    def by_type(self, param_type: str) -> dict[str, list[IndexValue]]:
        """The values of one parameter type (``"token"``, ...), by parameter code."""
        if param_type not in PARAM_TYPES:
            raise KeyError(param_type)
        groups: dict[str, list[IndexValue]] = getattr(self, param_type)
        return groups

    def values(self, code: str) -> list[IndexValue]:
        """The values of one parameter, whatever its type (empty if it has none)."""
        for t in PARAM_TYPES:
            found = self.by_type(t).get(code)
            if found is not None:
                return found
        return []

    def rows(self) -> Iterator[tuple[str, str, IndexValue]]:
        """Every (parameter type, parameter code, value)."""
        for t in PARAM_TYPES:
            for code, vals in self.by_type(t).items():
                for v in vals:
                    yield t, code, v

    def __len__(self) -> int:
        return sum(len(v) for t in PARAM_TYPES for v in self.by_type(t).values())

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """Parameter code -> its values as JSON objects (``{"type": "token", "system": ..., ...}``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for t in PARAM_TYPES:
            for code, vals in self.by_type(t).items():
                out[code] = [{"type": t, **value_to_json(v)} for v in vals]
        return out


def value_to_json(value: IndexValue) -> dict[str, Any]:
    """A value's non-empty fields as JSON: datetimes as ISO 8601, Decimals as strings (exact digits)."""
    out: dict[str, Any] = {}
    for f in fields(value):
        v = getattr(value, f.name)
        if v is None:
            continue
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, tuple):  # composite parts
            v = [value_to_json(p) for p in v]
        out[f.name] = v
    return out
