"""The Spark runner of SQL-on-FHIR v2 views: every suite case on one local SparkSession.

All cases that Spark SQL can express run in ONE Spark job (each case's view over its file's NDJSON,
the rows of all of them unioned as JSON text), so the module costs one session start and one job
instead of a hundred: each parametrised test then checks its case's rows against the suite, against
the reference evaluator ``run_view`` and against the DuckDB runner. Cases listed in
``tests/conformance/sqlonfhir_spark_unsupported.json`` must still raise ``Unsupported``, and give
the expected rows with ``engine="auto"`` (the reference evaluator in Spark's Python workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from senhealth.analytics.parquet_resources import write_resources_ndjson, write_resources_parquet
from senhealth.analytics.viewdef import ViewDefinitionError, run_view
from senhealth.analytics.viewdef_duckdb import run_view_duckdb
from senhealth.analytics.viewdef_sql import Unsupported, compile_view

from .sqlonfhir_cases import (
    SYNTHEA_VIEWS,
    Case,
    cases,
    check_rows,
    java_missing,
    listed,
    multiset,
    reference_failures,
    skip_without_suite,
    spark_session,
    synthea_ndjson,
    synthea_resources,
    write_sources,
)

skip_without_suite()
if java_missing():
    pytest.skip("Spark tests need a Java runtime (java not on PATH)", allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install senhealth[spark])")

from senhealth.analytics.viewdef_spark import (  # noqa: E402  (pyspark checked first)
    run_view_spark,
    run_views_spark,
    view_dataframe,
)

pytestmark = pytest.mark.xdist_group("spark")

UNSUPPORTED = listed("sqlonfhir_spark_unsupported.json")
CASES = cases()
spark = pytest.fixture(scope="session")(spark_session)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    return write_sources(tmp_path_factory.mktemp("sof-spark"))


@pytest.fixture(scope="module")
def batch(spark: Any, sources: dict[str, dict[str, Path]]) -> dict[str, list[dict[str, Any]]]:
    """Every expressible case's rows, from one Spark job (``run_views_spark``)."""
    todo = [c for c in CASES if not c.expect_error and c.id not in UNSUPPORTED]
    results = run_views_spark([(c.view, str(sources[c.file]["ndjson"])) for c in todo], spark)
    return {c.id: rows for c, rows in zip(todo, results)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_suite_case(
    case: Case, batch: dict[str, list[dict[str, Any]]], sources: dict[str, dict[str, Path]]
) -> None:
    if case.id in UNSUPPORTED:
        with pytest.raises(Unsupported):
            compile_view(case.view, "spark")
        return
    if case.expect_error:
        return  # test_error_cases
    rows = batch[case.id]
    check_rows(case, rows)
    # the same rows as the DuckDB runner, and as the reference evaluator where it passes the case
    assert multiset(rows) == multiset(run_view_duckdb(case.view, sources[case.file]["ndjson"]))
    if case.id not in reference_failures():
        assert multiset(rows) == multiset(list(run_view(case.view, case.resources)))


def test_error_cases(spark: Any, sources: dict[str, dict[str, Path]]) -> None:
    """Malformed views fail before Spark runs; the two that fail on data fail inside the job."""
    errors = [c for c in CASES if c.expect_error]
    assert len(errors) == 11
    at_run_time = []
    for case in errors:
        try:
            compile_view(case.view, "spark")
        except ViewDefinitionError:
            continue
        at_run_time.append(case.id)
        with pytest.raises(ViewDefinitionError):
            run_view_spark(case.view, str(sources[case.file]["ndjson"]), spark, engine="sql")
    assert sorted(at_run_time) == [
        "collection::fail when 'collection' is not true",
        "validate::where with path resolving to not boolean",
    ]


def test_pass_count(batch: dict[str, list[dict[str, Any]]]) -> None:
    passed = 11  # the error cases (test_error_cases)
    for case in CASES:
        if case.id in batch:
            check_rows(case, batch[case.id])
            passed += 1
    unsupported = {c.id for c in CASES if not c.expect_error and c.id not in batch}
    print(
        f"SQL-on-FHIR v2 suite on Spark SQL: {passed} / {len(CASES)} pass, {len(unsupported)} unsupported (listed)"
    )
    assert unsupported == set(UNSUPPORTED)
    assert passed + len(unsupported) == len(CASES) == 134


def test_synthea_views_match_run_view(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Realistic views over the Synthea sample, all in one Spark job: exactly run_view's rows."""
    source = str(synthea_ndjson(tmp_path_factory.getbasetemp()))
    results = run_views_spark([(view, source) for view in SYNTHEA_VIEWS.values()], spark)
    for (name, view), rows in zip(SYNTHEA_VIEWS.items(), results):
        assert rows, name
        assert multiset(rows) == multiset(list(run_view(view, synthea_resources()))), name


def test_unsupported_cases_run_in_python_workers(spark: Any, sources: dict[str, dict[str, Path]]) -> None:
    """``engine="auto"`` runs what Spark SQL cannot express with run_view in the Python workers."""
    for case in CASES:
        if case.id in UNSUPPORTED:
            with pytest.raises(Unsupported):
                run_view_spark(case.view, str(sources[case.file]["ndjson"]), spark, engine="sql")
            rows = run_view_spark(case.view, str(sources[case.file]["ndjson"]), spark)
            check_rows(case, rows)


def test_python_engine_errors_and_dataframe(spark: Any, tmp_path: Path) -> None:
    patients = [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "A"}, {"family": "B"}]},
        {"resourceType": "Patient", "id": "p2", "name": [{"family": "C", "given": ["x"]}]},
    ]
    src = tmp_path / "p.ndjson"
    write_resources_ndjson(patients, src)
    bad = {"resource": "Patient", "select": [{"column": [{"name": "f", "path": "name.family"}]}]}
    with pytest.raises(ViewDefinitionError) as err:
        run_view_spark(bad, str(src), spark, engine="python")
    assert "collection" in str(err.value)
    view = {
        "resource": "Patient",
        "select": [
            {"column": [{"name": "id", "path": "id", "type": "id"}]},
            {"forEach": "name", "column": [
                {"name": "family", "path": "family", "type": "string"},
                {"name": "given", "path": "given", "type": "string", "collection": True},
                {"name": "i", "path": "%rowIndex", "type": "integer"},
            ]},
        ],
    }  # fmt: skip
    df = view_dataframe(view, str(src), spark, engine="python")
    assert [f.dataType.simpleString() for f in df.schema.fields] == [
        "string",
        "string",
        "array<string>",
        "bigint",
    ]
    assert sorted(r["family"] for r in df.collect()) == ["A", "B", "C"]


