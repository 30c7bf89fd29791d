"""The SQL of the single-resource write path: one statement writes a whole version.

Spec: https://hl7.org/fhir/R4/http.html#update, https://hl7.org/fhir/R4/http.html#delete; PostgreSQL
data-modifying CTEs: https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING.

A version is written by one statement of data-modifying CTEs (locator, history, resource, old index rows
deleted, new index rows inserted), so a write is one round trip and the statement is prepared once per
variant (psycopg prepares a statement after its fifth use). All CTEs run to completion on the same
snapshot: the deletes of old index rows never see the rows inserted beside them. The index rows travel
as one JSON parameter, ``{"idx_token": [[param_id, system, code, ...], ...], ...}``, expanded per table
with ``jsonb_array_elements``: one parameter instead of dozens of arrays, built by orjson in C (binding
Python lists as PostgreSQL arrays costs more than the whole JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from senhealth.fhir.store.index_rows import COLUMNS, Row

__all__ = ["delete_statement", "index_json", "write_statement"]

_TYPES: dict[str, tuple[str, ...]] = {
    "idx_token": ("text", "text", "text", "text", "text"),
    "idx_string": ("text", "text"),
    "idx_date": ("timestamptz", "timestamptz"),
    "idx_reference": ("text", "text", "text", "text", "text", "text"),
    "idx_quantity": ("text", "text", "text", "numeric", "numeric", "text", "numeric", "numeric"),
    "idx_number": ("numeric", "numeric"),
    "idx_uri": ("text",),
    "idx_composite": ("jsonb",),
    "idx_special": ("float8", "float8"),
}


def _column(i: int, sql_type: str) -> str:
    if sql_type == "jsonb":
        return f"r->{i}"
    if sql_type == "text":
        return f"r->>{i}"
    return f"(r->>{i})::{sql_type}"


def _insert_index(table: str, n: int) -> str:
    cols = ", ".join(COLUMNS[table])
    values = ", ".join(_column(i + 1, t) for i, t in enumerate(_TYPES[table]))
    return (
        f"i{n} AS (INSERT INTO {table} (pkey, rid, param_id, {cols}) "
        f"SELECT %(pkey)s, %(rid)s, (r->>0)::smallint, {values} "
        f"FROM jsonb_array_elements((SELECT j FROM ix) -> '{table}') AS r)"
    )


def _delete_index() -> list[str]:
    return [
        f"d{n} AS (DELETE FROM {t} WHERE pkey = %(old_pkey)s AND rid = %(rid)s)"
        for n, t in enumerate(COLUMNS)
    ]


_HISTORY = (
    "h AS (INSERT INTO fhir_history (pkey, rid, res_type, res_id, version, seq, last_updated, method, deleted, "
    "content, content_raw) VALUES (%(pkey)s, %(rid)s, %(type)s, %(id)s, %(version)s, fhir_next_seq(), "
    "%(when)s, %(method)s, %(deleted)s, %(content)s::jsonb, %(raw)s) RETURNING seq)"
)


@cache
def write_statement(*, new_locator: bool, replace: bool, move_history: bool) -> str:
    """The statement writing a live version.

    ``new_locator``: insert the locator row (a create), else update it; ``replace``: a live version
    exists (update its ``fhir_resource`` row and delete its index rows), else insert the row;
    ``move_history``: the patient changed, move the older versions to the new ``pkey``.
    """
    ctes = ["ix AS (SELECT %(index)s::jsonb AS j)"]
    if new_locator:
        ctes.append(
            "loc AS (INSERT INTO fhir_locator (res_type, res_id, rid, pkey, version, deleted) "
            "VALUES (%(type)s, %(id)s, %(rid)s, %(pkey)s, %(version)s, false))"
        )
    else:
        ctes.append(
            "loc AS (UPDATE fhir_locator SET pkey = %(pkey)s, version = %(version)s, deleted = false "
            "WHERE res_type = %(type)s AND res_id = %(id)s)"
        )
    if move_history:
        ctes.append(
            "mv AS (UPDATE fhir_history SET pkey = %(pkey)s WHERE pkey = %(old_pkey)s AND rid = %(rid)s)"
        )
    ctes.append(_HISTORY)
    if replace:
        ctes.append(
            "r AS (UPDATE fhir_resource SET pkey = %(pkey)s, version = %(version)s, seq = (SELECT seq FROM h), "
            "last_updated = %(when)s, compartments = %(compartments)s, content = %(content)s::jsonb, "
            "content_raw = %(raw)s WHERE pkey = %(old_pkey)s AND rid = %(rid)s)"
        )
        ctes.extend(_delete_index())
    else:
        ctes.append(
            "r AS (INSERT INTO fhir_resource (pkey, rid, res_type, res_id, version, seq, last_updated, "
            "compartments, content, content_raw) SELECT %(pkey)s, %(rid)s, %(type)s, %(id)s, %(version)s, "
            "h.seq, %(when)s, %(compartments)s, %(content)s::jsonb, %(raw)s FROM h)"
        )
    ctes.extend(_insert_index(t, n) for n, t in enumerate(COLUMNS))
    return "WITH " + ",\n".join(ctes) + "\nSELECT seq FROM h"


@cache
def delete_statement() -> str:
    """The statement writing a delete: locator marked, a history version without content, the
    ``fhir_resource`` row and the index rows removed."""
    ctes = [
        "loc AS (UPDATE fhir_locator SET version = %(version)s, deleted = true "
        "WHERE res_type = %(type)s AND res_id = %(id)s)",
        _HISTORY,
        "r AS (DELETE FROM fhir_resource WHERE pkey = %(old_pkey)s AND rid = %(rid)s)",
        *_delete_index(),
    ]
    return "WITH " + ",\n".join(ctes) + "\nSELECT seq FROM h"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(type(value).__name__)


def index_json(rows: Mapping[str, list[Row]]) -> str:
    """The ``index`` parameter: rows by table, each ``[param_id, ...values]`` (``pkey``/``rid`` left out)."""
    out: dict[str, list[Any]] = {}
    for table, table_rows in rows.items():
        if table == "idx_composite":  # parts is JSON text already: embed it, not a string of it
            out[table] = [(r[2], orjson.Fragment(r[3])) for r in table_rows]
        else:
            out[table] = [r[2:] for r in table_rows]
    return orjson.dumps(out, default=_default).decode()
