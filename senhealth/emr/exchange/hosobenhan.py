"""The ``HoSoBenhAn`` export: one medical record (an encounter) as JSON or XML in the 11 groups of Official
Dispatch 365/TTYQG-GPQLCL (6 June 2025).

Spec: ``vietnam.md`` §2 (the root ``HoSoBenhAn`` and its groups ``ThongTinBenhNhan``, ``ThongTinVaoVien``,
``ThongTinDieuTri``, ``YLenhThuocVatTu``, ``PhieuChiDinh``, ``KetQuaChanDoanHinhAnh``, ``KetQuaXetNghiem``,
``GiayChuyenVien``, ``HoSoCapCuu``, ``PhieuThuThuat``, ``PhieuPhauThuat``); the FHIR resources they are
read from: https://hl7.org/fhir/R4/encounter.html, condition.html, observation.html,
medicationrequest.html, servicerequest.html, diagnosticreport.html, procedure.html.

The Dispatch names the groups only; the fields inside them are not published. The field names here are
the project's own, in Vietnamese upper camel case after the claim tables' vocabulary (``MA_LK`` ->
``MaLK``, ``CHAN_DOAN_RV`` -> ``ChanDoanRV``, ``MA_BENH_KT`` -> ``MaBenhKT``, ``PHUONGTIEN_VC`` ->
``PhuongTienVanChuyen``...), with the claim tables' value formats (times ``yyyymmddHHMM``, dates
``yyyymmdd``, ``GioiTinh`` 1/2/3, ICD-10 codes joined by ``;``). Every group is always present (empty when
the record has nothing for it), every field too (``""`` when unknown), so a reader can rely on the shape.

A patient's whole record is ``DanhSachHoSoBenhAn`` holding one ``HoSoBenhAn`` per encounter, oldest first.
The export is the full record for the record's lawful holders: nothing is filtered (compare
:mod:`senhealth.emr.exchange.health_book`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from xml.etree import ElementTree as ET

from senhealth.emr.documents.builder import form_fields
from senhealth.emr.documents.classify import (
    FACILITY_SYSTEM,
    drug_name,
    is_imaging,
    is_imaging_request,
    is_referral,
)
from senhealth.emr.documents.record import ClinicalRecord
from senhealth.emr.documents.types import document_type_for_code
from senhealth.emr.documents.values import (
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    codings,
    concept_text,
    diagnosis_text,
    dosage_text,
    first_code,
    identifier_value,
    name_text,
    quantity_text,
)
from senhealth.emr.exchange.codes import (
    claim_date,
    claim_datetime,
    discharge_type,
    sex_code,
    treatment_days,
    treatment_outcome,
    visit_type,
)

__all__ = [
    "GROUPS",
    "ITEM_TAGS",
    "VERSION",
    "encounter_record",
    "patient_records",
    "to_json",
    "to_xml",
]

VERSION: Final = "senhealth-1.0"
GROUPS: Final = (
    "ThongTinBenhNhan",
    "ThongTinVaoVien",
    "ThongTinDieuTri",
    "YLenhThuocVatTu",
    "PhieuChiDinh",
    "KetQuaChanDoanHinhAnh",
    "KetQuaXetNghiem",
    "GiayChuyenVien",
    "HoSoCapCuu",
    "PhieuThuThuat",
    "PhieuPhauThuat",
)
#: The XML element of one item of a list.
ITEM_TAGS: Final = {
    "DanhSachHoSoBenhAn": "HoSoBenhAn",
    "YLenhThuocVatTu": "YLenh",
    "PhieuChiDinh": "ChiDinh",
    "KetQuaChanDoanHinhAnh": "KetQua",
    "KetQuaXetNghiem": "KetQua",
    "PhieuThuThuat": "ThuThuat",
    "PhieuPhauThuat": "PhauThuat",
    "DauHieuSinhTon": "ChiSo",
    "XuTri": "Muc",
}
ICD9CM: Final = ("http://hl7.org/fhir/sid/icd-9-cm", "http://terminology.hl7.org/CodeSystem/icd9cm")
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
SURGICAL: Final = "387713003"  # SNOMED CT Surgical procedure
_BLOOD_GROUP: Final = ("882-1", "883-9")
_WEIGHT, _HEIGHT = "29463-7", "8302-2"
_VITALS: Final = {"8867-4", "8310-5", "9279-1", "85354-9", "55284-4", "8480-6", "8462-4", "59408-5", "2708-6"}
_INTERPRETATION: Final = {
    "H": "Cao",
    "HH": "Rất cao",
    "L": "Thấp",
    "LL": "Rất thấp",
    "N": "Bình thường",
    "A": "Bất thường",
}


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _loinc(resource: Mapping[str, Any]) -> str:
    return first_code(resource.get("code"), (LOINC,)) or ""


def _value(obs: Mapping[str, Any]) -> tuple[str, str]:
    """``(value, unit)`` of an Observation."""
    q = obs.get("valueQuantity")
    if isinstance(q, Mapping) and q.get("value") is not None:
        v = q["value"]
        return (f"{v:g}" if isinstance(v, float) else str(v)), str(q.get("unit") or q.get("code") or "")
    if "valueCodeableConcept" in obs:
        return concept_text(obs["valueCodeableConcept"]), ""
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime"):
        if key in obs:
            return str(obs[key]), ""
    parts = []
    for comp in obs.get("component") or []:
        if isinstance(comp, Mapping):
            value = _value(comp)[0]
            if value:
                parts.append(value)
    return "/".join(parts), str(
        ((obs.get("component") or [{}])[0].get("valueQuantity") or {}).get("unit") or ""
    )


def _when(resource: Mapping[str, Any]) -> str:
    for key in ("effectiveDateTime", "issued", "performedDateTime", "authoredOn", "occurrenceDateTime"):
        if resource.get(key):
            return claim_datetime(resource[key])
    for key in ("effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, Mapping) and period.get("start"):
            return claim_datetime(period["start"])
    return ""


def _licence(record: ClinicalRecord, ref: Any) -> str:
    who = record.resolve(ref)
    if who is not None and who.get("resourceType") == "PractitionerRole":
        who = record.resolve(who.get("practitioner"))
    if who is None:
        return ""
    return identifier_value(who, ("https://senhealth.vn/fhir/sid/practising-licence",)) or name_text(who)


def _name(record: ClinicalRecord, ref: Any) -> str:
    who = record.resolve(ref)
    if who is not None and who.get("resourceType") == "PractitionerRole":
        who = record.resolve(who.get("practitioner"))
    return (
        name_text(who) or str((ref or {}).get("display") or "")
        if isinstance(ref, Mapping)
        else name_text(who)
    )


def _patient(record: ClinicalRecord) -> dict[str, Any]:
    p = record.patient
    card = next(
        (i for i in p.get("identifier") or [] if isinstance(i, Mapping) and i.get("system") == BHYT_SYSTEM),
        {},
    )
    address = next((a for a in p.get("address") or [] if isinstance(a, Mapping)), {})
    phone = next(
        (
            t.get("value")
            for t in p.get("telecom") or []
            if isinstance(t, Mapping) and t.get("system") == "phone"
        ),
        "",
    )
    contact = next((c for c in p.get("contact") or [] if isinstance(c, Mapping)), {})
    blood = next(
        (_value(o)[0] for o in reversed(record.of_type("Observation")) if _loinc(o) in _BLOOD_GROUP), ""
    )
    ethnicity = ""
    for ext in p.get("extension") or []:
        if isinstance(ext, Mapping) and str(ext.get("url", "")).endswith("/ethnicity"):
            coding = ext.get("valueCoding") or next(iter(codings(ext.get("valueCodeableConcept"))), {})
            ethnicity = str(coding.get("code") or "")
    return {
        "MaBN": record.patient_id,
        "HoTen": name_text(p).upper(),
        "SoCCCD": identifier_value(p, (CCCD_SYSTEM,)) or "",
        "NgaySinh": claim_date(p.get("birthDate")),
        "GioiTinh": sex_code(p.get("gender")),
        "NhomMau": blood,
        "MaDanToc": ethnicity,
        "DiaChi": str(address.get("text") or ", ".join(str(x) for x in address.get("line") or [])),
        "DienThoai": str(phone or ""),
        "MaTheBHYT": str(card.get("value") or ""),
        "GtTheTu": claim_date((card.get("period") or {}).get("start")),
        "GtTheDen": claim_date((card.get("period") or {}).get("end")),
        "NguoiThan": {
            "HoTen": name_text({"name": [contact.get("name") or {}]}) if contact else "",
            "QuanHe": concept_text(next(iter(contact.get("relationship") or []), {})) if contact else "",
            "DienThoai": str(
                next((t.get("value") for t in contact.get("telecom") or [] if isinstance(t, Mapping)), "")
                or ""
            ),
        },
    }


def _facility(record: ClinicalRecord, enc: Mapping[str, Any]) -> tuple[str, str]:
    org = record.resolve(enc.get("serviceProvider"))
    return (identifier_value(org, (FACILITY_SYSTEM,)) or "", name_text(org))


def _department(record: ClinicalRecord, enc: Mapping[str, Any]) -> str:
    for loc in enc.get("location") or []:
        if isinstance(loc, Mapping):
            text = name_text(record.resolve(loc.get("location"))) or str(
                (loc.get("location") or {}).get("display") or ""
            )
            if text:
                return text
    return ""


def _codes(conditions: list[dict[str, Any]], record: ClinicalRecord) -> list[str]:
    return [c for c in (record.icd10(x) for x in conditions) if c]


def _compositions(record: ClinicalRecord, enc_id: str) -> dict[str, dict[str, dict[str, str]]]:
    """The form fields of the encounter's documents, by document type (the newest of each type)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for comp in record.for_encounter("Composition", enc_id):
        doc_type = document_type_for_code(comp.get("type"))
        if doc_type is not None and comp.get("status") != "entered-in-error":
            out[doc_type.key] = form_fields(comp)
    return out


