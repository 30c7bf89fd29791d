"""COPY text for the bulk path: index rows and resource rows written straight as ``COPY ... FROM STDIN``
lines, without building tuples first.

Spec: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2 (text format: tab-separated
columns, ``\\N`` for NULL, backslash escapes) and https://hl7.org/fhir/R4/search.html#ptypes.

Written by hand because the bulk load is bound by Python time: psycopg's ``write_row`` adapts every value
through its dumpers (about 3 µs a row here); formatting the few value types the index holds (text,
ints, datetimes, Decimals, floats) with f-strings costs a third of that, and it can run in the load's
producer, while PostgreSQL works on the previous batch. The columns and the truncation of long text are
those of :mod:`senhealth.fhir.store.index_rows` (:data:`~senhealth.fhir.store.index_rows.COLUMNS`,
:data:`~senhealth.fhir.store.index_rows.MAX_TEXT`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from senhealth.fhir.search.index import SearchIndex
from senhealth.fhir.store.index_rows import MAX_TEXT, TABLES

__all__ = ["NULL", "composite_json", "history_head", "index_lines", "resource_head", "text"]

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def text(value: str | None) -> str:
    """A text column: ``\\N`` for None, cut to ``MAX_TEXT`` characters, COPY escapes applied."""
    if value is None:
        return NULL
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT]
    if "\\" in value or not value.isprintable():
        return value.translate(_ESCAPES)
    return value


def _json_text(value: str) -> str:
    # JSON from orjson holds no raw control characters; only its backslashes need doubling.
    return value.replace("\\", "\\\\") if "\\" in value else value


def _when(value: datetime | None) -> str:
    return NULL if value is None else value.isoformat()


def _num(value: Decimal | None) -> str:
    return NULL if value is None else str(value)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _part(value: Any) -> dict[str, Any]:
    cls = value.__class__
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(cls.__slots__)
    out: dict[str, Any] = {}
    for name in names:
        v = getattr(value, name)
        if v is not None:
            out[name] = v
    return out


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def composite_json(parts: tuple[Any, ...]) -> str:
    """The ``parts`` column: each component value's non-empty fields (as ``value_to_json`` gives them)."""
    return orjson.dumps([_part(p) for p in parts], default=_default).decode()


# An escape in the resource's JSON other than \" or \/: some string may hold a backslash or a control
# character, which COPY text must escape. Without one, only NULLs and long values need care.
_NEEDS_ESCAPES = re.compile(r'\\[^"/]')

Line = Callable[[str, Any], str]

# Per table: (fast, careful) line formatters for one value after "pkey\trid\tparam_id\t". The fast one
# writes text as is (None as \N); it is used when the resource needs no escapes and the line is at most
# MAX_TEXT long (so no field in it can be longer); otherwise the careful one cuts and escapes each field.
_LINES: dict[str, tuple[Line, Line]] = {
    "token": (
        lambda h, v: (
            f"{h}{v.system or NULL}\t{v.code or NULL}\t{v.text or NULL}\t"
            f"{v.type_system or NULL}\t{v.type_code or NULL}\n"
        ),
        lambda h, v: (
            f"{h}{text(v.system)}\t{text(v.code)}\t{text(v.text)}\t{text(v.type_system)}\t"
            f"{text(v.type_code)}\n"
        ),
    ),
    "string": (
        lambda h, v: f"{h}{v.value}\t{v.normalized}\n",
        lambda h, v: f"{h}{text(v.value)}\t{text(v.normalized)}\n",
    ),
    "date": (
        lambda h, v: f"{h}{_when(v.low)}\t{_when(v.high)}\n",
        lambda h, v: f"{h}{_when(v.low)}\t{_when(v.high)}\n",
    ),
    "reference": (
        lambda h, v: (
            f"{h}{v.target_type or NULL}\t{v.target_id or NULL}\t{v.version or NULL}\t"
            f"{v.url or NULL}\t{v.identifier_system or NULL}\t{v.identifier_value or NULL}\n"
        ),
        lambda h, v: (
            f"{h}{text(v.target_type)}\t{text(v.target_id)}\t{text(v.version)}\t{text(v.url)}\t"
            f"{text(v.identifier_system)}\t{text(v.identifier_value)}\n"
        ),
    ),
    "quantity": (
        lambda h, v: (
            f"{h}{v.system or NULL}\t{v.code or NULL}\t{v.unit or NULL}\t{_num(v.low)}\t"
            f"{_num(v.high)}\t{v.canonical_code or NULL}\t{_num(v.canonical_low)}\t{_num(v.canonical_high)}\n"
        ),
        lambda h, v: (
            f"{h}{text(v.system)}\t{text(v.code)}\t{text(v.unit)}\t{_num(v.low)}\t{_num(v.high)}\t"
            f"{text(v.canonical_code)}\t{_num(v.canonical_low)}\t{_num(v.canonical_high)}\n"
        ),
    ),
    "number": (
        lambda h, v: f"{h}{_num(v.low)}\t{_num(v.high)}\n",
        lambda h, v: f"{h}{_num(v.low)}\t{_num(v.high)}\n",
    ),
    "uri": (
        lambda h, v: f"{h}{v.value}\n",
        lambda h, v: f"{h}{text(v.value)}\n",
    ),
    "composite": (
        lambda h, v: f"{h}{_json_text(composite_json(v.parts))}\n",
        lambda h, v: f"{h}{_json_text(composite_json(v.parts))}\n",
    ),
    "special": (
        lambda h, v: f"{h}{float(v.latitude)!r}\t{float(v.longitude)!r}\n",
        lambda h, v: f"{h}{float(v.latitude)!r}\t{float(v.longitude)!r}\n",
    ),
}
_TABLES = tuple((attr, TABLES[attr], *_LINES[attr]) for attr in _LINES)


