"""The public API: the OperationOutcome, is_valid, the raw issues, inputs that are not resources."""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.validation import is_valid, validate, validation_issues


def test_outcome_of_a_valid_resource() -> None:
    narrative = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>'}
    outcome = validate({"resourceType": "Patient", "text": narrative})
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "No issues detected during validation",
                "details": {"text": "No issues detected during validation"},
            }
        ],
    }
    assert is_valid(outcome)


def test_outcome_issue_shape() -> None:
    outcome = validate({"resourceType": "Patient", "name": [{"given": ["An", 7]}]})
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert errors == [
        {
            "severity": "error",
            "code": "value",
            "details": {"text": "Expected a JSON string (string) but found number 7"},
            "diagnostics": "Expected a JSON string (string) but found number 7",
            "expression": ["Patient.name[0].given[1]"],
            "location": ["Patient.name[0].given[1]"],
        }
    ]
    assert not is_valid(outcome)


def test_the_outcome_is_a_valid_operation_outcome() -> None:
    outcome = validate({"resourceType": "Observation", "status": "nope", "valueString": ""})
    assert not is_valid(outcome)
    assert is_valid(validate(outcome))


def test_warnings_and_information_keep_a_resource_valid() -> None:
    assert is_valid(
        {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "invariant"}]}
    )
    assert not is_valid(
        {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "structure"}]}
    )


@pytest.mark.parametrize("value", [None, [], "Patient", 42, [{"resourceType": "Patient"}]])
def test_not_an_object_is_fatal(value: Any) -> None:
    outcome = validate(value)
    assert outcome["issue"][0]["severity"] == "fatal"
    assert outcome["issue"][0]["code"] == "structure"
    assert not is_valid(outcome)


def test_validation_issues_are_plain_tuples() -> None:
    issues = validation_issues({"resourceType": "Patient", "gender": "m"})
    assert ("error", "code-invalid", "Patient.gender") in [i[:3] for i in issues]
    assert all(isinstance(i, tuple) and len(i) == 4 for i in issues)


def test_duplicate_issues_are_reported_once() -> None:
    outcome = validate({"resourceType": "Patient", "gender": "m"})
    keys = [(i["severity"], i["code"], tuple(i.get("expression", ()))) for i in outcome["issue"]]
    assert len(keys) == len(set(keys))


def test_every_fault_is_reported_in_one_pass() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "done",
        "code": {},
        "subject": {"reference": "Foo/1"},
        "effectiveDateTime": "2023-02-30",
        "bogus": 1,
    }
    paths = {
        (i.get("expression") or [""])[0] for i in validate(resource)["issue"] if i["severity"] == "error"
    }
    assert {
        "Observation.status",
        "Observation.code",
        "Observation.subject.reference",
        "Observation.effectiveDateTime",
        "Observation.bogus",
    } <= paths
