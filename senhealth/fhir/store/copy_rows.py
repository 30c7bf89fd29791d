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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from senhealth.fhir.search.index import SearchIndex
from senhealth.fhir.store.index_rows import MAX_TEXT, TABLES

__all__ = [
    "NULL",
    "add_index_lines",
    "composite_json",
    "history_head",
    "index_lines",
    "resource_head",
    "resource_line",
    "text",
]

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


_ISO: dict[datetime, str] = {}  # isoformat() of UTC datetimes (the index's dates repeat: about 1 µs each)


def _when(value: datetime | None) -> str:
    if value is None:
        return NULL
    if value.tzinfo is not UTC:
        return value.isoformat()
    found = _ISO.get(value)  # equal UTC datetimes have equal fields, so equal text
    if found is None:
        if len(_ISO) >= 65536:
            _ISO.clear()
        found = _ISO[value] = value.isoformat()
    return found


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
            # a Decimal as its text here rather than through orjson's ``default`` hook (a call back into
            # Python for each, from C): the same JSON
            out[name] = str(v) if isinstance(v, Decimal) else v
    return out


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


# The text of each component value, keyed by identity: the normalisers share one instance for a repeated
# code, string, reference or date (senhealth.fhir.search.params), and one resource's values recur in
# several composites (``code-value-quantity`` and ``combo-code-value-quantity`` pair the same code and
# quantity). An entry holds its value, so the id cannot be reused while the entry lives; the table is
# emptied when full.
_FRAGMENTS_MAX = 1 << 14
_FRAGMENTS: dict[int, tuple[Any, str]] = {}


def _fragment(value: Any) -> str:
    """One component value as JSON (its non-empty fields)."""
    hit = _FRAGMENTS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    found = orjson.dumps(_part(value), default=_default).decode()
    if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
        _FRAGMENTS.clear()
    _FRAGMENTS[id(value)] = (value, found)
    return found


def composite_json(parts: tuple[Any, ...]) -> str:
    """The ``parts`` column: each component value's non-empty fields (as ``value_to_json`` gives them).

    Compact JSON: the array of the parts' objects is their texts joined by commas.
    """
    return "[" + ",".join([_fragment(p) for p in parts]) + "]"


# An escape in the resource's JSON other than \" or \/: some string may hold a backslash or a control
# character, which COPY text must escape. Without one, only NULLs and long values need care. (An escape
# is ASCII, so the same pattern serves the JSON's UTF-8 bytes.)
_NEEDS_ESCAPES = re.compile(r'\\[^"/]')
_NEEDS_ESCAPES_BYTES = re.compile(rb'\\[^"/]')

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
    into: dict[str, list[str]] = {}
    add_index_lines(index, param_ids, pkey, rid, content, into)
    return {table: "".join(lines) for table, lines in into.items()}


def add_index_lines(
    index: SearchIndex,
    param_ids: Mapping[tuple[str, str], int],
    pkey: str,
    rid: int,
    content: str | bytes,
    into: dict[str, list[str]],
    codes: Mapping[str, int] | None = None,
) -> int:
    """:func:`index_lines`, each line appended to ``into[table]`` (created when missing); returns the
    number of lines. ``content``: the resource's JSON, as text or as UTF-8 bytes. ``codes``, when given:
    the parameter ids of the resource's type by code (``param_ids`` for that type, looked up faster)."""
    rtype = index.resource_type
    head = f"{text(pkey)}\t{rid}\t"
    if isinstance(content, bytes):
        fast_ok = _NEEDS_ESCAPES_BYTES.search(content) is None
    else:
        fast_ok = _NEEDS_ESCAPES.search(content) is None
    count = 0
    for attr, table, fast, careful in _TABLES:
        groups: dict[str, list[Any]] = getattr(index, attr)
        if not groups:
            continue
        lines = into.get(table)
        if lines is None:
            lines = into[table] = []
        before = len(lines)
        for code, values in groups.items():
            pid = codes.get(code) if codes is not None else param_ids.get((rtype, code))
            if pid is None:
                continue
            h = f"{head}{pid}\t"
            if fast_ok:
                for v in values:
                    line = fast(h, v)
                    lines.append(line if len(line) <= MAX_TEXT else careful(h, v))
            else:
                for v in values:
                    lines.append(careful(h, v))
        if len(lines) == before:
            if not before:
                del into[table]
        else:
            count += len(lines) - before
    return count


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
        f"{text(pkey)}\t{rid}\t{text(res_type)}\t{text(res_id)}\t{version}\t{_when(last_updated)}\t"
        f"{array}\t{_json_text(content)}\t{raw_text}\t"
    )


def resource_line(
    pkey: str,
    rid: int,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: datetime,
    compartments: list[str],
    content: bytes,
    raw: bytes | None,
    seq: int,
) -> list[bytes]:
    """A whole ``fhir_resource`` line as :func:`resource_head` writes it, plus ``seq``, in pieces of UTF-8
    (``b"".join`` them): ``content`` and ``raw`` are the JSON as orjson wrote it, never decoded."""
    array = "{" + ",".join(compartments) + "}"
    head = (
        f"{text(pkey)}\t{rid}\t{text(res_type)}\t{text(res_id)}\t{version}\t{_when(last_updated)}\t{array}\t"
    )
    return [
        head.encode(),
        _json_bytes(content),
        b"\t\\N\t" if raw is None else b"\t" + _json_bytes(raw) + b"\t",
        f"{seq}\n".encode(),
    ]


def _json_bytes(value: bytes) -> bytes:
    # as _json_text: JSON from orjson holds no raw control characters; only its backslashes need doubling
    return value.replace(b"\\", b"\\\\") if b"\\" in value else value


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
        f"{text(pkey)}\t{rid}\t{text(res_type)}\t{text(res_id)}\t{version}\t{_when(last_updated)}\t"
        f"{method}\tf\t{_json_text(content)}\t{raw_text}\t"
    )
