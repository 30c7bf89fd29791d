"""Valid edge cases are accepted: primitive extensions, contained resources, leap days, exponents..."""

from __future__ import annotations

from typing import Any

import pytest
from validation_cases import (
    ALLERGY_CLINICAL,
    ORG,
    UUID_A,
    UUID_B,
    allergy,
    bundle,
    observation,
    patient,
    tx_entry,
)

from senhealth.fhir.validation import is_valid, validate

XHTML = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Nguyễn Văn An</p></div>'
EXT = {"url": "http://senhealth.vn/fhir/StructureDefinition/ethnicity", "valueString": "Kinh"}

# fmt: off
VALID: list[tuple[str, dict[str, Any]]] = [
    ("only a resourceType", {"resourceType": "Patient"}),
    ("primitive with extension", patient(birthDate="1990-05-01", _birthDate={"extension": [EXT]})),
    ("primitive extension without value", patient(_birthDate={"extension": [EXT]})),
    ("primitive extension with id and value", patient(birthDate="1990-05-01", _birthDate={"id": "b1"})),
    (
        "primitive array with null placeholders",
        patient(name=[{"given": ["An", None], "_given": [None, {"extension": [EXT]}]}]),
    ),
    ("primitive extension array only", patient(name=[{"_given": [{"extension": [EXT]}]}])),
    ("leap day 2024", patient(birthDate="2024-02-29")),
    ("leap day 2000", patient(birthDate="2000-02-29")),
    ("partial dates", patient(birthDate="1990-05", deceasedDateTime="2020")),
    ("decimal with exponent", observation(valueQuantity={"value": 1.5e3, "unit": "mg"})),
    ("decimal with negative exponent", observation(valueQuantity={"value": 2e-5})),
    ("decimal zero and negative", observation(referenceRange=[{"low": {"value": -0.5}, "high": {"value": 0}}])),
    ("integer bounds", patient(multipleBirthInteger=2147483647, extension=[{"url": "http://x.vn/i", "valueInteger": -2147483648}])),
    ("dateTime with fraction and zone", observation(effectiveDateTime="2024-03-01T08:30:15.123456789+07:00")),
    ("instant with leap second", observation(issued="2016-12-31T23:59:60Z")),
    ("time with fraction", observation(valueTime="23:59:59.999")),
    ("contained resource with #ref", patient(contained=[ORG], managingOrganization={"reference": "#org1"})),
    (
        "contained referring to its container",
        patient(
            contained=[{"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "#"}}],
        ),
    ),
    ("nested extensions", patient(extension=[{"url": "http://x.vn/a", "extension": [{"url": "b", "valueCode": "c"}]}])),
    ("modifier extension", patient(modifierExtension=[{"url": "http://x.vn/m", "valueBoolean": True}])),
    ("extension with only a primitive extension", patient(extension=[{"url": "http://x.vn/a", "_valueString": {"extension": [EXT]}}])),
    ("extension with a reference to a contained", patient(contained=[ORG], extension=[{"url": "http://x.vn/o", "valueReference": {"reference": "#org1"}}])),
    ("narrative", patient(text={"status": "generated", "div": XHTML})),
    ("unicode strings", patient(name=[{"family": "Nguyễn", "given": ["Thị", "Minh Khai"]}])),
    ("base64 with line breaks", patient(photo=[{"contentType": "image/png", "data": "aGVs\nbG8="}])),
    ("versioned relative reference", observation(subject={"reference": "Patient/p1/_history/2"})),
    ("absolute reference", observation(subject={"reference": "https://fhir.senhealth.vn/r4/Patient/p1"})),
    ("absolute non-FHIR reference", observation(subject={"reference": "https://example.vn/people/42"})),
    ("urn:oid reference", observation(subject={"reference": "urn:oid:1.2.840.10008.1"})),
    ("logical reference", observation(subject={"identifier": {"system": "https://senhealth.vn/fhir/sid/cccd", "value": "001090000001"}})),
    ("display-only reference", observation(performer=[{"display": "BS. Trần"}])),
    ("Resource target allows anything", observation(focus=[{"reference": "Claim/c1"}])),
    (
        "conditional reference in a transaction",
        bundle("transaction", tx_entry(observation(subject={"reference": "Patient?identifier=https://senhealth.vn/fhir/sid/cccd|001"}))),
    ),
    ("urn:uuid to a bundle entry of the right type", bundle("transaction", tx_entry(patient(), UUID_A), tx_entry(observation(subject={"reference": UUID_A}), UUID_B))),
    ("searchset with total", {**bundle("searchset", {"fullUrl": "http://x.vn/Patient/p1", "resource": patient(), "search": {"mode": "match"}}), "total": 1}),
    ("period with mixed precision", observation(effectivePeriod={"start": "2024", "end": "2024-01-01T00:00:00Z"})),
    ("period with zones", observation(effectivePeriod={"start": "2024-01-01T10:00:00+07:00", "end": "2024-01-01T03:30:00Z"})),
    ("period with start only", observation(effectivePeriod={"start": "2024-01-01"})),
    (
        "required binding with a translation",
        allergy(clinicalStatus={"coding": [{"system": "http://snomed.info/sct", "code": "55561003"}, {"system": ALLERGY_CLINICAL, "code": "active"}]}),
    ),
    ("contentReference recursion", {"resourceType": "Questionnaire", "status": "draft", "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string"}]}]}),
    ("Parameters with parts and a resource", {"resourceType": "Parameters", "parameter": [{"name": "a", "part": [{"name": "b", "valueInteger": 1}]}, {"name": "r", "resource": patient()}]}),
    ("Bundle.entry.link (contentReference)", bundle("collection", {"link": [{"relation": "self", "url": "http://x.vn/Patient/p1"}], "resource": patient()})),
    ("unregistered meta.profile is ignored", patient(meta={"profile": ["http://example.org/fhir/StructureDefinition/unknown"]})),
    ("Observation with components", observation(component=[{"code": {"text": "sys"}, "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}])),
]
# fmt: on


@pytest.mark.parametrize(("name", "resource"), VALID, ids=[v[0] for v in VALID])
def test_valid_edge_case_is_accepted(name: str, resource: dict[str, Any]) -> None:
    outcome = validate(resource)
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert is_valid(outcome), errors


def test_conditional_reference_outside_a_transaction_is_a_warning() -> None:
    outcome = validate(observation(subject={"reference": "Patient?identifier=x|1"}))
    assert is_valid(outcome)
    assert any(i["severity"] == "warning" and i["code"] == "invalid" for i in outcome["issue"])


def test_missing_narrative_is_only_a_warning() -> None:
    outcome = validate(patient())
    assert is_valid(outcome)
    assert [i["expression"] for i in outcome["issue"]] == [["Patient"]]
    assert outcome["issue"][0]["severity"] == "warning"
    assert "dom-6" in outcome["issue"][0]["diagnostics"]