def _admission(record: ClinicalRecord, enc: dict[str, Any]) -> dict[str, Any]:
    enc_id = str(enc["id"])
    code, name = _facility(record, enc)
    admission = record.diagnoses(enc_id, ("AD",))
    period = _map(enc.get("period"))
    inpatient = visit_type(enc) in ("03", "04")
    identifiers = [i for i in enc.get("identifier") or [] if isinstance(i, Mapping)]
    return {
        "MaLK": enc_id,
        "MaHSBA": str(identifiers[0].get("value")) if identifiers else enc_id,
        "MaCSKCB": code,
        "TenCSKCB": name,
        "MaKhoa": _department(record, enc),
        "MaLoaiKCB": visit_type(enc),
        "NgayVao": claim_datetime(period.get("start")),
        "NgayVaoNoiTru": claim_datetime(period.get("start")) if inpatient else "",
        "LyDoVV": "; ".join(concept_text(c) for c in enc.get("reasonCode") or []),
        "ChanDoanVao": "; ".join(diagnosis_text(c) for c in admission),
        "MaBenhVao": ";".join(_codes(admission, record)),
        "BacSiKham": "; ".join(
            _name(record, p.get("individual")) for p in enc.get("participant") or [] if isinstance(p, Mapping)
        ),
    }


