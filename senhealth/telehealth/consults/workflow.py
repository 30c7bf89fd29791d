"""The consult's steps before its conclusion: request, accept, decline, schedule.

Spec: https://hl7.org/fhir/R4/workflow-communications.html#optionh (Task + request),
https://hl7.org/fhir/R4/servicerequest.html, https://hl7.org/fhir/R4/task.html,
https://hl7.org/fhir/R4/encounter.html (class ``VR`` virtual, v3-ActCode), scheduling
https://hl7.org/fhir/R4/schedule.html, https://hl7.org/fhir/R4/slot.html,
https://hl7.org/fhir/R4/appointment.html.

Each step is ONE store transaction: it reads the consult, checks the caller (:mod:`.access`) and the Task's
status, writes (the Task with If-Match on the version read, so two specialists accepting at once cannot both
succeed), and records its audit event (:mod:`.records`). docs/telehealth-consults.md.

- :func:`request_consult`: inline photos become ``Media`` (subject the patient), then the ServiceRequest
  (``active``, category consultation) and the Task (``requested``, ``owner`` = the consulted facility,
  ``restriction.period.end`` = now + the deadline of its priority);
- :func:`accept`: ``accepted``, ``owner`` = the specialist, and an ``Encounter`` of the consultation at the
  consulted facility (class ``VR``, ``in-progress``, ``basedOn`` the request): from then on the consulted
  facility has a care relationship with the patient, which is what the platform's access policy knows
  (its clinicians read the record, their subscriptions hear about the consult);
- :func:`decline`: ``rejected`` with ``statusReason`` (the reason is required);
- :func:`schedule`: a ``Schedule`` for the specialist (found or made), a ``busy`` ``Slot`` (409 when it
  overlaps another of theirs) and a ``booked`` ``Appointment`` with the specialist, the requesting practitioner
  and the patient: the Appointment the video room binds to (docs/telehealth-video.md). The Task becomes
  ``in-progress``.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any, Final

from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.search.execute import search, visible_pkeys
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound, VersionConflict
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth.consults.access import Caller, require_consultant, require_owner, side_of
from senhealth.telehealth.consults.config import get_config
from senhealth.telehealth.consults.model import (
    ACT_CODE,
    CONSULT_CATEGORY,
    CONSULT_TASK_CODE,
    CONSULT_TASK_SYSTEM,
    REQUESTING_FACILITY_URL,
    Consult,
    concept,
    fhir_time,
    now_utc,
    output,
    ref_id,
)
from senhealth.telehealth.consults.records import (
    SUPPORTING_TYPES,
    audit_step,
    checked_attachment,
    read_consult,
)

__all__ = ["PRIORITIES", "ConsultRequest", "accept", "decline", "request_consult", "schedule"]

PRIORITIES: Final = ("routine", "urgent", "asap", "stat")
SCHEDULE_ID_SYSTEM: Final = "https://senhealth.vn/fhir/sid/telehealth-consult-schedule"
MEDIA_TYPE: Final = "http://terminology.hl7.org/CodeSystem/media-type"


def _display(ref: str, display: str | None) -> dict[str, Any]:
    return {"reference": ref, **({"display": display} if display else {})}


async def _exists(tx: StoreTx, res_type: str, res_id: str, what: str) -> dict[str, Any]:
    try:
        stored = await tx.read(res_type, res_id)
    except (NotFound, Gone):
        raise OperationError(422, f"{res_type}/{res_id} is not known", "not-found", what) from None
    assert stored.content is not None
    return stored.content


async def _save(tx: StoreTx, resource: dict[str, Any], version: int) -> dict[str, Any]:
    try:
        stored, _ = await tx.update(resource, if_match=version)
    except VersionConflict:
        raise OperationError(
            409,
            "Hội chẩn vừa được người khác cập nhật / the consult changed meanwhile: reload it",
            "conflict",
        ) from None
    assert stored.content is not None
    return stored.content


def _need_status(consult: Consult, allowed: tuple[str, ...], step: str) -> None:
    if consult.status not in allowed:
        raise OperationError(
            409,
            f"Hội chẩn đang ở trạng thái {consult.status}: không thể {step} / the consult is {consult.status}: "
            f"cannot {step} (allowed from {', '.join(allowed)})",
            "business-rule",
        )


def _note(resource: dict[str, Any], caller: Caller, when: datetime, text: str) -> None:
    resource.setdefault("note", []).append(
        {"authorReference": {"reference": caller.reference}, "time": fhir_time(when), "text": text}
    )


# --- request -----------------------------------------------------------------------------------------------


class ConsultRequest:
    """What ``$consult-request`` asks: see :func:`request_consult`."""

    def __init__(
        self,
        *,
        patient: str,
        performer: str,
        question: str,
        summary: str,
        specialist: str | None = None,
        reason: list[dict[str, Any]] | None = None,
        priority: str = "routine",
        encounter: str | None = None,
        supporting: list[str] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        self.patient = patient
        self.performer = performer
        self.question = question
        self.summary = summary
        self.specialist = specialist
        self.reason = reason or []
        self.priority = priority
        self.encounter = encounter
        self.supporting = supporting or []
        self.attachments = attachments or []


async def _supporting(tx: StoreTx, patient: str, refs: list[str]) -> list[dict[str, Any]]:
    """The cited resources, each checked: a supported type, stored, and about this patient."""
    out: list[dict[str, Any]] = []
    for ref in refs:
        res_type, _, res_id = ref.partition("/")
        if res_type not in SUPPORTING_TYPES or not res_id or "/" in res_id:
            raise OperationError(
                422,
                f"supportingInfo {ref!r}: cite one of {', '.join(sorted(SUPPORTING_TYPES))} as Type/id",
                "invalid",
                "supportingInfo",
            )
        try:
            stored = await tx.read(res_type, res_id)
        except (NotFound, Gone):
            raise OperationError(
                422, f"supportingInfo {ref} is not known", "not-found", "supportingInfo"
            ) from None
        if res_type == "Binary":
            context = (stored.content or {}).get("securityContext")
            ok = ref_id(context, "Patient") == patient
        else:
            ok = stored.pkey == patient
        if not ok:
            raise OperationError(
                422,
                f"supportingInfo {ref} is not about Patient/{patient} / không thuộc người bệnh này",
                "invalid",
                "supportingInfo",
            )
        out.append({"reference": ref})
    return out


def _media(patient: str, attachment: dict[str, Any], caller: Caller, when: datetime) -> dict[str, Any]:
    content_type = str(attachment.get("contentType"))
    kind = content_type.split("/")[0]
    media: dict[str, Any] = {
        "resourceType": "Media",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "createdDateTime": fhir_time(when),
        "issued": fhir_time(when),
        "operator": {"reference": caller.reference},
        "content": attachment,
    }
    if kind in ("image", "video", "audio"):
        media["type"] = concept(MEDIA_TYPE, kind)
    return media


async def request_consult(
    store: FhirStore,
    caller: Caller,
    ask: ConsultRequest,
    *,
    restriction: Restriction | None,
    now: datetime | None = None,
) -> tuple[Consult, list[dict[str, Any]]]:
    """Create the ServiceRequest and the Task of a consult (and the Media of its inline attachments) in one
    transaction; the consult and the Media created."""
    when = now_utc(now)
    if ask.priority not in PRIORITIES:
        raise OperationError(
            400, f"priority must be one of {', '.join(PRIORITIES)}", "code-invalid", "priority"
        )
    if ask.performer == caller.facility:
        raise OperationError(
            422, "A facility does not consult itself: name another facility", "invalid", "performer"
        )
    if not ask.question.strip() or not ask.summary.strip():
        raise OperationError(400, "question and summary are required", "required")
    if len(ask.attachments) > get_config().max_attachments:
        raise OperationError(413, f"At most {get_config().max_attachments} attachments a request", "too-long")
    attachments = [checked_attachment(a, "attachment") for a in ask.attachments]
    async with store.transaction() as tx:
        patient = await _exists(tx, "Patient", ask.patient, "patient")
        if restriction is not None:
            seen = await visible_pkeys(tx.conn, restriction, [ask.patient], await store.param_ids())
            if ask.patient not in seen:  # outside the caller's care: as if unknown
                raise OperationError(422, f"Patient/{ask.patient} is not known", "not-found", "patient")
        org = await _exists(tx, "Organization", ask.performer, "performer")
        mine = await _exists(tx, "Organization", caller.facility, "facility")
        me = await _exists(tx, "Practitioner", caller.practitioner, "practitioner")
        performers = [_display(f"Organization/{ask.performer}", org.get("name"))]
        if ask.specialist:
            specialist = await _exists(tx, "Practitioner", ask.specialist, "specialist")
            performers.append(_display(f"Practitioner/{ask.specialist}", _name(specialist)))
        if ask.encounter:
            enc = await _exists(tx, "Encounter", ask.encounter, "encounter")
            if ref_id(enc.get("subject"), "Patient") != ask.patient:
                raise OperationError(422, "The encounter is another patient's", "invalid", "encounter")
        supporting = await _supporting(tx, ask.patient, ask.supporting)
        media: list[dict[str, Any]] = []
        for attachment in attachments:
            stored = await tx.create(_media(ask.patient, attachment, caller, when))
            assert stored.content is not None
            media.append(stored.content)
            supporting.append({"reference": f"Media/{stored.res_id}"})
        facility_ext = {
            "url": REQUESTING_FACILITY_URL,
            "valueReference": _display(f"Organization/{caller.facility}", mine.get("name")),
        }
        requester = _display(caller.reference, _name(me))
        subject = _display(f"Patient/{ask.patient}", _name(patient))
        sr: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "extension": [facility_ext],
            "status": "active",
            "intent": "order",
            "category": [copy.deepcopy(CONSULT_CATEGORY)],
            "priority": ask.priority,
            "code": {
                **concept("http://snomed.info/sct", "11429006", "Consultation"),
                "text": ask.question.strip(),
            },
            "subject": subject,
            "authoredOn": fhir_time(when),
            "requester": requester,
            "performer": performers,
            "note": [{"authorReference": requester, "time": fhir_time(when), "text": ask.summary.strip()}],
        }
        if ask.reason:
            sr["reasonCode"] = ask.reason
        if supporting:
            sr["supportingInfo"] = supporting
        if ask.encounter:
            sr["encounter"] = {"reference": f"Encounter/{ask.encounter}"}
        sr_stored = await tx.create(sr)
        assert sr_stored.content is not None
        due = when + timedelta(hours=get_config().deadline_hours(ask.priority))
        task: dict[str, Any] = {
            "resourceType": "Task",
            "extension": [facility_ext],
            "status": "requested",
            "intent": "order",
            "priority": ask.priority,
            "code": concept(CONSULT_TASK_SYSTEM, CONSULT_TASK_CODE, "Hội chẩn từ xa / teleconsultation"),
            "description": ask.question.strip(),
            "focus": {"reference": f"ServiceRequest/{sr_stored.res_id}"},
            "for": subject,
            "authoredOn": fhir_time(when),
            "lastModified": fhir_time(when),
            "requester": requester,
            "owner": performers[0],
            "restriction": {"period": {"start": fhir_time(when), "end": fhir_time(due)}},
        }
        if ask.encounter:
            task["encounter"] = {"reference": f"Encounter/{ask.encounter}"}
        task_stored = await tx.create(task)
        assert task_stored.content is not None
        consult = Consult(task_stored.content, task_stored.version, sr_stored.content, sr_stored.version)
        await audit_step(
            tx, caller.principal, consult, "request", action="create", when=when,
            supportingInfo=[s["reference"] for s in supporting], priority=ask.priority, due=fhir_time(due),
        )  # fmt: skip
        return consult, media


def _name(resource: dict[str, Any]) -> str | None:
    names = resource.get("name")
    if isinstance(names, str):
        return names
    if not names:
        return None
    first = names[0]
    text = first.get("text") or " ".join([first.get("family", ""), *first.get("given", [])]).strip()
    return str(text) or None


# --- accept, decline ---------------------------------------------------------------------------------------


async def accept(
    store: FhirStore, caller: Caller, task_id: str, *, note: str = "", now: datetime | None = None
) -> Consult:
    """The consulted facility's specialist takes the consult (see the module docstring)."""
    when = now_utc(now)
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        side_of(caller, consult)  # outsiders: 403 before anything is said about the consult
        _need_status(consult, ("requested",), "accept")
        require_consultant(caller, consult)
        me = await _exists(tx, "Practitioner", caller.practitioner, "practitioner")
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
            "type": [{"text": "Hội chẩn từ xa / teleconsultation"}],
            "subject": consult.request["subject"],
            "basedOn": [{"reference": f"ServiceRequest/{consult.request_id}"}],
            "participant": [{"individual": _display(caller.reference, _name(me))}],
            "period": {"start": fhir_time(when)},
            "serviceProvider": {"reference": f"Organization/{caller.facility}"},
        }
        if consult.request.get("reasonCode"):
            encounter["reasonCode"] = consult.request["reasonCode"]
        enc = await tx.create(encounter)
        task = copy.deepcopy(consult.task)
        task["status"] = "accepted"
        task["owner"] = _display(caller.reference, _name(me))
        task["lastModified"] = fhir_time(when)
        task.setdefault("output", []).append(output("consultant-encounter", f"Encounter/{enc.res_id}"))
        _note(task, caller, when, f"[accept] {note}".strip())
        saved = await _save(tx, task, consult.task_version)
        request = copy.deepcopy(consult.request)
        if not any(ref_id(p, "Practitioner") == caller.practitioner for p in request.get("performer") or []):
            request["performer"].append(_display(caller.reference, _name(me)))
            stored_sr = await _save(tx, request, consult.request_version)
        else:
            stored_sr = request
        done = Consult(saved, consult.task_version + 1, stored_sr, int(stored_sr["meta"]["versionId"]))
        await audit_step(
            tx, caller.principal, done, "accept", when=when, previous=consult.status,
            owner=caller.reference, encounter=f"Encounter/{enc.res_id}",
        )  # fmt: skip
        return done


