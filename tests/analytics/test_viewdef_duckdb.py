"""The DuckDB runner of SQL-on-FHIR v2 views: every suite case over NDJSON and over Parquet.

Each case must give the suite's expected rows and, where the reference evaluator passes the case,
exactly ``run_view``'s rows. Cases the SQL compiler cannot express are listed with a reason in
``tests/conformance/sqlonfhir_duckdb_unsupported.json`` and must still raise ``Unsupported``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from senhealth.analytics.parquet_resources import (
    RESOURCE_SCHEMA,
    read_resources,
    write_resources_ndjson,
    write_resources_parquet,
)
from senhealth.analytics.viewdef import ViewDefinitionError, run_view
from senhealth.analytics.viewdef_duckdb import (
    iter_view_duckdb,
    run_view_duckdb,
    view_arrow_duckdb,
    view_relation_duckdb,
    view_sql_duckdb,
)
from senhealth.analytics.viewdef_sql import Unsupported

from .sqlonfhir_cases import (
    SYNTHEA_VIEWS,
    Case,
    cases,
    check_rows,
    listed,
    multiset,
    reference_failures,
    skip_without_suite,
    synthea_ndjson,
    synthea_resources,
    write_sources,
)

skip_without_suite()

UNSUPPORTED = listed("sqlonfhir_duckdb_unsupported.json")
CASES = cases()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    return write_sources(tmp_path_factory.mktemp("sof-duckdb"))


def run_case(case: Case, source: Path) -> list[dict[str, Any]]:
    return run_view_duckdb(case.view, source)


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_suite_case(case: Case, fmt: str, sources: dict[str, dict[str, Path]]) -> None:
    source = sources[case.file][fmt]
    if case.id in UNSUPPORTED:
        with pytest.raises(Unsupported):
            run_case(case, source)
        return
    if case.expect_error:
        with pytest.raises(ViewDefinitionError):
            run_case(case, source)
        return
    rows = run_case(case, source)
    check_rows(case, rows)
    if case.id not in reference_failures():
        assert multiset(rows) == multiset(list(run_view(case.view, case.resources)))


def test_unsupported_list_names_real_cases() -> None:
    assert set(UNSUPPORTED) <= {c.id for c in CASES}


def test_pass_count(sources: dict[str, dict[str, Path]]) -> None:
    """Print the DuckDB runner's count; the unsupported list must be exactly the cases that raise."""
    passed, unsupported, failing = 0, set(), []
    for case in CASES:
        try:
            if case.expect_error:
                with pytest.raises(ViewDefinitionError):
                    run_case(case, sources[case.file]["ndjson"])
            else:
                check_rows(case, run_case(case, sources[case.file]["ndjson"]))
            passed += 1
        except Unsupported:
            unsupported.add(case.id)
        except (AssertionError, pytest.fail.Exception, Exception):
            failing.append(case.id)
    print(
        f"SQL-on-FHIR v2 suite on DuckDB: {passed} / {len(CASES)} pass, {len(unsupported)} unsupported (listed)"
    )
    assert len(CASES) == 134
    assert unsupported == set(UNSUPPORTED)
    assert failing == []


@pytest.mark.parametrize("name", list(SYNTHEA_VIEWS))
def test_synthea_views_match_run_view(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Realistic views over the Synthea sample: exactly run_view's rows."""
    source = synthea_ndjson(tmp_path_factory.getbasetemp())
    view = SYNTHEA_VIEWS[name]
    rows = run_view_duckdb(view, source)
    assert rows
    assert multiset(rows) == multiset(list(run_view(view, synthea_resources())))


# -- sources, outputs, errors --------------------------------------------------------------------------

PATIENTS = [
    {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "name": [{"family": "Trần"}, {"family": "Lê", "given": ["Bình"]}],
    },
    {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}},
]
NAMES = {
    "resource": "Patient",
    "select": [
        {"column": [{"name": "id", "path": "getResourceKey()", "type": "id"}]},
        {"forEach": "name", "column": [
            {"name": "family", "path": "family", "type": "string"},
            {"name": "given", "path": "given", "type": "string", "collection": True},
            {"name": "n", "path": "%rowIndex", "type": "integer"},
        ]},
    ],
}  # fmt: skip


def test_directory_gzip_and_parquet_sources_agree(tmp_path: Path) -> None:
    nd = tmp_path / "nd"
    nd.mkdir()
    write_resources_ndjson(PATIENTS[:1], nd / "Patient.ndjson")
    write_resources_ndjson(PATIENTS[1:], nd / "rest.ndjson.gz")
    with gzip.open(nd / "rest.ndjson.gz", "rt", encoding="utf-8") as f:
        assert f.read().count("\n") == 2
    pq = tmp_path / "pq"
    pq.mkdir()
    write_resources_parquet(PATIENTS[:2], pq / "a.parquet")
    write_resources_parquet(PATIENTS[2:], pq / "b.parquet")
    expected = multiset(list(run_view(NAMES, PATIENTS)))
    assert len(expected) == 3
    assert multiset(run_view_duckdb(NAMES, nd)) == expected
    assert multiset(run_view_duckdb(NAMES, pq)) == expected
    assert multiset(run_view_duckdb(NAMES, [pq / "a.parquet", pq / "b.parquet"])) == expected
    assert sorted(r["id"] for r in read_resources(pq)) == ["o1", "p1", "p2"]
    assert [r["id"] for r in read_resources(pq, "Observation")] == ["o1"]


