"""Clinical data and helpers for the signature tests: a facility, an author, a head of department, a
patient, an inpatient stay with a diagnosis and a lab result, and the discharge paper that documents it
(a Composition); written with fixed ids through the real store."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from store_runner_support import run_with_store

from senhealth.fhir.store import FhirStore

T = TypeVar("T")

LOINC = "http://loinc.org"
CCCD = "https://senhealth.vn/fhir/sid/cccd"
FACILITY = "org-sig-1"
AUTHOR = "prac-sig-author"
HEAD = "prac-sig-head"
PATIENT = "pat-sig-1"
ENCOUNTER = "enc-sig-1"
COMPOSITION = "comp-sig-1"


def ref(rtype: str, rid: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{rtype}/{rid}"}
    if display:
        out["display"] = display
    return out


def clinical_resources() -> list[dict[str, Any]]:
    pat = ref("Patient", PATIENT)
    return [
        {
            "resourceType": "Organization",
            "id": FACILITY,
            "active": True,
            "name": "Bệnh viện Đa khoa Sen Hồng",
        },
        {
            "resourceType": "Practitioner",
            "id": AUTHOR,
            "name": [{"family": "Lê", "given": ["Văn", "Lân"], "text": "BS. Lê Văn Lân"}],
        },
        {
            "resourceType": "Practitioner",
            "id": HEAD,
            "name": [{"family": "Phạm", "given": ["Thị", "Hoa"], "text": "BS CKII. Phạm Thị Hoa"}],
        },
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "identifier": [{"system": CCCD, "value": "079085004321"}],
            "name": [{"family": "Nguyễn", "given": ["Thị", "Bình"], "text": "Nguyễn Thị Bình"}],
            "gender": "female",
            "birthDate": "1979-11-03",
            "telecom": [{"system": "phone", "value": "0909000111"}],
            "managingOrganization": ref("Organization", FACILITY),
        },
        {
            "resourceType": "Encounter",
            "id": ENCOUNTER,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": pat,
            "period": {"start": "2026-03-02T08:15:00+07:00", "end": "2026-03-09T10:30:00+07:00"},
            "serviceProvider": ref("Organization", FACILITY),
        },
        {
            "resourceType": "Condition",
            "id": "cond-sig-1",
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}],
                "text": "Viêm phổi",
            },
            "subject": pat,
            "encounter": ref("Encounter", ENCOUNTER),
        },
        {
            "resourceType": "Observation",
            "id": "obs-sig-1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "1988-5"}], "text": "CRP"},
            "subject": pat,
            "encounter": ref("Encounter", ENCOUNTER),
            "effectiveDateTime": "2026-03-03T07:00:00+07:00",
            "valueQuantity": {
                "value": Decimal("12.50"),
                "unit": "mg/L",
                "system": "http://unitsofmeasure.org",
                "code": "mg/L",
            },
        },
    ]


def composition(comp_id: str = COMPOSITION, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Composition",
        "id": comp_id,
        "status": "final",
        "type": {
            "coding": [{"system": LOINC, "code": "18842-5", "display": "Discharge summary"}],
            "text": "Giấy ra viện",
        },
        "subject": ref("Patient", PATIENT),
        "encounter": ref("Encounter", ENCOUNTER),
        "date": "2026-03-09T10:30:00+07:00",
        "author": [ref("Practitioner", AUTHOR, "BS. Lê Văn Lân")],
        "title": "Giấy ra viện",
        "custodian": ref("Organization", FACILITY),
        "section": [
            {
                "title": "Chẩn đoán / Diagnosis",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">Viêm phổi (J18.9)</div>',
                },
                "entry": [ref("Condition", "cond-sig-1")],
            },
            {
                "title": "Kết quả xét nghiệm / Laboratory results",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">CRP 12.50 mg/L</div>',
                },
                "entry": [ref("Observation", "obs-sig-1")],
            },
        ],
        **extra,
    }
    return out


async def seed(store: FhirStore, comp_id: str = COMPOSITION) -> None:
    for resource in clinical_resources():
        await store.update(resource)
    await store.update(composition(comp_id))


def run_store(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a pool opened on ``url`` (a migrated schema)."""
    return run_with_store(url, fn)


def jws_header(signature: dict[str, Any]) -> dict[str, Any]:
    """The protected header of the JWS in ``Signature.data``."""
    import orjson

    token = base64.b64decode(signature["data"]).decode("ascii")
    head = token.split(".")[0]
    return dict(orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))
