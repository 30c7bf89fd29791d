"""The remote-visit operations: ``$book-remote-visit``, ``$start-remote-visit``, ``$finish-remote-visit``,
``$remote-prescription`` and ``$remote-visit-conditions``.

Spec: https://hl7.org/fhir/R4/operations.html. The OperationDefinitions are the project's own
(``https://senhealth.vn/fhir/OperationDefinition/<name>``). All but the last change state: POST only.

- ``POST [base]/Appointment/$book-remote-visit``: ``slot`` (Reference ``Slot/<id>``, required),
  ``condition`` (code: ICD-10, required), ``patient`` (Reference; a citizen's own by default), ``reason``
  (string), ``channel`` (``video`` | ``phone``). Out: ``appointment``, ``slot``, ``listed`` (boolean),
  ``condition`` (the list's row, when listed), and ``warning`` (an OperationOutcome) when the condition is
  outside Circular 30's list and the setting ``outside_list`` is ``warn``. 201.
- ``POST [base]/Appointment/[id]/$start-remote-visit``: ``channel``. Out: ``encounter``. 201.
- ``POST [base]/Encounter/[id]/$finish-remote-visit``: ``diagnosis`` (code, repeating, main first,
  required), ``findings`` (string). Out: ``encounter``, ``condition`` (each), ``impression``, ``listed``
  (part per code).
- ``POST [base]/Encounter/[id]/$remote-prescription``: ``medication`` (repeating, parts ``name``,
  ``quantity``, ``unit``, ``dosage``, ``days``, ``code``), ``advice``, ``revisitDate`` (date), ``kind``
  (``c`` | ``n`` | ``h`` | ``y``). Out: ``medicationRequest`` (each), ``composition`` (the prescription,
  to sign with ``$sign``), ``ePrescription`` (the National Prescription System message, JSON text).
- ``GET [base]/$remote-visit-conditions``: the packaged list (Parameters, one ``condition`` per row, with
  ``verified`` and the sources).

Who may is decided by the steps (``authorizes_writes``): a citizen books for themselves, care roles for
any patient; only the visit's practitioner starts, finishes and prescribes. 400 bad parameters, 403 not
this caller, 404 unknown target, 409 wrong state or a concurrent booking, 422 a rule (outside the list
with ``block``, no personal ID for the e-prescription).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from senhealth.emr.documents.document import DocumentError
from senhealth.fhir.access import OPEN, access_policy
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import VersionConflict
from senhealth.telehealth._operation_params import codes, text
from senhealth.telehealth.visits.booking import book_remote_visit
from senhealth.telehealth.visits.conditions import RemoteCondition, condition_list
from senhealth.telehealth.visits.encounter import finish_remote_visit, start_remote_visit
from senhealth.telehealth.visits.model import VisitError, ref_id
from senhealth.telehealth.visits.prescription import Drug, prescribe_after_visit

__all__ = ["OPERATION_NAMES", "register_visit_operations", "unregister_visit_operations"]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/"
OPERATION_NAMES: Final = (
    "book-remote-visit",
    "start-remote-visit",
    "finish-remote-visit",
    "remote-prescription",
    "remote-visit-conditions",
)


def _resource(name: str, resource: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if resource is None else [{"name": name, "resource": resource}]


def _row(row: RemoteCondition) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "specialty", "valueString": row.specialty},
        {"name": "name", "valueString": row.name_vi},
        {"name": "nameEn", "valueString": row.name_en},
        {"name": "verified", "valueBoolean": row.verified},
        {"name": "source", "valueString": row.source},
    ]
    if row.stt is not None:
        parts.insert(0, {"name": "number", "valueInteger": row.stt})
    parts += [{"name": "icd10", "valueString": c} for c in row.icd10]
    if row.note:
        parts.append({"name": "note", "valueString": row.note})
    return {"name": "condition", "part": parts}


def _warning(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "business-rule", "diagnostics": text,
                   "details": {"text": text.split(" / ")[0]}, "expression": ["condition"]}],
    }  # fmt: skip


async def _book(call: OperationCall) -> OperationResult:
    patient = text(call, "patient")
    if patient is None and call.principal is not None and call.principal.kind == "patient":
        patient = call.principal.patient
    patient_id = ref_id(patient, "Patient") if patient and "/" in patient else patient
    if not patient_id:
        raise OperationError(400, "Parameter 'patient' is required", "required", "patient")
    slot = text(call, "slot", required=True) or ""
    booking = await book_remote_visit(
        call.store,
        patient_id=patient_id,
        slot_id=ref_id(slot, "Slot") if "/" in slot else slot,  # type: ignore[arg-type]
        condition=text(call, "condition", required=True) or "",
        reason=text(call, "reason") or "",
        channel=text(call, "channel"),
        principal=call.principal,
    )
    params = [
        *_resource("appointment", booking.appointment),
        *_resource("slot", booking.slot),
        {"name": "listed", "valueBoolean": booking.condition is not None},
    ]
    if booking.condition is not None:
        params.append(_row(booking.condition))
    if booking.warning is not None:
        params += _resource("warning", _warning(booking.warning))
    appointment_id = booking.appointment["id"]
    return OperationResult(
        {"resourceType": "Parameters", "parameter": params},
        status=201,
        headers={"Location": f"{call.base_url}/Appointment/{appointment_id}/_history/1"},
    )


async def _start(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    encounter = await start_remote_visit(call.store, call.resource_id, principal=call.principal,
                                         channel=text(call, "channel"))  # fmt: skip
    return OperationResult(
        {"resourceType": "Parameters", "parameter": _resource("encounter", encounter)},
        status=201,
        headers={"Location": f"{call.base_url}/Encounter/{encounter['id']}/_history/1"},
    )


async def _finish(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    done = await finish_remote_visit(call.store, call.resource_id, principal=call.principal,
                                     diagnoses=codes(call, "diagnosis"), findings=text(call, "findings") or "")  # fmt: skip
    params = [*_resource("encounter", done.encounter)]
    params += [p for c in done.conditions for p in _resource("condition", c)]
    params += _resource("impression", done.impression)
    params += [
        {
            "name": "listed",
            "part": [{"name": "code", "valueCode": code}, {"name": "listed", "valueBoolean": v}],
        }
        for code, v in done.listed.items()
    ]
    return OperationResult({"resourceType": "Parameters", "parameter": params})


def _drug(part: Any, index: int) -> Drug:
    """A ``medication`` parameter (its parts arrive as name → values, as the core parses them)."""
    if not isinstance(part, dict):
        raise OperationError(400, "Parameter 'medication' has parts name, quantity, unit, dosage, days, code",
                             expression=f"medication[{index}]")  # fmt: skip
    values: dict[str, Any] = {}
    for key, items in part.items():
        value = items[0] if isinstance(items, list) and items else items
        if isinstance(value, dict):
            value = value.get("code") or value.get("value")
        values[str(key)] = value
    try:
        quantity = Decimal(str(values.get("quantity")))
        days = values.get("days")
        return Drug(
            name=str(values.get("name") or ""),
            quantity=quantity,
            unit=str(values.get("unit") or ""),
            dosage=str(values.get("dosage") or ""),
            days=None if days is None else int(days),
            code=str(values.get("code") or ""),
        )
    except (InvalidOperation, ValueError, TypeError):
        raise OperationError(400, "medication: quantity is a number, days an integer",
                             expression=f"medication[{index}]") from None  # fmt: skip


async def _prescribe(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    raw = call.params.get("medication") or []
    drugs = [_drug(p, i) for i, p in enumerate(raw)]
    revisit_text = text(call, "revisitDate")
    try:
        revisit = date.fromisoformat(revisit_text) if revisit_text else None
    except ValueError:
        raise OperationError(
            400, "revisitDate must be a date (YYYY-MM-DD)", expression="revisitDate"
        ) from None
    done = await prescribe_after_visit(
        call.store,
        call.resource_id,
        drugs,
        principal=call.principal,
        advice=text(call, "advice") or "",
        revisit=revisit,
        restriction=call.restriction,
        kind=text(call, "kind") or "c",
    )
    params = [p for r in done.requests for p in _resource("medicationRequest", r)]
    params += _resource("composition", done.composition)
    params.append(
        {"name": "ePrescription", "valueString": json.dumps(done.message.as_json(), ensure_ascii=False)}
    )
    return OperationResult({"resourceType": "Parameters", "parameter": params}, status=201)


async def _conditions(call: OperationCall) -> OperationResult:
    data = condition_list()
    params: list[dict[str, Any]] = [
        {"name": "document", "valueString": data.document},
        {"name": "declaredCount", "valueInteger": data.declared_count},
        {"name": "packagedCount", "valueInteger": len(data.conditions)},
        {"name": "notes", "valueString": data.notes},
    ]
    params += [{"name": "source", "part": [{"name": "key", "valueString": k}, {"name": "url", "valueString": v}]}
               for k, v in data.sources.items()]  # fmt: skip
    params += [_row(r) for r in data.conditions]
    return OperationResult({"resourceType": "Parameters", "parameter": params})


Handler = Callable[[OperationCall], Awaitable[OperationResult]]


def _guarded(run: Handler, *, sign_in: bool = True) -> Handler:
    async def handle(call: OperationCall) -> OperationResult:
        if sign_in and call.principal is None and access_policy() is not OPEN:
            raise OperationError(401, "Cần đăng nhập / sign in first", "login")
        try:
            return await run(call)
        except VisitError as e:
            raise OperationError(e.status, str(e), e.code, e.expression) from None
        except DocumentError:
            raise
        except VersionConflict:
            raise OperationError(409, "Dữ liệu vừa thay đổi / changed meanwhile: retry", "conflict") from None

    return handle


_SPECS: Final[dict[str, tuple[Handler, frozenset[str], frozenset[str] | None, bool, str]]] = {
    "book-remote-visit": (_book, frozenset({"type"}), frozenset({"Appointment"}), True,
                          "Book a remote visit (Circular 30/2023 conditions) in a free telehealth Slot"),
    "start-remote-visit": (_start, frozenset({"instance"}), frozenset({"Appointment"}), True,
                           "Start the remote visit of an Appointment: its Encounter (class VR)"),
    "finish-remote-visit": (_finish, frozenset({"instance"}), frozenset({"Encounter"}), True,
                            "Finish a remote visit with its ICD-10 diagnoses and findings"),
    "remote-prescription": (_prescribe, frozenset({"instance"}), frozenset({"Encounter"}), True,
                            "Prescribe after a remote visit: MedicationRequests, prescription, e-prescription"),
    "remote-visit-conditions": (_conditions, frozenset({"system"}), None, False,
                                "The conditions that may be treated remotely (Circular 30/2023)"),
}  # fmt: skip


def register_visit_operations() -> None:
    """Register the remote-visit operations (replacing earlier ones)."""
    for name in OPERATION_NAMES:
        run, levels, types, writes, documentation = _SPECS[name]
        register(
            Operation(
                name,
                _guarded(run, sign_in=writes),
                levels,  # type: ignore[arg-type]
                _OD + name,
                resource_types=types,
                affects_state=writes,
                authorizes_writes=writes,
                documentation=documentation,
            ),
            replace=True,
        )


def unregister_visit_operations() -> None:
    for name in OPERATION_NAMES:
        unregister(name)
