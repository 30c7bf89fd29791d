"""Demo-like clinical data for the document and exchange tests: one facility, a doctor, a patient with a
personal ID and insurance card, an inpatient stay with its diagnoses, vital signs, labs, an imaging
report, drugs, a procedure, orders, a referral, an allergy, an immunisation; and HIV data to plant.

Resources are written with fixed ids (update-as-create) in the order their references need, through the
real store. ``seed(store)`` returns a :class:`Seeded` naming the ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from store_runner_support import run_with_store

from senhealth.fhir.store import FhirStore

T = TypeVar("T")

ICD = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"
DX_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
CCCD = "https://senhealth.vn/fhir/sid/cccd"
BHYT = "https://senhealth.vn/fhir/sid/bhyt"
FACILITY = "https://senhealth.vn/fhir/sid/facility"
UCUM = "http://unitsofmeasure.org"

PERSONAL_ID = "079085001234"
INSURANCE = "DN4797900123456"


def run_async(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a pool opened on ``url`` (a migrated schema)."""
    return run_with_store(url, fn)


def ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def icd(code: str, name: str) -> dict[str, Any]:
    return {"coding": [{"system": ICD, "code": code, "display": name}], "text": name}


def loinc(code: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": text}


@dataclass
class Seeded:
    patient: str = "pat-1"
    encounter: str = "enc-1"
    doctor: str = "prac-1"
    head: str = "prac-2"
    facility: str = "org-1"
    destination: str = "org-2"
    conditions: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    procedures: list[str] = field(default_factory=list)
    service_requests: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)


