"""FHIR → claim records, the visit: XML1 (visit summary) and XML0 (check-in) from an Encounter.

Spec: the claim tables (:mod:`senhealth.emr.claims.tables`), FHIR R4 Encounter, Patient, Condition,
Organization, Practitioner (https://hl7.org/fhir/R4/). Part of the export mapping
(:mod:`senhealth.emr.claims.export_mapping`, which explains the layers: defaults, the claim extension,
FHIR elements); the field-by-field table is in docs/claims.md. Also the helpers the other parts share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from senhealth.emr.claims import fhir_terms as t
from senhealth.fhir.terminology import icd10_vn

__all__ = [
    "INPATIENT",
    "RESULT_CATEGORIES",
    "SUMMARY_KINDS",
    "EncounterData",
    "ExportError",
    "Record",
    "VisitBuilder",
    "covers",
    "div_text",
    "facility_of",
    "icd_codes",
    "in_order",
    "is_practitioner",
    "is_referral",
    "key_of",
    "live",
    "merge",
    "totals",
    "treatment_days",
]

Record = dict[str, str]
INPATIENT: Final = frozenset({"03", "04", "06", "09"})
SUMMARY_KINDS: Final = frozenset({"03", "04", "06"})
_CLASS_KIND: Final = {
    "AMB": "01",
    "EMER": "01",
    "IMP": "03",
    "ACUTE": "03",
    "NONAC": "03",
    "SS": "09",
    "OBSENC": "06",
    "VR": "14",
    "HH": "01",
}
_FHIR_DISCHARGE: Final = {
    "home": "1",
    "alt-home": "1",
    "other-hcf": "2",
    "hosp": "2",
    "aadvice": "4",
    "exp": "1",
}
RESULT_CATEGORIES: Final = frozenset({"laboratory", "imaging", "procedure"})


class ExportError(ValueError):
    """The Encounter cannot be a claim yet (not finished, no facility code...); ``expression`` says what."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


@dataclass(slots=True)
class EncounterData:
    """An Encounter and every resource its claim is made of (read by :mod:`.export`)."""

    encounter: dict[str, Any]
    patient: dict[str, Any]
    organization: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)  # those the Encounter references too
    medication_requests: list[dict[str, Any]] = field(default_factory=list)
    medication_administrations: list[dict[str, Any]] = field(default_factory=list)
    medication_dispenses: list[dict[str, Any]] = field(default_factory=list)
    charge_items: list[dict[str, Any]] = field(default_factory=list)
    procedures: list[dict[str, Any]] = field(default_factory=list)
    service_requests: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    impressions: list[dict[str, Any]] = field(default_factory=list)
    compositions: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[dict[str, Any]] = field(default_factory=list)
    basics: list[dict[str, Any]] = field(default_factory=list)
    practitioners: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Practitioner/id" -> resource


def merge(defaults: Mapping[str, str], kept: Mapping[str, str], direct: Mapping[str, str]) -> Record:
    out = {k: v for k, v in defaults.items() if v}
    out.update({k: v for k, v in kept.items() if v})
    out.update({k: v for k, v in direct.items() if v})
    return out


