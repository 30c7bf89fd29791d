"""The matching view of a patient: a :class:`Candidate` and the row of comparison keys the matcher reads.

A Candidate holds only what identifies a person: names, birth date, sex, commune, phone and the
personal-ID and insurance numbers. :func:`candidate_from_patient` reads it from a FHIR Patient
(https://hl7.org/fhir/R4/patient.html): the official (else first) ``name``, ``birthDate``, ``gender``,
the commune code of the home (else first) ``address`` (the ``commune`` Coding of the administrative-unit
extension :data:`ADMIN_UNIT_EXTENSION` that the demo generator writes), the first mobile ``telecom`` and
the identifiers whose systems are :data:`~senhealth.mpi.identifiers.CCCD_SYSTEM` and
:data:`~senhealth.mpi.identifiers.BHYT_SYSTEM`.

:func:`match_row` turns a Candidate into the flat row of keys the Splink model compares
(https://moj-analytical-services.github.io/splink/): fold keys of each name part, ISO birth date,
birth year, a swap-proof birth-date key (year plus day and month in sorted order), and the lifelong
10-digit social-insurance number in place of the whole insurance card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from senhealth.mpi.identifiers import BHYT_SYSTEM, CCCD_SYSTEM, normalize_phone, parse_bhyt, parse_cccd
from senhealth.mpi.names import name_keys

ADMIN_UNIT_EXTENSION = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"

__all__ = ["ADMIN_UNIT_EXTENSION", "MATCH_COLUMNS", "Candidate", "candidate_from_patient", "match_row"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One patient record as the index sees it; ``id`` is the Patient's logical id."""

    id: str
    family: str = ""
    given: tuple[str, ...] = ()  # middle name(s) then the given name, as in HumanName.given
    birth_date: date | None = None
    sex: str | None = None  # FHIR administrative gender
    commune: str | None = None  # 5-digit 2025 commune code
    phone: str | None = None
    cccd: str | None = None
    bhyt: str | None = None
    text: str | None = None  # HumanName.text, used when family and given are empty


MATCH_COLUMNS = (
    "unique_id",
    "family",
    "middle",
    "given",
    "full_name",
    "birth_date",
    "birth_year",
    "birth_date_set",
    "sex",
    "commune",
    "phone",
    "cccd",
    "sin",
)
"""The columns of :func:`match_row`, in order."""


def match_row(c: Candidate) -> dict[str, Any]:
    """The comparison keys of a candidate; unknown values are None, never empty strings."""
    keys = name_keys({"family": c.family, "given": list(c.given), "text": c.text})
    cccd = parse_cccd(c.cccd) if c.cccd else None
    card = parse_bhyt(c.bhyt) if c.bhyt else None
    birth = c.birth_date
    return {
        "unique_id": c.id,
        "family": keys.family or None,
        "middle": keys.middle or None,
        "given": keys.given or None,
        "full_name": keys.full or None,
        "birth_date": birth.isoformat() if birth else None,
        "birth_year": birth.year if birth else None,
        "birth_date_set": (
            f"{birth.year}-{min(birth.month, birth.day):02d}-{max(birth.month, birth.day):02d}"
            if birth
            else None
        ),
        "sex": c.sex if c.sex in ("male", "female") else None,
        "commune": c.commune or None,
        "phone": normalize_phone(c.phone) if c.phone else None,
        "cccd": cccd.value if cccd else None,
        "sin": card.social_insurance_number if card else None,
    }


def _official_name(patient: Mapping[str, Any]) -> Mapping[str, Any]:
    names = patient.get("name") or []
    for name in names:
        if name.get("use") == "official":
            return dict(name)
    return dict(names[0]) if names else {}


def _commune(patient: Mapping[str, Any]) -> str | None:
    """The 5-digit commune code of the home (else first) address's administrative-unit extension."""
    addresses = patient.get("address") or []
    for address in [a for a in addresses if a.get("use") == "home"] + list(addresses):
        for ext in address.get("extension") or []:
            if ext.get("url") != ADMIN_UNIT_EXTENSION:
                continue
            for sub in ext.get("extension") or []:
                code = (sub.get("valueCoding") or {}).get("code")
                if sub.get("url") == "commune" and code:
                    return str(code)
    return None


def candidate_from_patient(patient: Mapping[str, Any]) -> Candidate:
    """The candidate view of a FHIR Patient resource (a dict)."""
    name = _official_name(patient)
    birth: date | None = None
    raw_birth = patient.get("birthDate")
    if isinstance(raw_birth, str) and len(raw_birth) == 10:
        try:
            birth = date.fromisoformat(raw_birth)
        except ValueError:
            birth = None
    ids = {i.get("system"): i.get("value") for i in patient.get("identifier") or [] if i.get("value")}
    phone = None
    for telecom in patient.get("telecom") or []:
        if telecom.get("system") == "phone" and telecom.get("value"):
            phone = str(telecom["value"])
            if telecom.get("use") == "mobile":
                break
    return Candidate(
        id=str(patient.get("id", "")),
        family=str(name.get("family") or ""),
        given=tuple(str(g) for g in name.get("given") or ()),
        birth_date=birth,
        sex=patient.get("gender"),
        commune=_commune(patient),
        phone=phone,
        cccd=ids.get(CCCD_SYSTEM),
        bhyt=ids.get(BHYT_SYSTEM),
        text=name.get("text"),
    )
