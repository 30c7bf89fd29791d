"""The consult operations: ``ServiceRequest/$consult-request`` and ``Task/$consult-*``.

Spec: https://hl7.org/fhir/R4/operations.html (a ``Parameters`` body; a state change is a POST). The
OperationDefinitions are the project's own (``https://senhealth.vn/fhir/OperationDefinition/<Type>-consult-*``).
docs/telehealth-consults.md.

- ``POST [base]/ServiceRequest/$consult-request``: ``patient`` (Reference), ``performer`` (Reference
  ``Organization/<id>``: the consulted facility), ``specialist`` (Reference ``Practitioner``, optional),
  ``question`` and ``summary`` (string), ``priority`` (``routine`` | ``urgent`` | ``asap`` | ``stat``),
  ``reason`` (CodeableConcept, Coding or string; repeating), ``encounter`` (Reference), ``supportingInfo``
  (Reference, repeating: Observation, DiagnosticReport, ImagingStudy, Media, DocumentReference, Binary...),
  ``attachment`` (Attachment with ``data``, repeating: stored as Media). 201: ``task``, ``serviceRequest``,
  ``media``.
- ``POST [base]/Task/$consult-accept``: ``task`` (Reference), ``note``. 200: ``task``.
- ``POST [base]/Task/$consult-decline``: ``task``, ``reason`` (required). 200: ``task``.
- ``POST [base]/Task/$consult-schedule``: ``task``, ``start`` (dateTime with a time zone), ``minutes``,
  ``comment``. 201: ``task``, ``appointment``, ``slot``, ``roomTokenPath``.
- ``POST [base]/Task/$consult-conclude``: ``task``, ``conclusion`` (required), ``recommendation``,
  ``diagnosis`` (CodeableConcept or Coding, repeating). 201: ``task``, ``composition``, ``document`` (the
  signed Bundle), ``documentReference`` ×2 (the copies in each facility's record).
- ``POST [base]/Task/$consult-message``: ``task``, ``text``, ``attachment`` (repeating), ``inResponseTo``
  (Reference ``Communication``). 201: ``communication``.
- ``GET|POST [base]/Task/$consult-case?task=<id>``: the consult as a ``collection`` Bundle.

Each ``Task`` operation is also answered at instance level (``Task/[id]/$consult-accept``), for callers who
may already read the Task; the type level with ``task`` is the way for the consulted facility before it
accepts (its clinicians cannot see the patient's Task until then: the REST layer would answer 404).

Who may: :mod:`.access` (the operations authorise themselves: ``authorizes_writes``). Refusals (403) are
audited; every step is audited in its own transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.telehealth.consults.access import Caller, caller_of
from senhealth.telehealth.consults.conclusion import conclude
from senhealth.telehealth.consults.messages import case_view, post_message
from senhealth.telehealth.consults.records import audit_refusal
from senhealth.telehealth.consults.workflow import ConsultRequest, accept, decline, request_consult, schedule

__all__ = ["OPERATION_NAMES", "register_consult_operations", "unregister_consult_operations"]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/"
TASK_OPERATIONS: Final = (
    "consult-accept",
    "consult-decline",
    "consult-schedule",
    "consult-conclude",
    "consult-message",
    "consult-case",
)
OPERATION_NAMES: Final = ("consult-request", *TASK_OPERATIONS)


# --- parameters --------------------------------------------------------------------------------------------


def _ref(value: Any, name: str, res_type: str) -> str | None:
    """``value`` (a Reference, or ``Type/id`` / ``id`` text) as an id of ``res_type``."""
    if value is None:
        return None
    text = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip():
        raise OperationError(400, f"Parameter {name!r} must reference a {res_type}", expression=name)
    text = text.strip().removeprefix(f"{res_type}/")
    if not text or "/" in text:
        raise OperationError(400, f"Parameter {name!r} must reference a {res_type}", expression=name)
    return text


def _required_ref(call: OperationCall, name: str, res_type: str) -> str:
    found = _ref(call.first(name), name, res_type)
    if found is None:
        raise OperationError(400, f"Parameter {name!r} is required", "required", name)
    return found


def _string(call: OperationCall, name: str) -> str:
    value = call.first(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OperationError(400, f"Parameter {name!r} must be a string", expression=name)
    return value


def _task_id(call: OperationCall) -> str:
    if call.resource_id is not None:
        return call.resource_id
    return _required_ref(call, "task", "Task")


def _concepts(call: OperationCall, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in call.params.get(name) or []:
        if isinstance(value, str) and value.strip():
            out.append({"text": value.strip()})
        elif isinstance(value, dict) and ("coding" in value or "text" in value):
            out.append(value)
        elif isinstance(value, dict) and "code" in value:
            out.append({"coding": [value]})
        else:
            raise OperationError(
                400, f"Parameter {name!r} must be a CodeableConcept, Coding or string", expression=name
            )
    return out


def _time(call: OperationCall, name: str) -> datetime:
    value = call.first(name)
    if not isinstance(value, str):
        raise OperationError(400, f"Parameter {name!r} (dateTime) is required", "required", name)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OperationError(400, f"Parameter {name!r} must be a dateTime", expression=name) from None
    if when.tzinfo is None:
        raise OperationError(400, f"Parameter {name!r} needs a time zone (+07:00)", expression=name)
    return when


def _answer(status: int, **values: Any) -> OperationResult:
    params: list[dict[str, Any]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                params.append({"name": name, "resource": item})
            elif isinstance(item, str):
                params.append({"name": name, "valueString": item})
    return OperationResult({"resourceType": "Parameters", "parameter": params}, status=status)


# --- handlers ----------------------------------------------------------------------------------------------


async def _request(call: OperationCall, caller: Caller) -> OperationResult:
    ask = ConsultRequest(
        patient=_required_ref(call, "patient", "Patient"),
        performer=_required_ref(call, "performer", "Organization"),
        specialist=_ref(call.first("specialist"), "specialist", "Practitioner"),
        question=_string(call, "question"),
        summary=_string(call, "summary"),
        reason=_concepts(call, "reason"),
        priority=_string(call, "priority") or "routine",
        encounter=_ref(call.first("encounter"), "encounter", "Encounter"),
        supporting=[
            str(v.get("reference") if isinstance(v, dict) else v)
            for v in call.params.get("supportingInfo") or []
        ],
        attachments=list(call.params.get("attachment") or []),
    )
    consult, media = await request_consult(call.store, caller, ask, restriction=call.restriction)
    return _answer(201, task=consult.task, serviceRequest=consult.request, media=media)


async def _accept(call: OperationCall, caller: Caller) -> OperationResult:
    consult = await accept(call.store, caller, _task_id(call), note=_string(call, "note"))
    return _answer(200, task=consult.task)


async def _decline(call: OperationCall, caller: Caller) -> OperationResult:
    consult = await decline(call.store, caller, _task_id(call), _string(call, "reason"))
    return _answer(200, task=consult.task)


async def _schedule(call: OperationCall, caller: Caller) -> OperationResult:
    consult, appointment, slot = await schedule(
        call.store, caller, _task_id(call), _time(call, "start"), minutes=call.integer("minutes"),
        comment=_string(call, "comment"),
    )  # fmt: skip
    return _answer(
        201,
        task=consult.task,
        appointment=appointment,
        slot=slot,
        roomTokenPath=f"/api/telehealth/rooms/{appointment['id']}/token",
    )


async def _conclude(call: OperationCall, caller: Caller) -> OperationResult:
    done = await conclude(
        call.store, caller, _task_id(call), conclusion=_string(call, "conclusion"),
        recommendation=_string(call, "recommendation"), diagnosis=_concepts(call, "diagnosis"),
        base_url=call.base_url, restriction=call.restriction,
    )  # fmt: skip
    return _answer(
        201,
        task=done.consult.task,
        composition=done.composition,
        document=done.document,
        documentReference=done.copies,
    )


async def _message(call: OperationCall, caller: Caller) -> OperationResult:
    reply = call.first("inResponseTo")
    message = await post_message(
        call.store, caller, _task_id(call), text=_string(call, "text"),
        attachments=list(call.params.get("attachment") or []),
        in_response_to=_ref(reply, "inResponseTo", "Communication"),
    )  # fmt: skip
    return _answer(201, communication=message)


async def _case(call: OperationCall, caller: Caller) -> OperationResult:
    return OperationResult(await case_view(call.store, caller, _task_id(call), base_url=call.base_url))


Runner = Callable[[OperationCall, Caller], Awaitable[OperationResult]]


def _handler(name: str, run: Runner) -> Callable[[OperationCall], Awaitable[OperationResult]]:
    async def handle(call: OperationCall) -> OperationResult:
        try:
            return await run(call, caller_of(call.principal))
        except OperationError as e:
            if e.status == 403:
                target = f"Task/{call.resource_id}" if call.resource_id else None
                if target is None and name != "consult-request":
                    value = call.first("task")
                    text = value.get("reference") if isinstance(value, dict) else value
                    target = f"Task/{str(text).removeprefix('Task/')}" if text else None
                await audit_refusal(call.store, call.principal, name, target, e.status, str(e))
            raise

    return handle


_RUNNERS: Final[dict[str, tuple[Runner, str]]] = {
    "consult-request": (
        _request,
        "Ask another facility for a teleconsultation: a ServiceRequest and its Task",
    ),
    "consult-accept": (_accept, "The consulted facility's specialist accepts the consult"),
    "consult-decline": (_decline, "The consulted facility declines the consult, with a reason"),
    "consult-schedule": (_schedule, "Book the video meeting: Schedule, Slot and a booked Appointment"),
    "consult-conclude": (_conclude, "Write, sign and file the conclusion in both facilities' records"),
    "consult-message": (_message, "Send a message (text, attachments) on the consult: store-and-forward"),
    "consult-case": (_case, "The consult as one collection Bundle, for either facility"),
}


def register_consult_operations() -> None:
    """Register the consult operations (``$consult-request`` on ServiceRequest, the rest on Task)."""
    for name in OPERATION_NAMES:
        run, documentation = _RUNNERS[name]
        on_task = name != "consult-request"
        register(
            Operation(
                name,
                _handler(name, run),
                frozenset({"type", "instance"}) if on_task else frozenset({"type"}),
                _OD + ("Task-" if on_task else "ServiceRequest-") + name,
                resource_types=frozenset({"Task" if on_task else "ServiceRequest"}),
                affects_state=name != "consult-case",
                authorizes_writes=True,
                documentation=documentation,
            ),
            replace=True,
        )


def unregister_consult_operations() -> None:
    for name in OPERATION_NAMES:
        unregister(name)