def resources(s: Seeded) -> list[dict[str, Any]]:
    """The seeded resources, in an order where every reference points back."""
    pat, enc = ref("Patient", s.patient), ref("Encounter", s.encounter)
    doctor = ref("Practitioner", s.doctor)
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "id": s.facility,
            "identifier": [{"system": FACILITY, "value": "79001"}],
            "active": True,
            "name": "Bệnh viện Đa khoa Sen Hồng",
            "address": [{"text": "12 Lê Lợi, phường Sài Gòn, TP Hồ Chí Minh"}],
        },
        {
            "resourceType": "Organization",
            "id": s.destination,
            "identifier": [{"system": FACILITY, "value": "79010"}],
            "active": True,
            "name": "Bệnh viện Chợ Rẫy",
        },
        {
            "resourceType": "Practitioner",
            "id": s.doctor,
            "identifier": [
                {"system": "https://senhealth.vn/fhir/sid/practising-licence", "value": "001234/HCM-CCHN"}
            ],
            "name": [{"family": "Trần", "given": ["Thị", "Lan"], "text": "Trần Thị Lan"}],
        },
        {
            "resourceType": "Practitioner",
            "id": s.head,
            "name": [{"family": "Phạm", "given": ["Văn", "Minh"], "text": "Phạm Văn Minh"}],
        },
        {
            "resourceType": "Patient",
            "id": s.patient,
            "identifier": [
                {"use": "official", "system": CCCD, "value": PERSONAL_ID},
                {"system": BHYT, "value": INSURANCE, "period": {"start": "2026-01-01", "end": "2026-12-31"}},
            ],
            "name": [{"family": "Nguyễn", "given": ["Văn", "An"], "text": "Nguyễn Văn An"}],
            "gender": "male",
            "birthDate": "1985-04-12",
            "telecom": [{"system": "phone", "value": "0901234567"}],
            "address": [{"text": "45 Nguyễn Trãi, phường Bến Thành, TP Hồ Chí Minh"}],
            "managingOrganization": ref("Organization", s.facility),
        },
        {
            "resourceType": "Condition",
            "id": "cond-adm",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": icd("J18.9", "Viêm phổi, không đặc hiệu"),
            "subject": pat,
        },
        {
            "resourceType": "Condition",
            "id": "cond-main",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}
                ]
            },
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": icd("J15.9", "Viêm phổi do vi khuẩn, không đặc hiệu"),
            "subject": pat,
        },
        {
            "resourceType": "Condition",
            "id": "cond-other",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": icd("E11.9", "Bệnh đái tháo đường không phụ thuộc insulin, không có biến chứng"),
            "subject": pat,
        },
        {
            "resourceType": "Condition",
            "id": "cond-past",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "category": [{"coding": [{"system": COND_CAT, "code": "problem-list-item"}]}],
            "code": icd("I10", "Bệnh lý tăng huyết áp vô căn (nguyên phát)"),
            "subject": pat,
            "onsetDateTime": "2019-06-01",
        },
        {
            "resourceType": "Encounter",
            "id": s.encounter,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "type": [{"text": "Điều trị nội trú"}],
            "subject": pat,
            "participant": [{"individual": doctor}],
            "period": {"start": "2026-03-02T08:15:00+07:00", "end": "2026-03-09T10:30:00+07:00"},
            "reasonCode": [{"text": "Sốt cao, ho có đờm 5 ngày"}],
            "diagnosis": [
                {
                    "condition": ref("Condition", "cond-adm"),
                    "use": {"coding": [{"system": DX_ROLE, "code": "AD"}]},
                    "rank": 1,
                },
                {
                    "condition": ref("Condition", "cond-main"),
                    "use": {"coding": [{"system": DX_ROLE, "code": "DD"}]},
                    "rank": 1,
                },
                {
                    "condition": ref("Condition", "cond-other"),
                    "use": {"coding": [{"system": DX_ROLE, "code": "DD"}]},
                    "rank": 2,
                },
            ],
            "hospitalization": {
                "dischargeDisposition": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                            "code": "home",
                        }
                    ],
                    "text": "Về nhà",
                }
            },
            "serviceProvider": ref("Organization", s.facility),
        },
    ]
    # the diagnoses belong to the encounter
    for c in out:
        if c["resourceType"] == "Condition" and c["id"] != "cond-past":
            c["encounter"] = enc
            s.conditions.append(c["id"])

    def obs(oid: str, cat: str, code: dict[str, Any], value: dict[str, Any], **extra: Any) -> dict[str, Any]:
        s.observations.append(oid)
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": cat}]}],
            "code": code,
            "subject": pat,
            "encounter": enc,
            "effectiveDateTime": "2026-03-02T09:00:00+07:00",
            "performer": [doctor],
            **value,
            **extra,
        }

    def q(v: float, unit: str, code: str) -> dict[str, Any]:
        return {"valueQuantity": {"value": v, "unit": unit, "system": UCUM, "code": code}}

    out += [
        obs("obs-temp", "vital-signs", loinc("8310-5", "Body temperature", "Nhiệt độ"), q(39.2, "°C", "Cel")),
        obs("obs-pulse", "vital-signs", loinc("8867-4", "Heart rate", "Mạch"), q(102, "lần/phút", "/min")),
        obs("obs-weight", "vital-signs", loinc("29463-7", "Body weight", "Cân nặng"), q(62, "kg", "kg")),
        obs("obs-height", "vital-signs", loinc("8302-2", "Body height", "Chiều cao"), q(168, "cm", "cm")),
        obs(
            "obs-bp",
            "vital-signs",
            loinc("85354-9", "Blood pressure panel", "Huyết áp"),
            {
                "component": [
                    {
                        "code": loinc("8480-6", "Systolic blood pressure", "Tâm thu"),
                        **q(130, "mmHg", "mm[Hg]"),
                    },
                    {
                        "code": loinc("8462-4", "Diastolic blood pressure", "Tâm trương"),
                        **q(85, "mmHg", "mm[Hg]"),
                    },
                ]
            },
        ),
        obs(
            "obs-blood-group",
            "laboratory",
            loinc("882-1", "ABO and Rh group [Type] in Blood", "Nhóm máu"),
            {"valueCodeableConcept": {"text": "O Rh+"}},
        ),
        obs(
            "obs-wbc",
            "laboratory",
            loinc("6690-2", "Leukocytes [#/volume] in Blood", "Bạch cầu"),
            q(15.2, "G/L", "10*9/L"),
            referenceRange=[{"text": "4-10 G/L"}],
        ),
        obs(
            "obs-crp",
            "laboratory",
            loinc("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "CRP"),
            q(85, "mg/L", "mg/L"),
        ),
        obs(
            "obs-exam",
            "exam",
            {"text": "Khám phổi"},
            {"valueString": "Ran nổ đáy phổi phải"},
        ),
        obs(
            "obs-xray",
            "imaging",
            loinc("36643-5", "XR Chest 2 Views", "X-quang ngực thẳng"),
            {"valueString": "Đám mờ thùy dưới phổi phải"},
        ),
    ]
    out.append(
        {
            "resourceType": "DiagnosticReport",
            "id": "dr-xray",
            "status": "final",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}
            ],
            "code": loinc("36643-5", "XR Chest 2 Views", "X-quang ngực thẳng"),
            "subject": pat,
            "encounter": enc,
            "effectiveDateTime": "2026-03-02T10:00:00+07:00",
            "issued": "2026-03-02T11:00:00+07:00",
            "performer": [doctor],
            "result": [ref("Observation", "obs-xray")],
            "conclusion": "Viêm phổi thùy dưới phải",
        }
    )
    out.append(
        {
            "resourceType": "DiagnosticReport",
            "id": "dr-lab",
            "status": "final",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}
            ],
            "code": loinc("58410-2", "CBC panel - Blood by Automated count", "Tổng phân tích tế bào máu"),
            "subject": pat,
            "encounter": enc,
            "issued": "2026-03-02T10:30:00+07:00",
            "result": [ref("Observation", "obs-wbc")],
        }
    )
    s.reports += ["dr-xray", "dr-lab"]

    def med(mid: str, atc: str, name: str, text: str, qty: int, unit: str) -> dict[str, Any]:
        s.medications.append(mid)
        return {
            "resourceType": "MedicationRequest",
            "id": mid,
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": atc}], "text": name},
            "subject": pat,
            "encounter": enc,
            "authoredOn": "2026-03-09T09:00:00+07:00",
            "requester": doctor,
            "dosageInstruction": [
                {
                    "text": text,
                    "route": {"text": "Uống"},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": unit}}],
                }
            ],
            "dispenseRequest": {
                "quantity": {"value": qty, "unit": unit},
                "expectedSupplyDuration": {"value": 7, "unit": "ngày"},
            },
        }

    out += [
        med("med-amox", "J01CA04", "Amoxicilin 500mg", "Uống 1 viên x 3 lần/ngày, sau ăn", 21, "viên"),
        med(
            "med-para",
            "N02BE01",
            "Paracetamol 500mg",
            "Uống 1 viên khi sốt trên 38,5°C, cách 6 giờ",
            10,
            "viên",
        ),
    ]
    out.append(
        {
            "resourceType": "Procedure",
            "id": "proc-1",
            "status": "completed",
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "96.04"}],
                "text": "Đặt nội khí quản",
            },
            "subject": pat,
            "encounter": enc,
            "performedDateTime": "2026-03-03T14:00:00+07:00",
            "performer": [{"actor": doctor}],
        }
    )
    s.procedures.append("proc-1")
    out += [
        {
            "resourceType": "ServiceRequest",
            "id": "sr-lab",
            "status": "completed",
            "intent": "order",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "108252007",
                            "display": "Laboratory procedure",
                        }
                    ]
                }
            ],
            "code": loinc("58410-2", "CBC panel", "Tổng phân tích tế bào máu"),
            "subject": pat,
            "encounter": enc,
            "authoredOn": "2026-03-02T08:45:00+07:00",
            "requester": doctor,
        },
        {
            "resourceType": "ServiceRequest",
            "id": "sr-ref",
            "status": "active",
            "intent": "order",
            "category": [
                {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
                    ]
                }
            ],
            "code": {"text": "Chuyển tuyến điều trị"},
            "subject": pat,
            "encounter": enc,
            "authoredOn": "2026-03-09T10:00:00+07:00",
            "requester": doctor,
            "performer": [ref("Organization", s.destination)],
            "reasonCode": [{"text": "Vượt quá khả năng chuyên môn"}],
            "note": [{"text": "Chuyển bằng xe cứu thương, điều dưỡng hộ tống"}],
        },
    ]
    s.service_requests += ["sr-lab", "sr-ref"]
    out.append(
        {
            "resourceType": "AllergyIntolerance",
            "id": "allergy-1",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Penicilin"},
            "patient": pat,
            "reaction": [{"manifestation": [{"text": "Nổi mề đay"}]}],
        }
    )
    out.append(
        {
            "resourceType": "Immunization",
            "id": "imm-1",
            "status": "completed",
            "vaccineCode": {"text": "Vắc xin viêm gan B"},
            "patient": pat,
            "occurrenceDateTime": "2020-05-10",
        }
    )
    out.append(
        {
            "resourceType": "Appointment",
            "id": "appt-1",
            "status": "booked",
            "description": "Tái khám sau ra viện",
            "start": "2026-03-23T08:00:00+07:00",
            "end": "2026-03-23T08:30:00+07:00",
            "participant": [{"actor": pat, "status": "accepted"}, {"actor": doctor, "status": "accepted"}],
        }
    )
    return out


