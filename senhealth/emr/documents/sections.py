"""What each section of a form holds for one encounter: its entries, its form fields and its table.

Spec: https://hl7.org/fhir/R4/composition-definitions.html#Composition.section (``entry``: the
resources the section's narrative is made from) and the national forms of Circular 32/2023
(:mod:`senhealth.emr.documents.types`).

:func:`section_content` reads a :class:`~senhealth.emr.documents.record.ClinicalRecord` by the
section's ``source`` (see :data:`senhealth.emr.documents.types.Source`): which resources become entries,
which form fields it can fill from them (``fields``: field key -> text) and a table of items (drugs,
results, procedures...) the narrative prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from senhealth.emr.documents.classify import (
    FACILITY_SYSTEM,
    PRESCRIPTION_CODE_SYSTEM,
    categories,
    drug_name,
    is_imaging,
    is_imaging_request,
    is_laboratory,
    is_referral,
    new_prescription_code,
)
from senhealth.emr.documents.record import ClinicalRecord
from senhealth.emr.documents.types import DocumentType, SectionType
from senhealth.emr.documents.values import (
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    VN_TZ,
    codings,
    concept_text,
    diagnosis_text,
    dosage_text,
    first_code,
    gender_vi,
    identifier_value,
    local_ref,
    name_text,
    parse_datetime,
    quantity_text,
    vn_date,
    vn_datetime,
)

__all__ = [
    "FACILITY_SYSTEM",
    "PRESCRIPTION_CODE_SYSTEM",
    "Context",
    "SectionContent",
    "drug_name",
    "is_imaging",
    "is_imaging_request",
    "is_referral",
    "new_prescription_code",
    "section_content",
]

ICD9CM: Final = ("http://hl7.org/fhir/sid/icd-9-cm", "http://terminology.hl7.org/CodeSystem/icd9cm")
_VITALS: Final = {
    "8867-4": "pulse",
    "8310-5": "temperature",
    "9279-1": "respiratoryRate",
    "29463-7": "weight",
    "8302-2": "height",
}
_BP: Final = ("85354-9", "55284-4")
_SYSTOLIC, _DIASTOLIC = "8480-6", "8462-4"

Row = dict[str, str]


@dataclass
class SectionContent:
    """A section's entries (References), form fields filled from the record, and table."""

    entries: list[dict[str, str]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    columns: tuple[tuple[str, str], ...] = ()  # (key, Vietnamese header)
    rows: list[Row] = field(default_factory=list)
    empty_reason: str = "nilknown"  # when nothing is found: "nilknown" (data) or "notstarted" (text)


@dataclass
class Context:
    """What every section of one document shares."""

    record: ClinicalRecord
    doc_type: DocumentType
    encounter: dict[str, Any]
    author: dict[str, Any]
    custodian: dict[str, Any]
    now: datetime
    prescription_code: str | None = None

    @property
    def encounter_id(self) -> str:
        return str(self.encounter["id"])

    def refs(self, resources: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [local_ref(str(r["resourceType"]), str(r["id"])) for r in resources]


def _value_text(obs: Mapping[str, Any]) -> str:
    for key in ("valueQuantity",):
        if key in obs:
            return quantity_text(obs[key])
    if "valueCodeableConcept" in obs:
        return concept_text(obs["valueCodeableConcept"])
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in obs:
            value = obs[key]
            return ("Có" if value else "Không") if isinstance(value, bool) else str(value)
    parts = [
        f"{concept_text(c.get('code'))} {_value_text(c)}".strip()
        for c in obs.get("component") or []
        if isinstance(c, Mapping)
    ]
    return "; ".join(p for p in parts if p)


def _range_text(obs: Mapping[str, Any]) -> str:
    for rr in obs.get("referenceRange") or []:
        if not isinstance(rr, Mapping):
            continue
        if isinstance(rr.get("text"), str):
            return str(rr["text"])
        low, high = quantity_text(rr.get("low")), quantity_text(rr.get("high"))
        if low and high:
            return f"{low} – {high}"
        if high:
            return f"≤ {high}"
        if low:
            return f"≥ {low}"
    return ""


def _when(resource: Mapping[str, Any]) -> str:
    for key in (
        "effectiveDateTime",
        "issued",
        "performedDateTime",
        "authoredOn",
        "occurrenceDateTime",
        "started",
    ):
        if isinstance(resource.get(key), str):
            return vn_datetime(resource[key])
    for key in ("effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, Mapping) and period.get("start"):
            return vn_datetime(period["start"])
    return ""


def _join(values: list[str]) -> str:
    return "; ".join(v for v in values if v)


# -- the sources ------------------------------------------------------------------------------------------


def _patient(ctx: Context, section: SectionType) -> SectionContent:
    p = ctx.record.patient
    out = SectionContent(entries=[local_ref("Patient", ctx.record.patient_id)])
    f = out.fields
    f["name"] = name_text(p).upper()
    f["birthDate"] = vn_date(p.get("birthDate"))
    f["gender"] = gender_vi(p.get("gender"))
    f["personalId"] = identifier_value(p, (CCCD_SYSTEM,)) or ""
    addresses = [a for a in p.get("address") or [] if isinstance(a, Mapping)]
    if addresses:
        a = addresses[0]
        f["address"] = str(
            a.get("text")
            or ", ".join(
                [*(str(x) for x in a.get("line") or []), *(str(a[k]) for k in ("city", "state") if a.get(k))]
            )
        )
    card = next(
        (i for i in p.get("identifier") or [] if isinstance(i, Mapping) and i.get("system") == BHYT_SYSTEM),
        None,
    )
    if card is not None:
        end = vn_date((card.get("period") or {}).get("end"))
        f["insuranceCard"] = f"{card.get('value', '')}" + (f", giá trị đến {end}" if end else "")
    for ext in p.get("extension") or []:
        if isinstance(ext, Mapping) and str(ext.get("url", "")).endswith("/ethnicity"):
            f["ethnicity"] = concept_text(ext.get("valueCodeableConcept")) or str(
                ext.get("valueCoding", {}).get("display", "")
            )
    contacts = [c for c in p.get("contact") or [] if isinstance(c, Mapping)]
    if contacts:
        c = contacts[0]
        phone = next((t.get("value") for t in c.get("telecom") or [] if isinstance(t, Mapping)), "")
        f["relative"] = ", ".join(
            x for x in (name_text({"name": [c.get("name") or {}]}), str(phone or "")) if x
        )
    wanted = {fld.key for fld in section.fields}
    out.fields = {k: v for k, v in f.items() if k in wanted and v}
    return out


def _facility_name(ctx: Context) -> str:
    org = ctx.record.resolve(ctx.encounter.get("serviceProvider")) or ctx.custodian
    return name_text(org)


def _department(ctx: Context) -> str:
    for loc in ctx.encounter.get("location") or []:
        if isinstance(loc, Mapping):
            found = ctx.record.resolve(loc.get("location"))
            text = name_text(found) or str((loc.get("location") or {}).get("display") or "")
            if text:
                return text
    return concept_text(ctx.encounter.get("serviceType") or {})


def _encounter(ctx: Context, section: SectionType) -> SectionContent:
    enc = ctx.encounter
    period: Mapping[str, Any] = enc["period"] if isinstance(enc.get("period"), Mapping) else {}
    out = SectionContent(entries=[local_ref("Encounter", ctx.encounter_id)])
    f: dict[str, str] = {
        "admissionTime": vn_datetime(period.get("start")),
        "dischargeTime": vn_datetime(period.get("end")),
        "visitTime": vn_datetime(period.get("start")),
        "facility": _facility_name(ctx),
        "department": _department(ctx),
        "prescriber": name_text(ctx.author),
        "date": vn_date(ctx.now.astimezone(VN_TZ).date().isoformat()),
    }
    if ctx.prescription_code:
        f["prescriptionCode"] = ctx.prescription_code
    weight = _vital_fields(ctx.record.for_encounter("Observation", ctx.encounter_id)).get("weight")
    birth = parse_datetime(ctx.record.patient.get("birthDate"))
    if birth is not None:
        months = (ctx.now.year - birth.year) * 12 + ctx.now.month - birth.month
        if months < 72:  # a child's prescription names the weight and a parent
            if weight:
                f["weight"] = weight
            contacts = [c for c in ctx.record.patient.get("contact") or [] if isinstance(c, Mapping)]
            if contacts:
                f["guardian"] = name_text({"name": [contacts[0].get("name") or {}]})
    wanted = {fld.key for fld in section.fields}
    out.fields = {k: v for k, v in f.items() if k in wanted and v}
    return out


def _reason(ctx: Context, section: SectionType) -> SectionContent:
    enc = ctx.encounter
    texts = [concept_text(c) for c in enc.get("reasonCode") or []]
    entries: list[dict[str, str]] = []
    for ref in enc.get("reasonReference") or []:
        found = ctx.record.resolve(ref)
        if found is not None:
            texts.append(
                diagnosis_text(found)
                if found.get("resourceType") == "Condition"
                else concept_text(found.get("code"))
            )
            entries.append(local_ref(str(found["resourceType"]), str(found["id"])))
    out = SectionContent(entries=entries)
    if texts:
        out.fields["reason"] = _join(texts)
    return out


def _diagnosis_content(
    conditions: list[dict[str, Any]], ctx: Context, section: SectionType
) -> SectionContent:
    out = SectionContent(entries=ctx.refs(conditions), columns=(("role", "Loại"), ("diagnosis", "Chẩn đoán")))
    keys = {f.key for f in section.fields}
    if conditions:
        main, others = conditions[0], conditions[1:]
        if "mainDiagnosis" in keys:
            out.fields["mainDiagnosis"] = diagnosis_text(main)
            if others:
                out.fields["otherDiagnoses"] = _join([diagnosis_text(c) for c in others])
        else:
            out.fields["diagnosis"] = _join([diagnosis_text(c) for c in conditions])
        out.rows = [
            {"role": "Bệnh chính" if i == 0 else "Bệnh kèm theo", "diagnosis": diagnosis_text(c)}
            for i, c in enumerate(conditions)
        ]
    return out


def _admission_dx(ctx: Context, section: SectionType) -> SectionContent:
    found = ctx.record.diagnoses(ctx.encounter_id, ("AD",))
    return _diagnosis_content(found, ctx, section)


def _discharge_dx(ctx: Context, section: SectionType) -> SectionContent:
    return _diagnosis_content(ctx.record.main_and_other(ctx.encounter_id), ctx, section)


def _history(ctx: Context, section: SectionType) -> SectionContent:
    rec = ctx.record
    own = {c.get("id") for c in rec.for_encounter("Condition", ctx.encounter_id)}
    past = [c for c in rec.of_type("Condition") if c.get("id") not in own]
    family = rec.of_type("FamilyMemberHistory")
    out = SectionContent(entries=ctx.refs(past + family), columns=(("condition", "Bệnh"), ("since", "Từ")))
    out.rows = [{"condition": diagnosis_text(c), "since": vn_date(c.get("onsetDateTime"))} for c in past]
    if past:
        out.fields["personal"] = _join([diagnosis_text(c) for c in past])
    fam: list[str] = []
    for f in family:
        who = concept_text(f.get("relationship"))
        what = _join(
            [concept_text(c.get("code")) for c in f.get("condition") or [] if isinstance(c, Mapping)]
        )
        fam.append(f"{who}: {what}" if who else what)
    if fam:
        out.fields["family"] = _join(fam)
    return out


def _allergies(ctx: Context, section: SectionType) -> SectionContent:
    items = ctx.record.of_type("AllergyIntolerance")
    out = SectionContent(
        entries=ctx.refs(items), columns=(("substance", "Tác nhân"), ("reaction", "Biểu hiện"))
    )
    for a in items:
        reactions = [
            concept_text(m)
            for r in a.get("reaction") or []
            if isinstance(r, Mapping)
            for m in r.get("manifestation") or []
        ]
        out.rows.append({"substance": concept_text(a.get("code")), "reaction": _join(reactions)})
    if out.rows:
        out.fields["allergies"] = _join(
            [f"{r['substance']} ({r['reaction']})" if r["reaction"] else r["substance"] for r in out.rows]
        )
    return out


def _vital_fields(observations: list[dict[str, Any]]) -> dict[str, str]:
    f: dict[str, str] = {}
    for o in observations:
        codes = {str(c.get("code")) for c in codings(o.get("code"))}
        for code, key in _VITALS.items():
            if code in codes and key not in f:
                f[key] = _value_text(o)
        if codes & set(_BP) and "bloodPressure" not in f:
            parts: dict[str, Any] = {}
            for comp in o.get("component") or []:
                ccodes = {str(c.get("code")) for c in codings(comp.get("code"))}
                value = (comp.get("valueQuantity") or {}).get("value")
                if _SYSTOLIC in ccodes:
                    parts["s"] = value
                if _DIASTOLIC in ccodes:
                    parts["d"] = value
            if parts.get("s") is not None and parts.get("d") is not None:
                f["bloodPressure"] = (
                    f"{parts['s']:g}/{parts['d']:g} mmHg"
                    if isinstance(parts["s"], float)
                    else f"{parts['s']}/{parts['d']} mmHg"
                )
    return f


def _vital_signs(ctx: Context, section: SectionType) -> SectionContent:
    obs = [
        o for o in ctx.record.for_encounter("Observation", ctx.encounter_id) if "vital-signs" in categories(o)
    ]
    out = SectionContent(entries=ctx.refs(obs))
    out.fields = _vital_fields(obs)
    return out


def _exam(ctx: Context, section: SectionType) -> SectionContent:
    obs = [o for o in ctx.record.for_encounter("Observation", ctx.encounter_id) if "exam" in categories(o)]
    out = SectionContent(entries=ctx.refs(obs), columns=(("finding", "Khám"), ("result", "Kết quả")))
    out.rows = [{"finding": concept_text(o.get("code")), "result": _value_text(o)} for o in obs]
    text = _join([f"{r['finding']}: {r['result']}" for r in out.rows])
    if text and section.fields:
        out.fields[section.fields[0].key] = text
    return out


def _laboratory(ctx: Context, section: SectionType) -> SectionContent:
    rec = ctx.record
    reports = [r for r in rec.for_encounter("DiagnosticReport", ctx.encounter_id) if is_laboratory(r)]
    obs = [o for o in rec.for_encounter("Observation", ctx.encounter_id) if is_laboratory(o)]
    out = SectionContent(
        entries=ctx.refs(reports + obs),
        columns=(
            ("test", "Tên xét nghiệm"),
            ("value", "Kết quả"),
            ("reference", "Trị số bình thường"),
            ("unit", "Đơn vị"),
            ("time", "Thời gian"),
        ),
    )
    for o in obs:
        q = o.get("valueQuantity") if isinstance(o.get("valueQuantity"), Mapping) else None
        value = (
            (f"{q['value']:g}" if isinstance(q.get("value"), float) else str(q.get("value")))
            if q
            else _value_text(o)
        )
        out.rows.append(
            {
                "test": concept_text(o.get("code")),
                "value": value,
                "reference": _range_text(o),
                "unit": str((q or {}).get("unit") or ""),
                "time": _when(o),
            }
        )
    keys = {f.key for f in section.fields}
    if "test" in keys:
        for key in ("test", "value", "reference", "unit"):
            joined = _join([r[key] for r in out.rows])
            if joined:
                out.fields[key] = joined
    elif out.rows and section.fields:
        conclusions = [str(r.get("conclusion")) for r in reports if r.get("conclusion")]
        out.fields[section.fields[0].key] = _join(
            [f"{r['test']}: {r['value']} {r['unit']}".strip() for r in out.rows] + conclusions
        )
    return out


def _imaging(ctx: Context, section: SectionType) -> SectionContent:
    rec = ctx.record
    reports = [r for r in rec.for_encounter("DiagnosticReport", ctx.encounter_id) if is_imaging(r)]
    studies = rec.for_encounter("ImagingStudy", ctx.encounter_id)
    obs = [o for o in rec.for_encounter("Observation", ctx.encounter_id) if is_imaging(o)]
    out = SectionContent(
        entries=ctx.refs(reports + studies + obs),
        columns=(("study", "Kỹ thuật"), ("findings", "Mô tả / kết luận"), ("time", "Thời gian")),
    )
    in_reports = {rec.key(r) for rep in reports for r in rep.get("result") or [] if isinstance(r, Mapping)}
    for rep in reports:
        out.rows.append(
            {
                "study": concept_text(rep.get("code")),
                "findings": str(rep.get("conclusion") or ""),
                "time": _when(rep),
            }
        )
    for o in obs:
        if f"Observation/{o.get('id')}" in in_reports:
            continue
        out.rows.append({"study": concept_text(o.get("code")), "findings": _value_text(o), "time": _when(o)})
    for s in studies:
        out.rows.append(
            {"study": str(s.get("description") or ""), "findings": "", "time": vn_datetime(s.get("started"))}
        )
    findings = _join([f"{r['study']}: {r['findings']}" if r["findings"] else r["study"] for r in out.rows])
    if findings and section.fields:
        out.fields[section.fields[0].key] = findings
    return out


def _medications(ctx: Context, section: SectionType) -> SectionContent:
    meds = [
        m
        for m in ctx.record.for_encounter("MedicationRequest", ctx.encounter_id)
        if m.get("status") not in ("entered-in-error", "cancelled")
    ]
    out = SectionContent(
        entries=ctx.refs(meds),
        columns=(("drug", "Tên thuốc, hàm lượng"), ("quantity", "Số lượng"), ("usage", "Cách dùng")),
    )
    for m in meds:
        dispense: Mapping[str, Any] = (
            m["dispenseRequest"] if isinstance(m.get("dispenseRequest"), Mapping) else {}
        )
        out.rows.append(
            {
                "drug": drug_name(m, ctx.record),
                "quantity": quantity_text(dispense.get("quantity")),
                "usage": dosage_text(m.get("dosageInstruction")),
            }
        )
    keys = {f.key for f in section.fields}
    if "drug" in keys:
        for key in ("drug", "quantity", "usage"):
            joined = _join([r[key] for r in out.rows])
            if joined:
                out.fields[key] = joined
    elif out.rows and section.fields:
        procedures = [
            concept_text(p.get("code")) for p in ctx.record.for_encounter("Procedure", ctx.encounter_id)
        ]
        out.fields[section.fields[0].key] = _join(
            [f"{r['drug']} ({r['usage']})" if r["usage"] else r["drug"] for r in out.rows] + procedures
        )
    return out


def _procedures(ctx: Context, section: SectionType) -> SectionContent:
    procs = [
        p
        for p in ctx.record.for_encounter("Procedure", ctx.encounter_id)
        if p.get("status") != "entered-in-error"
    ]
    out = SectionContent(
        entries=ctx.refs(procs),
        columns=(("procedure", "Thủ thuật, phẫu thuật"), ("code", "Mã ICD-9-CM"), ("time", "Thời gian")),
    )
    out.rows = [
        {
            "procedure": concept_text(p.get("code")),
            "code": first_code(p.get("code"), ICD9CM) or "",
            "time": _when(p),
        }
        for p in procs
    ]
    if out.rows and section.fields:
        out.fields[section.fields[0].key] = _join(
            [f"{r['procedure']} ({r['code']})" if r["code"] else r["procedure"] for r in out.rows]
        )
    return out


def _own_org(ctx: Context) -> str | None:
    ref = (ctx.encounter.get("serviceProvider") or {}).get("reference")
    return str(ref) if isinstance(ref, str) else None


def _orders(ctx: Context, section: SectionType) -> SectionContent:
    own = _own_org(ctx)
    requests = [
        r for r in ctx.record.for_encounter("ServiceRequest", ctx.encounter_id) if not is_referral(r, own)
    ]
    if ctx.doc_type.key == "lab-report":
        requests = [r for r in requests if not is_imaging_request(r)]
    elif ctx.doc_type.key == "imaging-report":
        requests = [r for r in requests if is_imaging_request(r)]
    out = SectionContent(entries=ctx.refs(requests), columns=(("order", "Chỉ định"), ("time", "Thời gian")))
    out.rows = [{"order": concept_text(r.get("code")), "time": _when(r)} for r in requests]
    keys = {f.key for f in section.fields}
    if not out.rows:
        return out
    for key in ("orders", "request"):
        if key in keys:
            out.fields[key] = _join([r["order"] for r in out.rows])
    if "requester" in keys:
        requester = name_text(ctx.record.resolve(requests[0].get("requester")))
        if requester:
            out.fields["requester"] = requester
    if "specimen" in keys:
        times = [vn_datetime(r.get("occurrenceDateTime") or r.get("authoredOn")) for r in requests]
        if any(times):
            out.fields["specimen"] = _join([f"lấy mẫu {t}" for t in times if t])
    return out


def _referral(ctx: Context, section: SectionType) -> SectionContent:
    own = _own_org(ctx)
    requests = [
        r for r in ctx.record.for_encounter("ServiceRequest", ctx.encounter_id) if is_referral(r, own)
    ]
    out = SectionContent(entries=ctx.refs(requests))
    reasons: list[str] = []
    destinations: list[str] = []
    for r in requests:
        reasons += [concept_text(c) for c in r.get("reasonCode") or []]
        for p in r.get("performer") or []:
            found = ctx.record.resolve(p)
            if found is not None and found.get("resourceType") == "Organization":
                out.entries.append(local_ref("Organization", str(found["id"])))
                destinations.append(name_text(found))
            elif isinstance(p, Mapping) and p.get("display"):
                destinations.append(str(p["display"]))
    if reasons:
        out.fields["reason"] = _join(reasons)
    if destinations:
        out.fields["destination"] = _join(destinations)
    return out


def _follow_up(ctx: Context, section: SectionType) -> SectionContent:
    start = parse_datetime((ctx.encounter.get("period") or {}).get("end")) or parse_datetime(
        (ctx.encounter.get("period") or {}).get("start")
    )
    later = [
        a
        for a in ctx.record.of_type("Appointment")
        if a.get("status") not in ("cancelled", "noshow", "entered-in-error")
        and (moment := parse_datetime(a.get("start"))) is not None
        and (start is None or moment >= start)
    ]
    out = SectionContent(entries=ctx.refs(later[:1]))
    if later:
        out.fields["revisitDate"] = vn_date(later[0].get("start"))
        if later[0].get("description"):
            out.fields["plan"] = str(later[0]["description"])
    return out


def _text(ctx: Context, section: SectionType) -> SectionContent:
    out = SectionContent(empty_reason="notstarted")
    if section.key == "treatment" and section.fields:  # default: the drugs and procedures used
        meds = [
            drug_name(m, ctx.record) for m in ctx.record.for_encounter("MedicationRequest", ctx.encounter_id)
        ]
        procs = [concept_text(p.get("code")) for p in ctx.record.for_encounter("Procedure", ctx.encounter_id)]
        parts = ([f"Nội khoa: {', '.join(meds)}"] if meds else []) + (
            [f"Thủ thuật: {', '.join(procs)}"] if procs else []
        )
        if parts:
            out.fields[section.fields[0].key] = "; ".join(parts)
    if section.key == "discharge-state":
        disposition = concept_text((ctx.encounter.get("hospitalization") or {}).get("dischargeDisposition"))
        if disposition:
            out.fields["outcome"] = disposition
    if section.key == "transport":
        period = ctx.encounter.get("period") or {}
        if period.get("end"):
            out.fields["transferTime"] = vn_datetime(period["end"])
    return out


_SOURCES: Final[dict[str, Callable[[Context, SectionType], SectionContent]]] = {
    "patient": _patient,
    "encounter": _encounter,
    "reason": _reason,
    "admission-dx": _admission_dx,
    "discharge-dx": _discharge_dx,
    "diagnoses": _discharge_dx,
    "history": _history,
    "allergies": _allergies,
    "vital-signs": _vital_signs,
    "exam": _exam,
    "laboratory": _laboratory,
    "imaging": _imaging,
    "medications": _medications,
    "procedures": _procedures,
    "orders": _orders,
    "referral": _referral,
    "follow-up": _follow_up,
    "text": _text,
}


def section_content(ctx: Context, section: SectionType) -> SectionContent:
    """What ``section`` holds for the context's encounter."""
    content = _SOURCES[section.source](ctx, section)
    seen: set[str] = set()
    unique: list[dict[str, str]] = []
    for ref in content.entries:
        if ref["reference"] not in seen:
            seen.add(ref["reference"])
            unique.append(ref)
    content.entries = unique
    return content
