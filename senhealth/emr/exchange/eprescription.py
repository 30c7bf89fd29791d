"""The e-prescription message for the National Prescription System (Hệ thống đơn thuốc quốc gia), built
from a prescription document.

Spec: ``vietnam.md`` §2 (Circular 26/2025/TT-BYT: every prescription goes to the National Prescription
System right after the visit, carries the personal ID, and is digitally signed) and the sending format of
Decision 808/QĐ-BYT (1 April 2022, connection guide of the national prescription system, part V), as
the systems that connect to it use it. Neither text could be read here; the field list below is taken
from those clients and is *unverified* against the Decision itself, and Circular 26/2025 may have changed
it. What is unconfirmed: the codes of ``hinh_thuc_dieu_tri`` (:data:`TREATMENT_FORM`), whether
``dot_dung_thuoc`` is one object or a list (one object here), the meaning of ``ngay_tai_kham`` (a number
of days from the prescription here) and ``gioi_tinh`` (1 undetermined, 2 male, 3 female, as clients send
it; the claim tables use 1 male, 2 female).

:func:`eprescription` reads a prescription Composition (:mod:`senhealth.emr.documents.builder`,
type ``prescription``): its drugs and diagnoses are the resources its sections name, its code the
Composition's identifier. It answers :class:`EPrescription`: ``payload`` (the fields the system
expects, ready to send) and ``sender`` (the facility and the doctor the sending client signs in as).
A prescription without the patient's personal ID (or, for a child under 72 months, a guardian), without
a drug or without an ICD-10 diagnosis is refused with the path of what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from senhealth.emr.documents.builder import form_fields
from senhealth.emr.documents.classify import FACILITY_SYSTEM, PRESCRIPTION_CODE_SYSTEM, drug_name
from senhealth.emr.documents.document import DocumentError
from senhealth.emr.documents.record import ClinicalRecord
from senhealth.emr.documents.types import document_type_for_code
from senhealth.emr.documents.values import (
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    VN_TZ,
    codings,
    concept_text,
    dosage_text,
    identifier_value,
    name_text,
    parse_datetime,
)

__all__ = ["GENDER", "KINDS", "TREATMENT_FORM", "EPrescription", "eprescription"]

#: ``loai_don_thuoc``: c ordinary, n narcotic, h psychotropic, y traditional medicine.
KINDS: Final = ("c", "n", "h", "y")
#: ``gioi_tinh`` as the national system's clients send it (unverified).
GENDER: Final = {"male": "2", "female": "3"}
#: ``hinh_thuc_dieu_tri`` from ``Encounter.class`` (unverified: the Ministry's list was not found).
TREATMENT_FORM: Final = {"IMP": "1", "AMB": "2", "EMER": "2", "VR": "2", "HH": "2"}
LICENCE_SYSTEM: Final = "https://senhealth.vn/fhir/sid/practising-licence"
ICD10: Final = ("https://senhealth.vn/fhir/CodeSystem/icd10-vn", "http://hl7.org/fhir/sid/icd-10")
ATC: Final = "http://www.whocc.no/atc"


@dataclass(frozen=True, slots=True)
class EPrescription:
    """The message: ``payload`` (the national system's fields) and ``sender`` (who sends it)."""

    payload: dict[str, Any]
    sender: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"don_thuoc": self.payload, "nguoi_gui": self.sender}


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _refs(section: Mapping[str, Any] | None) -> list[Any]:
    return list((section or {}).get("entry") or [])


