"""A citizen's FHIR resources: Patient, Conditions, Encounters, Observations, Immunizations.

Patient https://hl7.org/fhir/R4/patient.html: the personal ID (CCCD) and insurance card (BHYT) as
identifiers (:mod:`senhealth.demo.identifiers`), the name family–middle–given, the address with the
official commune and province codes (:mod:`senhealth.demo.addresses`), a mobile number, a parent as
contact for children, Vietnamese as language, and the commune station as general practitioner.
Condition https://hl7.org/fhir/R4/condition.html: chronic conditions on the problem list (active since
their onset), acute ones as encounter diagnoses (resolved some days after the visit). Encounter
https://hl7.org/fhir/R4/encounter.html: class ``AMB``/``EMER``/``IMP`` (v3 ActCode), the facility as
service provider, its location, the clinician, the ICD-10 reason and the diagnoses. Diagnoses are coded
in the Ministry's ICD-10 (:data:`senhealth.fhir.terminology.icd10_vn.SYSTEM`).

Encounters still open on the as-of date (an inpatient stay that has not ended) are ``in-progress`` with
no period end, and their condition is still active.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from senhealth.demo.addresses import address
from senhealth.demo.context import Context
from senhealth.demo.fhir_types import Refs, concept, fhir_date, fhir_datetime, icd10, narrative
from senhealth.demo.identifiers import BHYT_SYSTEM, CCCD_SYSTEM
from senhealth.demo.immunizations import immunization, scheduled_doses
from senhealth.demo.measurements import Measurer
from senhealth.demo.observations import ObservationContext, blood_pressure, lab, vital
from senhealth.demo.person import Chronic, Citizen
from senhealth.demo.streams import new_id
from senhealth.demo.visits import Visit, plan_visits
from senhealth.fhir.terminology import icd10_vn

__all__ = ["citizen_resources"]

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/v2-0131"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"

CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
VISIT_TYPE = {
    "acute": "Khám bệnh",
    "epidemic": "Khám bệnh",
    "complication": "Khám bệnh",
    "follow-up": "Khám quản lý bệnh mạn tính",
    "check-up": "Khám sức khỏe định kỳ",
}
CLASS_TYPE = {"EMER": "Cấp cứu", "IMP": "Điều trị nội trú"}


def _patient(ctx: Context, citizen: Citizen) -> dict[str, Any]:
    station = ctx.network.station_of(citizen.commune.code)
    identifiers: list[dict[str, Any]] = [
        {
            "use": "official",
            "type": {"text": "Số định danh cá nhân (CCCD)"},
            "system": CCCD_SYSTEM,
            "value": citizen.cccd,
        }
    ]
    if citizen.insurance:
        card = citizen.insurance
        identifiers.append(
            {
                "type": concept(
                    IDENTIFIER_TYPE, "SB", "Social Beneficiary Identifier", "Mã thẻ bảo hiểm y tế"
                ),
                "system": BHYT_SYSTEM,
                "value": card.number,
                "period": {"start": fhir_date(card.start), "end": fhir_date(card.end)},
            }
        )
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": citizen.patient_id,
        "text": narrative(
            f"{citizen.name.text}, {'nam' if citizen.sex == 'male' else 'nữ'}, sinh ngày "
            f"{citizen.birth_date:%d/%m/%Y} (dữ liệu tổng hợp)"
        ),
        "identifier": identifiers,
        "active": True,
        "name": [citizen.name.to_fhir()],
    }
    if citizen.phone:
        out["telecom"] = [{"system": "phone", "value": citizen.phone, "use": "mobile"}]
    out["gender"] = citizen.sex
    out["birthDate"] = fhir_date(citizen.birth_date)
    out["address"] = [address(ctx.province, citizen.commune, citizen.address_line)]
    if citizen.contact:
        contact = citizen.contact
        out["contact"] = [
            {
                "relationship": [concept(RELATIONSHIP, "N", "Next-of-Kin", contact.relationship)],
                "name": contact.name.to_fhir(),
                "telecom": [{"system": "phone", "value": contact.phone, "use": "mobile"}],
                "gender": contact.gender,
            }
        ]
    out["communication"] = [{"language": concept("urn:ietf:bcp:47", "vi", "Tiếng Việt"), "preferred": True}]
    out["generalPractitioner"] = [Refs.shared("Organization", station.organization_id)]
    out["managingOrganization"] = Refs.shared("Organization", station.organization_id)
    return out


def _chronic_condition(chronic: Chronic, patient: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": chronic.condition_id,
        "text": narrative(f"{chronic.code} {icd10_vn.display(chronic.code)}, từ {chronic.onset:%m/%Y}"),
        "clinicalStatus": concept(CLINICAL, "active", "Active"),
        "verificationStatus": concept(VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": icd10(chronic.code),
        "subject": patient,
        "onsetDateTime": fhir_date(chronic.onset),
        "recordedDate": fhir_date(chronic.onset),
    }


def _acute_condition(
    rng: random.Random,
    visit: Visit,
    cond_id: str,
    patient: dict[str, str],
    encounter: dict[str, str],
    as_of: date,
) -> dict[str, Any]:
    assert visit.disease is not None and visit.onset is not None
    abated = visit.end.date() + timedelta(days=rng.randint(0, 7))
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cond_id,
        "text": narrative(f"{visit.disease.code} {icd10_vn.display(visit.disease.code)}"),
        "clinicalStatus": concept(CLINICAL, "resolved" if abated <= as_of else "active"),
        "verificationStatus": concept(VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "code": icd10(visit.disease.code),
        "subject": patient,
        "encounter": encounter,
        "onsetDateTime": fhir_date(visit.onset),
        "recordedDate": fhir_datetime(visit.start),
        "recorder": Refs.shared("Practitioner", visit.clinician.id),
    }
    out["clinicalStatus"]["coding"][0]["display"] = "Resolved" if abated <= as_of else "Active"
    if abated <= as_of:
        out["abatementDateTime"] = fhir_date(abated)
    return out


ENCOUNTER_TYPE = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
"""The project's encounter types; ``checkup`` is what the check-up campaigns and coverage look for."""


