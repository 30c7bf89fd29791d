"""Test helpers of the case-reporting and series tests: a pool on a migrated schema, and synthetic
resources (patients with coded home addresses, notifiable Conditions, Encounters and laboratory results)
in the vocabulary the demo province writes (the Vietnamese ICD-10 system, LOINC)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from senhealth.core.db import close_pool, open_pool
from senhealth.fhir.store import FhirStore
from senhealth.fhir.terminology import icd10_vn

VN = timezone(timedelta(hours=7))
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ADMIN = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"
PROVINCE = "24"
COMMUNE_A = "07210"
COMMUNE_B = "07213"
DENGUE_NS1 = "75377-2"


def run(url: str, body: Callable[[FhirStore], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=4)
        try:
            await body(FhirStore())
        finally:
            await close_pool()

    asyncio.run(main())


def at(day: str, hour: int = 9) -> datetime:
    """``2026-03-10`` at ``hour`` o'clock, Viet Nam time."""
    d = datetime.fromisoformat(day)
    return d.replace(hour=hour, tzinfo=VN)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def patient(
    name: str = "Nguyễn Văn An", commune: str = COMMUNE_A, province: str = PROVINCE
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "active": True,
        "name": [{"text": name}],
        "gender": "male",
        "birthDate": "1990-05-01",
        "address": [
            {
                "use": "home",
                "extension": [
                    {
                        "url": ADMIN,
                        "extension": [
                            {"url": "province", "valueCoding": {"code": province}},
                            {"url": "commune", "valueCoding": {"code": commune, "display": f"Xã {commune}"}},
                        ],
                    }
                ],
                "text": f"Xã {commune}",
            }
        ],
    }


def icd10(code: str) -> dict[str, Any]:
    return {"coding": [{"system": icd10_vn.SYSTEM, "code": code}]}


def condition(
    pid: str, code: str, recorded: datetime, *, onset: str | None = None, verification: str = "confirmed"
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}
            ]
        },
        "code": icd10(code),
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": iso(recorded),
    }
    if onset:
        out["onsetDateTime"] = onset
    return out


def encounter(pid: str, code: str, start: datetime, *, died: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished" if died else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": iso(start)},
        "reasonCode": [icd10(code)],
    }
    if died:
        out["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "exp"}
                ]
            }
        }
    return out


def lab(pid: str, loinc: str, when: datetime, *, positive: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": iso(when),
        "valueCodeableConcept": {
            "coding": [{"system": SNOMED, "code": "10828004" if positive else "260385009"}]
        },
    }