def hiv_resources(s: Seeded) -> list[dict[str, Any]]:
    """HIV data planted in the same encounter: a B20 diagnosis, an HIV antibody result, an antiretroviral,
    a Z21 carrier status; and a resource labelled restricted (meta.security R)."""
    pat, enc = ref("Patient", s.patient), ref("Encounter", s.encounter)
    return [
        {
            "resourceType": "Condition",
            "id": "cond-hiv",
            "category": [{"coding": [{"system": COND_CAT, "code": "encounter-diagnosis"}]}],
            "code": icd("B20.7", "Bệnh HIV gây nhiễm nhiều loại"),
            "subject": pat,
            "encounter": enc,
        },
        {
            "resourceType": "Condition",
            "id": "cond-z21",
            "category": [{"coding": [{"system": COND_CAT, "code": "problem-list-item"}]}],
            "code": icd("Z21", "Tình trạng nhiễm HIV không triệu chứng"),
            "subject": pat,
        },
        {
            "resourceType": "Observation",
            "id": "obs-hiv",
            "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": "laboratory"}]}],
            "code": loinc("7917-8", "HIV 1 Ab [Presence] in Serum", "Kháng thể HIV-1"),
            "subject": pat,
            "encounter": enc,
            "valueCodeableConcept": {"text": "Dương tính"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "med-arv",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": ATC, "code": "J05AR06"}],
                "text": "Tenofovir/Emtricitabin/Efavirenz",
            },
            "subject": pat,
            "encounter": enc,
            "authoredOn": "2026-03-09T09:00:00+07:00",
            "dosageInstruction": [{"text": "Uống 1 viên/ngày"}],
        },
        {
            "resourceType": "Observation",
            "id": "obs-restricted",
            "meta": {
                "security": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                ]
            },
            "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": "laboratory"}]}],
            "code": {"text": "Xét nghiệm giữ kín"},
            "subject": pat,
            "encounter": enc,
            "valueString": "Ghi chú giữ kín",
        },
    ]


async def seed(store: FhirStore, *, hiv: bool = False) -> Seeded:
    """Write the demo-like record (and the HIV data when ``hiv``); return the ids."""
    s = Seeded()
    items = resources(s) + (hiv_resources(s) if hiv else [])
    async with store.transaction() as tx:
        for resource in items:
            await tx.update(resource)
    return s