def _encounter_type(visit: Visit) -> dict[str, Any]:
    text = CLASS_TYPE.get(visit.klass, VISIT_TYPE[visit.kind])
    if visit.kind == "check-up":
        return {
            "coding": [{"system": ENCOUNTER_TYPE, "code": "checkup", "display": "Health check-up"}],
            "text": text,
        }
    return {"text": text}


def _encounter(
    visit: Visit, enc_id: str, patient: dict[str, str], diagnoses: list[dict[str, str]], as_of: date
) -> dict[str, Any]:
    finished = visit.end.date() <= as_of
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": enc_id,
        "text": narrative(
            f"{CLASS_TYPE.get(visit.klass, VISIT_TYPE[visit.kind])}, {visit.facility.name}, {visit.start:%d/%m/%Y}"
        ),
        "status": "finished" if finished else "in-progress",
        "class": {"system": ACT_CODE, "code": visit.klass, "display": CLASS_DISPLAY[visit.klass]},
        "type": [_encounter_type(visit)],
    }
    if visit.klass == "EMER":
        out["priority"] = concept(PRIORITY, "EM", "emergency")
    out["subject"] = patient
    out["participant"] = [
        {
            "type": [concept(PARTICIPATION, "ATND", "attender")],
            "individual": Refs.shared("Practitioner", visit.clinician.id),
        }
    ]
    period = {"start": fhir_datetime(visit.start)}
    if finished:
        period["end"] = fhir_datetime(visit.end)
    out["period"] = period
    out["reasonCode"] = [icd10(code) for code in visit.codes]
    role = "DD" if visit.klass == "IMP" else "billing"
    role_display = "Discharge diagnosis" if role == "DD" else "Billing"
    out["diagnosis"] = [
        {"condition": ref, "use": concept(DIAGNOSIS_ROLE, role, role_display), "rank": rank}
        for rank, ref in enumerate(diagnoses, 1)
    ]
    if visit.klass == "IMP":
        hospitalization: dict[str, Any] = {"admitSource": concept(ADMIT_SOURCE, visit.admit_source or "outp")}
        if finished:
            hospitalization["dischargeDisposition"] = concept(DISCHARGE, "home", "Home")
        out["hospitalization"] = hospitalization
    out["location"] = [{"location": Refs.shared("Location", visit.facility.location_id)}]
    out["serviceProvider"] = Refs.shared("Organization", visit.facility.organization_id)
    if not out["diagnosis"]:
        del out["diagnosis"]
    return out


