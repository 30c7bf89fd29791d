"""Telling clinical resources apart the way the forms and exports group them: imaging or laboratory
results, referrals or orders, the drug of a prescription; and the national prescription code.

Spec: https://hl7.org/fhir/R4/observation.html (category: http://terminology.hl7.org/CodeSystem/observation-category
``laboratory``, ``imaging``...), https://hl7.org/fhir/R4/diagnosticreport.html (category: v2-0074 diagnostic
service sections ``LAB``, ``RAD``, ``CT``, ``US``...), https://hl7.org/fhir/R4/servicerequest.html (a
referral: SNOMED CT 3457005 "Patient referral", or a performer Organization) and
https://hl7.org/fhir/R4/medicationrequest.html (``medication[x]``).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from senhealth.emr.documents.values import codings, concept_text

if TYPE_CHECKING:
    from senhealth.emr.documents.record import ClinicalRecord

__all__ = [
    "FACILITY_SYSTEM",
    "PRESCRIPTION_CODE_SYSTEM",
    "REFERRAL_SNOMED",
    "categories",
    "drug_name",
    "is_imaging",
    "is_imaging_request",
    "is_laboratory",
    "is_referral",
    "new_prescription_code",
]

FACILITY_SYSTEM: Final = "https://senhealth.vn/fhir/sid/facility"
PRESCRIPTION_CODE_SYSTEM: Final = "https://senhealth.vn/fhir/sid/prescription-code"
SNOMED: Final = "http://snomed.info/sct"
REFERRAL_SNOMED: Final = "3457005"  # Patient referral (procedure)
_IMAGING_SECTIONS: Final = frozenset({"RAD", "CT", "RX", "NMR", "NMS", "US", "VUS", "XRC", "CUS", "OUS"})
_ALPHABET: Final = string.ascii_uppercase + string.digits


def new_prescription_code(facility_code: str, kind: str = "c") -> str:
    """A prescription code of the national system's shape (14 characters: the 5-character facility code,
    7 generated characters, ``-`` and the kind: ``c`` ordinary, ``n`` narcotic, ``h`` psychotropic, ``y``
    traditional medicine). The shape is the one clients of the national system use (unverified)."""
    head = (facility_code or "00000")[:5].rjust(5, "0")
    return head + "".join(secrets.choice(_ALPHABET) for _ in range(7)) + "-" + kind


def categories(resource: Mapping[str, Any]) -> set[str]:
    """The codes of ``resource.category`` (any system)."""
    return {str(c.get("code")) for cat in resource.get("category") or [] for c in codings(cat)}


def is_imaging(resource: Mapping[str, Any]) -> bool:
    """An imaging result: Observation category ``imaging``, DiagnosticReport of a radiology section, an
    ImagingStudy."""
    if resource.get("resourceType") == "ImagingStudy":
        return True
    cats = categories(resource)
    return "imaging" in cats or bool(cats & _IMAGING_SECTIONS)


def is_laboratory(resource: Mapping[str, Any]) -> bool:
    """A laboratory result: Observation category ``laboratory``, a DiagnosticReport not of imaging."""
    if resource.get("resourceType") == "DiagnosticReport":
        return not is_imaging(resource)
    return "laboratory" in categories(resource)


def is_referral(request: Mapping[str, Any], own_org: str | None = None) -> bool:
    """A ServiceRequest that refers the patient elsewhere: category SNOMED 3457005 (patient referral), or
    a performer that is an Organization other than the encounter's facility."""
    for cat in request.get("category") or []:
        for c in codings(cat):
            if c.get("system") == SNOMED and c.get("code") == REFERRAL_SNOMED:
                return True
    for performer in request.get("performer") or []:
        ref = performer.get("reference") if isinstance(performer, Mapping) else None
        if isinstance(ref, str) and ref.startswith("Organization/") and ref != own_org:
            return True
    return False


def drug_name(request: Mapping[str, Any], record: ClinicalRecord | None = None) -> str:
    """A MedicationRequest's drug: ``medicationCodeableConcept``, or the referenced Medication's code."""
    if "medicationCodeableConcept" in request:
        return concept_text(request["medicationCodeableConcept"])
    med = record.resolve(request.get("medicationReference")) if record is not None else None
    if med is not None:
        return concept_text(med.get("code"))
    return str((request.get("medicationReference") or {}).get("display") or "")


def is_imaging_request(request: Mapping[str, Any]) -> bool:
    """A ServiceRequest for imaging (SNOMED 363679005 imaging, or a radiology category code)."""
    codes = categories(request)
    return bool(codes & {"363679005", "RAD", "imaging"})