def _treatment(
    record: ClinicalRecord, enc: dict[str, Any], forms: Mapping[str, Any], referred: bool
) -> dict[str, Any]:
    enc_id = str(enc["id"])
    final = record.main_and_other(enc_id)
    codes = _codes(final, record)
    obs = record.for_encounter("Observation", enc_id)
    procedures = record.for_encounter("Procedure", enc_id)
    period = _map(enc.get("period"))
    discharge = forms.get("discharge-paper") or forms.get("inpatient-summary") or {}
    days = treatment_days(enc)
    appointment = next(
        (
            a
            for a in record.of_type("Appointment")
            if a.get("status") not in ("cancelled", "noshow", "entered-in-error")
            and claim_datetime(a.get("start")) >= claim_datetime(period.get("start") or "")
        ),
        None,
    )
    vitals: list[dict[str, str]] = []
    for o in obs:
        if _loinc(o) in _VITALS:
            value, unit = _value(o)
            vitals.append(
                {
                    "MaChiSo": _loinc(o),
                    "TenChiSo": concept_text(o.get("code")),
                    "GiaTri": value,
                    "DonViDo": unit,
                    "ThoiGian": _when(o),
                }
            )
    weight = next((_value(o)[0] for o in obs if _loinc(o) == _WEIGHT), "")
    height = next((_value(o)[0] for o in obs if _loinc(o) == _HEIGHT), "")
    method = (discharge.get("treatment") or {}).get("method", "")
    if not method:
        meds = [drug_name(m, record) for m in record.for_encounter("MedicationRequest", enc_id)]
        method = ("Nội khoa: " + ", ".join(meds)) if meds else ""
    return {
        "ChanDoanRV": "; ".join(diagnosis_text(c) for c in final),
        "MaBenhChinh": codes[0] if codes else "",
        "MaBenhKT": ";".join(codes[1:13]),
        "MaPTTTQT": ";".join(c for c in (first_code(p.get("code"), ICD9CM) for p in procedures) if c),
        "NgayRa": claim_datetime(period.get("end")),
        "SoNgayDieuTri": "" if days is None else str(days),
        "KetQuaDieuTri": treatment_outcome(enc),
        "MaLoaiRV": discharge_type(enc, referred),
        "PhuongPhapDieuTri": method,
        "TinhTrangRaVien": (discharge.get("discharge-state") or {}).get("outcome", ""),
        "NgayTaiKham": claim_date(appointment.get("start")) if appointment else "",
        "CanNang": weight,
        "ChieuCao": height,
        "DauHieuSinhTon": vitals,
        "GhiChu": (discharge.get("notes") or {}).get("notes", ""),
    }


