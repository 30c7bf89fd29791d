"""The output formats of a view's rows: JSON array, NDJSON, CSV and Parquet, written batch by batch.

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html (``_format``:
``json``, ``ndjson``, ``csv``, ``parquet``; ``header`` for CSV; ``Accept`` when ``_format`` is absent;
ndjson by default); CSV: RFC 4180 https://www.rfc-editor.org/rfc/rfc4180 (CRLF line ends, fields with
a comma, quote or line break quoted, quotes doubled); NDJSON: https://github.com/ndjson/ndjson-spec;
Parquet: https://parquet.apache.org/docs/ written by pyarrow (https://arrow.apache.org/docs/python/parquet.html).

:func:`row_writer` gives a :class:`RowWriter` whose ``begin()``, ``write(rows)`` and ``end()`` return
the bytes to send next, so a response (or a file) is produced while the rows are computed, never held
whole. Values:

- JSON / NDJSON: the row objects, keys in column order; decimals keep their digits
  (:func:`senhealth.fhir.json.dumps`); ``null`` for no value;
- CSV: text as is; booleans ``true`` / ``false``; numbers as JSON writes them; a ``collection`` or a
  complex value as its JSON text; no value is an empty field (CSV cannot tell it from ``''``);
- Parquet: one column per view column, typed from the column's declared ``type``
  (:func:`arrow_type`): ``boolean`` → bool, ``integer`` / ``positiveInt`` / ``unsignedInt`` → int32,
  ``integer64`` → int64, ``decimal`` → float64, ``instant`` → timestamp (µs, UTC), everything else
  (and a column without ``type``) → string, holding the CSV text of the value; ``collection: true`` →
  a list of that type. Dates and date-times stay strings: FHIR allows partial ones (``2012``,
  ``2012-03``) that no Parquet date type holds. A value that does not fit its declared type raises
  :class:`ViewDefinitionError` naming the column. Rows are grouped into row groups of
  :data:`ROW_GROUP` rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from senhealth.fhir.json import dumps

from .errors import ViewDefinitionError
from .evaluator import ViewColumn

__all__ = [
    "ACCEPT_TYPES",
    "FORMATS",
    "ROW_GROUP",
    "RowWriter",
    "arrow_schema",
    "arrow_type",
    "cell_text",
    "format_from_accept",
    "normalise_format",
    "row_writer",
]

#: ``_format`` value -> the media type of the answer.
FORMATS: Final[Mapping[str, str]] = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
#: Media types (``Accept``, or ``_format`` given as a media type) -> format.
ACCEPT_TYPES: Final[Mapping[str, str]] = {
    "application/json": "json",
    "application/fhir+json": "json",
    "json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/fhir+ndjson": "ndjson",
    "ndjson": "ndjson",
    "text/csv": "csv",
    "csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/octet-stream": "parquet",
    "parquet": "parquet",
}
#: Rows per Parquet row group (a group is written, and sent, when this many rows are waiting).
ROW_GROUP: Final = 10_000

_ARROW: Final[Mapping[str, pa.DataType]] = {
    "boolean": pa.bool_(),
    "integer": pa.int32(),
    "positiveInt": pa.int32(),
    "unsignedInt": pa.int32(),
    "integer64": pa.int64(),
    "decimal": pa.float64(),
    "instant": pa.timestamp("us", tz="UTC"),
}


def normalise_format(value: str) -> str | None:
    """``json`` / ``ndjson`` / ``csv`` / ``parquet`` for a ``_format`` value (a short name or a media
    type, parameters ignored), or None when it names none of them."""
    key = value.split(";", 1)[0].strip().lower()
    return key if key in FORMATS else ACCEPT_TYPES.get(key)


def format_from_accept(accept: str | None) -> str | None:
    """The first format an ``Accept`` header names (in the order given, q > 0), or None."""
    for item in (accept or "").split(","):
        parts = item.split(";")
        quality = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        found = ACCEPT_TYPES.get(parts[0].strip().lower())
        if found is not None and quality > 0:
            return found
    return None


def cell_text(value: Any) -> str:
    """A value as CSV text (the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return dumps(value).decode()


class RowWriter(Protocol):
    """Turns batches of rows into the bytes of one output stream."""

    media_type: str

    def begin(self) -> bytes: ...

    def write(self, rows: Sequence[Mapping[str, Any]]) -> bytes: ...

    def end(self) -> bytes: ...


class _Json:
    media_type = FORMATS["json"]

    def __init__(self) -> None:
        self._first = True

    def begin(self) -> bytes:
        return b"["

    def write(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        if not rows:
            return b""
        body = b",\n".join(dumps(r) for r in rows)
        if self._first:
            self._first = False
            return body
        return b",\n" + body

    def end(self) -> bytes:
        return b"]\n"


class _Ndjson:
    media_type = FORMATS["ndjson"]

    def begin(self) -> bytes:
        return b""

    def write(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        return b"".join(dumps(r) + b"\n" for r in rows)

    def end(self) -> bytes:
        return b""


class _Csv:
    media_type = FORMATS["csv"]

    def __init__(self, names: Sequence[str], header: bool) -> None:
        self.names = list(names)
        self.header = header

    def _lines(self, records: Sequence[Sequence[str]]) -> bytes:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerows(records)
        return out.getvalue().encode()

    def begin(self) -> bytes:
        return self._lines([self.names]) if self.header else b""

    def write(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        return self._lines([[cell_text(r.get(n)) for n in self.names] for r in rows])

    def end(self) -> bytes:
        return b""


def arrow_type(column: ViewColumn) -> pa.DataType:
    """The Parquet (Arrow) type of a view column (the module docstring)."""
    base = _ARROW.get(column.type or "", pa.string())
    return pa.list_(base) if column.collection else base


def arrow_schema(columns: Sequence[ViewColumn], *, resource_id: str | None = None) -> pa.Schema:
    """The Arrow schema of a view's rows; ``resource_id`` names a leading string column for the id of
    the resource each row came from (materialised views)."""
    fields = [pa.field(resource_id, pa.string(), nullable=False)] if resource_id else []
    fields.extend(pa.field(c.name, arrow_type(c)) for c in columns)
    return pa.schema(fields)


def _unfit(column: ViewColumn, value: Any) -> ViewDefinitionError:
    return ViewDefinitionError(
        f"column {column.name!r} is declared {column.type} but gave {value!r}", column.where
    )


def _scalar(column: ViewColumn, value: Any) -> Any:
    if value is None:
        return None
    kind = column.type or ""
    if kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind in ("integer", "positiveInt", "unsignedInt", "integer64"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
    elif kind == "decimal":
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return float(value)
    elif kind == "instant":
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                raise _unfit(column, value) from None
            return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    else:
        return cell_text(value)
    raise _unfit(column, value)


def arrow_value(column: ViewColumn, value: Any) -> Any:
    """A row value as its Arrow column takes it (raises :class:`ViewDefinitionError` if it does not fit)."""
    if column.collection:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return [_scalar(column, v) for v in items]
    return _scalar(column, value)


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what was written until :meth:`take` hands it over."""

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = len(data)
        self._buf += data
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class ParquetRows:
    """Rows into one Parquet stream, a row group at a time (see :func:`row_writer`). Also used by
    materialisation, with ``resource_id`` naming the leading column of resource ids."""

    media_type = FORMATS["parquet"]

    def __init__(self, columns: Sequence[ViewColumn], *, resource_id: str | None = None) -> None:
        self.columns = list(columns)
        self.resource_id = resource_id
        self.schema = arrow_schema(self.columns, resource_id=resource_id)
        self._sink = _Sink()
        self._writer: pq.ParquetWriter | None = None
        self._waiting: list[Mapping[str, Any]] = []

    def begin(self) -> bytes:
        self._writer = pq.ParquetWriter(self._sink, self.schema)  # type: ignore[no-untyped-call]
        return self._sink.take()

    def _flush(self) -> bytes:
        if not self._waiting or self._writer is None:
            return b""
        data: dict[str, list[Any]] = {}
        if self.resource_id:
            data[self.resource_id] = [r[self.resource_id] for r in self._waiting]
        for c in self.columns:
            data[c.name] = [arrow_value(c, r.get(c.name)) for r in self._waiting]
        self._waiting = []
        batch = pa.RecordBatch.from_pydict(data, schema=self.schema)
        self._writer.write_batch(batch)  # type: ignore[no-untyped-call]
        return self._sink.take()

    def write(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        self._waiting.extend(rows)
        return self._flush() if len(self._waiting) >= ROW_GROUP else b""

    def end(self) -> bytes:
        if self._writer is None:
            self.begin()
        out = self._flush()
        assert self._writer is not None
        self._writer.close()  # type: ignore[no-untyped-call]
        self._writer = None
        out += self._sink.take()
        self._sink.close()
        return out


def row_writer(fmt: str, columns: Sequence[ViewColumn], *, header: bool = True) -> RowWriter:
    """The writer of format ``fmt`` (a key of :data:`FORMATS`) for rows with ``columns``."""
    if fmt == "json":
        return _Json()
    if fmt == "ndjson":
        return _Ndjson()
    if fmt == "csv":
        return _Csv([c.name for c in columns], header)
    if fmt == "parquet":
        return ParquetRows(columns)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
