"""Rows of the ``idx_*`` tables from a resource's search index.

Spec: https://hl7.org/fhir/R4/search.html#ptypes (one table per parameter type).

:func:`index_rows` turns a :class:`~senhealth.fhir.search.index.SearchIndex` into one list of tuples per
table, each row ``(pkey, rid, param_id, ...value columns)`` in the column order of :data:`COLUMNS`, ready
for the single-write statement (:mod:`senhealth.fhir.store.write_sql`; the bulk path formats the same rows
as COPY text in :mod:`senhealth.fhir.store.copy_rows`). Parameters unknown to ``fhir_search_param`` are
skipped.

Text values longer than :data:`MAX_TEXT` characters are cut to their first :data:`MAX_TEXT`: a B-tree
entry must stay under about 2.7 kB, and two text columns share the token index. A search comparing a
longer value must cut it the same way (``left(value, 256)``, or :func:`cut`); long descriptions then
match on their first 256 characters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from senhealth.fhir.search.index import SearchIndex, value_to_json

__all__ = ["COLUMNS", "MAX_TEXT", "TABLES", "cut", "index_rows"]

MAX_TEXT = 256

#: Table of each parameter type, and its value columns (after ``pkey, rid, param_id``).
TABLES: dict[str, str] = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "quantity": "idx_quantity",
    "number": "idx_number",
    "uri": "idx_uri",
    "composite": "idx_composite",
    "special": "idx_special",
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "idx_token": ("system", "code", "text", "type_system", "type_code"),
    "idx_string": ("value", "value_norm"),
    "idx_date": ("low", "high"),
    "idx_reference": ("target_type", "target_id", "version", "url", "identifier_system", "identifier_value"),
    "idx_quantity": ("system", "code", "unit", "low", "high", "canon_code", "canon_low", "canon_high"),
    "idx_number": ("low", "high"),
    "idx_uri": ("value",),
    "idx_composite": ("parts",),
    "idx_special": ("latitude", "longitude"),
}

Row = tuple[Any, ...]


def cut(text: str | None) -> str | None:
    """``text`` cut to :data:`MAX_TEXT` characters, as the index tables store it."""
    return text if text is None or len(text) <= MAX_TEXT else text[:MAX_TEXT]


def _token(v: Any) -> Row:
    return (cut(v.system), cut(v.code), cut(v.text), cut(v.type_system), cut(v.type_code))


def _string(v: Any) -> Row:
    return (cut(v.value), cut(v.normalized))


def _date(v: Any) -> Row:
    return (v.low, v.high)


def _reference(v: Any) -> Row:
    return (
        v.target_type,
        cut(v.target_id),
        cut(v.version),
        cut(v.url),
        cut(v.identifier_system),
        cut(v.identifier_value),
    )


def _quantity(v: Any) -> Row:
    return (
        cut(v.system),
        cut(v.code),
        cut(v.unit),
        v.low,
        v.high,
        cut(v.canonical_code),
        v.canonical_low,
        v.canonical_high,
    )


def _number(v: Any) -> Row:
    return (v.low, v.high)


def _uri(v: Any) -> Row:
    return (cut(v.value),)


def _composite(v: Any) -> Row:
    return (orjson.dumps([value_to_json(p) for p in v.parts]).decode(),)


def _special(v: Any) -> Row:
    return (float(v.latitude), float(v.longitude))


_CONVERT: tuple[tuple[str, str, Callable[[Any], Row]], ...] = (
    ("token", "idx_token", _token),
    ("string", "idx_string", _string),
    ("date", "idx_date", _date),
    ("reference", "idx_reference", _reference),
    ("quantity", "idx_quantity", _quantity),
    ("number", "idx_number", _number),
    ("uri", "idx_uri", _uri),
    ("composite", "idx_composite", _composite),
    ("special", "idx_special", _special),
)


def index_rows(
    index: SearchIndex,
    param_ids: Mapping[tuple[str, str], int],
    pkey: str,
    rid: int,
    into: dict[str, list[Row]] | None = None,
) -> dict[str, list[Row]]:
    """The index rows of one resource by table (only tables with rows), appended to ``into`` if given."""
    out: dict[str, list[Row]] = {} if into is None else into
    rtype = index.resource_type
    for attr, table, convert in _CONVERT:
        groups: dict[str, list[Any]] = getattr(index, attr)
        if not groups:
            continue
        rows = out.get(table)
        for code, values in groups.items():
            pid = param_ids.get((rtype, code))
            if pid is None:
                continue
            if rows is None:
                rows = out[table] = []
            for v in values:
                rows.append((pkey, rid, pid, *convert(v)))
    return out
