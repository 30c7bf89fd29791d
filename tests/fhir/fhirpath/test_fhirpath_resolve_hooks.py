"""resolve() in a Bundle and in contained resources; the memberOf / conformsTo / resolve hooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath import FHIRPathEvaluationError, Hooks

PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Le"}]}
ORG = {"resourceType": "Organization", "id": "o1", "name": "Tram y te"}
ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "e1",
    "subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
    "serviceProvider": {"reference": "Organization/o1"},
    "participant": [{"individual": {"reference": "http://example.org/fhir/Practitioner/x1"}}],
}
BUNDLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": PATIENT},
        {"fullUrl": "http://example.org/fhir/Organization/o1", "resource": ORG},
        {"fullUrl": "urn:uuid:e", "resource": ENCOUNTER},
    ],
}


@pytest.fixture(autouse=True)
def _no_global_hooks() -> Iterator[None]:
    previous = fhirpath.set_hooks()
    fhirpath.reset_hooks()
    yield
    fhirpath.reset_hooks(previous)


def test_resolve_in_bundle() -> None:
    expr = fhirpath.compile("Encounter.subject.resolve().name.family")
    assert expr(ENCOUNTER, resource=ENCOUNTER, root_resource=BUNDLE) == ["Le"]
    # relative Type/id against an absolute fullUrl
    expr2 = fhirpath.compile("serviceProvider.resolve().name", base_type="Encounter")
    assert expr2(ENCOUNTER, root_resource=BUNDLE) == ["Tram y te"]
    # the typical search-parameter filter
    is_patient = fhirpath.compile("Encounter.subject.where(resolve() is Patient)")
    assert is_patient(ENCOUNTER, root_resource=BUNDLE) == [ENCOUNTER["subject"]]
    assert is_patient(ENCOUNTER) == []  # nothing to resolve against
    # from the bundle itself
    assert fhirpath.evaluate(BUNDLE, "Bundle.entry.resource.ofType(Encounter).subject.resolve().id") == ["p1"]


def test_resolve_contained() -> None:
    obs = {
        "resourceType": "Observation",
        "contained": [{"resourceType": "Patient", "id": "pat", "gender": "female"}],
        "subject": {"reference": "#pat"},
    }
    assert fhirpath.evaluate(obs, "Observation.subject.resolve().gender") == ["female"]
    assert fhirpath.evaluate(obs, "Observation.contained.ofType(Patient).id") == ["pat"]
    assert fhirpath.evaluate(obs, "'#pat'.resolve().id") == ["pat"]


def test_resolve_hook() -> None:
    store = {"Practitioner/x1": {"resourceType": "Practitioner", "id": "x1", "active": True}}

    def resolver(reference: str) -> dict[str, Any] | None:
        return store.get("/".join(reference.split("/")[-2:]))

    expr = fhirpath.compile("Encounter.participant.individual.resolve().active")
    assert expr(ENCOUNTER) == []
    assert expr(ENCOUNTER, hooks=Hooks(resolve=resolver)) == [True]
    fhirpath.set_hooks(resolve=resolver)
    assert expr(ENCOUNTER) == [True]


def test_member_of_hook() -> None:
    coding = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]},
    }
    seen: list[tuple[Any, str]] = []

    def member_of(value: Any, url: str) -> bool | None:
        seen.append((value, url))
        return url == "http://example.org/vs" and value.get("code") == "1-8"

    expr = fhirpath.compile("Observation.code.coding.memberOf('http://example.org/vs')")
    assert expr(coding) == []  # no terminology: empty
    assert expr(coding, hooks=Hooks(member_of=member_of)) == [True]
    assert seen == [({"system": "http://loinc.org", "code": "1-8"}, "http://example.org/vs")]


def test_conforms_to() -> None:
    assert fhirpath.evaluate(PATIENT, "conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')") == [
        True
    ]
    assert fhirpath.evaluate(
        PATIENT, "conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')"
    ) == [True]
    assert fhirpath.evaluate(PATIENT, "conformsTo('http://hl7.org/fhir/StructureDefinition/Person')") == [
        False
    ]
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "conformsTo('http://example.org/profile')")
    hooks = Hooks(conforms_to=lambda resource, url: resource["id"] == "p1")
    assert fhirpath.compile("conformsTo('http://example.org/profile')")(PATIENT, hooks=hooks) == [True]


def test_reference_keys() -> None:
    p = {"resourceType": "Patient", "id": "p1", "link": [{"other": {"reference": "Patient/p1"}}]}
    assert fhirpath.evaluate(p, "getResourceKey() = link.other.getReferenceKey()") == [True]
    assert fhirpath.evaluate(p, "getResourceKey() = link.other.getReferenceKey(Patient)") == [True]
    assert fhirpath.evaluate(p, "link.other.getReferenceKey(Observation)") == []
    assert fhirpath.evaluate(ENCOUNTER, "subject.getReferenceKey()") == [
        "0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    ]
