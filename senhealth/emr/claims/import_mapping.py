"""Claim records → FHIR resources: what an imported claim file becomes (field-by-field table: docs/claims.md).

Spec: FHIR R4 Patient, Encounter, Condition, MedicationRequest, ChargeItem, Observation,
ClinicalImpression, Composition, ServiceRequest, Appointment, Basic (https://hl7.org/fhir/R4/); the
claim tables of Decision 130/QĐ-BYT as amended (:mod:`senhealth.emr.claims.tables`).

One visit (one ``HOSO``, one ``MA_LK``) becomes:

- ``XML1`` → the Encounter (period, class and visit type, discharge, treatment result, reason,
  diagnoses), one Condition per ICD-10 code (``MA_BENH_CHINH`` rank 1, ``MA_BENH_KT`` after), a body-weight
  Observation (``CAN_NANG``); a new Patient when the patient index knows none (identity fields);
- ``XML0`` → kept on the Encounter (what differs from XML1);
- ``XML2`` rows → MedicationRequest; ``XML3`` rows → ChargeItem; ``XML4`` rows → Observation;
  ``XML5`` rows → ClinicalImpression; ``XML7`` → Composition "discharge summary" (LOINC 18842-5);
  ``XML8`` → Composition "summary of episode" (LOINC 34133-9); ``XML13`` → a referral ServiceRequest;
  ``XML14`` → an Appointment; ``XML6``, ``XML9``–``XML12``, ``XML15`` rows → Basic, coded with the table.

Each resource gets a stable id (:func:`~senhealth.emr.claims.fhir_terms.resource_id` of facility,
``MA_LK``, table and row) and a ``claim-row`` identifier, so a file imported again rewrites the same
resources (unchanged: no new version). The fields no FHIR element holds stay in the claim extension.

This module maps the visit (XML0, XML1: Patient, Encounter, Condition, weight) and holds what the
whole mapping shares; the other tables are :mod:`senhealth.emr.claims.import_records`, whose
:func:`~senhealth.emr.claims.import_records.claim_resources` assembles a visit's resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.emr.claims import fhir_terms as t
from senhealth.fhir.terminology import icd10_vn
from senhealth.mpi.identifiers import is_cmnd, parse_cccd

__all__ = [
    "CONSUMED",
    "DISCHARGE_DISPOSITION",
    "PATIENT_FIELDS",
    "SECTIONS",
    "VISIT_CLASS",
    "ImportContext",
    "Record",
    "conditions",
    "encounter",
    "icd_concept",
    "patient_from_claim",
    "practitioner",
    "quantity",
    "reference",
    "split_list",
    "weight",
]

Record = dict[str, str]

#: table -> fields the mapping places in FHIR elements (the others go to the claim extension)
CONSUMED: Final[Mapping[str, frozenset[str]]] = {
    "XML1": frozenset(
        [
            "MA_LK",
            "STT",
            "MA_CSKCB",
            "MA_HSBA",
            "NGAY_VAO",
            "NGAY_RA",
            "MA_LOAI_KCB",
            "KET_QUA_DTRI",
            "MA_LOAI_RV",
            "LY_DO_VV",
            "MA_BENH_CHINH",
            "MA_BENH_KT",
            "CAN_NANG",
        ]
    ),
    "XML2": frozenset(
        [
            "MA_LK",
            "STT",
            "MA_THUOC",
            "TEN_THUOC",
            "DON_VI_TINH",
            "SO_LUONG",
            "LIEU_DUNG",
            "CACH_DUNG",
            "DUONG_DUNG",
            "NGAY_YL",
        ]
    ),
    "XML3": frozenset(
        [
            "MA_LK",
            "STT",
            "MA_DICH_VU",
            "TEN_DICH_VU",
            "MA_VAT_TU",
            "TEN_VAT_TU",
            "SO_LUONG",
            "DON_VI_TINH",
            "DON_GIA_BV",
            "NGAY_YL",
            "MA_BENH",
        ]
    ),
    "XML4": frozenset(["MA_LK", "STT", "MA_CHI_SO", "TEN_CHI_SO", "GIA_TRI", "DON_VI_DO", "NGAY_KQ"]),
    "XML5": frozenset(["MA_LK", "STT", "DIEN_BIEN_LS", "THOI_DIEM_DBLS"]),
    "XML7": frozenset(["MA_LK", "CHAN_DOAN_RV", "PP_DIEUTRI", "GHI_CHU", "NGAY_CT"]),
    "XML8": frozenset(
        [
            "MA_LK",
            "CHAN_DOAN_VAO",
            "CHAN_DOAN_RV",
            "QT_BENHLY",
            "TOMTAT_KQ",
            "PP_DIEUTRI",
            "GHI_CHU",
            "NGAY_CT",
        ]
    ),
    "XML13": frozenset(["MA_LK", "SO_HOSO", "MA_CSKCB_DEN", "MA_BENH_CHINH", "MA_BENH_KT", "HUONG_DIEU_TRI"]),
    "XML14": frozenset(["MA_LK", "SO_GIAYHEN_KL", "NGAY_HEN_KL", "MA_BENH_CHINH", "NGAY_CT"]),
}
#: XML1 fields about the person: they are the Patient's (a new one is made from them; a matched one keeps
#: what the patient index knows), never copied onto the Encounter
PATIENT_FIELDS: Final = frozenset(
    [
        "HO_TEN",
        "SO_CCCD",
        "NGAY_SINH",
        "GIOI_TINH",
        "DIA_CHI",
        "MATINH_CU_TRU",
        "MAHUYEN_CU_TRU",
        "MAXA_CU_TRU",
        "DIEN_THOAI",
    ]
)
#: Composition sections of XML7 / XML8 (field → Vietnamese title), in the paper's order
SECTIONS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "XML7": (
        ("CHAN_DOAN_RV", "Chẩn đoán"),
        ("PP_DIEUTRI", "Phương pháp điều trị"),
        ("GHI_CHU", "Ghi chú"),
    ),
    "XML8": (
        ("CHAN_DOAN_VAO", "Chẩn đoán vào viện"),
        ("QT_BENHLY", "Quá trình bệnh lý và diễn biến lâm sàng"),
        ("TOMTAT_KQ", "Tóm tắt kết quả xét nghiệm cận lâm sàng"),
        ("PP_DIEUTRI", "Phương pháp điều trị"),
        ("CHAN_DOAN_RV", "Chẩn đoán ra viện"),
        ("GHI_CHU", "Ghi chú"),
    ),
}
#: MA_LOAI_KCB → Encounter.class (v3 ActCode)
VISIT_CLASS: Final[Mapping[str, tuple[str, str]]] = {
    "01": ("AMB", "ambulatory"),
    "02": ("AMB", "ambulatory"),
    "03": ("IMP", "inpatient encounter"),
    "04": ("SS", "short stay"),
    "05": ("AMB", "ambulatory"),
    "06": ("OBSENC", "observation encounter"),
    "07": ("AMB", "ambulatory"),
    "08": ("AMB", "ambulatory"),
    "09": ("SS", "short stay"),
    "14": ("VR", "virtual"),
}
#: MA_LOAI_RV → discharge-disposition (http://terminology.hl7.org/CodeSystem/discharge-disposition)
DISCHARGE_DISPOSITION: Final[Mapping[str, tuple[str, str]]] = {
    "1": ("home", "Home"),
    "2": ("other-hcf", "Other healthcare facility"),
    "3": ("aadvice", "Left against advice"),
    "4": ("aadvice", "Left against advice"),
    "5": ("other-hcf", "Other healthcare facility"),
}


@dataclass(slots=True)
class ImportContext:
    """What the mapping needs besides the records: whose visit, at which facility."""

    facility: str
    ma_lk: str
    patient_ref: str  # "Patient/<id>"
    organization: dict[str, Any]  # Reference to the facility's Organization (literal or by identifier)
    notes: list[str] = field(default_factory=list)

    def row(self, table: str, n: int | str) -> dict[str, str]:
        return {"system": t.CLAIM_ROW, "value": f"{self.facility}|{self.ma_lk}|{table}|{n}"}

    def rid(self, *parts: str) -> str:
        return t.resource_id(self.facility, self.ma_lk, *parts)

    @property
    def encounter_ref(self) -> str:
        return f"Encounter/{self.rid('Encounter')}"


def reference(reference: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": reference}
    if display:
        out["display"] = display
    return out


def practitioner(code: str) -> dict[str, Any]:
    """A logical reference to the practitioner with licence ``code`` (resolved by the reader)."""
    return {"identifier": {"system": t.LICENCE_SYSTEM, "value": code}}


def icd_concept(code: str) -> dict[str, Any]:
    entry = icd10_vn.lookup(code)
    if entry is None:  # validation refuses these before mapping; kept as sent if it ever happens
        return {"coding": [{"system": icd10_vn.SYSTEM, "code": code}], "text": code}
    return {
        "coding": [{"system": icd10_vn.SYSTEM, "code": entry.code, "display": entry.name_vi}],
        "text": entry.name_vi,
    }


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def quantity(value: str, unit: str) -> dict[str, Any]:
    out: dict[str, Any] = {"value": t.parse_number(value)}
    if unit:
        out["unit"] = unit
    return out


def patient_from_claim(xml1: Record, patient_id: str) -> dict[str, Any]:
    """A new Patient from the identity fields of XML1 (when the patient index knows no one)."""
    facility = xml1.get("MA_CSKCB", "")
    identifiers: list[dict[str, Any]] = []
    if xml1.get("MA_BN"):
        identifiers.append({"system": t.facility_system(t.MA_BN_PREFIX, facility), "value": xml1["MA_BN"]})
    personal = xml1.get("SO_CCCD", "")
    if personal:
        if parse_cccd(personal) is not None:
            system, label = t.CCCD_SYSTEM, "Số định danh cá nhân (CCCD)"
        elif is_cmnd(personal):
            system, label = t.CMND_SYSTEM, "Chứng minh nhân dân (CMND)"
        else:
            system, label = t.PASSPORT_SYSTEM, "Hộ chiếu / số định danh khác"
        identifiers.append({"use": "official", "type": {"text": label}, "system": system, "value": personal})
    cards = split_list(xml1.get("MA_THE_BHYT", ""))
    starts, ends = split_list(xml1.get("GT_THE_TU", "")), split_list(xml1.get("GT_THE_DEN", ""))
    for i, card in enumerate(cards):
        ident: dict[str, Any] = {
            "type": {"text": "Mã thẻ bảo hiểm y tế"},
            "system": t.BHYT_SYSTEM,
            "value": card,
        }
        period = {}
        if i < len(starts) and t.fhir_date(starts[i]):
            period["start"] = t.fhir_date(starts[i])
        if i < len(ends) and t.fhir_date(ends[i]):
            period["end"] = t.fhir_date(ends[i])
        if period:
            ident["period"] = period
        identifiers.append(ident)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": identifiers,
        "active": True,
    }
    name = xml1.get("HO_TEN", "").strip()
    if name:
        words = name.split()
        human: dict[str, Any] = {"use": "official", "text": name, "family": words[0]}
        if len(words) > 1:
            human["given"] = words[1:]
        patient["name"] = [human]
    if xml1.get("DIEN_THOAI"):
        patient["telecom"] = [{"system": "phone", "value": xml1["DIEN_THOAI"], "use": "mobile"}]
    patient["gender"] = {"1": "male", "2": "female"}.get(xml1.get("GIOI_TINH", ""), "unknown")
    birth = xml1.get("NGAY_SINH", "")
    if len(birth) >= 8 and birth[:4].isdigit():
        month, day = birth[4:6], birth[6:8]
        patient["birthDate"] = (
            birth[:4]
            if month == "00"
            else f"{birth[:4]}-{month}"
            if day == "00"
            else f"{birth[:4]}-{month}-{day}"
        )
        if len(birth) == 12 and birth[8:] != "0000" and day != "00":
            patient.setdefault("_birthDate", {})["extension"] = [
                {"url": t.BIRTH_TIME, "valueDateTime": t.fhir_time(birth)}
            ]
    address: dict[str, Any] = {}
    if xml1.get("DIA_CHI"):
        address["text"] = xml1["DIA_CHI"]
    units = []
    if xml1.get("MATINH_CU_TRU"):
        units.append(
            {"url": "province", "valueCoding": {"system": t.PROVINCE_SYSTEM, "code": xml1["MATINH_CU_TRU"]}}
        )
    if xml1.get("MAXA_CU_TRU"):
        units.append(
            {"url": "commune", "valueCoding": {"system": t.COMMUNE_SYSTEM, "code": xml1["MAXA_CU_TRU"]}}
        )
    if units:
        address["extension"] = [{"url": t.ADMIN_UNIT, "extension": units}]
    if address:
        address["use"] = "home"
        patient["address"] = [address]
    return patient


def encounter(
    ctx: ImportContext, xml1: Record, xml0: Record | None, conditions: list[tuple[str, int]]
) -> dict[str, Any]:
    kind = xml1.get("MA_LOAI_KCB", "")
    klass = VISIT_CLASS.get(kind, ("AMB", "ambulatory"))
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": ctx.rid("Encounter"),
        "identifier": [
            {"system": t.facility_system(t.MA_LK_PREFIX, ctx.facility), "value": ctx.ma_lk},
            ctx.row("XML1", 1),
        ],
        "status": "finished" if xml1.get("NGAY_RA") else "in-progress",
        "class": {"system": t.ACT_CODE, "code": klass[0], "display": klass[1]},
    }
    if xml1.get("MA_HSBA"):
        enc["identifier"].append(
            {"system": t.facility_system(t.MA_HSBA_PREFIX, ctx.facility), "value": xml1["MA_HSBA"]}
        )
    if kind:
        enc["type"] = [{"coding": [{"system": t.VISIT_TYPE, "code": kind}]}]
    enc["subject"] = reference(ctx.patient_ref)
    period: dict[str, str] = {}
    start, end = t.fhir_time(xml1.get("NGAY_VAO", "")), t.fhir_time(xml1.get("NGAY_RA", ""))
    if start:
        period["start"] = start
    if end:
        period["end"] = end
    if period:
        enc["period"] = period
    if xml1.get("LY_DO_VV"):
        enc["reasonCode"] = [{"text": xml1["LY_DO_VV"]}]
    if conditions:
        enc["diagnosis"] = [
            {
                "condition": reference(f"Condition/{cid}"),
                "use": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/diagnosis-role", "code": "DD"}
                    ]
                },
                "rank": rank,
            }
            for cid, rank in conditions
        ]
    discharge = xml1.get("MA_LOAI_RV", "")
    if discharge:
        code, display = DISCHARGE_DISPOSITION.get(discharge, ("oth", "Other"))
        enc["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {"system": t.DISCHARGE, "code": code, "display": display},
                    {"system": t.DISCHARGE_TYPE, "code": discharge},
                ]
            }
        }
    enc["serviceProvider"] = ctx.organization
    if xml1.get("KET_QUA_DTRI"):
        enc.setdefault("extension", []).append(
            {
                "url": t.TREATMENT_RESULT,
                "valueCoding": {"system": t.RESULT_CODES, "code": xml1["KET_QUA_DTRI"]},
            }
        )
    t.with_claim_fields(enc, "XML1", xml1, CONSUMED["XML1"] | PATIENT_FIELDS)
    if xml0 is not None:  # the check-in record: only what differs from the summary
        t.with_claim_fields(
            enc, "XML0", {k: v for k, v in xml0.items() if xml1.get(k) != v}, {"STT"} | PATIENT_FIELDS
        )
    return enc


def conditions(ctx: ImportContext, xml1: Record) -> list[dict[str, Any]]:
    codes = [xml1["MA_BENH_CHINH"]] if xml1.get("MA_BENH_CHINH") else []
    codes += split_list(xml1.get("MA_BENH_KT", ""))
    out = []
    for rank, code in enumerate(codes, 1):
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "id": ctx.rid("Condition", str(rank)),
            "identifier": [ctx.row("XML1", f"1|diagnosis|{rank}")],
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": icd_concept(code),
            "subject": reference(ctx.patient_ref),
            "encounter": reference(ctx.encounter_ref),
        }
        recorded = t.fhir_time(xml1.get("NGAY_RA", "") or xml1.get("NGAY_VAO", ""))
        if recorded:
            cond["recordedDate"] = recorded
        out.append(cond)
    return out


def weight(ctx: ImportContext, xml1: Record) -> dict[str, Any] | None:
    value = xml1.get("CAN_NANG", "")
    number = t.parse_number(value) if value else None
    if number is None:
        return None
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ctx.rid("Observation", "weight"),
        "identifier": [ctx.row("XML1", "1|CAN_NANG")],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": t.LOINC, "code": t.WEIGHT[0], "display": t.WEIGHT[1]}],
            "text": "Cân nặng",
        },
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
        "valueQuantity": {"value": number, "unit": "kg", "system": t.UCUM, "code": "kg"},
    }
    when = t.fhir_time(xml1.get("NGAY_VAO", ""))
    if when:
        obs["effectiveDateTime"] = when
    return obs