def _observations(
    rng: random.Random, citizen: Citizen, visit: Visit, ctx: ObservationContext
) -> Iterator[dict[str, Any]]:
    measure = Measurer(citizen, rng)
    day = visit.start.date()
    code = visit.disease.code if visit.disease else None
    weight: float | None = None
    height: float | None = None
    labs: dict[str, Callable[[], float]] = {
        "glucose": measure.glucose,
        "hba1c": measure.hba1c,
        "cholesterol": measure.cholesterol,
        "creatinine": lambda: measure.creatinine(acute_kidney=code == "A97.2"),
        "platelets": lambda: measure.platelets(code),
        "hematocrit": lambda: measure.hematocrit(code, day),
    }
    for kind in visit.measurements:
        obs_id = new_id(rng)
        if kind == "bp":
            systolic, diastolic = measure.blood_pressure()
            yield blood_pressure(ctx, obs_id, systolic, diastolic)
        elif kind == "heart_rate":
            yield vital(ctx, obs_id, kind, measure.heart_rate(day, visit.fever))
        elif kind == "temperature":
            yield vital(ctx, obs_id, kind, measure.temperature(visit.fever))
        elif kind == "weight":
            weight = measure.weight(day)
            yield vital(ctx, obs_id, kind, weight)
        elif kind == "height":
            height = measure.height(day)
            yield vital(ctx, obs_id, kind, height)
        elif kind == "bmi":
            metres = (height or measure.height(day)) / 100.0
            yield vital(ctx, obs_id, kind, round((weight or measure.weight(day)) / (metres * metres), 1))
        elif kind in labs:
            yield lab(ctx, obs_id, kind, labs[kind](), citizen.sex)


def citizen_resources(
    ctx: Context, citizen: Citizen, rng: random.Random, refs: Refs
) -> Iterator[dict[str, Any]]:
    """Every resource of ``citizen``, the Patient first, then in time order."""
    as_of = ctx.options.as_of
    patient = _patient(ctx, citizen)
    yield patient
    patient_ref = refs.local("Patient", citizen.patient_id)
    chronic_refs = {c.key: refs.local("Condition", c.condition_id) for c in citizen.chronic}
    for chronic in citizen.chronic:
        yield _chronic_condition(chronic, patient_ref)
    for visit in plan_visits(ctx, citizen, rng):
        enc_id = new_id(rng)
        encounter_ref = refs.local("Encounter", enc_id)
        diagnoses: list[dict[str, str]] = []
        condition: dict[str, Any] | None = None
        if visit.disease is not None:
            cond_id = new_id(rng)
            condition = _acute_condition(rng, visit, cond_id, patient_ref, encounter_ref, as_of)
            diagnoses.append(refs.local("Condition", cond_id))
        diagnoses += [chronic_refs[c.key] for c in visit.chronic]
        yield _encounter(visit, enc_id, patient_ref, diagnoses, as_of)
        if condition is not None:
            yield condition
        obs_ctx = ObservationContext(
            subject=patient_ref,
            encounter=encounter_ref,
            effective=fhir_datetime(visit.start + timedelta(minutes=5)),
            performer=Refs.shared("Practitioner", visit.clinician.id),
        )
        yield from _observations(rng, citizen, visit, obs_ctx)
    station = ctx.network.station_of(citizen.commune.code)
    for dose, given in scheduled_doses(rng, citizen.birth_date, as_of):
        yield immunization(
            rng,
            new_id(rng),
            dose,
            given,
            patient_ref,
            Refs.shared("Organization", station.organization_id),
            Refs.shared("Location", station.location_id),
        )
