"""The output formats of view rows (JSON, NDJSON, CSV per RFC 4180, typed Parquet), and the view's own
``join()`` next to the general engine's.

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html,
https://www.rfc-editor.org/rfc/rfc4180, https://build.fhir.org/ig/HL7/FHIRPath/#joinseparator-string--string.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from senhealth.analytics.viewdef import ViewDefinitionError, compile_view, run_view
from senhealth.analytics.viewdef.formats import (
    ROW_GROUP,
    format_from_accept,
    normalise_format,
    row_writer,
)
from senhealth.fhir import fhirpath

VIEW: dict[str, Any] = {
    "resource": "Observation",
    "select": [
        {
            "column": [
                {"name": "id", "path": "id", "type": "id"},
                {"name": "n", "path": "value.ofType(integer)", "type": "integer"},
                {"name": "d", "path": "value.ofType(Quantity).value", "type": "decimal"},
                {"name": "ok", "path": "status = 'final'", "type": "boolean"},
                {"name": "at", "path": "issued", "type": "instant"},
                {"name": "text", "path": "code.text"},
                {"name": "codes", "path": "code.coding.code", "collection": True, "type": "code"},
            ]
        }
    ],
}
ROWS: list[dict[str, Any]] = [
    {"id": "a", "n": 3, "d": Decimal("1.50"), "ok": True, "at": "2024-05-01T10:00:00.123Z",
     "text": 'dòng 1, "trích"\r\ndòng 2', "codes": ["x", "y"]},
    {"id": "b", "n": None, "d": None, "ok": False, "at": None, "text": None, "codes": []},
]  # fmt: skip


def _write(fmt: str, rows: list[dict[str, Any]], **kw: Any) -> bytes:
    w = row_writer(fmt, compile_view(VIEW).columns, **kw)
    return w.begin() + w.write(rows[:1]) + w.write(rows[1:]) + w.end()


def test_json_and_ndjson_keep_decimals_and_nulls() -> None:
    assert json.loads(_write("json", ROWS), parse_float=Decimal)[0]["d"] == Decimal("1.50")
    assert b'"d":1.50' in _write("json", ROWS)
    assert json.loads(_write("json", [])) == []
    lines = _write("ndjson", ROWS).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert json.loads(lines[1])["n"] is None


def test_csv_is_rfc_4180() -> None:
    raw = _write("csv", ROWS)
    assert raw.startswith(b"id,n,d,ok,at,text,codes\r\n")
    assert '"dòng 1, ""trích""\r\ndòng 2"'.encode() in raw
    records = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert records[1] == [
        "a",
        "3",
        "1.50",
        "true",
        "2024-05-01T10:00:00.123Z",
        'dòng 1, "trích"\r\ndòng 2',
        '["x","y"]',
    ]
    assert records[2] == ["b", "", "", "false", "", "", "[]"]
    assert not _write("csv", ROWS, header=False).startswith(b"id,")


def test_parquet_types_follow_the_columns() -> None:
    raw = _write("parquet", ROWS)
    with pq.ParquetFile(pa.BufferReader(raw)) as f:
        table = f.read()
    types = {field.name: field.type for field in table.schema}
    assert types == {
        "id": pa.string(), "n": pa.int32(), "d": pa.float64(), "ok": pa.bool_(),
        "at": pa.timestamp("us", tz="UTC"), "text": pa.string(), "codes": pa.list_(pa.string()),
    }  # fmt: skip
    first, second = table.to_pylist()
    assert first["d"] == 1.5 and first["codes"] == ["x", "y"] and first["at"].microsecond == 123000
    assert second["n"] is None and second["codes"] == []
    with pytest.raises(ViewDefinitionError, match="declared integer") as info:
        _write("parquet", [{**ROWS[0], "n": "three"}])
    assert info.value.path == "select[0].column[1].path"


def test_parquet_row_groups_are_sent_as_they_fill() -> None:
    w = row_writer("parquet", compile_view(VIEW).columns)
    head = w.begin()
    assert w.write([ROWS[1]] * (ROW_GROUP - 1)) == b""  # waiting for a full group
    assert len(w.write([ROWS[1]])) > 0
    raw = head + w.end()
    assert raw  # the footer


def test_formats_by_name_media_type_and_accept() -> None:
    assert normalise_format("CSV") == "csv"
    assert normalise_format("application/x-ndjson") == "ndjson"
    assert normalise_format("text/csv; charset=utf-8") == "csv"
    assert normalise_format("xml") is None
    assert format_from_accept("text/html, application/vnd.apache.parquet") == "parquet"
    assert format_from_accept("application/json;q=0, text/csv") == "csv"
    assert format_from_accept("*/*") is None


def test_join_of_nothing_is_empty_text_in_views_only() -> None:
    patient = {"resourceType": "Patient", "id": "p", "name": [{"family": "Lê"}]}
    view = {"resource": "Patient", "select": [{"column": [{"name": "g", "path": "name.given.join(', ')"}]}]}
    assert list(run_view(view, [patient])) == [{"g": ""}]
    assert fhirpath.evaluate(patient, "name.given.join(', ')") == []  # FHIRPath itself: empty
    full = {**patient, "name": [{"given": ["An", "Bình"]}]}
    assert list(run_view(view, [full])) == [{"g": "An, Bình"}]
