"""Extra records for the exchange tests, on top of the documents' demo-like record
(``tests/emr/documents/documents_support.py``, put on the path here): an emergency visit with surgery,
and HIV data planted every way it can hide (a diagnosis in the main stay, a visit whose only diagnosis is
HIV, a visit to an HIV clinic, a note, a security label)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "documents"))

from documents_support import (
    COND_CAT,
    OBS_CAT,
    Seeded,
    icd,
    loinc,
    ref,
    run_async,
    seed,
)

from senhealth.fhir.store import FhirStore

__all__ = ["Seeded", "plant_everywhere", "run_async", "seed", "seed_emergency"]


async def seed_emergency(store: FhirStore, s: Seeded) -> None:
    """A second, emergency visit (class EMER) with an appendectomy (a surgical Procedure)."""
    pat = ref("Patient", s.patient)
    enc = ref("Encounter", "enc-er")
    items: list[dict[str, Any]] = [
        {
            "resourceType": "Condition",
            "id": "cond-appendix",
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": icd("K35.8", "Viêm ruột thừa cấp, khác và không đặc hiệu"),
            "subject": pat,
            "encounter": enc,
        },
        {
            "resourceType": "Encounter",
            "id": "enc-er",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
            "priority": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM"}],
                "text": "Cấp cứu",
            },
            "subject": pat,
            "period": {"start": "2026-05-10T22:05:00+07:00", "end": "2026-05-11T06:00:00+07:00"},
            "reasonCode": [{"text": "Đau hố chậu phải"}],
            "diagnosis": [
                {
                    "condition": ref("Condition", "cond-appendix"),
                    "use": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/diagnosis-role", "code": "DD"}
                        ]
                    },
                }
            ],
            "serviceProvider": ref("Organization", s.facility),
        },
        {
            "resourceType": "Procedure",
            "id": "proc-appendectomy",
            "status": "completed",
            "category": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "387713003", "display": "Surgical procedure"}
                ]
            },
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "47.01"}],
                "text": "Cắt ruột thừa nội soi",
            },
            "subject": pat,
            "encounter": enc,
            "performedDateTime": "2026-05-11T01:30:00+07:00",
            "performer": [{"actor": ref("Practitioner", s.head)}],
        },
    ]
    async with store.transaction() as tx:
        for r in items:
            await tx.update(r)


async def plant_everywhere(store: FhirStore, s: Seeded) -> None:
    """HIV in the main stay's diagnosis list; a visit whose only diagnosis is B24; a visit to an HIV
    clinic with ordinary vital signs; an HIV note on an ordinary result; a 'very restricted' Condition."""
    pat = ref("Patient", s.patient)
    enc_only = ref("Encounter", "enc-hiv-only")
    enc_clinic = ref("Encounter", "enc-clinic")
    items: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "id": "org-opc",
            "active": True,
            "name": "Phòng khám ngoại trú HIV/AIDS Quận 5",
        },
        {
            "resourceType": "Condition",
            "id": "cond-b24",
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "B24"}],
                "text": "Bệnh HIV không đặc hiệu",
            },
            "subject": pat,
            "encounter": enc_only,
        },
        {
            "resourceType": "Encounter",
            "id": "enc-hiv-only",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": pat,
            "period": {"start": "2026-04-01T09:00:00+07:00", "end": "2026-04-01T09:30:00+07:00"},
            "reasonCode": [{"text": "Tái khám điều trị ARV"}],
            "diagnosis": [{"condition": ref("Condition", "cond-b24")}],
            "serviceProvider": ref("Organization", s.facility),
        },
        {
            "resourceType": "Observation",
            "id": "obs-cd4",
            "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": "laboratory"}]}],
            "code": loinc("24467-3", "CD3+CD4+ (T4 helper) cells [#/volume] in Blood", "Tế bào CD4"),
            "subject": pat,
            "encounter": enc_only,
            "valueQuantity": {"value": 350, "unit": "tế bào/mm3"},
        },
        {
            "resourceType": "Encounter",
            "id": "enc-clinic",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": pat,
            "period": {"start": "2026-04-15T08:00:00+07:00", "end": "2026-04-15T08:20:00+07:00"},
            "reasonCode": [{"text": "Khám định kỳ"}],
            "serviceProvider": ref("Organization", "org-opc"),
        },
        {
            "resourceType": "Observation",
            "id": "obs-clinic-weight",
            "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": "vital-signs"}]}],
            "code": loinc("29463-7", "Body weight", "Cân nặng"),
            "subject": pat,
            "encounter": enc_clinic,
            "valueQuantity": {"value": 58, "unit": "kg"},
        },
        {
            "resourceType": "Condition",
            "id": "cond-very-restricted",
            "meta": {
                "security": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}
                ]
            },
            "category": [{"coding": [{"system": COND_CAT, "code": "problem-list-item"}]}],
            "code": {"text": "Bệnh được giữ kín theo yêu cầu"},
            "subject": pat,
        },
    ]
    async with store.transaction() as tx:
        for r in items:
            await tx.update(r)
        enc = (await tx.read("Encounter", s.encounter)).content
        assert enc is not None
        await tx.update(
            {**enc, "diagnosis": [*enc["diagnosis"], {"condition": ref("Condition", "cond-hiv"), "rank": 3}]}
        )
        crp = (await tx.read("Observation", "obs-crp")).content
        assert crp is not None
        await tx.update(
            {
                **crp,
                "note": [{"text": "Bệnh nhân HIV dương tính, đang điều trị"}, {"text": "Lấy mẫu lúc đói"}],
            }
        )
