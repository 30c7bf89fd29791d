"""Reference extraction: every reference shape, Reference.identifier, and where(resolve() is X)."""

from __future__ import annotations

from typing import Any

import pytest
from search_support import values

from senhealth.fhir.search.params import ReferenceValue as R
from senhealth.fhir.search.params.reference import parse_reference


def obs(subject: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "subject": subject, **extra}


@pytest.mark.parametrize(
    ("subject", "kwargs", "expected", "is_patient"),
    [
        ({"reference": "Patient/123"}, {}, R("Patient", "123"), True),
        ({"reference": "Patient/123/_history/2"}, {}, R("Patient", "123", "2"), True),
        (
            {"reference": "http://other.org/fhir/Patient/123"},
            {},
            R("Patient", "123", None, "http://other.org/fhir/Patient/123"),
            True,
        ),
        (
            {"reference": "http://other.org/fhir/Patient/123/_history/7"},
            {},
            R("Patient", "123", "7", "http://other.org/fhir/Patient/123/_history/7"),
            True,
        ),
        # an absolute reference to this server's own base counts as local
        (
            {"reference": "https://ours.vn/fhir/Patient/123"},
            {"base_urls": ("https://ours.vn/fhir",)},
            R("Patient", "123"),
            True,
        ),
        ({"reference": "Group/g1"}, {}, R("Group", "g1"), False),
        # urn:uuid (a transaction): typed by the resolver, or by Reference.type
        ({"reference": "urn:uuid:5f2c"}, {}, R(None, None, None, "urn:uuid:5f2c"), False),
        (
            {"reference": "urn:uuid:5f2c"},
            {"resolver": {"urn:uuid:5f2c": "Patient"}.get},
            R("Patient", None, None, "urn:uuid:5f2c"),
            True,
        ),
        (
            {"reference": "urn:uuid:5f2c", "type": "Patient"},
            {},
            R("Patient", None, None, "urn:uuid:5f2c"),
            True,
        ),
        # a logical reference: only the identifier (for :identifier)
        (
            {"identifier": {"system": "urn:vn:cccd", "value": "001190012345"}, "type": "Patient"},
            {},
            R("Patient", None, None, None, "urn:vn:cccd", "001190012345"),
            True,
        ),
        (
            {"reference": "Patient/123", "identifier": {"system": "urn:vn:bhyt", "value": "DN401"}},
            {},
            R("Patient", "123", None, None, "urn:vn:bhyt", "DN401"),
            True,
        ),
    ],
)
def test_reference_shapes(
    subject: dict[str, Any], kwargs: dict[str, Any], expected: R, is_patient: bool
) -> None:
    resource = obs(subject)
    assert values(resource, "subject", **kwargs) == [expected]
    # patient: Observation.subject.where(resolve() is Patient)
    assert values(resource, "patient", **kwargs) == ([expected] if is_patient else [])


def test_contained_reference_is_typed_from_the_contained_resource() -> None:
    resource = obs({"reference": "#p1"}, contained=[{"resourceType": "Patient", "id": "p1"}])
    assert values(resource, "subject") == [R("Patient", None, None, "#p1")]
    assert values(resource, "patient") == [R("Patient", None, None, "#p1")]
    assert values(obs({"reference": "#nope"}), "patient") == []


def test_display_only_reference_gives_nothing() -> None:
    assert values(obs({"display": "Nguyễn Thị Đào"}), "subject") == []


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        (
            "http://example.org/fhir/PlanDefinition/pd1|2.0",
            R("PlanDefinition", "pd1", "2.0", "http://example.org/fhir/PlanDefinition/pd1"),
        ),
        (
            "http://example.org/fhir/PlanDefinition/pd1",
            R("PlanDefinition", "pd1", None, "http://example.org/fhir/PlanDefinition/pd1"),
        ),
        ("http://example.org/protocols/abc|3", R(None, None, "3", "http://example.org/protocols/abc")),
        ("PlanDefinition/pd1", R("PlanDefinition", "pd1")),
    ],
)
def test_canonical_references(canonical: str, expected: R) -> None:
    careplan = {"resourceType": "CarePlan", "instantiatesCanonical": [canonical]}
    assert values(careplan, "instantiates-canonical") == [expected]


def test_resolve_is_picks_by_target_type() -> None:
    appt = {
        "resourceType": "Appointment",
        "participant": [
            {"actor": {"reference": "Patient/p1"}},
            {"actor": {"reference": "Practitioner/d1"}},
            {"actor": {"reference": "Location/l1"}},
        ],
    }
    assert values(appt, "patient") == [R("Patient", "p1")]
    assert values(appt, "practitioner") == [R("Practitioner", "d1")]
    assert values(appt, "location") == [R("Location", "l1")]
    assert values(appt, "actor") == [R("Patient", "p1"), R("Practitioner", "d1"), R("Location", "l1")]


def test_bundle_composition_is_the_first_entry() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"resource": {"resourceType": "Composition", "id": "c1"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
        ],
    }
    assert values(bundle, "composition") == [R("Composition", "c1")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Patient/123", ("Patient", "123", None, None, None)),
        ("Patient/123/_history/2", ("Patient", "123", "2", None, None)),
        (
            "http://x.org/fhir/Patient/123",
            ("Patient", "123", None, "http://x.org/fhir/Patient/123", "http://x.org/fhir"),
        ),
        ("#contained", (None, None, None, "#contained", None)),
        ("urn:uuid:1234", (None, None, None, "urn:uuid:1234", None)),
        ("urn:oid:1.2.3", (None, None, None, "urn:oid:1.2.3", None)),
        ("NotAType/123", (None, None, None, "NotAType/123", None)),
        ("x/Patient/123", (None, None, None, "x/Patient/123", None)),
    ],
)
def test_parse_reference(text: str, expected: tuple[str | None, ...]) -> None:
    assert parse_reference(text) == expected