def key_of(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def in_order(
    resources: Iterable[dict[str, Any]], when: Callable[[dict[str, Any]], str]
) -> list[dict[str, Any]]:
    """Records imported from a claim in their row order, then the others in the order they happened."""

    def order(r: dict[str, Any]) -> tuple[int, str, str]:
        value = t.identifier_value(r, t.CLAIM_ROW)
        tail = value.rsplit("|", 1)[-1] if value else ""
        if tail.isdigit():  # a record imported from a claim keeps its place
            return (int(tail), "", "")
        return (1 << 30, when(r) or "9", str(r.get("id")))

    return sorted(resources, key=order)


def live(resource: Mapping[str, Any]) -> bool:
    return resource.get("status") not in ("entered-in-error", "cancelled", "revoked", "stopped", "not-done")


class VisitBuilder:
    """XML1 and XML0: the Encounter, its Patient, its facility and diagnoses."""

    def __init__(self, data: EncounterData) -> None:
        self.data = data
        self.enc = data.encounter
        self.patient = data.patient
        self.facility = self._facility()
        self.kept1 = t.claim_fields(self.enc, "XML1")

    # --- who -----------------------------------------------------------------------------------------

    def _facility(self) -> str:
        provider = self.enc.get("serviceProvider") or {}
        code = ""
        if isinstance(provider.get("identifier"), dict):
            ident = provider["identifier"]
            code = str(ident.get("value") or "") if ident.get("system") == t.FACILITY_SYSTEM else ""
        if not code and self.data.organization is not None:
            code = t.identifier_value(self.data.organization, t.FACILITY_SYSTEM)
        if not code:
            code = t.claim_fields(self.enc, "XML1").get("MA_CSKCB", "")
        if not code:
            raise ExportError(
                "Encounter.serviceProvider has no facility code (an Organization identifier "
                f"{t.FACILITY_SYSTEM}) / cơ sở KBCB chưa có mã",
                "Encounter.serviceProvider",
            )
        return code

    def who(self, ref: Mapping[str, Any] | None) -> tuple[str, str]:
        """(licence code, name) of a practitioner reference (literal or by identifier)."""
        if not ref:
            return "", ""
        display = str(ref.get("display") or "")
        ident = ref.get("identifier")
        if isinstance(ident, dict) and ident.get("value"):
            return str(ident["value"]), display
        target = self.data.practitioners.get(str(ref.get("reference") or ""))
        if target is None:
            return "", display
        code = t.identifier_value(target, t.LICENCE_SYSTEM)
        names = target.get("name") or []
        if not display and names:
            name = names[0]
            display = name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])]).strip()
        return code, display

    # --- XML1 ----------------------------------------------------------------------------------------

    def diagnoses(self) -> list[str]:
        """ICD-10 codes of the visit, principal first (Encounter.diagnosis by rank, then the others)."""
        by_key = {key_of(c): c for c in self.data.conditions}
        ordered: list[dict[str, Any]] = []
        ranked = sorted(
            (d for d in self.enc.get("diagnosis") or [] if isinstance(d, dict)),
            key=lambda d: int(d["rank"]) if isinstance(d.get("rank"), int) else 1 << 30,
        )
        for diagnosis in ranked:
            found = by_key.get(str((diagnosis.get("condition") or {}).get("reference")))
            if found is not None and found not in ordered:
                ordered.append(found)
        ordered += [c for c in self.data.conditions if c not in ordered]
        codes: list[str] = []
        for condition in ordered:
            status = t.coding_code(
                condition.get("verificationStatus"),
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            )
            if status in ("refuted", "entered-in-error"):
                continue
            code = t.coding_code(condition.get("code"), icd10_vn.SYSTEM, t.ICD10_WHO)
            entry = icd10_vn.lookup(code) if code else None
            value = entry.code if entry is not None else code
            if value and value not in codes:
                codes.append(value)
        if not codes:  # no diagnosis recorded: the ICD-10 coded reasons for the visit
            codes = list(dict.fromkeys(icd_codes(self.enc.get("reasonCode") or [])))
        return codes

    def diagnosis_text(self, codes: list[str]) -> str:
        names = []
        for code in codes:
            entry = icd10_vn.lookup(code)
            names.append(f"{entry.name_vi} ({code})" if entry else code)
        return "; ".join(names)

    def visit_kind(self) -> str:
        for concept in self.enc.get("type") or []:
            code = t.coding_code(concept, t.VISIT_TYPE)
            if code:
                return code
        klass = (self.enc.get("class") or {}).get("code", "")
        return self.kept1.get("MA_LOAI_KCB") or _CLASS_KIND.get(str(klass), "01")

    def patient_fields(self) -> tuple[Record, Record]:
        """(defaults, direct) of the person's fields, from the Patient."""
        p = self.patient
        direct: Record = {}
        names = p.get("name") or []
        official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
        if official:
            direct["HO_TEN"] = (
                official.get("text")
                or " ".join([official.get("family", ""), *official.get("given", [])]).strip()
            )
        direct["SO_CCCD"] = (
            t.identifier_value(p, t.CCCD_SYSTEM)
            or t.identifier_value(p, t.CMND_SYSTEM)
            or t.identifier_value(p, t.PASSPORT_SYSTEM)
        )
        birth = str(p.get("birthDate") or "")
        if birth:
            parts = birth.split("-")
            text = parts[0] + (parts[1] if len(parts) > 1 else "00") + (parts[2] if len(parts) > 2 else "00")
            clock = "0000"
            for ext in (p.get("_birthDate") or {}).get("extension") or []:
                if ext.get("url") == t.BIRTH_TIME:
                    clock = t.claim_time(ext.get("valueDateTime"))[8:] or "0000"
            direct["NGAY_SINH"] = text + clock
        direct["GIOI_TINH"] = {"male": "1", "female": "2"}.get(str(p.get("gender")), "3")
        addresses = p.get("address") or []
        home = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else None)
        if home:
            direct["DIA_CHI"] = home.get("text") or ", ".join(home.get("line") or [])
            for ext in home.get("extension") or []:
                if ext.get("url") != t.ADMIN_UNIT:
                    continue
                for sub in ext.get("extension") or []:
                    code = str((sub.get("valueCoding") or {}).get("code") or "")
                    if sub.get("url") == "province" and code:
                        direct["MATINH_CU_TRU"] = code
                    elif sub.get("url") == "commune" and code:
                        direct["MAXA_CU_TRU"] = code
        phones = [c for c in p.get("telecom") or [] if c.get("system") == "phone" and c.get("value")]
        if phones:
            direct["DIEN_THOAI"] = str(phones[0]["value"])
        defaults: Record = {
            "MA_BN": t.identifier_value(p, t.facility_system(t.MA_BN_PREFIX, self.facility))
            or str(p.get("id", ""))
        }
        start = t.claim_time((self.enc.get("period") or {}).get("start"), with_time=False)
        cards = [i for i in p.get("identifier") or [] if i.get("system") == t.BHYT_SYSTEM and i.get("value")]
        valid = [c for c in cards if covers(c.get("period") or {}, start)] or cards[-1:]
        if valid:
            card = valid[0]
            defaults["MA_THE_BHYT"] = str(card["value"])
            period = card.get("period") or {}
            defaults["GT_THE_TU"] = t.claim_time(period.get("start"), with_time=False)
            defaults["GT_THE_DEN"] = t.claim_time(period.get("end"), with_time=False)
        return defaults, direct

    def xml1(self, lines2: list[Record], lines3: list[Record]) -> Record:
        enc = self.enc
        period = enc.get("period") or {}
        start = t.claim_time(period.get("start"))
        end = t.claim_time(period.get("end"))
        if not end or enc.get("status") not in ("finished", None):
            raise ExportError(
                "the Encounter has not ended (status finished, period.end) / lượt khám chưa kết thúc",
                "Encounter.period.end",
            )
        kind = self.visit_kind()
        codes = self.diagnoses()
        person_defaults, person = self.patient_fields()
        defaults: Record = {**person_defaults}
        defaults["MA_LK"] = str(enc.get("id", ""))
        defaults["CHAN_DOAN_RV"] = self.diagnosis_text(codes)
        defaults["SO_NGAY_DTRI"] = treatment_days(start, end, kind)
        defaults["KET_QUA_DTRI"] = "7"
        defaults["MA_LOAI_RV"] = "2" if self.referral() is not None else "1"
        defaults["NAM_QT"], defaults["THANG_QT"] = end[:4], str(int(end[4:6]))
        if kind in INPATIENT:
            defaults["NGAY_VAO_NOI_TRU"] = start
        defaults.update(totals(lines2, lines3))
        direct: Record = {**person, "STT": "1", "MA_CSKCB": self.facility, "NGAY_VAO": start, "NGAY_RA": end}
        direct["MA_LK"] = t.identifier_value(enc, t.facility_system(t.MA_LK_PREFIX, self.facility))
        direct["MA_HSBA"] = t.identifier_value(enc, t.facility_system(t.MA_HSBA_PREFIX, self.facility))
        direct["MA_LOAI_KCB"] = kind
        if codes:
            direct["MA_BENH_CHINH"] = codes[0]
            direct["MA_BENH_KT"] = ";".join(codes[1:13])
        reasons = enc.get("reasonCode") or []
        if reasons:
            direct["LY_DO_VV"] = t.concept_text(reasons[0])
        for ext in enc.get("extension") or []:
            if ext.get("url") == t.TREATMENT_RESULT:
                direct["KET_QUA_DTRI"] = str((ext.get("valueCoding") or {}).get("code") or "")
        disposition = (enc.get("hospitalization") or {}).get("dischargeDisposition")
        rv = t.coding_code(disposition, t.DISCHARGE_TYPE)
        if not rv:
            fhir_code = t.coding_code(disposition, t.DISCHARGE)
            if fhir_code in _FHIR_DISCHARGE:
                defaults["MA_LOAI_RV"] = _FHIR_DISCHARGE[fhir_code]
        direct["MA_LOAI_RV"] = rv
        weight = self.vital(t.WEIGHT[0])
        if weight is not None:
            direct["CAN_NANG"] = t.number_text(weight, 2)
        height = self.vital(t.HEIGHT[0])
        if height is not None:
            defaults["DU_PHONG"] = t.number_text(height, 1)
        revisits = sorted(t.claim_time(a.get("start"), with_time=False) for a in self.revisits())
        if revisits:
            defaults["NGAY_TAI_KHAM"] = ";".join(r for r in revisits if r)
        referral = self.referral()
        if referral is not None:
            destination = facility_of(referral.get("performer") or [])
            if destination:
                defaults["MA_NOI_DEN"] = destination
        return merge(defaults, self.kept1, direct)

    def vital(self, loinc: str) -> Decimal | None:
        found = [
            o
            for o in self.data.observations
            if t.coding_code(o.get("code"), t.LOINC) == loinc
            and isinstance((o.get("valueQuantity") or {}).get("value"), int | float)
        ]
        if not found:
            return None
        latest = max(found, key=lambda o: str(o.get("effectiveDateTime") or ""))
        return Decimal(str(latest["valueQuantity"]["value"]))

    # --- XML0 ----------------------------------------------------------------------------------------

    def xml0(self, x1: Record, lines2: list[Record], lines3: list[Record]) -> Record:
        defaults = {
            k: x1.get(k, "")
            for k in (
                "MA_LK",
                "MA_BN",
                "HO_TEN",
                "SO_CCCD",
                "NGAY_SINH",
                "GIOI_TINH",
                "MA_THE_BHYT",
                "MA_DKBD",
                "GT_THE_TU",
                "GT_THE_DEN",
                "MA_DOITUONG_KCB",
                "NGAY_VAO",
                "NGAY_VAO_NOI_TRU",
                "LY_DO_VNT",
                "MA_LY_DO_VNT",
                "MA_LOAI_KCB",
                "MA_CSKCB",
            )
        }
        service = next((r for r in lines3 if r.get("MA_DICH_VU")), None)
        supply = next((r for r in lines3 if r.get("MA_VAT_TU")), None)
        drug = lines2[0] if lines2 else None
        if service:
            defaults["MA_DICH_VU"], defaults["TEN_DICH_VU"] = (
                service["MA_DICH_VU"],
                service.get("TEN_DICH_VU", ""),
            )
        if supply:
            defaults["MA_VAT_TU"], defaults["TEN_VAT_TU"] = supply["MA_VAT_TU"], supply.get("TEN_VAT_TU", "")
        if drug:
            defaults["MA_THUOC"], defaults["TEN_THUOC"] = drug.get("MA_THUOC", ""), drug.get("TEN_THUOC", "")
        orders = sorted(r["NGAY_YL"] for r in [*lines2, *lines3] if r.get("NGAY_YL"))
        if orders:
            defaults["NGAY_YL"] = orders[0]
        kept = t.claim_fields(self.enc, "XML0")
        return merge(defaults, kept, {"STT": "1", "MA_LK": x1["MA_LK"], "MA_CSKCB": self.facility})

    # --- XML13, XML14 --------------------------------------------------------------------------------

    def referral(self) -> dict[str, Any] | None:
        found = [s for s in self.data.service_requests if live(s) and is_referral(s)]
        return found[0] if found else None

    def revisits(self) -> list[dict[str, Any]]:
        return [
            a
            for a in self.data.appointments
            if a.get("status") not in ("cancelled", "noshow", "entered-in-error")
        ]