async def decline(
    store: FhirStore, caller: Caller, task_id: str, reason: str, *, now: datetime | None = None
) -> Consult:
    """The consulted facility declines, with a reason (required)."""
    when = now_utc(now)
    if not reason.strip():
        raise OperationError(400, "Cần lý do từ chối / a decline needs its reason", "required", "reason")
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        side_of(caller, consult)  # outsiders: 403 before anything is said about the consult
        _need_status(consult, ("requested",), "decline")
        require_consultant(caller, consult)
        task = copy.deepcopy(consult.task)
        task["status"] = "rejected"
        task["statusReason"] = {"text": reason.strip()}
        task["lastModified"] = fhir_time(when)
        task["executionPeriod"] = {"end": fhir_time(when)}
        _note(task, caller, when, f"[decline] {reason.strip()}")
        saved = await _save(tx, task, consult.task_version)
        done = Consult(saved, consult.task_version + 1, consult.request, consult.request_version)
        await audit_step(
            tx, caller.principal, done, "decline", when=when, previous=consult.status, reason=reason.strip()
        )
        return done


# --- schedule ----------------------------------------------------------------------------------------------


async def _schedule_of(tx: StoreTx, caller: Caller, when: datetime) -> str:
    """The specialist's consult Schedule (made the first time)."""
    value = f"{caller.facility}:{caller.practitioner}"
    found = await search(
        tx.conn,
        parse_search("Schedule", [("identifier", f"{SCHEDULE_ID_SYSTEM}|{value}"), ("_count", "1")]),
        await tx.store.param_ids(),
    )
    if found.matches:
        return str(found.matches[0].content["id"])
    created = await tx.create(
        {
            "resourceType": "Schedule",
            "identifier": [{"system": SCHEDULE_ID_SYSTEM, "value": value}],
            "active": True,
            "serviceType": [{"text": "Hội chẩn từ xa / teleconsultation"}],
            "actor": [{"reference": caller.reference}],
            "comment": "Lịch hội chẩn từ xa / teleconsultation calendar",
        }
    )
    return created.res_id


