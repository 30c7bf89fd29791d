"""A document Bundle as the Ministry's paper form lays it out: what the template prints, in order.

Spec: https://hl7.org/fhir/R4/documents.html#presentation (a document is presented from the narrative of
the Composition, its subject and its sections: that narrative is the attested content) and
https://hl7.org/fhir/R4/composition.html. The national forms (Circular 32/2023/TT-BYT) put the issuing
facility under its provincial Department of Health at the top left, the country's name and motto at the
top right with the form number ("MS:"), the title in the middle, the numbered sections, then the place
and date and the signature blocks.

:func:`document_view` turns a document Bundle (``Composition/$document``) into a :class:`DocumentView`:
plain values and already-sanitised narrative markup, no FHIR left for the template to interpret. A
section prints its narrative (``section.text``, sanitised by :mod:`.narrative`); a section without a
narrative prints one line per entry (:func:`entry_line`), so that nothing the author attested is left
out. Signature blocks come from the form's roles (:mod:`.forms`) filled with the document's signatures
(:class:`SignatureMark`, from the signature service) and, where a role has none, the Composition's
``attester`` (marked "not digitally signed").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from senhealth.emr.documents.types import DocumentType, document_type_for_code
from senhealth.emr.printing.forms import COUNTRY, MOTTO, form_number, signature_roles
from senhealth.emr.printing.narrative import narrative_plain_text, safe_narrative

__all__ = [
    "DocumentView",
    "SectionView",
    "SignatureBlock",
    "SignatureMark",
    "document_view",
    "entry_line",
    "human_name",
    "resolve",
]

_ROMAN: Final = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV",
                 "XV", "XVI", "XVII", "XVIII", "XIX", "XX")  # fmt: skip
_ATTESTER_ROLE: Final = {
    "personal": "patient",
    "professional": "author",
    "legal": "verifier",
    "official": "organization",
}


@dataclass(frozen=True, slots=True)
class SignatureMark:
    """One signature on the document, as the signature service reports it."""

    role: str  # author | verifier | patient | organization
    signer: str  # the signer's name (or the facility's)
    when: datetime | None
    valid: bool | None = None  # None: not checked
    reason: str = ""
    method: str = "digital"  # digital | otp | biometric | attested (no signature, Composition.attester)
    certificate: str = ""  # the certificate's subject, for the printed "Đã ký số bởi ..."


@dataclass(frozen=True, slots=True)
class SignatureBlock:
    """A signature block of the form: its title, and the signature in it (None: left blank)."""

    title_vi: str
    title_en: str
    mark: SignatureMark | None


@dataclass(frozen=True, slots=True)
class SectionView:
    number: str  # I, II, ...
    title: str
    html: str  # sanitised narrative markup ("" when the section has none)
    lines: tuple[str, ...]  # one line per entry, when there is no narrative
    subsections: tuple[SectionView, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentView:
    """Everything the form prints (see the module docstring)."""

    doc_type: str  # the type's key ("discharge-paper"), "" when unknown
    title_vi: str
    title_en: str
    form_number: str
    country: str
    motto: str
    authority: str  # "SỞ Y TẾ ..." above the facility (the custodian's partOf), may be ""
    facility: str
    facility_code: str
    department: str
    identifier: str  # Composition.identifier value: the document's number
    composition_id: str
    version: str
    status: str
    date: datetime | None
    place: str  # the facility's province or town, for "..., ngày ... tháng ... năm ..."
    patient_name: str
    sections: tuple[SectionView, ...]
    signatures: tuple[SignatureBlock, ...]
    replaces: tuple[str, ...] = ()  # identifiers / ids of documents this one corrects
    bundle_identifier: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value + "T00:00:00")
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def resolve(bundle: Mapping[str, Any], reference: Any, here: str = "") -> dict[str, Any] | None:
    """The resource of ``bundle`` that ``reference`` (a Reference or its text) points to, or None;
    relative references resolve against the base of ``here`` (the referring entry's fullUrl)."""
    ref = reference.get("reference") if isinstance(reference, Mapping) else reference
    if not isinstance(ref, str) or not ref:
        return None
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, Mapping)]
    for e in entries:
        if e.get("fullUrl") == ref:
            res = e.get("resource")
            return res if isinstance(res, dict) else None
    tail = ref.split("/_history/")[0]
    parts = tail.rsplit("/", 2)
    if len(parts) < 2:
        return None
    res_type, res_id = parts[-2], parts[-1]
    for e in entries:
        res = e.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == res_type and res.get("id") == res_id:
            return res
    return None


def human_name(resource: Mapping[str, Any] | None) -> str:
    """A person's or organisation's name as printed (Vietnamese order: family, middle, given)."""
    if not resource:
        return ""
    name = resource.get("name")
    if isinstance(name, str):
        return name
    names = [n for n in name or [] if isinstance(n, Mapping)]
    if not names:
        return ""
    chosen = next((n for n in names if n.get("use") == "official"), names[0])
    if isinstance(chosen.get("text"), str) and chosen["text"].strip():
        return str(chosen["text"]).strip()
    parts = [str(chosen.get("family") or ""), *(str(g) for g in chosen.get("given") or [])]
    return " ".join(p for p in parts if p).strip()


