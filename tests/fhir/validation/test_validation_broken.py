"""Broken resources are rejected with the right location and issue type (the table in validation_cases.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from validation_cases import CASES, allergy, bundle, condition, contained, observation, patient, tx_entry

from senhealth.fhir.validation import is_valid, validate


def _errors(outcome: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (i.get("expression", [""])[0], i["code"])
        for i in outcome["issue"]
        if i["severity"] in ("error", "fatal")
    ]


def test_the_table_is_large_and_names_are_unique() -> None:
    names = [c[0] for c in CASES]
    assert len(CASES) >= 100
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "resource",
    [
        patient(),
        observation(),
        allergy(),
        condition(),
        contained({"resourceType": "Organization", "id": "org1", "name": "A"}),
        bundle("transaction", tx_entry(patient())),
    ],
    ids=["patient", "observation", "allergy", "condition", "contained", "bundle"],
)
def test_builders_make_valid_resources(resource: dict[str, Any]) -> None:
    outcome = validate(resource)
    assert is_valid(outcome), _errors(outcome)


@pytest.mark.parametrize(("name", "resource", "path", "code"), CASES, ids=[c[0] for c in CASES])
def test_broken_resource_is_rejected(name: str, resource: dict[str, Any], path: str, code: str) -> None:
    before = copy.deepcopy(resource)
    outcome = validate(resource)
    assert not is_valid(outcome)
    errors = _errors(outcome)
    assert (path, code) in errors, f"{name}: expected {code} at {path}, got {errors}"
    assert resource == before  # validation never changes its input
    for issue in outcome["issue"]:
        assert issue["location"] == issue["expression"]
        assert issue["diagnostics"] == issue["details"]["text"]
