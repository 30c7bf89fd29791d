"""Resources and table helpers shared by the store tests."""

from __future__ import annotations

from typing import Any

TABLES = (
    "fhir_locator",
    "fhir_resource",
    "fhir_history",
    "idx_token",
    "idx_string",
    "idx_date",
    "idx_reference",
    "idx_quantity",
    "idx_number",
    "idx_uri",
    "idx_composite",
    "idx_special",
)
INDEX_TABLES = TABLES[3:]


def patient(family: str = "Nguyễn", given: str = "Văn An", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "https://senhealth.vn/fhir/sid/cccd", "value": "001080012345"}],
        "name": [{"family": family, "given": given.split()}],
        "gender": "male",
        "birthDate": "1980-01-02",
        **extra,
    }


def observation(subject: str | None = None, value: Any = 7.2, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
        "effectiveDateTime": "2024-03-01T08:30:00+07:00",
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        **extra,
    }
    if subject is not None:
        out["subject"] = {"reference": subject}
    return out


def organization(name: str = "Trạm Y tế xã An Bình") -> dict[str, Any]:
    return {"resourceType": "Organization", "name": name, "active": True}