def test_parquet_layout(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    assert write_resources_parquet(PATIENTS, path, row_group_size=2) == 3
    with pq.ParquetFile(path) as f:
        table = f.read()
        assert f.metadata.num_row_groups == 2
    assert table.schema.equals(RESOURCE_SCHEMA)
    assert table.column("resource_type").to_pylist() == ["Patient", "Patient", "Observation"]
    assert "Nguyễn" in table.column("resource").to_pylist()[0]  # UTF-8 text, not escaped


def test_iter_arrow_and_relation_outputs(tmp_path: Path) -> None:
    src = tmp_path / "p.ndjson"
    write_resources_ndjson(PATIENTS, src)
    rows = list(iter_view_duckdb(NAMES, src, batch_size=1))
    assert multiset(rows) == multiset(list(run_view(NAMES, PATIENTS)))
    table = view_arrow_duckdb(NAMES, src)
    assert table.column_names == ["id", "family", "given", "n"]
    assert table.schema.field("given").type == pa.list_(pa.string())
    assert table.schema.field("n").type == pa.int64()
    assert sorted(table.column("family").to_pylist()) == ["Lê", "Nguyễn", "Trần"]
    con = duckdb.connect()
    compiled, rel = view_relation_duckdb(NAMES, src, con)
    assert compiled.column_names == ["id", "family", "given", "n"]
    assert rel.aggregate("count(*)").fetchall() == [(3,)]
    assert "read_ndjson_objects" in view_sql_duckdb(NAMES, src)


def test_value_types_match_the_reference(tmp_path: Path) -> None:
    obs = {
        "resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [{"code": "a"}]},
        "valueQuantity": {"value": 36.6, "unit": "Cel"}, "effectiveDateTime": "2024-10-19T09:50:00+07:00",
    }  # fmt: skip
    view = {
        "resource": "Observation",
        "select": [{"column": [
            {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
            {"name": "quantity", "path": "value.ofType(Quantity)"},
            {"name": "codes", "path": "code.coding", "collection": True},
            {"name": "when", "path": "effective.ofType(dateTime)", "type": "dateTime"},
            {"name": "final", "path": "status = 'final'", "type": "boolean"},
        ]}],
    }  # fmt: skip
    src = tmp_path / "o.ndjson"
    write_resources_ndjson([obs], src)
    (row,) = run_view_duckdb(view, src)
    assert row == next(iter(run_view(view, [obs])))
    assert row["quantity"] == {"value": pytest.approx(36.6), "unit": "Cel"}
    assert row["codes"] == [{"code": "a"}] and row["final"] is True


def test_run_time_errors_name_the_place(tmp_path: Path) -> None:
    src = tmp_path / "p.ndjson"
    write_resources_ndjson(PATIENTS, src)
    view = {"resource": "Patient", "select": [{"column": [{"name": "f", "path": "name.family"}]}]}
    with pytest.raises(ViewDefinitionError) as err:
        run_view_duckdb(view, src)
    assert err.value.path == "select[0].column[0].path"
    assert "collection: true" in err.value.message
    bad_where = {"resource": "Patient", "where": [{"path": "name.family"}], "select": NAMES["select"]}
    with pytest.raises(ViewDefinitionError) as err:
        run_view_duckdb(bad_where, src)
    assert err.value.path == "where[0].path"


def test_unsupported_names_the_construct_and_falls_back(tmp_path: Path) -> None:
    src = tmp_path / "p.ndjson"
    write_resources_ndjson(PATIENTS, src)
    view = {
        "resource": "Patient",
        "select": [{"column": [{"name": "n", "path": "(name.family | name.given).count()"}]}],
    }
    with pytest.raises(Unsupported) as err:
        run_view_duckdb(view, src)
    assert "'|'" in str(err.value) and "select[0].column[0].path" in str(err.value)
    assert multiset(run_view_duckdb(view, src, fallback=True)) == multiset(list(run_view(view, PATIENTS)))


def test_malformed_view_and_bad_source(tmp_path: Path) -> None:
    with pytest.raises(ViewDefinitionError):
        run_view_duckdb({"select": []}, tmp_path)
    with pytest.raises(ValueError, match="no NDJSON or Parquet files"):
        run_view_duckdb(NAMES, tmp_path)
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(ValueError, match="not NDJSON"):
        run_view_duckdb(NAMES, tmp_path / "x.csv")
