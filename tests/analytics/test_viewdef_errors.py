"""ViewDefinition errors name the place in the view; a few evaluator behaviours beyond the suite."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from senhealth.analytics.viewdef import ViewDefinitionError, column_names, run_view, validate_view

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Nguyen", "given": ["An", "Binh"]}, {"family": "Tran"}],
    "birthDate": "1980-02-03",
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "subject": {"reference": "Patient/p1"},
    "valueQuantity": {"value": 1.5, "unit": "mg"},
}


def _view(*select: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resource": "Patient", "select": list(select), **extra}


def _col(name: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "path": path, **extra}


def _error(view: dict[str, Any], resources: list[dict[str, Any]] | None = None) -> ViewDefinitionError:
    with pytest.raises(ViewDefinitionError) as info:
        list(run_view(view, resources or [PATIENT]))
    return info.value


def test_unknown_column_type_names_its_path() -> None:
    err = _error(_view({"column": [_col("id", "id"), _col("a", "id"), _col("b", "id", type="varchar")]}))
    assert err.path == "select[0].column[2].type"
    assert str(err).startswith("select[0].column[2].type: unknown column type 'varchar'")


def test_several_values_without_collection_names_the_column_path() -> None:
    err = _error(
        _view({"column": [_col("id", "id")]}, {"column": [_col("id2", "id"), _col("family", "name.family")]})
    )
    assert err.path == "select[1].column[1].path"
    assert "2 values" in str(err) and "collection: true" in str(err)


def test_bad_fhirpath_and_undefined_constant_are_reported_by_validate() -> None:
    problems = validate_view(
        _view({"forEach": "name.where(", "column": [_col("f", "family")]}, {"column": [_col("u", "%nope")]})
    )
    assert any(p.startswith("select[0].forEach: invalid FHIRPath") for p in problems)
    assert any(p.startswith("select[1].column[0].path: undefined constant(s) %nope") for p in problems)


def test_structure_errors() -> None:
    assert validate_view({}) == [
        "resource: the view must name the resource type it runs on",
        "select: the view needs a non-empty select list",
    ]
    assert validate_view(_view({"column": [_col("1bad", "id")]})) == [
        "select[0].column[0].name: a column name must match ^[A-Za-z][A-Za-z0-9_]*$, not '1bad'"
    ]
    assert validate_view(_view({"column": [_col("id", "id")]}, {"column": [_col("id", "id")]})) == [
        "select: column name 'id' is used twice"
    ]
    err = _error(_view({"unionAll": [{"column": [_col("a", "id")]}, {"column": [_col("b", "id")]}]}))
    assert err.path == "select[0].unionAll[1]"
    assert validate_view(_view({"column": [_col("id", "id")]}, constant=[{"name": "x"}])) == [
        "constant[0]: constant 'x' needs exactly one value[x], has none"
    ]


def test_where_must_be_boolean() -> None:
    err = _error(_view({"column": [_col("id", "id")]}, where=[{"path": "birthDate"}]))
    assert err.path == "where[0].path"


def test_rows_values_and_keys() -> None:
    view = {
        "resource": "Observation",
        "constant": [{"name": "unit", "valueCode": "mg"}],
        "select": [
            {
                "column": [
                    _col("id", "getResourceKey()"),
                    _col("patient", "subject.getReferenceKey(Patient)"),
                    _col("value", "value.ofType(Quantity).where(unit = %unit).value", type="decimal"),
                ]
            }
        ],
    }
    rows = list(run_view(view, [PATIENT, OBSERVATION]))
    assert rows == [{"id": "o1", "patient": "p1", "value": Decimal("1.5")}]
    assert column_names(view) == ["id", "patient", "value"]


def test_for_each_or_null_and_row_index() -> None:
    view = _view(
        {"column": [_col("id", "id")]},
        {
            "forEachOrNull": "name",
            "column": [_col("i", "%rowIndex"), _col("given", "given", collection=True)],
        },
    )
    rows = list(run_view(view, [PATIENT, {"resourceType": "Patient", "id": "p2"}]))
    assert rows == [
        {"id": "p1", "i": 0, "given": ["An", "Binh"]},
        {"id": "p1", "i": 1, "given": []},
        {"id": "p2", "i": 0, "given": []},
    ]
