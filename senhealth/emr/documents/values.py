"""FHIR values as the Vietnamese text the national forms print: dates, names, codes, quantities, doses.

Spec: https://hl7.org/fhir/R4/datatypes.html (dateTime, CodeableConcept, Quantity, HumanName,
Identifier, Reference) and https://hl7.org/fhir/R4/dosage.html (Dosage). Times are shown in Vietnam's
time zone (UTC+7, no daylight saving), dates as ``dd/mm/yyyy`` and times as ``HH giờ MM phút, ngày
dd/mm/yyyy``, as the forms print them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from senhealth.fhir.terminology import icd10_vn

__all__ = [
    "BHYT_SYSTEM",
    "CCCD_SYSTEM",
    "ICD10_SYSTEMS",
    "VN_TZ",
    "codings",
    "concept_text",
    "diagnosis_text",
    "dosage_text",
    "first_code",
    "gender_vi",
    "identifier_value",
    "local_ref",
    "name_text",
    "parse_datetime",
    "quantity_text",
    "reference_key",
    "vn_date",
    "vn_datetime",
]

VN_TZ: Final = timezone(timedelta(hours=7), "ICT")
ICD10_SYSTEMS: Final = (icd10_vn.SYSTEM, "http://hl7.org/fhir/sid/icd-10")
CCCD_SYSTEM: Final = "https://senhealth.vn/fhir/sid/cccd"
BHYT_SYSTEM: Final = "https://senhealth.vn/fhir/sid/bhyt"
_GENDER: Final = {"male": "Nam", "female": "Nữ", "other": "Khác", "unknown": "Không rõ"}
_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/\d+)?$")


def parse_datetime(value: Any) -> datetime | None:
    """A FHIR date or dateTime as an aware datetime (a date alone: midnight in Vietnam), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=VN_TZ)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=VN_TZ)
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=VN_TZ)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VN_TZ)


def vn_date(value: Any) -> str:
    """``dd/mm/yyyy`` (a partial date keeps its precision: ``mm/yyyy``, ``yyyy``); ``""`` for none."""
    if isinstance(value, str) and len(value) in (4, 7):
        return value if len(value) == 4 else f"{value[5:7]}/{value[:4]}"
    moment = parse_datetime(value)
    return "" if moment is None else f"{moment.astimezone(VN_TZ):%d/%m/%Y}"


def vn_datetime(value: Any) -> str:
    """``HH giờ MM phút, ngày dd/mm/yyyy`` in Vietnam's time (a date alone: ``ngày dd/mm/yyyy``)."""
    if isinstance(value, str) and len(value) <= 10:
        shown = vn_date(value)
        return f"ngày {shown}" if shown else ""
    moment = parse_datetime(value)
    if moment is None:
        return ""
    local = moment.astimezone(VN_TZ)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d/%m/%Y}"


def now_fhir() -> str:
    """The current instant as a FHIR dateTime in Vietnam's time."""
    return datetime.now(UTC).astimezone(VN_TZ).isoformat(timespec="seconds")


def codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def first_code(concept: Any, systems: Iterable[str]) -> str | None:
    """The first code of ``concept`` in one of ``systems``."""
    wanted = tuple(systems)
    for c in codings(concept):
        if c.get("system") in wanted and isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def concept_text(concept: Any) -> str:
    """What a person reads for a CodeableConcept: its text, else a display, else a code."""
    if not isinstance(concept, Mapping):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for c in codings(concept):
        if isinstance(c.get("display"), str) and c["display"].strip():
            return str(c["display"]).strip()
    for c in codings(concept):
        if isinstance(c.get("code"), str):
            return str(c["code"])
    return ""


def diagnosis_text(condition: Mapping[str, Any]) -> str:
    """``J15.9 – Viêm phổi do vi khuẩn...``: the ICD-10 code and its name (the Ministry's when known)."""
    concept = condition.get("code")
    code = first_code(concept, ICD10_SYSTEMS)
    text = concept_text(concept)
    if code is None:
        return text
    if not text or text == code:
        try:
            text = icd10_vn.display(code)
        except (KeyError, LookupError, ValueError):
            text = ""
    return f"{code} – {text}" if text else code


def quantity_text(q: Any) -> str:
    if not isinstance(q, Mapping) or q.get("value") is None:
        return ""
    value = q["value"]
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    unit = q.get("unit") or q.get("code") or ""
    return f"{shown} {unit}".strip()


def dosage_text(dosages: Any) -> str:
    """The usage of a MedicationRequest's ``dosageInstruction``: the text, else dose, route, timing."""
    parts: list[str] = []
    for d in dosages or []:
        if not isinstance(d, Mapping):
            continue
        if isinstance(d.get("text"), str) and d["text"].strip():
            parts.append(d["text"].strip())
            continue
        bits: list[str] = []
        route = concept_text(d.get("route"))
        if route:
            bits.append(route)
        for dr in d.get("doseAndRate") or []:
            if isinstance(dr, Mapping) and dr.get("doseQuantity"):
                bits.append(quantity_text(dr["doseQuantity"]))
        timing = (d.get("timing") or {}).get("repeat") if isinstance(d.get("timing"), Mapping) else None
        if isinstance(timing, Mapping) and timing.get("frequency") and timing.get("period"):
            bits.append(f"{timing['frequency']} lần/{timing['period']} {timing.get('periodUnit', 'd')}")
        if bits:
            parts.append(", ".join(bits))
    return "; ".join(parts)


def name_text(resource: Mapping[str, Any] | None) -> str:
    """A person's or organisation's name: HumanName.text, else family + given; Organization.name."""
    if not isinstance(resource, Mapping):
        return ""
    if isinstance(resource.get("name"), str):
        return str(resource["name"])
    names = [n for n in resource.get("name") or [] if isinstance(n, Mapping)]
    official = [n for n in names if n.get("use") == "official"] or names
    if not official:
        return ""
    n = official[0]
    if isinstance(n.get("text"), str) and n["text"].strip():
        return str(n["text"]).strip()
    parts = [str(n.get("family") or "")] + [str(g) for g in n.get("given") or []]
    return " ".join(p for p in parts if p)


def gender_vi(gender: Any) -> str:
    return _GENDER.get(str(gender), "")


def identifier_value(resource: Mapping[str, Any] | None, systems: Sequence[str]) -> str | None:
    """The value of the resource's first identifier in one of ``systems``."""
    if not isinstance(resource, Mapping):
        return None
    for ident in resource.get("identifier") or []:
        if (
            isinstance(ident, Mapping)
            and ident.get("system") in systems
            and isinstance(ident.get("value"), str)
        ):
            return str(ident["value"])
    return None


def reference_key(ref: Any, base_urls: Sequence[str] = ()) -> str | None:
    """``Type/id`` of a Reference (or reference text) to a resource of this server, or None."""
    text = ref.get("reference") if isinstance(ref, Mapping) else ref
    if not isinstance(text, str):
        return None
    for base in base_urls:
        if text.startswith(base.rstrip("/") + "/"):
            text = text[len(base.rstrip("/")) + 1 :]
            break
    m = _REF.match(text)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def local_ref(res_type: str, res_id: str) -> dict[str, str]:
    return {"reference": f"{res_type}/{res_id}"}
