"""Clinical data for the printing and retention tests: a provincial Department of Health, a hospital
under it, a doctor, a head of department, a patient with a personal ID, a finished inpatient stay with
diagnoses and a lab result, and its discharge paper (a Composition of the national form's sections,
Vietnamese narrative); written with fixed ids through the real store. Signing goes through the real
signature code with keys of the test PKI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from store_runner_support import run_with_store

from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.signatures import Signer, pki_services, sign_document
from senhealth.fhir.store import FhirStore

T = TypeVar("T")

LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10"
CCCD = "https://senhealth.vn/fhir/sid/cccd"
DEPARTMENT = "so-y-te-qn"
FACILITY = "bv-qn-1"
DOCTOR = "prac-pr-1"
HEAD = "prac-pr-2"
PATIENT = "pat-pr-1"
ENCOUNTER = "enc-pr-1"
COMPOSITION = "comp-pr-1"
BASE = "http://benhvien.example.vn/fhir"
PATIENT_NAME = "Nguyễn Thị Hồng Đào"
CLINICAL_TEXT = "Viêm phổi thùy dưới phổi phải do phế cầu"  # must never appear on the public page


def ref(rtype: str, rid: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{rtype}/{rid}"}
    if display:
        out["display"] = display
    return out


def _div(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}


def clinical_resources(*, encounter_end: str = "2015-06-03T10:30:00+07:00", encounter_id: str = ENCOUNTER,
                       extra_conditions: tuple[tuple[str, str], ...] = (), disposition: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    pat = ref("Patient", PATIENT)
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": pat,
        "period": {"start": "2015-05-27T08:15:00+07:00", "end": encounter_end},
        "serviceProvider": ref("Organization", FACILITY),
        "diagnosis": [{"condition": ref("Condition", f"cond-{encounter_id}")}]
        + [{"condition": ref("Condition", f"cond-{encounter_id}-{code}")} for code, _ in extra_conditions],
    }
    if disposition:
        encounter["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                        "code": disposition,
                    }
                ]
            }
        }
    out: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": DEPARTMENT, "active": True, "name": "Sở Y tế tỉnh Quảng Ninh"},
        {
            "resourceType": "Organization",
            "id": FACILITY,
            "active": True,
            "identifier": [{"system": "https://senhealth.vn/fhir/sid/facility", "value": "22001"}],
            "name": "Bệnh viện Đa khoa tỉnh Quảng Ninh",
            "address": [{"city": "Hạ Long", "state": "Quảng Ninh"}],
            "partOf": ref("Organization", DEPARTMENT),
        },
        {
            "resourceType": "Practitioner",
            "id": DOCTOR,
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
            "identifier": [{"system": CCCD, "value": "022185004321"}],
            "name": [{"family": "Nguyễn", "given": ["Thị", "Hồng", "Đào"], "text": PATIENT_NAME}],
            "gender": "female",
            "birthDate": "1985-11-03",
            "managingOrganization": ref("Organization", FACILITY),
        },
        encounter,
        {
            "resourceType": "Condition",
            "id": f"cond-{encounter_id}",
            "code": {"coding": [{"system": ICD, "code": "J13"}], "text": CLINICAL_TEXT},
            "subject": pat,
            "encounter": ref("Encounter", encounter_id),
        },
        {
            "resourceType": "Observation",
            "id": f"obs-{encounter_id}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "1988-5"}], "text": "CRP"},
            "subject": pat,
            "encounter": ref("Encounter", encounter_id),
            "effectiveDateTime": "2015-05-28T07:00:00+07:00",
            "valueQuantity": {
                "value": Decimal("12.50"),
                "unit": "mg/L",
                "system": "http://unitsofmeasure.org",
                "code": "mg/L",
            },
        },
    ]
    for code, text in extra_conditions:
        out.append({
            "resourceType": "Condition", "id": f"cond-{encounter_id}-{code}",
            "code": {"coding": [{"system": ICD, "code": code}], "text": text},
            "subject": pat, "encounter": ref("Encounter", encounter_id),
        })  # fmt: skip
    return out


def composition(comp_id: str = COMPOSITION, *, encounter_id: str = ENCOUNTER, long: bool = False,
                **extra: Any) -> dict[str, Any]:  # fmt: skip
    """The discharge paper of the stay; ``long``: a course of treatment long enough for several pages."""
    course = "Bệnh nhân sốt, ho khạc đờm, được điều trị kháng sinh, thở oxy; đáp ứng tốt, hết sốt. " * (
        60 if long else 1
    )
    return {
        "resourceType": "Composition",
        "id": comp_id,
        "identifier": {"system": "https://senhealth.vn/fhir/sid/document", "value": f"GRV-2015-{comp_id}"},
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "18842-5", "display": "Discharge summary"}], "text": "Giấy ra viện"},
        "subject": ref("Patient", PATIENT),
        "encounter": ref("Encounter", encounter_id),
        "date": "2015-06-03T10:30:00+07:00",
        "author": [ref("Practitioner", DOCTOR, "BS. Lê Văn Lân")],
        "title": "Giấy ra viện",
        "custodian": ref("Organization", FACILITY),
        "section": [
            {"title": "Hành chính", "text": _div(f"<p>Họ và tên: <b>{PATIENT_NAME}</b></p><p>Ngày sinh: 03/11/1985</p>"),
             "entry": [ref("Patient", PATIENT)]},
            {"title": "Chẩn đoán khi ra viện", "text": _div(f"{CLINICAL_TEXT} (J13)"),
             "entry": [ref("Condition", f"cond-{encounter_id}")]},
            {"title": "Phương pháp điều trị", "text": _div(course)},
            {"title": "Kết quả xét nghiệm", "entry": [ref("Observation", f"obs-{encounter_id}")]},
        ],
        **extra,
    }  # fmt: skip


async def seed(store: FhirStore, comp_id: str = COMPOSITION, **kw: Any) -> None:
    encounter_kw = {k: kw.pop(k) for k in ("encounter_end", "extra_conditions", "disposition") if k in kw}
    encounter_id = kw.get("encounter_id", ENCOUNTER)
    for resource in clinical_resources(encounter_id=encounter_id, **encounter_kw):
        await store.update(resource)
    await store.update(composition(comp_id, **kw))


async def sign(store: FhirStore, settings: Any, comp_id: str, *, author: SigningKey,
               organization: SigningKey | None = None) -> None:  # fmt: skip
    """Sign the document as its author and, when given, as the facility (the real signing code)."""
    services = pki_services(settings)
    await sign_document(store, comp_id, Signer("author", author, ref("Practitioner", DOCTOR, "BS. Lê Văn Lân"),
                                               ref("Organization", FACILITY)), services, base_url=BASE)  # fmt: skip
    if organization is not None:
        await sign_document(store, comp_id, Signer("organization", organization,
                                                   ref("Organization", FACILITY, "Bệnh viện Đa khoa tỉnh Quảng Ninh")),
                            services, base_url=BASE)  # fmt: skip


def run_store(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a pool opened on ``url`` (a migrated schema)."""
    return run_with_store(url, fn, base_urls=(BASE,))