def _drugs(record: ClinicalRecord, enc_id: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, m in enumerate(record.for_encounter("MedicationRequest", enc_id), 1):
        concept = m.get("medicationCodeableConcept") or (
            record.resolve(m.get("medicationReference")) or {}
        ).get("code")
        dispense = _map(m.get("dispenseRequest"))
        quantity = _map(dispense.get("quantity"))
        dosage = next((d for d in m.get("dosageInstruction") or [] if isinstance(d, Mapping)), {})
        dose = next(
            (dr.get("doseQuantity") for dr in dosage.get("doseAndRate") or [] if isinstance(dr, Mapping)),
            None,
        )
        out.append(
            {
                "STT": str(i),
                "MaThuoc": next((str(c.get("code")) for c in codings(concept) if c.get("code")), ""),
                "TenThuoc": drug_name(m, record),
                "DonViTinh": str(quantity.get("unit") or ""),
                "DuongDung": concept_text(dosage.get("route")),
                "LieuDung": quantity_text(dose),
                "CachDung": dosage_text(m.get("dosageInstruction")),
                "SoLuong": "" if quantity.get("value") is None else str(quantity["value"]),
                "NgayYL": claim_datetime(m.get("authoredOn")),
                "MaBacSi": _licence(record, m.get("requester")),
                "TrangThai": str(m.get("status") or ""),
            }
        )
    return out


def _orders(record: ClinicalRecord, enc: dict[str, Any]) -> list[dict[str, str]]:
    own = (enc.get("serviceProvider") or {}).get("reference")
    out: list[dict[str, str]] = []
    requests = [r for r in record.for_encounter("ServiceRequest", str(enc["id"])) if not is_referral(r, own)]
    for i, r in enumerate(requests, 1):
        cats = {str(c.get("code")) for cat in r.get("category") or [] for c in codings(cat)}
        kind = (
            "CDHA" if is_imaging_request(r) else "XN" if cats & {"108252007", "laboratory", "LAB"} else "KHAC"
        )
        out.append(
            {
                "STT": str(i),
                "SoPhieu": str(r.get("id")),
                "MaDichVu": next((str(c.get("code")) for c in codings(r.get("code")) if c.get("code")), ""),
                "TenDichVu": concept_text(r.get("code")),
                "LoaiChiDinh": kind,
                "NgayYL": claim_datetime(r.get("authoredOn")),
                "MaBacSi": _licence(record, r.get("requester")),
                "TrangThai": str(r.get("status") or ""),
            }
        )
    return out


def _imaging(record: ClinicalRecord, enc_id: str) -> list[dict[str, str]]:
    reports = [r for r in record.for_encounter("DiagnosticReport", enc_id) if is_imaging(r)]
    obs = [o for o in record.for_encounter("Observation", enc_id) if is_imaging(o)]
    used: set[str] = set()
    out: list[dict[str, str]] = []
    for rep in reports:
        findings = []
        for ref in rep.get("result") or []:
            key = record.key(ref)
            o = record.resolve(ref)
            if key and o is not None:
                used.add(key)
                findings.append(_value(o)[0])
        out.append(
            {
                "MaDichVu": _loinc(rep),
                "TenDichVu": concept_text(rep.get("code")),
                "MoTa": "; ".join(f for f in findings if f),
                "KetLuan": str(rep.get("conclusion") or ""),
                "NgayKQ": claim_datetime(rep.get("issued")) or _when(rep),
                "MaBsDocKQ": "; ".join(
                    _licence(record, p) for p in rep.get("resultsInterpreter") or rep.get("performer") or []
                ),
            }
        )
    for o in obs:
        if f"Observation/{o.get('id')}" in used:
            continue
        out.append(
            {
                "MaDichVu": _loinc(o),
                "TenDichVu": concept_text(o.get("code")),
                "MoTa": _value(o)[0],
                "KetLuan": "",
                "NgayKQ": _when(o),
                "MaBsDocKQ": "; ".join(_licence(record, p) for p in o.get("performer") or []),
            }
        )
    return [{"STT": str(i), **row} for i, row in enumerate(out, 1)]


def _laboratory(record: ClinicalRecord, enc_id: str) -> list[dict[str, str]]:
    reports = [r for r in record.for_encounter("DiagnosticReport", enc_id) if not is_imaging(r)]
    panel_of: dict[str, str] = {}
    for rep in reports:
        for ref in rep.get("result") or []:
            key = record.key(ref)
            if key:
                panel_of[key] = _loinc(rep)
    rows: list[dict[str, str]] = []
    for o in record.for_encounter("Observation", enc_id):
        cats = {str(c.get("code")) for cat in o.get("category") or [] for c in codings(cat)}
        if "laboratory" not in cats:
            continue
        value, unit = _value(o)
        ref_range = next((r for r in o.get("referenceRange") or [] if isinstance(r, Mapping)), {})
        range_text = str(ref_range.get("text") or "") or " – ".join(
            x for x in (quantity_text(ref_range.get("low")), quantity_text(ref_range.get("high"))) if x
        )
        flag = next((str(c.get("code")) for i in o.get("interpretation") or [] for c in codings(i)), "")
        rows.append(
            {
                "STT": str(len(rows) + 1),
                "MaDichVu": panel_of.get(f"Observation/{o.get('id')}", ""),
                "MaChiSo": _loinc(o),
                "TenChiSo": concept_text(o.get("code")),
                "GiaTri": value,
                "DonViDo": unit,
                "KhoangThamChieu": range_text,
                "DanhGia": _INTERPRETATION.get(flag, flag),
                "NgayKQ": claim_datetime(o.get("issued")) or _when(o),
            }
        )
    return rows


def _referral(record: ClinicalRecord, enc: dict[str, Any], forms: Mapping[str, Any]) -> dict[str, Any]:
    own = (enc.get("serviceProvider") or {}).get("reference")
    requests = [r for r in record.for_encounter("ServiceRequest", str(enc["id"])) if is_referral(r, own)]
    paper = forms.get("referral-paper") or {}
    if not requests and not paper:
        return {}
    r = requests[0] if requests else {}
    dest = next(
        (
            record.resolve(p)
            for p in r.get("performer") or []
            if (record.resolve(p) or {}).get("resourceType") == "Organization"
        ),
        None,
    )
    code, _ = _facility(record, enc)
    final = record.main_and_other(str(enc["id"]))
    transport = paper.get("transport") or {}
    return {
        "SoChuyenVien": str(r.get("id") or ""),
        "MaNoiDi": code,
        "MaNoiDen": identifier_value(dest, (FACILITY_SYSTEM,)) or "",
        "TenNoiDen": name_text(dest) or (paper.get("referral-reason") or {}).get("destination", ""),
        "NgayChuyen": claim_datetime(r.get("authoredOn")),
        "LyDoChuyen": "; ".join(concept_text(c) for c in r.get("reasonCode") or [])
        or (paper.get("referral-reason") or {}).get("reason", ""),
        "DauHieuLamSang": (paper.get("clinical-signs") or {}).get("signs", ""),
        "TomTatKetQua": (paper.get("results") or {}).get("results", ""),
        "ChanDoan": "; ".join(diagnosis_text(c) for c in final),
        "PhuongPhapDieuTri": (paper.get("treatment") or {}).get("treatment", ""),
        "TinhTrangChuyenVien": (paper.get("transfer-state") or {}).get("state", ""),
        "HuongDieuTri": (paper.get("treatment-plan") or {}).get("plan", ""),
        "PhuongTienVanChuyen": transport.get("transport", ""),
        "HoTenNguoiHoTong": transport.get("escort", ""),
        "GhiChu": "; ".join(str(n.get("text")) for n in r.get("note") or [] if isinstance(n, Mapping)),
    }


def _emergency(record: ClinicalRecord, enc: dict[str, Any]) -> dict[str, Any]:
    klass = (enc.get("class") or {}).get("code") if isinstance(enc.get("class"), Mapping) else None
    priority = {str(c.get("code")) for c in codings(enc.get("priority"))}
    if klass != "EMER" and "EM" not in priority:
        return {}
    enc_id = str(enc["id"])
    period = _map(enc.get("period"))
    actions = [
        {"Loai": "Thuốc", "NoiDung": drug_name(m, record), "ThoiGian": claim_datetime(m.get("authoredOn"))}
        for m in record.for_encounter("MedicationRequest", enc_id)
    ] + [
        {"Loai": "Thủ thuật", "NoiDung": concept_text(p.get("code")), "ThoiGian": _when(p)}
        for p in record.for_encounter("Procedure", enc_id)
    ]
    return {
        "ThoiGianVao": claim_datetime(period.get("start")),
        "ThoiGianRa": claim_datetime(period.get("end")),
        "LyDo": "; ".join(concept_text(c) for c in enc.get("reasonCode") or []),
        "MucDoUuTien": concept_text(enc.get("priority")),
        "ChanDoan": "; ".join(diagnosis_text(c) for c in record.main_and_other(enc_id)),
        "XuTri": actions,
        "KetQua": concept_text((enc.get("hospitalization") or {}).get("dischargeDisposition")),
    }


def _procedures(record: ClinicalRecord, enc_id: str, surgical: bool) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for p in record.for_encounter("Procedure", enc_id):
        is_surgery = any(c.get("code") == SURGICAL for c in codings(p.get("category")))
        if is_surgery != surgical or p.get("status") == "entered-in-error":
            continue
        out.append(
            {
                "STT": str(len(out) + 1),
                "MaPTTT": first_code(p.get("code"), ICD9CM) or "",
                "TenPTTT": concept_text(p.get("code")),
                "NgayThucHien": _when(p),
                "NguoiThucHien": "; ".join(
                    _name(record, x.get("actor")) for x in p.get("performer") or [] if isinstance(x, Mapping)
                ),
                "KetQua": concept_text(p.get("outcome")),
                "GhiChu": "; ".join(
                    str(n.get("text")) for n in p.get("note") or [] if isinstance(n, Mapping)
                ),
            }
        )
    return out


def encounter_record(
    record: ClinicalRecord, encounter_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """``{"HoSoBenhAn": {...}}`` for one encounter of ``record`` (``KeyError`` when it has no such one)."""
    enc = record.encounter(encounter_id)
    if enc is None:
        raise KeyError(f"Encounter/{encounter_id} is not in the record of Patient/{record.patient_id}")
    forms = _compositions(record, encounter_id)
    referral = _referral(record, enc, forms)
    code, _ = _facility(record, enc)
    return {
        "HoSoBenhAn": {
            "PhienBan": VERSION,
            "NgayXuat": claim_datetime((now or datetime.now(UTC)).isoformat()),
            "MaCSKCB": code,
            "ThongTinBenhNhan": _patient(record),
            "ThongTinVaoVien": _admission(record, enc),
            "ThongTinDieuTri": _treatment(record, enc, forms, bool(referral)),
            "YLenhThuocVatTu": _drugs(record, encounter_id),
            "PhieuChiDinh": _orders(record, enc),
            "KetQuaChanDoanHinhAnh": _imaging(record, encounter_id),
            "KetQuaXetNghiem": _laboratory(record, encounter_id),
            "GiayChuyenVien": referral,
            "HoSoCapCuu": _emergency(record, enc),
            "PhieuThuThuat": _procedures(record, encounter_id, False),
            "PhieuPhauThuat": _procedures(record, encounter_id, True),
        }
    }


def patient_records(record: ClinicalRecord, *, now: datetime | None = None) -> dict[str, Any]:
    """``{"DanhSachHoSoBenhAn": [HoSoBenhAn, ...]}``: one per encounter, oldest first."""
    return {
        "DanhSachHoSoBenhAn": [
            encounter_record(record, str(e["id"]), now=now)["HoSoBenhAn"] for e in record.encounters
        ]
    }


def to_json(document: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON, Vietnamese letters as they are."""
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _element(parent: ET.Element, tag: str, value: Any) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _element(node, k, v)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS.get(tag, "Muc")
        for item in value:
            _element(node, item_tag, item)
    elif value is not None and value != "":
        node.text = str(value)


def to_xml(document: Mapping[str, Any]) -> bytes:
    """UTF-8 XML with the XML declaration: one element per field, list items as :data:`ITEM_TAGS`."""
    ((root_tag, content),) = document.items()
    root = ET.Element(root_tag)
    if isinstance(content, list):
        item_tag = ITEM_TAGS.get(root_tag, "Muc")
        for item in content:
            _element(root, item_tag, item)
    else:
        for k, v in content.items():
            _element(root, k, v)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
