"""Helpers of the check-up form tests: a store on a migrated schema, a patient with a check-up encounter,
and responses answering the packaged forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from store_runner_support import run_with_store

from senhealth.fhir.store import FhirStore

T = TypeVar("T")

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
ITEM = "https://senhealth.vn/fhir/CodeSystem/checkup-item"
ANSWER = "https://senhealth.vn/fhir/CodeSystem/checkup-answer"
PATIENT = "Patient/pat-q1"
ENCOUNTER = "Encounter/enc-q1"
AUTHORED = "2026-03-10T09:30:00+07:00"


def run_async(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a pool opened on ``url`` (a migrated schema)."""
    return run_with_store(url, fn)


async def seed(store: FhirStore) -> None:
    """A commune station, a health worker, a woman of 45 and her check-up encounter."""
    for resource in (
        {"resourceType": "Organization", "id": "org-q1", "name": "Trạm Y tế xã Sen Hồng"},
        {"resourceType": "Practitioner", "id": "prac-q1", "name": [{"text": "Lê Thị Hoa"}]},
        {
            "resourceType": "Patient",
            "id": "pat-q1",
            "name": [{"family": "Trần", "given": ["Thị", "Mai"], "text": "Trần Thị Mai"}],
            "gender": "female",
            "birthDate": "1980-05-02",
        },
        {
            "resourceType": "Encounter",
            "id": "enc-q1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [
                {
                    "coding": [
                        {"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}
                    ]
                }
            ],
            "subject": {"reference": PATIENT},
            "serviceProvider": {"reference": "Organization/org-q1"},
            "period": {"start": "2026-03-10T09:00:00+07:00", "end": "2026-03-10T09:40:00+07:00"},
        },
    ):
        await store.update(resource)


def answer(link: str, **value: Any) -> dict[str, Any]:
    """A response item with one answer, e.g. ``answer("weight", valueDecimal=60)``."""
    return {"linkId": link, "answer": [value]}


def coding(system: str, code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": system, "code": code}}


def response(
    questionnaire: dict[str, Any],
    groups: dict[str, list[dict[str, Any]]],
    *,
    rid: str | None = "qr-1",
    age: int = 45,
) -> dict[str, Any]:
    """A completed response to ``questionnaire``: ``groups`` maps a section's linkId to its answered items."""
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": "completed",
        "subject": {"reference": PATIENT},
        "encounter": {"reference": ENCOUNTER},
        "authored": AUTHORED,
        "author": {"reference": "Practitioner/prac-q1"},
        "item": [answer("age", valueInteger=age)]
        + [{"linkId": link, "item": items} for link, items in groups.items()],
    }
    if rid is not None:
        out["id"] = rid
    return out


def full_adult_answers() -> dict[str, list[dict[str, Any]]]:
    """An adult woman's check-up, every section answered."""
    return {
        "history": [
            answer("known-hypertension", valueBoolean=True),
            answer("known-diabetes", valueBoolean=False),
            {"linkId": "smoking", "answer": [coding(SNOMED, "8517006")]},
            {"linkId": "alcohol", "answer": [coding(ANSWER, "alcohol-weekly")]},
            answer("physical-activity", valueBoolean=False),
            answer("vegetables-fruit", valueBoolean=True),
            {"linkId": "family-diabetes", "answer": [coding(ANSWER, "first-degree")]},
        ],
        "vitals": [
            {
                "linkId": "bp",
                "item": [answer("bp-systolic", valueInteger=150), answer("bp-diastolic", valueInteger=95)],
            },
            answer("pulse", valueInteger=78),
            answer("height", valueDecimal=155),
            answer("weight", valueDecimal=62.5),
            answer("waist", valueDecimal=86),
        ],
        "labs": [
            answer("cholesterol", valueDecimal=5.8),
            answer(
                "glucose", valueQuantity={"value": 6.4, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
            ),
            answer("hba1c", valueDecimal=6.1),
        ],
        "screening": [
            answer("bp-medication", valueBoolean=True),
            answer("high-glucose-history", valueBoolean=False),
            answer("cervical-screening", valueBoolean=False),
        ],
        "conclusion": [
            {"linkId": "health-class", "answer": [coding(ANSWER, "class-II")]},
            answer("advice", valueString="Giảm muối, tái khám huyết áp sau 1 tháng"),
        ],
    }
