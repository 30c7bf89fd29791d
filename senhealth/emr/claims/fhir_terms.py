"""The FHIR vocabulary of the claim mapping: identifier systems, code systems, extensions, conversions.

Spec: FHIR R4 identifiers https://hl7.org/fhir/R4/datatypes.html#Identifier, extensions
https://hl7.org/fhir/R4/extensibility.html, ``dateTime`` https://hl7.org/fhir/R4/datatypes.html#dateTime.

Systems are Sen Health's own URIs (``https://senhealth.vn/fhir/...``), as for the rest of the platform;
the personal-ID and insurance-card systems are the patient index's (:mod:`senhealth.mpi.identifiers`).
A facility's own keys (``MA_LK``, ``MA_BN``, ``MA_HSBA``) get a system per facility code, so that two
facilities' numbers never collide.

Every claim field the mapping does not place in a FHIR element is kept on the resource its record
became, in the complex extension :data:`CLAIM_FIELDS` (one sub-extension per field, ``url`` =
``XML1.T_BHTT``, ``valueString`` = the text as filed): an import loses nothing, and an export writes it
back where no FHIR element gives the value.

Claim times are Viet Nam's local time (UTC+07:00, no daylight saving); FHIR times carry the offset.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from senhealth.mpi.identifiers import BHYT_SYSTEM, CCCD_SYSTEM, CMND_SYSTEM, PASSPORT_SYSTEM

__all__ = [
    "BHYT_SYSTEM",
    "CCCD_SYSTEM",
    "CLAIM_FIELDS",
    "CLAIM_ROW",
    "CMND_SYSTEM",
    "PASSPORT_SYSTEM",
    "VN",
    "claim_fields",
    "claim_time",
    "fhir_date",
    "fhir_time",
    "number_text",
    "resource_id",
    "with_claim_fields",
]

VN: Final = timezone(timedelta(hours=7))
_BASE = "https://senhealth.vn/fhir"

CLAIM_FIELDS: Final = f"{_BASE}/StructureDefinition/claim-xml-fields"
TREATMENT_RESULT: Final = f"{_BASE}/StructureDefinition/claim-treatment-result"
CLAIM_ROW: Final = f"{_BASE}/sid/claim-row"  # value: "<MA_CSKCB>|<MA_LK>|<table>|<n>"
FACILITY_SYSTEM: Final = f"{_BASE}/sid/facility"
LICENCE_SYSTEM: Final = f"{_BASE}/sid/practising-licence"
MA_LK_PREFIX: Final = f"{_BASE}/sid/ma-lk/"
MA_BN_PREFIX: Final = f"{_BASE}/sid/ma-bn/"
MA_HSBA_PREFIX: Final = f"{_BASE}/sid/ma-hsba/"
DOCUMENT_NUMBER: Final = f"{_BASE}/sid/claim-document-number"  # SO_HOSO, SO_GIAYHEN_KL

VISIT_TYPE: Final = f"{_BASE}/CodeSystem/claim-visit-type"  # MA_LOAI_KCB
RESULT_CODES: Final = f"{_BASE}/CodeSystem/claim-treatment-result"  # KET_QUA_DTRI
DISCHARGE_TYPE: Final = f"{_BASE}/CodeSystem/claim-discharge-type"  # MA_LOAI_RV
DRUG: Final = f"{_BASE}/CodeSystem/dmdc-drug"  # MA_THUOC (active ingredient, common code list)
SERVICE: Final = f"{_BASE}/CodeSystem/dmdc-service"  # MA_DICH_VU
SUPPLY: Final = f"{_BASE}/CodeSystem/dmdc-supply"  # MA_VAT_TU
INDEX: Final = f"{_BASE}/CodeSystem/dmdc-index"  # MA_CHI_SO (laboratory / imaging index)
ROUTE: Final = f"{_BASE}/CodeSystem/dmdc-route"  # DUONG_DUNG
CLAIM_TABLE: Final = f"{_BASE}/CodeSystem/claim-xml-table"  # Basic.code: XML6, XML9 ...
CLAIM_FIELD: Final = f"{_BASE}/CodeSystem/claim-xml-field"  # Composition.section.code: the field name
ICD9CM: Final = "http://hl7.org/fhir/sid/icd-9-cm"
ICD10_WHO: Final = "http://hl7.org/fhir/sid/icd-10"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DISCHARGE: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
BIRTH_TIME: Final = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
ADMIN_UNIT: Final = f"{_BASE}/StructureDefinition/administrative-unit"
PROVINCE_SYSTEM: Final = f"{_BASE}/CodeSystem/province-2025"
COMMUNE_SYSTEM: Final = f"{_BASE}/CodeSystem/commune-2025"
REFERRAL: Final = ("3457005", "Patient referral")  # SNOMED CT ServiceRequest.category
DISCHARGE_SUMMARY: Final = ("18842-5", "Discharge summary")  # LOINC: XML7
EPISODE_SUMMARY: Final = ("34133-9", "Summary of episode note")  # LOINC: XML8
WEIGHT: Final = ("29463-7", "Body weight")
HEIGHT: Final = ("8302-2", "Body height")

_NAMESPACE = uuid.UUID("5e1f0a3c-2b7d-4c61-9a8e-3f6d2c1b0e57")


def resource_id(*parts: str) -> str:
    """A stable id for what one claim record becomes (UUIDv5 of the facility, MA_LK, table, number...):
    the same file imported twice writes the same resources."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def facility_system(prefix: str, facility: str) -> str:
    return f"{prefix}{facility}"