def test_parquet_source_and_typed_columns(spark: Any, tmp_path: Path) -> None:
    obs = [
        {"resourceType": "Observation", "id": f"o{i}", "status": "final", "code": {"coding": [{"code": "a"}, {"code": "b"}]},
         "valueQuantity": {"value": 36.5 + i / 10, "unit": "Cel"}}
        for i in range(5)
    ]  # fmt: skip
    path = tmp_path / "o.parquet"
    write_resources_parquet(obs, path)
    view = {
        "resource": "Observation",
        "select": [
            {"column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "v", "path": "value.ofType(Quantity).value", "type": "decimal"},
                {"name": "q", "path": "value.ofType(Quantity)"},
            ]},
            {"forEach": "code.coding", "column": [{"name": "code", "path": "code", "type": "code"}]},
        ],
    }  # fmt: skip
    df = view_dataframe(view, str(path), spark)
    assert [f.dataType.simpleString() for f in df.schema.fields] == ["string", "double", "variant", "string"]
    rows = run_view_spark(view, str(path), spark)
    assert len(rows) == 10
    assert multiset(rows) == multiset(list(run_view(view, obs)))
    # a DataFrame source (as a cluster job reads it), through the Python workers
    frame = spark.read.parquet(str(path))
    assert multiset(run_view_spark(view, frame, spark, engine="python")) == multiset(rows)