def index_lines(
    index: SearchIndex, param_ids: Mapping[tuple[str, str], int], pkey: str, rid: int, content: str
) -> dict[str, str]:
    """COPY text of every index row of one resource, by table (only tables with rows).

    ``content`` is the resource's JSON text: when it holds no escape sequence (other than ``\\"``), no
    indexed string can hold a character that COPY must escape.
    """
    out: dict[str, str] = {}
    rtype = index.resource_type
    head = f"{text(pkey)}\t{rid}\t"
    fast_ok = _NEEDS_ESCAPES.search(content) is None
    for attr, table, fast, careful in _TABLES:
        groups: dict[str, list[Any]] = getattr(index, attr)
        if not groups:
            continue
        lines: list[str] = []
        for code, values in groups.items():
            pid = param_ids.get((rtype, code))
            if pid is None:
                continue
            h = f"{head}{pid}\t"
            for v in values:
                line = fast(h, v) if fast_ok else ""
                if not line or len(line) > MAX_TEXT:
                    line = careful(h, v)
                lines.append(line)
        if lines:
            out[table] = "".join(lines)
    return out


def resource_head(
    pkey: str,
    rid: int,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: datetime,
    compartments: list[str],
    content: str,
    raw: str | None,
) -> str:
    """A ``fhir_resource`` line up to its last column, ``seq`` (the caller appends ``seq`` and ``\\n``).

    Columns: pkey, rid, res_type, res_id, version, last_updated, compartments, content, content_raw, seq.
    Ids are FHIR ids (``[A-Za-z0-9\\-.]``), so the array literal needs no quoting.
    """
    array = "{" + ",".join(compartments) + "}"
    raw_text = NULL if raw is None else _json_text(raw)
    return (
        f"{text(pkey)}\t{rid}\t{text(res_type)}\t{text(res_id)}\t{version}\t{last_updated.isoformat()}\t"
        f"{array}\t{_json_text(content)}\t{raw_text}\t"
    )


def history_head(
    pkey: str,
    rid: int,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: datetime,
    method: str,
    content: str,
    raw: str | None,
) -> str:
    """A ``fhir_history`` line up to ``seq``: pkey, rid, res_type, res_id, version, last_updated, method,
    deleted (false), content, content_raw, seq."""
    raw_text = NULL if raw is None else _json_text(raw)
    return (
        f"{text(pkey)}\t{rid}\t{text(res_type)}\t{text(res_id)}\t{version}\t{last_updated.isoformat()}\t"
        f"{method}\tf\t{_json_text(content)}\t{raw_text}\t"
    )