def _section(comp: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    return next((s for s in comp.get("section") or [] if isinstance(s, Mapping) and s.get("id") == key), None)


def _fail(message: str, path: str) -> DocumentError:
    return DocumentError(422, message, "required", path)


def _drug_code(concept: Any) -> str:
    """The national drug code when the concept has one (any system but ATC), else the ATC code."""
    found = [c for c in codings(concept) if isinstance(c.get("code"), str)]
    local = [c for c in found if c.get("system") != ATC]
    return str((local or found or [{"code": ""}])[0]["code"])


def eprescription(
    record: ClinicalRecord, composition: Mapping[str, Any], *, kind: str = "c"
) -> EPrescription:
    """The message of the prescription ``composition`` of ``record``'s patient (see the module)."""
    doc_type = document_type_for_code(composition.get("type"))
    if doc_type is None or doc_type.key != "prescription":
        raise DocumentError(
            422,
            "Only a prescription (Đơn thuốc) makes an e-prescription message",
            "invalid",
            "Composition.type",
        )
    if kind not in KINDS:
        raise DocumentError(400, f"kind: one of {', '.join(KINDS)}", "invalid", "kind")
    fields = form_fields(composition)
    patient = record.patient
    ident = _map(composition.get("identifier"))
    code = str(ident.get("value") or "") if ident.get("system") == PRESCRIPTION_CODE_SYSTEM else ""
    if len(code) != 14:
        raise _fail(
            "The prescription has no 14-character prescription code (Composition.identifier)",
            "Composition.identifier",
        )
    if not code.endswith("-" + kind):
        code = code[:-1] + kind

    personal_id = identifier_value(patient, (CCCD_SYSTEM,)) or ""
    birth = parse_datetime(patient.get("birthDate"))
    written = parse_datetime(composition.get("date")) or datetime.now(VN_TZ)
    months = None if birth is None else (written.year - birth.year) * 12 + written.month - birth.month
    guardian = ""
    contacts = [c for c in patient.get("contact") or [] if isinstance(c, Mapping)]
    if months is not None and months < 72 and contacts:
        c = contacts[0]
        phone = next((t.get("value") for t in c.get("telecom") or [] if isinstance(t, Mapping)), "")
        where = str(_map(c.get("address")).get("text") or "")
        guardian = ", ".join(
            x for x in (name_text({"name": [c.get("name") or {}]}), str(phone or ""), where) if x
        )
    if not personal_id and not guardian:
        raise _fail(
            "The prescription must carry the patient's personal ID (số định danh cá nhân); for a child under 72 "
            "months, a guardian",
            "Patient.identifier",
        )

    diagnoses: list[dict[str, str]] = []
    for i, ref in enumerate(_refs(_section(composition, "diagnosis"))):
        cond = record.resolve(ref)
        if cond is None:
            raise _fail(
                f"Diagnosis {ref.get('reference')} is not in the patient's record",
                f"Composition.section[diagnosis].entry[{i}]",
            )
        icd = next((str(c.get("code")) for c in codings(cond.get("code")) if c.get("system") in ICD10), "")
        if icd:
            diagnoses.append(
                {"ma_chan_doan": icd, "ten_chan_doan": concept_text(cond.get("code")), "ket_luan": ""}
            )
    if not diagnoses:
        raise _fail("The prescription names no ICD-10 diagnosis", "Composition.section[diagnosis].entry")

    drugs: list[dict[str, Any]] = []
    starts: list[datetime] = []
    ends: list[datetime] = []
    for i, ref in enumerate(_refs(_section(composition, "medications"))):
        req = record.resolve(ref)
        if req is None or req.get("resourceType") != "MedicationRequest":
            raise _fail(
                f"{ref.get('reference')} is not a MedicationRequest of the record",
                f"Composition.section[medications].entry[{i}]",
            )
        med = record.resolve(req.get("medicationReference"))
        concept = req.get("medicationCodeableConcept") or (med or {}).get("code")
        dispense = _map(req.get("dispenseRequest"))
        quantity = _map(dispense.get("quantity"))
        value = quantity.get("value")
        drugs.append(
            {
                "ma_thuoc": _drug_code(concept),
                "biet_duoc": str(
                    next((c.get("display") for c in codings((med or {}).get("code")) if c.get("display")), "")
                    or ""
                ),
                "ten_thuoc": drug_name(req, record),
                "don_vi_tinh": str(quantity.get("unit") or ""),
                "so_luong": ""
                if value is None
                else (f"{value:g}" if isinstance(value, float) else str(value)),
                "cach_dung": dosage_text(req.get("dosageInstruction")),
            }
        )
        period = _map(dispense.get("validityPeriod"))
        start = parse_datetime(period.get("start") or req.get("authoredOn"))
        if start is not None:
            starts.append(start)
            supply = _map(dispense.get("expectedSupplyDuration"))
            if isinstance(supply.get("value"), int | float) and supply.get("value"):
                ends.append(start + timedelta(days=float(supply["value"]) - 1))
    if not drugs:
        raise _fail("The prescription names no drug", "Composition.section[medications].entry")

    revisit = parse_datetime(_revisit_iso(fields.get("follow-up", {}).get("revisitDate", "")))
    days_to_revisit = (
        "" if revisit is None else str(max(0, (revisit.date() - written.astimezone(VN_TZ).date()).days))
    )
    weight = fields.get("prescription-info", {}).get("weight", "")
    encounter = record.resolve(composition.get("encounter")) or {}
    klass = _map(encounter.get("class"))
    address = next((a for a in patient.get("address") or [] if isinstance(a, Mapping)), {})
    phone = next(
        (
            t.get("value")
            for t in patient.get("telecom") or []
            if isinstance(t, Mapping) and t.get("system") == "phone"
        ),
        "",
    )
    payload: dict[str, Any] = {
        "loai_don_thuoc": kind,
        "ma_don_thuoc": code,
        "ho_ten_benh_nhan": name_text(patient),
        "ma_dinh_danh_y_te": personal_id,  # Decree 102/2025: the personal ID is the health identifier
        "ma_dinh_danh_cong_dan": personal_id,
        "ngay_sinh_benh_nhan": "" if birth is None else f"{birth:%d/%m/%Y}",
        "can_nang": weight.split(" ")[0] if weight else "",
        "gioi_tinh": GENDER.get(str(patient.get("gender")), "1"),
        "ma_so_the_bao_hiem_y_te": identifier_value(patient, (BHYT_SYSTEM,)) or "",
        "thong_tin_nguoi_giam_ho": guardian,
        "dia_chi": str(address.get("text") or ", ".join(str(x) for x in address.get("line") or [])),
        "chan_doan": diagnoses,
        "luu_y": fields.get("instructions", {}).get("advice", ""),
        "hinh_thuc_dieu_tri": TREATMENT_FORM.get(str(klass.get("code")), "2"),
        "dot_dung_thuoc": {
            "dot": 1,
            "tu_ngay": f"{min(starts).astimezone(VN_TZ):%d/%m/%Y}" if starts else "",
            "den_ngay": f"{max(ends).astimezone(VN_TZ):%d/%m/%Y}" if ends else "",
            "so_thang_thuoc": 0,
        },
        "thong_tin_don_thuoc": drugs,
        "loi_dan": fields.get("instructions", {}).get("advice", "")
        or fields.get("follow-up", {}).get("plan", ""),
        "so_dien_thoai_nguoi_kham_benh": str(phone or ""),
        "ngay_tai_kham": days_to_revisit,
        "ngay_gio_ke_don": f"{written.astimezone(VN_TZ):%Y-%m-%d %H:%M:%S}",
        "signature": "",  # the digital signature is added when the prescription is signed
    }
    author = record.resolve(next(iter(composition.get("author") or []), None))
    facility = record.resolve(composition.get("custodian"))
    sender = {
        "ma_co_so_kham_chua_benh": identifier_value(facility, (FACILITY_SYSTEM,)) or "",
        "ten_co_so_kham_chua_benh": name_text(facility),
        "ma_lien_thong_bac_si": identifier_value(author, (LICENCE_SYSTEM,)) or "",
        "ten_bac_si": name_text(author),
    }
    return EPrescription(payload, sender)


def _revisit_iso(shown: str) -> str:
    """``dd/mm/yyyy`` (as the form prints it) as ISO, or ``""``."""
    parts = shown.strip().split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[2]}-{parts[1].zfill(2)}-{parts[0].zfill(2)}"
    return ""