async def _overlapping(tx: StoreTx, schedule_id: str, start: datetime, end: datetime) -> list[str]:
    found = await search(
        tx.conn,
        parse_search(
            "Slot",
            [
                ("schedule", f"Schedule/{schedule_id}"),
                ("status", "busy"),
                ("start", f"lt{fhir_time(end)}"),
                ("_count", "1000"),
            ],
        ),
        await tx.store.param_ids(),
    )
    out = []
    for row in found.matches:
        slot_end = datetime.fromisoformat(str(row.content["end"]).replace("Z", "+00:00"))
        if slot_end > start:
            out.append(f"Slot/{row.content['id']}")
    return out


async def schedule(
    store: FhirStore,
    caller: Caller,
    task_id: str,
    start: datetime,
    *,
    minutes: int | None = None,
    comment: str = "",
    now: datetime | None = None,
) -> tuple[Consult, dict[str, Any], dict[str, Any]]:
    """Book the video meeting (see the module docstring); the consult, the Appointment and the Slot."""
    when = now_utc(now)
    if start.tzinfo is None:
        raise OperationError(400, "start needs a time zone (+07:00)", "invalid", "start")
    length = minutes or get_config().meeting_minutes
    if not 5 <= length <= 480:
        raise OperationError(400, "minutes must be between 5 and 480", "invalid", "minutes")
    if start < when - timedelta(minutes=5):
        raise OperationError(400, "start is in the past", "invalid", "start")
    end = start + timedelta(minutes=length)
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        require_owner(caller, consult)
        _need_status(consult, ("accepted", "in-progress"), "schedule")
        schedule_id = await _schedule_of(tx, caller, when)
        await tx.lock_existing([("Schedule", schedule_id)])  # two bookings of one specialist queue here
        clash = await _overlapping(tx, schedule_id, start, end)
        if clash:
            raise OperationError(
                409,
                f"Bác sĩ đã có lịch trùng giờ / the specialist is already booked then ({', '.join(clash)})",
                "conflict",
                "start",
            )
        slot = await tx.create(
            {
                "resourceType": "Slot",
                "schedule": {"reference": f"Schedule/{schedule_id}"},
                "status": "busy",
                "start": fhir_time(start),
                "end": fhir_time(end),
                "comment": f"Task/{consult.id}",
            }
        )
        assert slot.content is not None
        requester = consult.task.get("requester") or {}
        participants = [
            {"actor": consult.task["owner"], "required": "required", "status": "accepted"},
            {"actor": requester, "required": "required", "status": "accepted"},
            {"actor": consult.request["subject"], "required": "optional", "status": "accepted"},
        ]
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": "booked",
            "serviceCategory": [copy.deepcopy(CONSULT_CATEGORY)],
            "appointmentType": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "FOLLOWUP"}],
                "text": "Hội chẩn qua video / video consultation",
            },
            "description": str(consult.task.get("description") or "Hội chẩn từ xa"),
            "start": fhir_time(start),
            "end": fhir_time(end),
            "minutesDuration": length,
            "slot": [{"reference": f"Slot/{slot.res_id}"}],
            "created": fhir_time(when),
            "basedOn": [{"reference": f"ServiceRequest/{consult.request_id}"}],
            "supportingInformation": [{"reference": f"Task/{consult.id}"}],
            "participant": participants,
        }
        if consult.request.get("reasonCode"):
            appointment["reasonCode"] = consult.request["reasonCode"]
        if comment.strip():
            appointment["comment"] = comment.strip()
        appt = await tx.create(appointment)
        assert appt.content is not None
        task = copy.deepcopy(consult.task)
        task["status"] = "in-progress"
        task["lastModified"] = fhir_time(when)
        task["executionPeriod"] = {**(task.get("executionPeriod") or {}), "start": fhir_time(when)}
        task.setdefault("output", []).append(output("appointment", f"Appointment/{appt.res_id}"))
        _note(task, caller, when, f"[schedule] {fhir_time(start)} – {fhir_time(end)} {comment}".strip())
        saved = await _save(tx, task, consult.task_version)
        done = Consult(saved, consult.task_version + 1, consult.request, consult.request_version)
        await audit_step(
            tx, caller.principal, done, "schedule", when=when, previous=consult.status,
            appointment=f"Appointment/{appt.res_id}", slot=f"Slot/{slot.res_id}", start=fhir_time(start),
        )  # fmt: skip
        return done, appt.content, slot.content
