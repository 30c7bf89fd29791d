"""Small builders for the FHIR R4 data types the generator writes (plain ``dict`` JSON, no models).

Data types: https://hl7.org/fhir/R4/datatypes.html ; references: https://hl7.org/fhir/R4/references.html .
Dates and times are written in Viet Nam's time zone (UTC+07:00, no daylight saving), as FHIR
``dateTime`` requires an offset whenever a time is given.

References: within a citizen's transaction bundle a resource points at its siblings through
``urn:uuid:<id>`` (https://hl7.org/fhir/R4/bundle.html#references) and at the shared facilities and
practitioners through ``Type/id``; in NDJSON output every reference is ``Type/id``. :class:`Refs`
makes the choice once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any

from senhealth.fhir.terminology import icd10_vn

__all__ = [
    "ICD10_SYSTEM",
    "LOINC",
    "UCUM",
    "Refs",
    "coding",
    "concept",
    "fhir_date",
    "fhir_datetime",
    "icd10",
    "narrative",
    "quantity",
]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10_SYSTEM = icd10_vn.SYSTEM
TZ = "+07:00"


def fhir_datetime(moment: datetime) -> str:
    """``2025-03-04T09:15:00+07:00``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}{TZ}"


def fhir_date(day: date) -> str:
    return day.isoformat()


def narrative(text: str) -> dict[str, str]:
    """A generated narrative (``Resource.text``, https://hl7.org/fhir/R4/narrative.html) of one line."""
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def icd10(code: str) -> dict[str, Any]:
    """A CodeableConcept with the Vietnamese ICD-10 code and its Vietnamese name as display and text."""
    name = icd10_vn.display(code)
    return {"coding": [{"system": ICD10_SYSTEM, "code": code, "display": name}], "text": name}


def quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    """A UCUM Quantity (``unit`` is the human unit, ``code`` the UCUM code, the same when omitted)."""
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


@dataclass(frozen=True, slots=True)
class Refs:
    """How references are written: ``bundle`` (``urn:uuid:`` for a bundle's own entries) or ``ndjson``."""

    style: str = "bundle"

    def local(self, resource_type: str, resource_id: str) -> dict[str, str]:
        """A reference to a resource of the same bundle (the citizen's own records)."""
        if self.style == "bundle":
            return {"reference": f"urn:uuid:{resource_id}"}
        return {"reference": f"{resource_type}/{resource_id}"}

    @staticmethod
    def shared(resource_type: str, resource_id: str) -> dict[str, str]:
        """A reference to a facility, location or practitioner (loaded from the facilities bundle)."""
        return {"reference": f"{resource_type}/{resource_id}"}