def _concept(value: Any) -> str:
    if not isinstance(value, Mapping):
        return ""
    codings = [c for c in value.get("coding") or [] if isinstance(c, Mapping)]
    text = value.get("text") or next((c.get("display") for c in codings if c.get("display")), "")
    code = next((c.get("code") for c in codings if c.get("code")), "")
    if text and code and str(code) not in str(text):
        return f"{text} ({code})"
    return str(text or code or "")


def _quantity(value: Any) -> str:
    if not isinstance(value, Mapping) or value.get("value") is None:
        return ""
    unit = value.get("unit") or value.get("code") or ""
    return f"{value['value']} {unit}".strip()


def _value(resource: Mapping[str, Any]) -> str:
    for key in ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
                "valueDateTime", "valueRatio"):  # fmt: skip
        if key not in resource:
            continue
        v = resource[key]
        if key == "valueQuantity":
            return _quantity(v)
        if key == "valueCodeableConcept":
            return _concept(v)
        if key == "valueRatio" and isinstance(v, Mapping):
            return f"{_quantity(v.get('numerator'))}/{_quantity(v.get('denominator'))}"
        return str(v)
    parts = []
    for comp in resource.get("component") or []:
        if isinstance(comp, Mapping):
            q = comp.get("valueQuantity")
            if isinstance(q, Mapping) and q.get("value") is not None:
                parts.append((str(q["value"]), str(q.get("unit") or "")))
    if parts:
        unit = parts[-1][1]
        return "/".join(p[0] for p in parts) + (f" {unit}" if unit else "")
    return ""


def entry_line(resource: Mapping[str, Any], bundle: Mapping[str, Any]) -> str:
    """One printed line for a section entry (a resource with no narrative of its own in the section)."""
    rtype = resource.get("resourceType")
    if rtype == "Observation":
        value = _value(resource)
        ranges = [r for r in resource.get("referenceRange") or [] if isinstance(r, Mapping)]
        ref = ""
        if ranges:
            low, high = _quantity(ranges[0].get("low")), _quantity(ranges[0].get("high"))
            ref = ranges[0].get("text") or (f"{low} – {high}" if low or high else "")
        line = f"{_concept(resource.get('code'))}: {value}" if value else _concept(resource.get("code"))
        return f"{line} (bình thường / normal: {ref})" if ref else line
    if rtype == "MedicationRequest":
        med = _concept(resource.get("medicationCodeableConcept"))
        if not med:
            med = human_name(resolve(bundle, resource.get("medicationReference"))) or _concept(
                (resolve(bundle, resource.get("medicationReference")) or {}).get("code")
            )
        dosage = "; ".join(
            str(d.get("text"))
            for d in resource.get("dosageInstruction") or []
            if isinstance(d, Mapping) and d.get("text")
        )
        qty = _quantity((resource.get("dispenseRequest") or {}).get("quantity"))
        return " — ".join(p for p in (med, dosage, f"SL / qty: {qty}" if qty else "") if p)
    if rtype == "DiagnosticReport":
        conclusion = resource.get("conclusion") or ""
        return (
            f"{_concept(resource.get('code'))}: {conclusion}"
            if conclusion
            else _concept(resource.get("code"))
        )
    if rtype in ("Condition", "Procedure", "ServiceRequest", "AllergyIntolerance", "Immunization"):
        code = resource.get("code") or resource.get("vaccineCode")
        return _concept(code) or narrative_plain_text((resource.get("text") or {}).get("div"))
    if rtype == "Appointment":
        start = _when(resource.get("start"))
        what = resource.get("description") or _concept((resource.get("serviceType") or [None])[0])
        return " — ".join(p for p in (f"{start:%d/%m/%Y %H:%M}" if start else "", str(what or "")) if p)
    if rtype in ("Patient", "Practitioner", "Organization", "RelatedPerson"):
        return human_name(resource)
    text = narrative_plain_text((resource.get("text") or {}).get("div"))
    return text.splitlines()[0] if text else f"{rtype}/{resource.get('id', '')}"


def _sections(sections: Any, bundle: Mapping[str, Any], prefix: str = "") -> tuple[SectionView, ...]:
    out: list[SectionView] = []
    items = [s for s in sections or [] if isinstance(s, Mapping)]
    for i, section in enumerate(items):
        number = f"{prefix}{i + 1}" if prefix else (_ROMAN[i] if i < len(_ROMAN) else str(i + 1))
        title = str(section.get("title") or _concept(section.get("code")) or "")
        markup = safe_narrative((section.get("text") or {}).get("div"))
        lines: list[str] = []
        if not markup:
            for entry in section.get("entry") or []:
                res = resolve(bundle, entry)
                line = entry_line(res, bundle) if res else str((entry or {}).get("display") or "")
                if line:
                    lines.append(line)
        sub = _sections(section.get("section"), bundle, f"{number}." if prefix else f"{i + 1}.")
        out.append(SectionView(number, title, markup, tuple(lines), sub))
    return tuple(out)


