"""Booking a remote visit: a free Slot of a practitioner's telehealth Schedule becomes a booked Appointment.

Spec: https://hl7.org/fhir/R4/appointment.html (booking: the Slot becomes ``busy``, the Appointment
``booked`` with the Slot in ``slot``, ``start``/``end`` from it, the patient and the practitioner as
participants), https://hl7.org/fhir/R4/schedule.html, https://hl7.org/fhir/R4/slot.html; Circular
30/2023/TT-BYT (:mod:`.conditions`): a remote visit treats a condition of the list.

:func:`book_remote_visit` checks, in one transaction: the Patient exists; the Slot is ``free``, starts in
the future and belongs to a Schedule that is active and offers remote visits (``serviceType``
``telehealth-service#remote-visit`` on the Slot or its Schedule); the Schedule's actor is a Practitioner
(or a PractitionerRole naming one: its Organization is the visit's facility); the condition is an ICD-10
code of the Ministry's list. A condition outside Circular 30's list is refused (422) when the setting
``outside_list`` is ``block``; with ``warn`` the visit is booked, the answer carries the warning and the
Appointment is marked (``remote-visit-eligibility``: ``listed`` false). The Slot is updated with If-Match
on the version read: two bookings of one Slot at once cannot both succeed (the second gets 409).

Who may: a citizen for themselves (``Patient/<their id>``), a care role (booking for a patient), a system
client. The Appointment's participants are the patient and the practitioner, so both may enter its video
room (docs/telehealth-video.md). When the Schedule's PractitionerRole names the facility, a ``planned``
Encounter of the visit is written too (the id the start will use): from the booking on, the patient has a
care relationship with that facility, so its staff may open the Appointment under the access policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore, Gone, NotFound, VersionConflict
from senhealth.fhir.store.store import StoreTx
from senhealth.fhir.terminology import icd10_vn
from senhealth.telehealth.visits.conditions import RemoteCondition, match_condition, normalise_code
from senhealth.telehealth.visits.config import get_config
from senhealth.telehealth.visits.model import (
    ACT_CODE,
    CARE_ROLES,
    CHANNEL_EXT,
    CHANNEL_SYSTEM,
    CHANNELS,
    ELIGIBILITY_EXT,
    ICD10_VN,
    VisitError,
    audit,
    fhir_time,
    is_remote_service,
    ref_id,
    service_type,
    stable_id,
)

__all__ = ["Booking", "book_remote_visit", "check_condition"]

WARNING_OUTSIDE: Final = (
    "Bệnh {code} không thuộc danh mục khám, chữa bệnh từ xa (Thông tư 30/2023/TT-BYT) / "
    "{code} is not on the list of conditions that may be treated remotely (Circular 30/2023)"
)


@dataclass(frozen=True, slots=True)
class Booking:
    """A booked visit: the Appointment and the Slot as stored, the list's row (None: outside the list)
    and the warning given (None when the condition is listed)."""

    appointment: dict[str, Any]
    slot: dict[str, Any]
    condition: RemoteCondition | None
    warning: str | None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def check_condition(code: str) -> tuple[str, str, RemoteCondition | None]:
    """``(code, Vietnamese name, list row or None)`` of an ICD-10 code; 400 when it is not in the
    Ministry's ICD-10 list; 422 when it is outside Circular 30's list and the setting is ``block``."""
    if not code or not code.strip():
        raise VisitError(400, "Cần mã bệnh ICD-10 / the condition's ICD-10 code is required", "required",
                         "condition")  # fmt: skip
    entry = icd10_vn.lookup(code)
    if entry is None:
        raise VisitError(400, f"{code!r} không phải mã ICD-10 / is not an ICD-10 code of the Ministry's list",
                         "code-invalid", "condition")  # fmt: skip
    row = match_condition(entry.code)
    if row is None and get_config().outside_list == "block":
        raise VisitError(422, WARNING_OUTSIDE.format(code=entry.code), "business-rule", "condition")
    return normalise_code(entry.code), entry.name_vi, row


async def _read(
    tx: StoreTx, res_type: str, res_id: str | None, what: str, status: int = 422
) -> dict[str, Any]:
    if not res_id:
        raise VisitError(400, f"{what}: cần {res_type}/<id> / a {res_type} reference is required", "required",
                         what)  # fmt: skip
    try:
        stored = await tx.read(res_type, res_id)
    except (NotFound, Gone):
        raise VisitError(status, f"{what}: {res_type}/{res_id} không có / is not known", "not-found",
                         what) from None  # fmt: skip
    assert stored.content is not None
    return stored.content


def _may_book(principal: Principal | None, patient_id: str) -> None:
    if principal is None or principal.kind == "system":
        return
    if principal.kind == "patient":
        if (principal.patient or "").removeprefix("Patient/") != patient_id:
            raise VisitError(403, "Bạn chỉ đặt lịch cho chính mình / citizens book for themselves only",
                             "forbidden", "patient")  # fmt: skip
        return
    if not principal.roles & CARE_ROLES:
        raise VisitError(
            403, "Vai trò của bạn không đặt lịch khám / your role may not book visits", "forbidden"
        )


async def _actors(tx: StoreTx, schedule: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """``(Practitioner/<id>, PractitionerRole/<id> or None, Organization/<id> or None)`` of a Schedule."""
    practitioner: str | None = None
    role_ref: str | None = None
    organization: str | None = None
    for actor in schedule.get("actor") or []:
        pid = ref_id(actor, "Practitioner")
        rid = ref_id(actor, "PractitionerRole")
        if pid and practitioner is None:
            practitioner = f"Practitioner/{pid}"
        if rid and role_ref is None:
            role = await _read(tx, "PractitionerRole", rid, "Schedule.actor")
            role_ref = f"PractitionerRole/{rid}"
            via = ref_id(role.get("practitioner"), "Practitioner")
            if via and practitioner is None:
                practitioner = f"Practitioner/{via}"
            org = ref_id(role.get("organization"), "Organization")
            organization = f"Organization/{org}" if org else None
    if practitioner is None:
        raise VisitError(422, "Lịch không thuộc bác sĩ nào / the Schedule names no practitioner", "invalid",
                         "Schedule.actor")  # fmt: skip
    return practitioner, role_ref, organization


async def book_remote_visit(
    store: FhirStore,
    *,
    patient_id: str,
    slot_id: str,
    condition: str,
    reason: str = "",
    channel: str | None = None,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book Slot ``slot_id`` for Patient ``patient_id`` with ICD-10 ``condition`` (see the module)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    channel = channel or get_config().default_channel
    if channel not in CHANNELS:
        raise VisitError(400, f"channel: {' | '.join(CHANNELS)}", "invalid", "channel")
    _may_book(principal, patient_id)
    code, name, row = check_condition(condition)
    async with store.transaction() as tx:
        patient = await _read(tx, "Patient", patient_id, "patient")
        try:
            stored_slot = await tx.read("Slot", slot_id)
        except (NotFound, Gone):
            raise VisitError(
                422, f"slot: Slot/{slot_id} không có / is not known", "not-found", "slot"
            ) from None
        slot = dict(stored_slot.content or {})
        if slot.get("status") != "free":
            raise VisitError(409, f"Slot/{slot_id} đã có người đặt / is not free ({slot.get('status')})",
                             "conflict", "slot")  # fmt: skip
        start, end = _parse(slot.get("start")), _parse(slot.get("end"))
        if start is None or end is None or start <= when:
            raise VisitError(409, f"Slot/{slot_id} đã qua / has already started", "conflict", "slot")
        schedule = await _read(tx, "Schedule", ref_id(slot.get("schedule"), "Schedule"), "Slot.schedule")
        if schedule.get("active") is False:
            raise VisitError(409, "Lịch đã ngừng / the Schedule is not active", "conflict", "Slot.schedule")
        if not (is_remote_service(slot.get("serviceType")) or is_remote_service(schedule.get("serviceType"))):
            raise VisitError(422, "Lịch này không khám từ xa / this Slot is not for remote visits", "invalid",
                             "slot")  # fmt: skip
        practitioner, role_ref, organization = await _actors(tx, schedule)
        await _read(tx, "Practitioner", ref_id(practitioner, "Practitioner"), "Schedule.actor")
        slot["status"] = "busy"
        try:
            saved_slot, _ = await tx.update(slot, if_match=stored_slot.version)
        except VersionConflict:
            raise VisitError(
                409, f"Slot/{slot_id} vừa được đặt / was just booked", "conflict", "slot"
            ) from None
        warning = None if row is not None else WARNING_OUTSIDE.format(code=code)
        eligibility: list[dict[str, Any]] = [{"url": "listed", "valueBoolean": row is not None}]
        if row is not None:
            eligibility += [
                {"url": "condition", "valueString": row.name_vi},
                {"url": "verified", "valueBoolean": row.verified},
            ]
        participants: list[dict[str, Any]] = [
            {
                "actor": {"reference": f"Patient/{patient_id}", "display": _name(patient)},
                "required": "required",
                "status": "accepted",
            },
            {"actor": {"reference": practitioner}, "required": "required", "status": "accepted"},
        ]
        if role_ref:
            participants.append({"actor": {"reference": role_ref}, "required": "information-only",
                                 "status": "accepted"})  # fmt: skip
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "extension": [
                {"url": CHANNEL_EXT, "valueCode": channel},
                {"url": ELIGIBILITY_EXT, "extension": eligibility},
            ],
            "status": "booked",
            "serviceType": [service_type()],
            "reasonCode": [{"coding": [{"system": ICD10_VN, "code": code, "display": name}], "text": name}],
            "description": f"Khám từ xa: {name} ({code})"
            + (f" — {reason.strip()}" if reason.strip() else ""),
            "start": slot["start"],
            "end": slot["end"],
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "created": fhir_time(when),
            "participant": participants,
        }
        if reason.strip():
            appointment["comment"] = reason.strip()[:2000]
        if organization:
            appointment["supportingInformation"] = [{"reference": organization}]
        created = await tx.create(appointment)
        assert created.content is not None
        if organization:
            await tx.create(
                _planned_encounter(created.content, patient_id, practitioner, organization, channel),
                res_id=stable_id("remote-visit", created.res_id),
            )
        await audit(
            tx,
            principal,
            action="create",
            res_type="Appointment",
            res_id=created.res_id,
            step="book",
            patient=patient_id,
            when=when,
            slot=f"Slot/{slot_id}",
            condition=code,
            listed=row is not None,
            channel=channel,
        )
        assert saved_slot.content is not None
        return Booking(created.content, saved_slot.content, row, warning)


def _planned_encounter(
    appointment: dict[str, Any], patient_id: str, practitioner: str, organization: str, channel: str
) -> dict[str, Any]:
    """The visit as a ``planned`` Encounter at the practitioner's facility: the patient's care relationship
    with that facility from the booking on, so its staff may open the Appointment and its record."""
    return {
        "resourceType": "Encounter",
        "status": "planned",
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "type": [{"coding": [{"system": CHANNEL_SYSTEM, "code": channel, "display": CHANNELS[channel]}]}],
        "serviceType": service_type(),
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"individual": {"reference": practitioner}}],
        "appointment": [{"reference": f"Appointment/{appointment['id']}"}],
        "period": {"start": appointment["start"], "end": appointment["end"]},
        "reasonCode": appointment["reasonCode"],
        "serviceProvider": {"reference": organization},
    }


def _name(resource: dict[str, Any]) -> str:
    names = resource.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    return str(first.get("text") or " ".join([first.get("family", ""), *first.get("given", [])]).strip())
