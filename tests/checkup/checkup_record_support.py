"""Test helpers shared by the check-up assessment and registries tests: a pool on a migrated schema, resources
to write in the shared vocabulary (LOINC, ICD-10 as the demo writes it), a loopback HTTP receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from senhealth.core.db import close_pool, open_pool
from senhealth.fhir.store import FhirStore
from senhealth.fhir.terminology import icd10_vn

VN = timezone(timedelta(hours=7))
NOW = datetime(2026, 3, 15, 9, 0, tzinfo=VN)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def run(url: str, body: Callable[[FhirStore], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=6)
        try:
            await body(FhirStore())
        finally:
            await close_pool()

    asyncio.run(main())


def born(age: int, on: datetime = NOW) -> str:
    """A birth date that makes someone ``age`` completed years old on ``on`` (birthday 40 days before)."""
    day = (on - timedelta(days=40)).date()
    return date(day.year - age, day.month, day.day).isoformat()


def when(days_ago: float, now: datetime = NOW) -> str:
    return (now - timedelta(days=days_ago)).isoformat(timespec="seconds")


def organization(name: str = "Trạm Y tế xã Thử Nghiệm") -> dict[str, Any]:
    return {"resourceType": "Organization", "active": True, "name": name}


def patient(
    age: int, sex: str, *, org: str | None = None, phone: str | None = None, name: str = "Nguyễn Văn An"
) -> dict[str, Any]:
    family, *given = name.split()
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": name, "family": family, "given": given}],
        "gender": sex,
        "birthDate": born(age),
    }
    if org:
        out["managingOrganization"] = {"reference": f"Organization/{org}"}
    if phone:
        out["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    return out


def _obs(pid: str, code: str, days_ago: float, category: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when(days_ago),
    }


def bp(pid: str, sbp: float, dbp: float, days_ago: float = 1) -> dict[str, Any]:
    out = _obs(pid, "85354-9", days_ago, "vital-signs")
    q = {"unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    out["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": sbp, **q}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": dbp, **q}},
    ]
    return out


def quantity(pid: str, code: str, value: float, unit: str, days_ago: float = 1) -> dict[str, Any]:
    category = "laboratory" if code in ("2093-3", "1558-6", "4548-4") else "vital-signs"
    out = _obs(pid, code, days_ago, category)
    out["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return out


def smoking(pid: str, snomed: str, days_ago: float = 1) -> dict[str, Any]:
    out = _obs(pid, "72166-2", days_ago, "social-history")
    out["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": snomed}]}
    return out


def condition(
    pid: str, icd: str, *, status: str = "active", verification: str = "confirmed"
) -> dict[str, Any]:
    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    ver = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": clinical, "code": status}]},
        "verificationStatus": {"coding": [{"system": ver, "code": verification}]},
        "code": {"coding": [{"system": icd10_vn.SYSTEM, "code": icd}]},
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": when(100)[:10],
    }


def encounter(pid: str, days_ago: float, org: str | None = None, status: str = "finished") -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": when(days_ago), "end": when(days_ago - 0.01)},
    }
    if org:
        out["serviceProvider"] = {"reference": f"Organization/{org}"}
    return out


async def create_all(store: FhirStore, resources: list[dict[str, Any]]) -> list[str]:
    ids = []
    for r in resources:
        ids.append((await store.create(r)).res_id)
    return ids
