"""The electronic-health-book extract of a patient (the citizen's health book on VNeID), with sensitive
data filtered out.

Spec: ``vietnam.md`` §4 (the VNeID health book, Decision 31/2026: administrative data and legal
representative; allergy, disease and immunisation history; each visit with facility, time, type,
reason, outcome, discharge diagnosis, blood group, height, weight, results, drugs, procedures; a record
summary) and §3 (sensitive data, e.g. HIV, filtered out first: :mod:`senhealth.emr.exchange.sensitive`);
the FHIR side: https://hl7.org/fhir/R4/bundle.html (a ``collection`` Bundle).

The layout of the book's data is not published: the JSON field names are the project's own, Vietnamese
upper camel case, in the claim data's vocabulary (as :mod:`senhealth.emr.exchange.hosobenhan`).

:func:`health_book` filters the record first and builds both forms from what is left, so nothing
withheld can reach either: the rules remove the resources (and visits whose every diagnosis is
withheld, reports whose every result is, everything recorded in a withheld visit, visits to a facility
whose name falls under a rule), references to them, reasons and notes that name them, and every
narrative (``text``). Compositions and orders are not part of the book.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.emr.documents.classify import FACILITY_SYSTEM, drug_name
from senhealth.emr.documents.record import ClinicalRecord
from senhealth.emr.documents.values import (
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    codings,
    concept_text,
    dosage_text,
    first_code,
    gender_vi,
    identifier_value,
    name_text,
    quantity_text,
)
from senhealth.emr.exchange.codes import claim_date, claim_datetime, treatment_outcome, visit_type
from senhealth.emr.exchange.sensitive import RULES, SensitiveFilter, SensitiveRule, is_sensitive

__all__ = ["BOOK_TYPES", "VERSION", "HealthBook", "health_book"]

VERSION: Final = "senhealth-1.0"
#: The resource types the book is made from (no Compositions, orders or appointments).
BOOK_TYPES: Final = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Immunization",
    "Observation",
    "DiagnosticReport",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "RelatedPerson",
)
LOINC: Final = "http://loinc.org"
ICD9CM: Final = ("http://hl7.org/fhir/sid/icd-9-cm", "http://terminology.hl7.org/CodeSystem/icd9cm")
_VISIT_TEXT: Final = {
    "01": "Khám bệnh",
    "02": "Điều trị ngoại trú",
    "03": "Điều trị nội trú",
    "04": "Điều trị nội trú ban ngày",
    "14": "Khám bệnh, chữa bệnh từ xa",
}
_OUTCOME_TEXT: Final = {"5": "Tử vong", "7": "Chưa xác định"}
_BLOOD: Final = ("882-1", "883-9")
_WEIGHT, _HEIGHT = "29463-7", "8302-2"


@dataclass
class HealthBook:
    """The extract: ``json`` (the book), ``bundle`` (the same facts as a FHIR collection Bundle), and
    ``withheld``: how many resources each rule withheld (for the operator; never sent)."""

    json: dict[str, Any]
    bundle: dict[str, Any]
    withheld: dict[str, int] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        return json.dumps(self.json, ensure_ascii=False, indent=1).encode("utf-8")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _obs_value(obs: Mapping[str, Any]) -> tuple[str, str]:
    q = obs.get("valueQuantity")
    if isinstance(q, Mapping) and q.get("value") is not None:
        v = q["value"]
        return (f"{v:g}" if isinstance(v, float) else str(v)), str(q.get("unit") or "")
    if "valueCodeableConcept" in obs:
        return concept_text(obs["valueCodeableConcept"]), ""
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in obs:
            return str(obs[key]), ""
    parts = [_obs_value(c)[0] for c in obs.get("component") or [] if isinstance(c, Mapping)]
    return "/".join(p for p in parts if p), ""


def _loinc(resource: Mapping[str, Any]) -> str:
    return first_code(resource.get("code"), (LOINC,)) or ""


def _administrative(record: ClinicalRecord, blood: str) -> dict[str, Any]:
    p = record.patient
    address = next((a for a in p.get("address") or [] if isinstance(a, Mapping)), {})
    phone = next(
        (
            t.get("value")
            for t in p.get("telecom") or []
            if isinstance(t, Mapping) and t.get("system") == "phone"
        ),
        "",
    )
    return {
        "HoTen": name_text(p).upper(),
        "SoDinhDanhCaNhan": identifier_value(p, (CCCD_SYSTEM,)) or "",
        "NgaySinh": claim_date(p.get("birthDate")),
        "GioiTinh": gender_vi(p.get("gender")),
        "DiaChi": str(address.get("text") or ", ".join(str(x) for x in address.get("line") or [])),
        "DienThoai": str(phone or ""),
        "MaTheBHYT": identifier_value(p, (BHYT_SYSTEM,)) or "",
        "NhomMau": blood,
    }


def _representatives(record: ClinicalRecord) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for c in record.patient.get("contact") or []:
        if isinstance(c, Mapping):
            out.append(
                {
                    "HoTen": name_text({"name": [c.get("name") or {}]}),
                    "QuanHe": "; ".join(concept_text(r) for r in c.get("relationship") or []),
                    "DienThoai": str(
                        next((t.get("value") for t in c.get("telecom") or [] if isinstance(t, Mapping)), "")
                    ),
                }
            )
    for rp in record.of_type("RelatedPerson"):
        out.append(
            {
                "HoTen": name_text(rp),
                "QuanHe": "; ".join(concept_text(r) for r in rp.get("relationship") or []),
                "DienThoai": str(
                    next((t.get("value") for t in rp.get("telecom") or [] if isinstance(t, Mapping)), "")
                ),
            }
        )
    return out


def _allergies(record: ClinicalRecord) -> list[dict[str, str]]:
    return [
        {
            "TacNhan": concept_text(a.get("code")),
            "BieuHien": "; ".join(
                concept_text(m)
                for r in a.get("reaction") or []
                if isinstance(r, Mapping)
                for m in r.get("manifestation") or []
            ),
            "MucDo": str(a.get("criticality") or ""),
            "NgayGhiNhan": claim_date(a.get("recordedDate") or a.get("onsetDateTime")),
        }
        for a in record.of_type("AllergyIntolerance")
    ]


def _diseases(record: ClinicalRecord) -> list[dict[str, str]]:
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for c in record.of_type("Condition"):
        code = record.icd10(c) or ""
        key = code or concept_text(c.get("code"))
        if not key or key in seen:
            continue
        seen.add(key)
        status = next((str(x.get("code")) for x in codings(c.get("clinicalStatus"))), "")
        out.append(
            {
                "MaBenh": code,
                "TenBenh": concept_text(c.get("code")),
                "TuNgay": claim_date(c.get("onsetDateTime") or c.get("recordedDate")),
                "TinhTrang": {"active": "Đang mắc", "resolved": "Đã khỏi", "inactive": "Không hoạt động"}.get(
                    status, status
                ),
            }
        )
    return out


def _immunizations(record: ClinicalRecord) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for imm in record.of_type("Immunization"):
        if imm.get("status") not in (None, "completed"):
            continue
        actor = next((p.get("actor") for p in imm.get("performer") or [] if isinstance(p, Mapping)), None)
        dose = next(
            (
                str(p.get("doseNumberPositiveInt") or p.get("doseNumberString") or "")
                for p in imm.get("protocolApplied") or []
                if isinstance(p, Mapping)
            ),
            "",
        )
        out.append(
            {
                "TenVacXin": concept_text(imm.get("vaccineCode")),
                "MaVacXin": next(
                    (str(c.get("code")) for c in codings(imm.get("vaccineCode")) if c.get("code")), ""
                ),
                "NgayTiem": claim_date(imm.get("occurrenceDateTime")),
                "MuiThu": dose,
                "NoiTiem": name_text(record.resolve(actor))
                or str(imm.get("location", {}).get("display") or ""),
            }
        )
    return out


def _visit(record: ClinicalRecord, enc: dict[str, Any]) -> dict[str, Any]:
    enc_id = str(enc["id"])
    org = record.resolve(enc.get("serviceProvider"))
    period = _map(enc.get("period"))
    obs = record.for_encounter("Observation", enc_id)
    blood = next((_obs_value(o)[0] for o in obs if _loinc(o) in _BLOOD), "")
    results: list[dict[str, str]] = []
    for o in obs:
        cats = {str(c.get("code")) for cat in o.get("category") or [] for c in codings(cat)}
        if cats & {"laboratory", "imaging"}:
            value, unit = _obs_value(o)
            results.append(
                {
                    "TenChiSo": concept_text(o.get("code")),
                    "MaChiSo": _loinc(o),
                    "GiaTri": value,
                    "DonViDo": unit,
                    "ThoiGian": claim_datetime(o.get("effectiveDateTime") or o.get("issued")),
                }
            )
    for rep in record.for_encounter("DiagnosticReport", enc_id):
        if rep.get("conclusion"):
            results.append(
                {
                    "TenChiSo": concept_text(rep.get("code")),
                    "MaChiSo": _loinc(rep),
                    "GiaTri": str(rep["conclusion"]),
                    "DonViDo": "",
                    "ThoiGian": claim_datetime(rep.get("issued") or rep.get("effectiveDateTime")),
                }
            )
    drugs = []
    for m in record.for_encounter("MedicationRequest", enc_id):
        quantity = _map(_map(m.get("dispenseRequest")).get("quantity"))
        drugs.append(
            {
                "TenThuoc": drug_name(m, record),
                "SoLuong": quantity_text(quantity),
                "CachDung": dosage_text(m.get("dosageInstruction")),
            }
        )
    procedures = [
        {
            "MaPTTT": first_code(p.get("code"), ICD9CM) or "",
            "TenPTTT": concept_text(p.get("code")),
            "NgayThucHien": claim_datetime(
                p.get("performedDateTime") or _map(p.get("performedPeriod")).get("start")
            ),
        }
        for p in record.for_encounter("Procedure", enc_id)
    ]
    kind = visit_type(enc)
    outcome = treatment_outcome(enc)
    return {
        "MaLuotKham": enc_id,
        "CoSoKCB": name_text(org),
        "MaCSKCB": identifier_value(org, (FACILITY_SYSTEM,)) or "",
        "ThoiGianVao": claim_datetime(period.get("start")),
        "ThoiGianRa": claim_datetime(period.get("end")),
        "HinhThucKCB": _VISIT_TEXT.get(kind, kind),
        "LyDo": "; ".join(concept_text(c) for c in enc.get("reasonCode") or []),
        "KetQuaDieuTri": concept_text(_map(enc.get("hospitalization")).get("dischargeDisposition"))
        or _OUTCOME_TEXT.get(outcome, ""),
        "ChanDoanRaVien": [
            {"MaBenh": record.icd10(c) or "", "TenBenh": concept_text(c.get("code"))}
            for c in record.main_and_other(enc_id)
        ],
        "NhomMau": blood,
        "ChieuCao": next((quantity_text(o.get("valueQuantity")) for o in obs if _loinc(o) == _HEIGHT), ""),
        "CanNang": next((quantity_text(o.get("valueQuantity")) for o in obs if _loinc(o) == _WEIGHT), ""),
        "KetQuaCanLamSang": results,
        "Thuoc": drugs,
        "ThuThuatPhauThuat": procedures,
    }


def health_book(
    record: ClinicalRecord,
    *,
    active: Sequence[SensitiveRule] = RULES,
    now: datetime | None = None,
    base_url: str = "",
) -> HealthBook:
    """The health book of ``record``'s patient (see the module docstring)."""
    sensitive = SensitiveFilter(active)
    providers = {k: name_text(v) for k, v in record.shared.items() if k.startswith("Organization/")}
    items = [r for t in BOOK_TYPES for r in record.of_type(t)]
    kept = sensitive.apply(items, providers)
    patient = {k: v for k, v in record.patient.items() if k != "text"}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in kept:
        by_type.setdefault(str(r["resourceType"]), []).append(r)
    clean = ClinicalRecord(patient, by_type, dict(record.shared), record.base_urls)

    visits = [_visit(clean, e) for e in clean.encounters]
    blood = next((v["NhomMau"] for v in reversed(visits) if v["NhomMau"]), "") or next(
        (_obs_value(o)[0] for o in reversed(clean.of_type("Observation")) if _loinc(o) in _BLOOD), ""
    )
    diseases = _diseases(clean)
    allergies = _allergies(clean)
    immunizations = _immunizations(clean)
    moment = now or datetime.now(UTC)
    book = {
        "SoSucKhoeDienTu": {
            "PhienBan": VERSION,
            "NgayTao": claim_datetime(moment.isoformat()),
            "ThongTinHanhChinh": _administrative(clean, blood),
            "NguoiDaiDienHopPhap": _representatives(clean),
            "TienSuDiUng": allergies,
            "TienSuBenhTat": diseases,
            "TienSuTiemChung": immunizations,
            "LanKham": visits,
            "TomTatHoSo": {
                "SoLanKham": len(visits),
                "LanKhamGanNhat": visits[-1]["ThoiGianVao"] if visits else "",
                "CoSoKhamGanNhat": visits[-1]["CoSoKCB"] if visits else "",
                "BenhDangMac": [
                    f"{d['MaBenh']} {d['TenBenh']}".strip() for d in diseases if d["TinhTrang"] == "Đang mắc"
                ],
                "DiUng": [a["TacNhan"] for a in allergies],
                "SoMuiTiem": len(immunizations),
                "NhomMau": blood,
            },
        }
    }
    base = base_url.rstrip("/")
    wanted: set[str] = set()
    for r in [patient, *kept]:
        _references(r, clean, wanted)
    shared = [
        record.shared[k]
        for k in sorted(wanted)
        if k in record.shared and not is_sensitive({"code": {"text": name_text(record.shared[k])}}, active)
    ]
    entries: list[dict[str, Any]] = []
    for r in [patient, *kept, *shared]:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}"} if base else {}
        entry["resource"] = r
        entries.append(entry)
    bundle = {
        "resourceType": "Bundle",
        "meta": {"tag": [{"system": "https://senhealth.vn/fhir/CodeSystem/extract", "code": "health-book"}]},
        "type": "collection",
        "timestamp": moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "entry": entries,
    }
    withheld: dict[str, int] = {}
    for rule in sensitive.removed.values():
        withheld[rule] = withheld.get(rule, 0) + 1
    return HealthBook(book, bundle, withheld)


def _references(node: Any, record: ClinicalRecord, into: set[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found = record.key(value)
                if found is not None:
                    into.add(found)
            elif isinstance(value, Mapping | list):
                _references(value, record, into)
    elif isinstance(node, list):
        for item in node:
            _references(item, record, into)