def fhir_time(text: str) -> str | None:
    """``yyyymmddHHMM`` → ``yyyy-mm-ddTHH:MM:00+07:00``; ``yyyymmdd`` → ``yyyy-mm-dd``; else None."""
    if len(text) == 12 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:00+07:00"
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return None


def fhir_date(text: str) -> str | None:
    """The date part of a claim date as a FHIR ``date``."""
    if len(text) >= 8 and text[:8].isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return None


def parse_fhir_time(value: str | None) -> datetime | None:
    """A FHIR ``dateTime`` / ``instant`` / ``date`` as an aware datetime in Viet Nam's time (dates at 00:00)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=VN)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=VN)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), VN)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VN)
    return moment.astimezone(VN)


def claim_time(value: str | None, *, with_time: bool = True) -> str:
    """A FHIR time as ``yyyymmddHHMM`` (``with_time``) or ``yyyymmdd``, in Viet Nam's time; "" if none."""
    moment = parse_fhir_time(value)
    if moment is None:
        return ""
    return moment.strftime("%Y%m%d%H%M" if with_time else "%Y%m%d")


def number_text(value: Any, decimals: int | None = None) -> str:
    """A number as the claim tables write it: no exponent, no trailing zeros, ``decimals`` at most."""
    if value is None or isinstance(value, bool):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return ""
    if decimals is not None:
        number = number.quantize(Decimal(1).scaleb(-decimals))
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_number(text: str) -> int | float | None:
    """A claim number as a JSON number (an integer when it has no decimals)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def claim_fields(resource: Mapping[str, Any], table: str | None = None) -> dict[str, str]:
    """The fields kept in :data:`CLAIM_FIELDS` on ``resource``: ``"XML1.T_BHTT"`` → text; with
    ``table``, only that table's, keyed by the bare field name."""
    out: dict[str, str] = {}
    for ext in resource.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != CLAIM_FIELDS:
            continue
        for sub in ext.get("extension") or []:
            url, value = sub.get("url"), sub.get("valueString")
            if not isinstance(url, str) or not isinstance(value, str):
                continue
            if table is None:
                out[url] = value
            elif url.startswith(f"{table}."):
                out[url[len(table) + 1 :]] = value
    return out


def with_claim_fields(
    resource: dict[str, Any], table: str, fields: Mapping[str, str], keep: Iterable[str] = ()
) -> None:
    """Add ``fields`` (name → text, empty ones skipped) of ``table`` to the resource's claim extension;
    ``keep`` names fields to leave out (those the mapping placed in FHIR elements)."""
    skip = set(keep)
    subs = [
        {"url": f"{table}.{name}", "valueString": value}
        for name, value in fields.items()
        if value and name not in skip
    ]
    if not subs:
        return
    extensions: list[dict[str, Any]] = resource.setdefault("extension", [])
    holder = next((e for e in extensions if e.get("url") == CLAIM_FIELDS), None)
    if holder is None:
        holder = {"url": CLAIM_FIELDS, "extension": []}
        extensions.append(holder)
    holder["extension"].extend(subs)


def coding_code(concept: Mapping[str, Any] | None, *systems: str) -> str:
    """The code of the first coding of ``concept`` in one of ``systems`` (in that order); "" if none."""
    if not concept:
        return ""
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    for system in systems:
        for coding in codings:
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    return ""


def concept_text(concept: Mapping[str, Any] | None, *systems: str) -> str:
    """``concept.text``, else the display of its coding in ``systems`` (or of any coding)."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    for coding in sorted(codings, key=lambda c: c.get("system") not in systems):
        if coding.get("display"):
            return str(coding["display"])
    return ""


def identifier_value(resource: Mapping[str, Any], system: str, *, prefix: bool = False) -> str:
    """The value of the resource's identifier with ``system`` (or whose system starts with it)."""
    raw = resource.get("identifier")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    for ident in items:
        sys = ident.get("system") or ""
        if (sys.startswith(system) if prefix else sys == system) and ident.get("value"):
            return str(ident["value"])
    return ""
