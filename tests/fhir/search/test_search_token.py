"""Token extraction: Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, id."""

from __future__ import annotations

from typing import Any

import pytest
from search_support import values

from senhealth.fhir.search.params import TokenValue as T

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "category": [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
            ]
        }
    ],
    "code": {
        "coding": [
            {"system": LOINC, "code": "2339-0", "display": "Glucose [Mass/volume] in Blood"},
            {"system": SCT, "code": "33747003", "display": "Glucose measurement"},
        ],
        "text": "Đường huyết",
    },
    "valueCodeableConcept": {
        "coding": [{"system": SCT, "code": "260385009", "display": "Negative"}],
        "text": "negative",
    },
    "meta": {"tag": [{"system": "urn:tags", "code": "demo"}], "security": [{"code": "R"}]},
}

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "gender": "female",
    "identifier": [
        {
            "system": "urn:vn:cccd",
            "value": "001190012345",
            "type": {"coding": [{"system": V2_0203, "code": "NI"}], "text": "Căn cước công dân"},
        },
        {"system": "urn:vn:bhyt", "value": "DN4010123456789"},
        {"value": "no-system"},
    ],
    "telecom": [
        {"system": "phone", "value": "0912 345 678", "use": "mobile"},
        {"system": "email", "value": "dao@example.vn"},
    ],
    "communication": [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "vi"}], "text": "Tiếng Việt"}}
    ],
}


@pytest.mark.parametrize(
    ("resource", "code", "expected"),
    [
        # CodeableConcept: one row per coding (display normalised for :text) + the text on its own row
        (
            OBS,
            "code",
            [
                T(LOINC, "2339-0", "glucose [mass/volume] in blood"),
                T(SCT, "33747003", "glucose measurement"),
                T(None, None, "duong huyet"),
            ],
        ),
        # text equal to a display (after normalisation) is not repeated
        (OBS, "value-concept", [T(SCT, "260385009", "negative")]),
        (OBS, "category", [T("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")]),
        (OBS, "status", [T(None, "final")]),
        (OBS, "_id", [T(None, "o1")]),
        # Coding
        (OBS, "_tag", [T("urn:tags", "demo")]),
        (OBS, "_security", [T(None, "R")]),
        # Identifier: system|value, identifier type for :of-type, type text for :text
        (
            PATIENT,
            "identifier",
            [
                T("urn:vn:cccd", "001190012345", "can cuoc cong dan", V2_0203, "NI"),
                T("urn:vn:bhyt", "DN4010123456789"),
                T(None, "no-system"),
            ],
        ),
        # boolean and code
        (PATIENT, "active", [T(None, "true")]),
        (PATIENT, "gender", [T(None, "female")]),
        # ContactPoint: value, with use in the system column; where(system='phone') filters
        (PATIENT, "telecom", [T("mobile", "0912 345 678"), T(None, "dao@example.vn")]),
        (PATIENT, "phone", [T("mobile", "0912 345 678")]),
        (PATIENT, "email", [T(None, "dao@example.vn")]),
        (PATIENT, "language", [T("urn:ietf:bcp:47", "vi", None), T(None, None, "tieng viet")]),
        # absent element: no values
        (PATIENT, "general-practitioner", []),
    ],
)
def test_token(resource: dict[str, Any], code: str, expected: list[T]) -> None:
    assert values(resource, code) == expected


@pytest.mark.parametrize(
    ("deceased", "expected"),
    [
        ({}, "false"),  # Patient.deceased.exists() and Patient.deceased != false
        ({"deceasedBoolean": False}, "false"),
        ({"deceasedBoolean": True}, "true"),
        ({"deceasedDateTime": "2020-01-02"}, "true"),
    ],
)
def test_deceased_is_a_boolean_expression(deceased: dict[str, Any], expected: str) -> None:
    assert values({"resourceType": "Patient", **deceased}, "deceased") == [T(None, expected)]


def test_codeable_concept_text_only_and_coding_without_code() -> None:
    cond = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": SCT, "display": "Sốt xuất huyết"}], "text": "Sốt xuất huyết Dengue"},
    }
    assert values(cond, "code") == [T(SCT, None, "sot xuat huyet"), T(None, None, "sot xuat huyet dengue")]


def test_malformed_values_are_skipped_not_raised() -> None:
    obs = {
        "resourceType": "Observation",
        "code": "not-a-codeable-concept",
        "status": 7,
        "category": [None, {}],
    }
    assert values(obs, "code") == []
    assert values(obs, "status") == [T(None, "7")]
    assert values(obs, "category") == []
