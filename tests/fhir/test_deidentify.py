"""De-identification (``senhealth.fhir.deidentify``): what an analyst's answers keep and lose.

Spec: https://hl7.org/fhir/R4/security-labels.html (REDACTED), the identifiers of 45 CFR 164.514(b)(2).
"""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.deidentify import REDACTED, deidentify, identifying_params

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"versionId": "2", "source": "urn:facility:h1"},
    "text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>Nguyễn Văn An</div>"},
    "identifier": [{"system": "urn:vn:cccd", "value": "001085012345"}],
    "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
    "telecom": [{"system": "phone", "value": "0912345678"}],
    "gender": "male",
    "birthDate": "1985-03-07",
    "address": [{"line": ["12 Lê Lợi"], "city": "Phường Bến Nghé", "district": "Quận 1", "state": "79"}],
    "photo": [{"contentType": "image/png", "data": "iVBORw0"}],
    "contact": [{"name": {"family": "Trần"}}],
    "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}],
    "managingOrganization": {"reference": "Organization/h1", "display": "Trạm Y tế"},
}


def test_a_patient_keeps_nothing_that_identifies() -> None:
    out = deidentify(PATIENT)
    assert set(out) == {
        "resourceType",
        "id",
        "meta",
        "gender",
        "birthDate",
        "address",
        "managingOrganization",
    }
    assert out["birthDate"] == "1985"
    assert out["address"] == [{"district": "Quận 1", "state": "79"}]
    assert out["managingOrganization"] == {"reference": "Organization/h1"}
    assert out["meta"] == {"versionId": "2", "security": [REDACTED]}
    assert PATIENT["name"]  # the input is untouched


def test_clinical_content_stays_free_text_goes() -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"}],
            "text": "HA",
        },
        "subject": {"reference": "Patient/p1", "display": "Nguyễn Văn An"},
        "effectiveDateTime": "2026-05-01T08:00:00+07:00",
        "valueQuantity": {"value": 150, "unit": "mm[Hg]"},
        "note": [{"text": "Bệnh nhân An than đau đầu"}],
        "performer": [{"reference": "Practitioner/d1", "display": "BS. Lê"}],
    }
    out = deidentify(obs)
    assert out["code"] == obs["code"]  # coded content and its display stay
    assert out["subject"] == {"reference": "Patient/p1"}
    assert out["effectiveDateTime"] == obs["effectiveDateTime"]
    assert "note" not in out and out["performer"] == [{"reference": "Practitioner/d1"}]


def test_a_bundle_is_deidentified_entry_by_entry() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": PATIENT, "search": {"mode": "match"}}],
    }
    out = deidentify(bundle)
    assert "name" not in out["entry"][0]["resource"] and out["entry"][0]["search"] == {"mode": "match"}


@pytest.mark.parametrize(
    ("names", "found"),
    [
        (["name"], ["name"]),
        (["family:exact", "gender"], ["family:exact"]),
        (["subject:Patient.name"], ["subject:Patient.name"]),
        (["identifier", "code", "date"], ["identifier"]),
        (["birthdate"], ["birthdate"]),
        (["code", "date", "_count", "address-state"], []),
    ],
)
def test_identifying_search_parameters(names: list[str], found: list[str]) -> None:
    assert identifying_params(names) == found