def div_text(div: str) -> str:
    import re
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", div)).strip()


def covers(period: Mapping[str, Any], day: str) -> bool:
    start = t.claim_time(period.get("start"), with_time=False)
    end = t.claim_time(period.get("end"), with_time=False)
    return bool(day) and (not start or start <= day) and (not end or day <= end)


def treatment_days(start: str, end: str, kind: str) -> str:
    if kind in ("01", "07", "09") or len(start) < 8 or len(end) < 8:
        return "0"
    first = date(int(start[:4]), int(start[4:6]), int(start[6:8]))
    last = date(int(end[:4]), int(end[4:6]), int(end[6:8]))
    return str(max((last - first).days + 1, 1))


def totals(lines2: list[Record], lines3: list[Record]) -> Record:
    def total(rows: Iterable[Record], name: str) -> Decimal:
        return sum((Decimal(r[name]) for r in rows if r.get(name)), Decimal(0))

    both = [*lines2, *lines3]
    supplies = [r for r in lines3 if r.get("MA_VAT_TU")]
    return {
        "T_THUOC": t.number_text(total(lines2, "THANH_TIEN_BV"), 2),
        "T_VTYT": t.number_text(total(supplies, "THANH_TIEN_BV"), 2),
        "T_TONGCHI_BV": t.number_text(total(both, "THANH_TIEN_BV"), 2),
        "T_TONGCHI_BH": t.number_text(total(both, "THANH_TIEN_BH"), 2),
        "T_BNTT": t.number_text(total(both, "T_BNTT"), 2),
        "T_BNCCT": t.number_text(total(both, "T_BNCCT"), 2),
        "T_BHTT": t.number_text(total(both, "T_BHTT"), 2),
        "T_NGUONKHAC": t.number_text(total(both, "T_NGUONKHAC"), 2),
    }


def icd_codes(concepts: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for concept in concepts:
        code = t.coding_code(concept, icd10_vn.SYSTEM, t.ICD10_WHO)
        entry = icd10_vn.lookup(code) if code else None
        if code:
            out.append(entry.code if entry else code)
    return out


def is_practitioner(ref: Mapping[str, Any]) -> bool:
    ident = ref.get("identifier")
    by_licence = isinstance(ident, dict) and ident.get("system") == t.LICENCE_SYSTEM
    return by_licence or str(ref.get("reference", "")).startswith("Practitioner/")


def is_referral(request: Mapping[str, Any]) -> bool:
    return any(t.coding_code(c, t.SNOMED) == t.REFERRAL[0] for c in request.get("category") or [])


def facility_of(performers: Iterable[Mapping[str, Any]]) -> str:
    for performer in performers:
        ident = performer.get("identifier")
        if isinstance(ident, dict) and ident.get("system") == t.FACILITY_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return ""
