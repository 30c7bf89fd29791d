"""The FHIR Patient a DICOM study belongs to: found by PatientID, or made from the study's demographics.

Spec: Patient Module PS3.3 C.7.1.1 (Patient ID, Issuer of Patient ID, Patient's Name, Birth Date, Sex)
https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.html#sect_C.7.1.1; Person Name
(PN) components PS3.5 §6.2.1 (family^given^middle^prefix^suffix)
https://dicom.nema.org/medical/dicom/current/output/chtml/part05/sect_6.2.html#sect_6.2.1; FHIR R4
Patient https://hl7.org/fhir/R4/patient.html and token search on ``identifier``.

Matching: the identifier system is the one configured for the study's IssuerOfPatientID, else the
configured ``patient_id_system``, else none (any system carrying that value). Exactly one Patient found:
linked. None found: a Patient is created with the PatientID as identifier (``create_patients``; the patient
index links it to the person's other records later). Several found: no guess; the ImagingStudy names the
patient by identifier only, for a person to resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import StoreTx
from senhealth.imaging.config import ImagingConfig

__all__ = ["DICOM_PATIENT_ID_SYSTEM", "PatientLink", "human_name", "link_patient"]

#: The identifier system of PatientIDs created from DICOM when none is configured.
DICOM_PATIENT_ID_SYSTEM: Final = "https://senhealth.vn/fhir/sid/dicom-patient-id"
_SEX: Final = {"M": "male", "F": "female", "O": "other"}
_DA: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


@dataclass(frozen=True, slots=True)
class PatientLink:
    """``patient``: the Patient id (None when not resolved); ``reference``: ImagingStudy.subject;
    ``created``: made from the study."""

    patient: str | None
    reference: dict[str, Any]
    created: bool = False


def human_name(pn: str) -> dict[str, Any] | None:
    """A DICOM PN (its alphabetic group) as a FHIR HumanName."""
    alphabetic = pn.split("=")[0]
    parts = [p.strip() for p in alphabetic.split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    name: dict[str, Any] = {}
    words = [w for w in (family, given, middle) if w]
    if not words:
        return None
    name["text"] = " ".join(words)
    if family:
        name["family"] = family
    given_words = given.split() + middle.split()
    if given_words:
        name["given"] = given_words
    if prefix:
        name["prefix"] = prefix.split()
    if suffix:
        name["suffix"] = suffix.split()
    return name


def _birth_date(da: str) -> str | None:
    m = _DA.match(da)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def _system(config: ImagingConfig, issuer: str) -> str | None:
    return config.issuer_systems.get(issuer) or config.patient_id_system


async def link_patient(tx: StoreTx, columns: dict[str, Any], config: ImagingConfig) -> PatientLink:
    """Find or make the Patient of a study from its index columns (see the module docstring)."""
    pid: str = columns.get("patient_id", "")
    system = _system(config, columns.get("issuer", ""))
    display = (human_name(columns.get("patient_name", "")) or {}).get("text")
    if pid:
        token = f"{system}|{pid}" if system else pid
        request = parse_search("Patient", [("identifier", token), ("_count", "2")])
        found = (await search(tx.conn, request, await tx.store.param_ids())).matches
        if len(found) == 1:
            ref: dict[str, Any] = {"reference": f"Patient/{found[0].res_id}"}
            if display:
                ref["display"] = display
            return PatientLink(found[0].res_id, ref)
        if found:  # ambiguous: named by identifier only
            by_id: dict[str, Any] = {"identifier": {"value": pid}}
            if system:
                by_id["identifier"]["system"] = system
            return PatientLink(None, by_id)
    if not config.create_patients:
        ref = {"identifier": {"system": system or DICOM_PATIENT_ID_SYSTEM, "value": pid}} if pid else {}
        if display:
            ref["display"] = display
        return PatientLink(None, ref or {"display": "unknown"})
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if pid:
        patient["identifier"] = [{"use": "usual", "system": system or DICOM_PATIENT_ID_SYSTEM, "value": pid}]
    name = human_name(columns.get("patient_name", ""))
    if name:
        patient["name"] = [name]
    gender = _SEX.get(columns.get("patient_sex", ""), None)
    if gender:
        patient["gender"] = gender
    birth = _birth_date(columns.get("patient_birth_date", ""))
    if birth:
        patient["birthDate"] = birth
    stored = await tx.create(patient)
    ref = {"reference": f"Patient/{stored.res_id}"}
    if name:
        ref["display"] = name["text"]
    return PatientLink(stored.res_id, ref, created=True)
