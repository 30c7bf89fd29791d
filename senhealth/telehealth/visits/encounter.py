"""The encounter record of a remote visit: started from its Appointment, finished with its diagnoses.

Spec: https://hl7.org/fhir/R4/encounter.html (``status`` in-progress → finished, ``class`` VR virtual,
``type``, ``serviceType``, ``participant`` with ``period``, ``appointment``, ``period``, ``reasonCode``,
``diagnosis`` with ``rank``, ``serviceProvider``), https://hl7.org/fhir/R4/condition.html (category
``encounter-diagnosis``), https://hl7.org/fhir/R4/clinicalimpression.html (the examination's findings);
``vietnam.md`` §5 (identity, reason, examination, ICD-10 diagnosis, practitioner, start and end time,
channel).

- :func:`start_remote_visit`: the practitioner opens the visit: one Encounter per Appointment (its id is
  derived from the Appointment's; the booking made it ``planned``, the start makes it ``in-progress``; a
  second start is 409), ``period.start`` now, the channel as
  ``Encounter.type`` (``telehealth-channel#video|phone``), the practitioner as primary performer, the
  facility from the Schedule's PractitionerRole (else the caller's facility); the Appointment becomes
  ``arrived`` (its video room stays open).
- :func:`finish_remote_visit`: the practitioner closes it with at least one ICD-10 diagnosis (a Condition
  each, ranked in ``Encounter.diagnosis``) and the examination's findings (a ClinicalImpression):
  ``period.end`` now, ``finished``; the Appointment ``fulfilled``. A diagnosis outside Circular 30's list is
  reported (``listed`` false), not refused: the visit has happened.

Each step is one transaction with its audit event (``remote-visit-start`` / ``remote-visit-finish``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from senhealth.fhir.access import Principal
from senhealth.fhir.store import Conflict, FhirStore, Gone, NotFound, VersionConflict
from senhealth.fhir.store.store import StoreTx
from senhealth.fhir.terminology import icd10_vn
from senhealth.telehealth.visits.conditions import match_condition, normalise_code
from senhealth.telehealth.visits.model import (
    ACT_CODE,
    CHANNEL_EXT,
    CHANNEL_SYSTEM,
    CHANNELS,
    ICD10_VN,
    VisitError,
    audit,
    fhir_time,
    is_remote_service,
    practitioner_of,
    ref_id,
    require_practitioner,
    service_type,
    stable_id,
)

__all__ = ["Finished", "finish_remote_visit", "is_remote_encounter", "start_remote_visit"]

_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True, slots=True)
class Finished:
    """A finished visit: the Encounter, its Conditions, the findings and which codes the list covers."""

    encounter: dict[str, Any]
    conditions: list[dict[str, Any]]
    impression: dict[str, Any] | None
    listed: dict[str, bool]


def is_remote_encounter(encounter: dict[str, Any]) -> bool:
    klass = encounter.get("class") or {}
    return klass.get("code") == "VR" and is_remote_service([encounter.get("serviceType")])


async def _read(tx: StoreTx, res_type: str, res_id: str) -> tuple[dict[str, Any], int]:
    try:
        stored = await tx.read(res_type, res_id)
    except (NotFound, Gone):
        raise VisitError(404, f"{res_type}/{res_id} không có / is not known", "not-found") from None
    assert stored.content is not None
    return copy.deepcopy(stored.content), stored.version


async def _facility(tx: StoreTx, appointment: dict[str, Any], principal: Principal | None) -> str | None:
    for p in appointment.get("participant") or []:
        rid = ref_id(p.get("actor"), "PractitionerRole")
        if rid:
            role, _ = await _read(tx, "PractitionerRole", rid)
            org = ref_id(role.get("organization"), "Organization")
            if org:
                return f"Organization/{org}"
    for info in appointment.get("supportingInformation") or []:
        org = ref_id(info, "Organization")
        if org:
            return f"Organization/{org}"
    if principal is not None and principal.facility:
        return principal.facility
    return None


async def start_remote_visit(
    store: FhirStore,
    appointment_id: str,
    *,
    principal: Principal | None,
    channel: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Open the visit of Appointment ``appointment_id``; returns the new Encounter (see the module)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    async with store.transaction() as tx:
        appointment, version = await _read(tx, "Appointment", appointment_id)
        if not is_remote_service(appointment.get("serviceType")):
            raise VisitError(422, "Không phải lịch khám từ xa / not a remote-visit Appointment", "invalid")
        if appointment.get("status") not in ("booked", "arrived", "checked-in"):
            raise VisitError(409, f"Lịch hẹn đang {appointment.get('status')} / the Appointment is "
                             f"{appointment.get('status')}", "conflict")  # fmt: skip
        practitioner = practitioner_of(appointment)
        require_practitioner(principal, practitioner, "bắt đầu buổi khám / start the visit")
        patient = next(
            (ref_id(p.get("actor"), "Patient") for p in appointment.get("participant") or []
             if ref_id(p.get("actor"), "Patient")), None,
        )  # fmt: skip
        if patient is None or practitioner is None:
            raise VisitError(422, "Lịch hẹn thiếu người bệnh hoặc bác sĩ / the Appointment lacks its patient "
                             "or practitioner", "invalid", "Appointment.participant")  # fmt: skip
        planned = next((e.get("valueCode") for e in appointment.get("extension") or []
                        if e.get("url") == CHANNEL_EXT), None)  # fmt: skip
        chosen = channel or planned or "video"
        if chosen not in CHANNELS:
            raise VisitError(400, f"channel: {' | '.join(CHANNELS)}", "invalid", "channel")
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
            "type": [
                {
                    "coding": [{"system": CHANNEL_SYSTEM, "code": chosen, "display": CHANNELS[chosen]}],
                    "text": CHANNELS[chosen],
                }
            ],
            "serviceType": service_type(),
            "subject": {"reference": f"Patient/{patient}"},
            "participant": [
                {
                    "type": [
                        {
                            "coding": [
                                {"system": _PARTICIPATION, "code": "PPRF", "display": "primary performer"}
                            ]
                        }
                    ],
                    "individual": {"reference": practitioner},
                    "period": {"start": fhir_time(when)},
                }
            ],
            "appointment": [{"reference": f"Appointment/{appointment_id}"}],
            "period": {"start": fhir_time(when)},
        }
        if appointment.get("reasonCode"):
            encounter["reasonCode"] = appointment["reasonCode"]
        facility = await _facility(tx, appointment, principal)
        if facility:
            encounter["serviceProvider"] = {"reference": facility}
        encounter_id = stable_id("remote-visit", appointment_id)
        try:
            planned = await tx.read("Encounter", encounter_id)
        except (NotFound, Gone):
            planned = None
        if planned is not None and (planned.content or {}).get("status") != "planned":
            raise VisitError(409, "Buổi khám đã bắt đầu / the visit has already been started", "conflict")
        try:
            if planned is None:
                created = await tx.create(encounter, res_id=encounter_id)
            else:
                created, _ = await tx.update({**encounter, "id": encounter_id}, if_match=planned.version)
        except (Conflict, VersionConflict):
            raise VisitError(
                409, "Buổi khám đã bắt đầu / the visit has already been started", "conflict"
            ) from None
        appointment["status"] = "arrived"
        try:
            await tx.update(appointment, if_match=version)
        except VersionConflict:
            raise VisitError(
                409, "Lịch hẹn vừa thay đổi / the Appointment changed meanwhile", "conflict"
            ) from None
        assert created.content is not None
        await audit(tx, principal, action="create", res_type="Encounter", res_id=created.res_id, step="start",
                    patient=patient, when=when, appointment=f"Appointment/{appointment_id}",
                    channel=chosen)  # fmt: skip
        return created.content


async def finish_remote_visit(
    store: FhirStore,
    encounter_id: str,
    *,
    principal: Principal | None,
    diagnoses: Sequence[str],
    findings: str = "",
    now: datetime | None = None,
) -> Finished:
    """Close the visit ``encounter_id`` with its ICD-10 ``diagnoses`` (main first) and ``findings``."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    codes: list[tuple[str, str]] = []
    for i, raw in enumerate(diagnoses):
        entry = icd10_vn.lookup(raw)
        if entry is None:
            raise VisitError(400, f"{raw!r} không phải mã ICD-10 / is not an ICD-10 code", "code-invalid",
                             f"diagnosis[{i}]")  # fmt: skip
        codes.append((normalise_code(entry.code), entry.name_vi))
    if not codes:
        raise VisitError(400, "Cần ít nhất một chẩn đoán ICD-10 / at least one ICD-10 diagnosis is required",
                         "required", "diagnosis")  # fmt: skip
    async with store.transaction() as tx:
        encounter, version = await _read(tx, "Encounter", encounter_id)
        if not is_remote_encounter(encounter):
            raise VisitError(422, "Không phải buổi khám từ xa / not a remote-visit Encounter", "invalid")
        if encounter.get("status") != "in-progress":
            raise VisitError(409, f"Buổi khám đang {encounter.get('status')} / the visit is "
                             f"{encounter.get('status')}", "conflict")  # fmt: skip
        practitioner = next((p["individual"]["reference"] for p in encounter.get("participant") or []
                             if ref_id(p.get("individual"), "Practitioner")), None)  # fmt: skip
        require_practitioner(principal, practitioner, "kết thúc buổi khám / finish the visit")
        subject = encounter["subject"]
        patient = ref_id(subject, "Patient")
        conditions: list[dict[str, Any]] = []
        for code, name in codes:
            condition = {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "code": "confirmed",
                        }
                    ]
                },
                "category": [{"coding": [{"system": _CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
                "code": {"coding": [{"system": ICD10_VN, "code": code, "display": name}], "text": name},
                "subject": subject,
                "encounter": {"reference": f"Encounter/{encounter_id}"},
                "recordedDate": fhir_time(when),
            }
            if practitioner:
                condition["recorder"] = {"reference": practitioner}
            created = await tx.create(condition)
            assert created.content is not None
            conditions.append(created.content)
        impression: dict[str, Any] | None = None
        if findings.strip():
            made = await tx.create(
                {
                    "resourceType": "ClinicalImpression",
                    "status": "completed",
                    "description": findings.strip()[:4000],
                    "subject": subject,
                    "encounter": {"reference": f"Encounter/{encounter_id}"},
                    "effectiveDateTime": fhir_time(when),
                    "date": fhir_time(when),
                    **({"assessor": {"reference": practitioner}} if practitioner else {}),
                    "summary": "; ".join(f"{c} {n}" for c, n in codes),
                }
            )
            impression = made.content
        encounter["diagnosis"] = [
            {"condition": {"reference": f"Condition/{c['id']}"}, "rank": i + 1}
            for i, c in enumerate(conditions)
        ]
        encounter["status"] = "finished"
        encounter["period"] = {**(encounter.get("period") or {}), "end": fhir_time(when)}
        for p in encounter.get("participant") or []:
            if p.get("period") is not None:
                p["period"]["end"] = fhir_time(when)
        try:
            saved, _ = await tx.update(encounter, if_match=version)
        except VersionConflict:
            raise VisitError(
                409, "Buổi khám vừa thay đổi / the visit changed meanwhile", "conflict"
            ) from None
        for ref in encounter.get("appointment") or []:
            aid = ref_id(ref, "Appointment")
            if aid:
                appointment, a_version = await _read(tx, "Appointment", aid)
                if appointment.get("status") in ("booked", "arrived", "checked-in"):
                    appointment["status"] = "fulfilled"
                    await tx.update(appointment, if_match=a_version)
        listed = {code: match_condition(code) is not None for code, _ in codes}
        await audit(tx, principal, action="update", res_type="Encounter", res_id=encounter_id, step="finish",
                    patient=patient, when=when, diagnoses=[c for c, _ in codes], listed=listed)  # fmt: skip
        assert saved.content is not None
        return Finished(saved.content, conditions, impression, listed)