def _identifier(resource: Mapping[str, Any]) -> str:
    ident = resource.get("identifier")
    if isinstance(ident, list):
        ident = ident[0] if ident else None
    return str(ident.get("value") or "") if isinstance(ident, Mapping) else ""


def _org_code(org: Mapping[str, Any] | None) -> str:
    for ident in (org or {}).get("identifier") or []:
        if isinstance(ident, Mapping) and ident.get("value"):
            return str(ident["value"])
    return ""


def _place(org: Mapping[str, Any] | None) -> str:
    for address in (org or {}).get("address") or []:
        if isinstance(address, Mapping):
            for key in ("state", "city", "district"):
                if address.get(key):
                    return str(address[key])
    return ""


def _attester_marks(comp: Mapping[str, Any], bundle: Mapping[str, Any]) -> list[SignatureMark]:
    marks = []
    for attester in comp.get("attester") or []:
        if not isinstance(attester, Mapping):
            continue
        role = _ATTESTER_ROLE.get(str(attester.get("mode")), "author")
        party = resolve(bundle, attester.get("party"))
        name = human_name(party) or str((attester.get("party") or {}).get("display") or "")
        marks.append(SignatureMark(role, name, _when(attester.get("time")), None, "", "attested"))
    return marks


def _blocks(doc_type: str, marks: Sequence[SignatureMark]) -> tuple[SignatureBlock, ...]:
    """The form's signature blocks, each with the first signature of its role; signatures of roles the
    form has no block for get a block of their own after the form's."""
    left = list(marks)
    blocks: list[SignatureBlock] = []
    for role in signature_roles(doc_type):
        mark = next((m for m in left if m.role == role.role), None)
        if mark is not None:
            left.remove(mark)
        blocks.append(SignatureBlock(role.title_vi, role.title_en, mark))
    titles = {"author": ("Người lập", "Author"), "verifier": ("Người xác nhận", "Verifier"),
              "patient": ("Người bệnh", "Patient"), "organization": ("Cơ sở khám bệnh, chữa bệnh", "Facility")}  # fmt: skip
    for mark in left:
        vi, en = titles.get(mark.role, (mark.role, mark.role))
        blocks.append(SignatureBlock(vi, en, mark))
    return tuple(blocks)


def document_view(
    bundle: Mapping[str, Any],
    *,
    signatures: Sequence[SignatureMark] = (),
    authority: str = "",
    settings: Any = None,
) -> DocumentView:
    """The printed form of a document Bundle (see the module docstring). ``signatures``: the document's
    signatures; ``authority``: the body above the facility ("Sở Y tế ..."), when the Bundle does not
    hold the custodian's ``partOf``."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, Mapping)]
    comp = entries[0].get("resource") if entries else None
    if not isinstance(comp, Mapping) or comp.get("resourceType") != "Composition":
        raise ValueError("a document Bundle starts with its Composition")
    dtype: DocumentType | None = document_type_for_code(comp.get("type"))
    key = dtype.key if dtype else ""
    custodian = resolve(bundle, comp.get("custodian"))
    encounter = resolve(bundle, comp.get("encounter"))
    if custodian is None and encounter is not None:
        custodian = resolve(bundle, encounter.get("serviceProvider"))
    parent = resolve(bundle, (custodian or {}).get("partOf"))
    authority = (
        human_name(parent) or authority or str(((custodian or {}).get("partOf") or {}).get("display") or "")
    )
    department = ""
    if encounter is not None:
        for loc in encounter.get("location") or []:
            if isinstance(loc, Mapping):
                department = human_name(resolve(bundle, loc.get("location"))) or str(
                    (loc.get("location") or {}).get("display") or ""
                )
                if department:
                    break
        if not department:
            department = _concept(encounter.get("serviceType") or {})
    patient = resolve(bundle, comp.get("subject"))
    marks = list(signatures)
    signed_roles = {m.role for m in marks}
    marks += [m for m in _attester_marks(comp, bundle) if m.role not in signed_roles]
    replaces = tuple(
        str(
            (r.get("targetReference") or {}).get("reference")
            or (r.get("targetIdentifier") or {}).get("value")
            or ""
        )
        for r in comp.get("relatesTo") or []
        if isinstance(r, Mapping) and r.get("code") == "replaces"
    )
    meta = comp.get("meta") or {}
    return DocumentView(
        doc_type=key,
        title_vi=dtype.title_vi if dtype else str(comp.get("title") or ""),
        title_en=dtype.title_en if dtype else "",
        form_number=form_number(key, settings) if key else "",
        country=COUNTRY,
        motto=MOTTO,
        authority=authority,
        facility=human_name(custodian),
        facility_code=_org_code(custodian),
        department=department,
        identifier=_identifier(comp),
        composition_id=str(comp.get("id") or ""),
        version=str(meta.get("versionId") or ""),
        status=str(comp.get("status") or ""),
        date=_when(comp.get("date")),
        place=_place(custodian),
        patient_name=human_name(patient),
        sections=_sections(comp.get("section"), bundle),
        signatures=_blocks(key, marks),
        replaces=tuple(r for r in replaces if r),
        bundle_identifier=str((bundle.get("identifier") or {}).get("value") or ""),
    )
