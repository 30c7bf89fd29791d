"""A patient's FHIR resources shaped for the pages: the chart's sections and the health book's.

Pure functions over the resources that ``Patient/$everything`` (or searches) returned through the FHIR
API. Vital signs and laboratory results are grouped by their first code into series for the charts
(:mod:`senhealth.web.svg`); blood pressure panels (LOINC 85354-9) give a systolic and a diastolic series.
Resource shapes: https://hl7.org/fhir/R4/ (Encounter, Condition, Observation, MedicationRequest,
MedicationStatement, AllergyIntolerance, Immunization, DocumentReference, Composition, DiagnosticReport).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.web.i18n import parse_when

__all__ = ["Record", "Series", "build_record", "first_code", "identifier", "patient_name", "text_of"]

CCCD: Final = "https://senhealth.vn/fhir/sid/cccd"
BHYT: Final = "https://senhealth.vn/fhir/sid/bhyt"
BP_PANEL: Final = "85354-9"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"

Resource = dict[str, Any]


def text_of(concept: Any) -> str:
    """The text of a CodeableConcept (its text, else the first coding's display or code)."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []) or []:
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding", []) or []:
        if coding.get("code"):
            return str(coding["code"])
    return ""


def first_code(concept: Any) -> str:
    """The first code of a CodeableConcept (empty when none)."""
    if isinstance(concept, dict):
        for coding in concept.get("coding", []) or []:
            if coding.get("code"):
                return str(coding["code"])
    return ""


def patient_name(patient: Resource) -> str:
    names = patient.get("name", []) or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if not chosen:
        return ""
    if chosen.get("text"):
        return str(chosen["text"])
    # Vietnamese order: family name first, then the given names.
    return " ".join([str(chosen.get("family", "")), *map(str, chosen.get("given", []) or [])]).strip()


def identifier(patient: Resource, system: str) -> str:
    for ident in patient.get("identifier", []) or []:
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return ""


def _address(patient: Resource) -> str:
    for address in patient.get("address", []) or []:
        if address.get("text"):
            return str(address["text"])
        parts = [
            *(address.get("line", []) or []),
            address.get("district"),
            address.get("city"),
            address.get("state"),
        ]
        text = ", ".join(str(p) for p in parts if p)
        if text:
            return text
    return ""


def _phone(patient: Resource) -> str:
    for contact in patient.get("telecom", []) or []:
        if contact.get("system") == "phone" and contact.get("value"):
            return str(contact["value"])
    return ""


def _when(resource: Resource, *paths: str) -> str:
    for path in paths:
        value: Any = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    return ""


def _ref_display(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("display") or ref.get("reference") or "")
    return ""


@dataclass(frozen=True, slots=True)
class Series:
    code: str
    label: str
    unit: str
    points: list[tuple[dt.datetime, float]]
    category: str  # vital-signs | laboratory | other

    @property
    def latest(self) -> tuple[dt.datetime, float] | None:
        return max(self.points) if self.points else None


@dataclass
class Record:
    patient: Resource
    name: str = ""
    cccd: str = ""
    bhyt: str = ""
    address: str = ""
    phone: str = ""
    encounters: list[Resource] = field(default_factory=list)
    conditions: list[Resource] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    blood_pressure: list[tuple[dt.datetime, float, float]] = field(default_factory=list)
    other_observations: list[Resource] = field(default_factory=list)
    medications: list[Resource] = field(default_factory=list)
    allergies: list[Resource] = field(default_factory=list)
    immunizations: list[Resource] = field(default_factory=list)
    documents: list[Resource] = field(default_factory=list)
    organizations: dict[str, str] = field(default_factory=dict)

    @property
    def vitals(self) -> list[Series]:
        return [s for s in self.series if s.category == "vital-signs"]

    @property
    def labs(self) -> list[Series]:
        return [s for s in self.series if s.category != "vital-signs"]

    @property
    def chronic(self) -> list[Resource]:
        return [
            c
            for c in self.conditions
            if first_code(c.get("clinicalStatus")) in ("active", "recurrence", "relapse", "")
        ]

    def org(self, ref: Any) -> str:
        if isinstance(ref, dict):
            return self.organizations.get(str(ref.get("reference", "")), "") or _ref_display(ref)
        return ""


def _category(obs: Resource) -> str:
    for concept in obs.get("category", []) or []:
        code = first_code(concept)
        if code in ("vital-signs", "laboratory"):
            return code
    return "other"


def _quantity(value: Any) -> tuple[float, str] | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return float(value["value"]), str(value.get("unit") or value.get("code") or "")
    return None


def _instant(value: str) -> dt.datetime | None:
    when = parse_when(value)
    if when is None:
        return None
    if isinstance(when, dt.datetime):
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return dt.datetime(when.year, when.month, when.day, tzinfo=dt.UTC)


def _sort_key(resource: Resource, *paths: str) -> str:
    return _when(resource, *paths)


def _observations(record: Record, observations: list[Resource]) -> None:
    grouped: dict[str, tuple[str, str, str, list[tuple[dt.datetime, float]]]] = {}
    pressure: dict[dt.datetime, dict[str, float]] = defaultdict(dict)
    for obs in observations:
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        when = _instant(_when(obs, "effectiveDateTime", "effectivePeriod.start", "issued"))
        code = first_code(obs.get("code"))
        if when is not None and code == BP_PANEL:
            for component in obs.get("component", []) or []:
                quantity = _quantity(component.get("valueQuantity"))
                part = first_code(component.get("code"))
                if quantity and part in (SYSTOLIC, DIASTOLIC):
                    pressure[when][part] = quantity[0]
            continue
        quantity = _quantity(obs.get("valueQuantity"))
        if when is None or quantity is None or not code:
            record.other_observations.append(obs)
            continue
        label = text_of(obs.get("code"))
        entry = grouped.setdefault(code, (label, quantity[1], _category(obs), []))
        entry[3].append((when, quantity[0]))
    record.series = sorted(
        (
            Series(code, label, unit, sorted(points), cat)
            for code, (label, unit, cat, points) in grouped.items()
        ),
        key=lambda s: (s.category != "vital-signs", s.label),
    )
    record.blood_pressure = sorted(
        (when, parts[SYSTOLIC], parts[DIASTOLIC])
        for when, parts in pressure.items()
        if SYSTOLIC in parts and DIASTOLIC in parts
    )


def build_record(patient: Resource, others: list[Resource]) -> Record:
    """The sections of ``patient``'s record from the resources of their compartment (and includes)."""
    record = Record(
        patient=patient,
        name=patient_name(patient),
        cccd=identifier(patient, CCCD),
        bhyt=identifier(patient, BHYT),
        address=_address(patient),
        phone=_phone(patient),
    )
    by_type: dict[str, list[Resource]] = defaultdict(list)
    for resource in others:
        by_type[str(resource.get("resourceType"))].append(resource)
    for org in by_type["Organization"]:
        record.organizations[f"Organization/{org.get('id')}"] = str(org.get("name") or "")
    record.encounters = sorted(by_type["Encounter"], key=lambda r: _sort_key(r, "period.start"), reverse=True)
    record.conditions = sorted(
        by_type["Condition"], key=lambda r: _sort_key(r, "onsetDateTime", "recordedDate"), reverse=True
    )
    _observations(record, by_type["Observation"])
    record.medications = sorted(
        by_type["MedicationRequest"] + by_type["MedicationStatement"],
        key=lambda r: _sort_key(
            r, "authoredOn", "effectiveDateTime", "effectivePeriod.start", "dateAsserted"
        ),
        reverse=True,
    )
    record.allergies = by_type["AllergyIntolerance"]
    record.immunizations = sorted(
        by_type["Immunization"], key=lambda r: _sort_key(r, "occurrenceDateTime"), reverse=True
    )
    record.documents = sorted(
        by_type["DocumentReference"] + by_type["Composition"] + by_type["DiagnosticReport"],
        key=lambda r: _sort_key(r, "date", "effectiveDateTime", "issued"),
        reverse=True,
    )
    return record
