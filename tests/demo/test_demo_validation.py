"""Every generated resource validates with the platform's validator: no error or fatal issue."""

from __future__ import annotations

from collections import Counter

import pytest

from senhealth.demo.generator import generate_province

validation = pytest.importorskip("senhealth.fhir.validation")


def test_every_resource_of_a_province_validates() -> None:
    validate = getattr(validation, "validate", None)
    if validate is None:  # pragma: no cover - while the validator is being written
        pytest.skip("senhealth.fhir.validation.validate is not there yet")
    failures: list[tuple[str, list[dict[str, object]]]] = []
    checked: Counter[str] = Counter()
    for bundle in generate_province(200, seed=8):
        for entry in bundle["entry"]:
            resource = entry["resource"]
            issues = validate(resource).get("issue", [])
            errors = [i for i in issues if i.get("severity") in ("error", "fatal")]
            if errors:
                failures.append((f"{resource['resourceType']}/{resource['id']}", errors))
            checked[resource["resourceType"]] += 1
    assert not failures, failures[:5]
    assert set(checked) == {
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "Patient",
        "Condition",
        "Encounter",
        "Observation",
        "Immunization",
    }


def test_bundles_validate() -> None:
    validate = getattr(validation, "validate", None)
    if validate is None:  # pragma: no cover
        pytest.skip("senhealth.fhir.validation.validate is not there yet")
    for bundle in generate_province(3, seed=2):
        issues = validate(bundle).get("issue", [])
        assert not [i for i in issues if i.get("severity") in ("error", "fatal")], issues[:3]
