"""The referral operations: one per step.

Spec: https://hl7.org/fhir/R4/operations.html (instance-level operations with a Parameters body; they
change state: POST only). OperationDefinitions: ``https://senhealth.vn/fhir/OperationDefinition/<name>``.
Every one answers a Parameters with ``task`` (the referral Task's new version), ``step`` (code),
``serviceRequest``, and what the step made (``composition``, ``xml13``, ``encounter``, ``communication``).

- ``POST [base]/Encounter/[id]/$referral-request``: ``destination`` (Reference Organization, required),
  ``reason`` (code ICD-10, repeating; default the Encounter's diagnoses), ``reasonCode`` (``MA_LYDO_CT``:
  1 | 2 | 3, default 1), ``plan`` (suggested treatment), ``state``, ``transport``, ``escortName``,
  ``escortTitle``, ``clinicalSigns``, ``course``, ``results``, ``treatment`` (strings), ``requester``
  (Reference Practitioner; default the caller's), ``note``. 201.
- ``POST [base]/Task/[id]/$referral-accept``: ``decision`` (``accept`` | ``decline``), ``note`` (required
  to decline). The destination's staff.
- ``POST [base]/Task/[id]/$referral-draft-summary``: draft the referral paper (the referring staff;
  ``field`` parts ``name``/``value`` as ``Encounter/$create-document`` takes them). Sign it with
  ``Composition/[id]/$sign``.
- ``POST [base]/Task/[id]/$referral-send-summary``: ``summary`` (Reference Composition, signed). Out also
  ``xml13`` (the DocumentReference holding table 13).
- ``POST [base]/Task/[id]/$referral-arrive``: ``encounter`` (Reference, optional: made when absent),
  ``class`` (AMB | IMP | EMER | SS). The destination's staff.
- ``POST [base]/Task/[id]/$referral-draft-return``: ``course``, ``advice``. The destination's staff.
- ``POST [base]/Task/[id]/$referral-return``: ``letter`` (Reference Composition, signed).

400 bad parameters, 401 not signed in, 403 not staff of the facility whose turn it is, 404 not a
referral, 409 wrong step, unsigned document or a concurrent change, 422 a rule (wrong document, XML13 field
faults with their ``XML13[1].FIELD`` paths).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from senhealth.telehealth.referrals.model import ReferralError, ref_id
from senhealth.telehealth.referrals.papers import XML13_FROM_REQUEST
from senhealth.telehealth.referrals.store import (
    Referral,
    accept,
    arrive,
    draft_return,
    draft_summary,
    request_referral,
    return_letter,
    send_summary,
)

__all__ = ["OPERATION_NAMES", "register_referral_operations", "unregister_referral_operations"]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/"
OPERATION_NAMES: Final = (
    "referral-request",
    "referral-accept",
    "referral-draft-summary",
    "referral-send-summary",
    "referral-arrive",
    "referral-draft-return",
    "referral-return",
)
_EXTRA_NAMES: Final = {
    "referral-draft-summary": "composition",
    "referral-draft-return": "composition",
    "referral-send-summary": "xml13",
    "referral-arrive": "encounter",
    "referral-return": "communication",
}


def _id(call: OperationCall, name: str, res_type: str, *, required: bool = True) -> str | None:
    value = text(call, name, required=required)
    if value is None:
        return None
    found = ref_id(value, res_type) if "/" in value else value
    if not found:
        raise OperationError(400, f"Parameter {name!r} must reference a {res_type}", expression=name)
    return found


def _fields(call: OperationCall) -> dict[str, str]:
    """``field`` parameters (parts ``name`` and ``value``, as ``Encounter/$create-document`` takes them)."""
    out: dict[str, str] = {}
    for item in call.params.get("field") or []:
        names = item.get("name") if isinstance(item, dict) else None
        values = item.get("value") if isinstance(item, dict) else None
        if not (isinstance(names, list) and isinstance(values, list) and len(names) == len(values) == 1
                and isinstance(names[0], str) and isinstance(values[0], str)):  # fmt: skip
            raise OperationError(
                400, "Parameter 'field' has parts name and value (strings)", expression="field"
            )
        out[names[0]] = values[0]
    return out


def _answer(name: str, done: Referral, status: int = 200) -> OperationResult:
    params: list[dict[str, Any]] = [
        {"name": "task", "resource": done.task},
        {"name": "step", "valueCode": done.step.value},
        {"name": "serviceRequest", "resource": done.request},
    ]
    if done.extra is not None:
        params.append({"name": _EXTRA_NAMES.get(name, "resource"), "resource": done.extra})
    return OperationResult({"resourceType": "Parameters", "parameter": params}, status=status)


Runner = Callable[[OperationCall], Awaitable[Referral]]


async def _request(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    details = {k: v for k in XML13_FROM_REQUEST if k != "reasonCode" and (v := text(call, k))}
    return await request_referral(
        call.store,
        call.resource_id,
        destination=_id(call, "destination", "Organization") or "",
        principal=call.principal,
        reasons=codes(call, "reason"),
        reason_code=text(call, "reasonCode") or "1",
        plan=text(call, "plan") or "",
        details=details,
        requester=_id(call, "requester", "Practitioner", required=False),
        note=text(call, "note") or "",
    )


async def _accept(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await accept(call.store, call.resource_id, text(call, "decision", required=True) or "",
                        principal=call.principal, note=text(call, "note") or "")  # fmt: skip


async def _draft_summary(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await draft_summary(call.store, call.resource_id, principal=call.principal,
                               restriction=call.restriction, fields=_fields(call))  # fmt: skip


async def _send_summary(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await send_summary(call.store, call.resource_id, _id(call, "summary", "Composition") or "",
                              principal=call.principal, restriction=call.restriction,
                              note=text(call, "note") or "")  # fmt: skip


async def _arrive(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await arrive(call.store, call.resource_id, principal=call.principal,
                        encounter_id=_id(call, "encounter", "Encounter", required=False),
                        encounter_class=text(call, "class") or "AMB", note=text(call, "note") or "")  # fmt: skip


async def _draft_return(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await draft_return(call.store, call.resource_id, principal=call.principal, restriction=call.restriction,
                              course=text(call, "course") or "", advice=text(call, "advice") or "")  # fmt: skip


async def _return(call: OperationCall) -> Referral:
    assert call.resource_id is not None
    return await return_letter(call.store, call.resource_id, _id(call, "letter", "Composition") or "",
                               principal=call.principal, note=text(call, "note") or "")  # fmt: skip


def _handler(name: str, run: Runner) -> Callable[[OperationCall], Awaitable[OperationResult]]:
    async def handle(call: OperationCall) -> OperationResult:
        if call.principal is None and access_policy() is not OPEN:
            raise OperationError(401, "Cần đăng nhập / sign in first", "login")
        try:
            done = await run(call)
        except ReferralError as e:
            raise OperationError(e.status, str(e), e.code, e.expression) from None
        except DocumentError:
            raise
        except VersionConflict:
            raise OperationError(
                409, "Chuyển tuyến vừa thay đổi / the referral changed meanwhile", "conflict"
            ) from None
        return _answer(name, done, 201 if name == "referral-request" else 200)

    return handle


_RUNNERS: Final[dict[str, tuple[Runner, str, str]]] = {
    "referral-request": (_request, "Encounter", "Refer the patient of an encounter to another facility"),
    "referral-accept": (_accept, "Task", "The destination accepts or declines a referral"),
    "referral-draft-summary": (_draft_summary, "Task", "Draft the referral paper (giấy chuyển tuyến)"),
    "referral-send-summary": (
        _send_summary,
        "Task",
        "Send the signed referral paper and its claim table XML13",
    ),
    "referral-arrive": (_arrive, "Task", "Record the patient's arrival at the destination"),
    "referral-draft-return": (_draft_return, "Task", "Draft the return letter (giấy báo kết quả điều trị)"),
    "referral-return": (_return, "Task", "Send the signed return letter to the referring facility"),
}


def register_referral_operations() -> None:
    """Register the seven referral operations (instance level; replacing earlier ones)."""
    for name in OPERATION_NAMES:
        run, res_type, documentation = _RUNNERS[name]
        register(
            Operation(
                name,
                _handler(name, run),
                frozenset({"instance"}),
                _OD + name,
                resource_types=frozenset({res_type}),
                affects_state=True,
                authorizes_writes=True,
                documentation=documentation,
            ),
            replace=True,
        )


def unregister_referral_operations() -> None:
    for name in OPERATION_NAMES:
        unregister(name)
