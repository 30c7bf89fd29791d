"""The alert operations on Task: ``$alert-triage``, ``$alert-assign``, ``$alert-verify``, ``$alert-respond``,
``$alert-close``.

Spec: https://hl7.org/fhir/R4/operations.html (instance-level operations with a ``Parameters`` body; they
change state, so POST only). The OperationDefinitions are the project's own
(``https://senhealth.vn/fhir/OperationDefinition/Task-alert-<action>``). Every one answers a Parameters with
``alert`` (the Task's new version), ``step`` (code) and, for ``$alert-respond``, ``action`` (the response
action Task); 409 when the alert's step does not allow the action (or another officer acted first), 403
when the caller may not, 404 when the Task is not an alert.

- ``POST [base]/Task/[id]/$alert-triage``: ``decision`` (code: ``verify`` | ``discard`` | ``duplicate``),
  ``duplicateOf`` (Reference or id of the signal it repeats; with ``duplicate``), ``note`` (string).
- ``POST [base]/Task/[id]/$alert-assign``: ``owner`` (Reference ``Practitioner/<id>``), ``due`` (dateTime
  with a time zone; default now + ``verification_hours``), ``note``.
- ``POST [base]/Task/[id]/$alert-verify``: ``outcome`` (``confirmed`` | ``not-confirmed``), ``note``
  (required): the assigned officer only.
- ``POST [base]/Task/[id]/$alert-respond``: ``action`` (string: a new response action), ``actionOwner``
  (Reference), ``actionDue`` (dateTime); or ``actionTask`` (Reference ``Task/<id>``) and ``status``
  (``requested`` | ``in-progress`` | ``completed`` | ``cancelled``); ``note``.
- ``POST [base]/Task/[id]/$alert-close``: ``reason`` (``event-over`` | ``false-alarm`` | ``merged`` |
  ``other``), ``note`` (required: the closing summary).

Who may: public-health (CDC) officers (role ``cdc_officer``), the verification only the assigned officer
(:mod:`.workflow`). The operations decide that themselves (``authorizes_writes``: the role policy lets a
CDC officer call operations but not update Tasks directly, so the workflow is the only way to move an
alert). Without a signed-in user (development, open policy) nothing is checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

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
from senhealth.surveillance.alerts.store import StepDone, assign, close, respond, triage, verify
from senhealth.surveillance.alerts.workflow import WorkflowError

__all__ = ["OPERATION_NAMES", "register_alert_operations", "unregister_alert_operations"]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/Task-"
OPERATION_NAMES: Final = ("alert-triage", "alert-assign", "alert-verify", "alert-respond", "alert-close")


def _text(call: OperationCall, name: str, *, required: bool = False) -> str | None:
    value = call.first(name)
    if isinstance(value, dict):  # a Reference
        value = value.get("reference")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise OperationError(400, f"Parameter {name!r} is required", "required", name)
        return None
    if not isinstance(value, str):
        raise OperationError(400, f"Parameter {name!r} must be a string, code or reference", expression=name)
    return value.strip()


def _time(call: OperationCall, name: str) -> datetime | None:
    value = _text(call, name)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise OperationError(400, f"Parameter {name!r} must be a dateTime", expression=name) from None
    if when.tzinfo is None:
        raise OperationError(400, f"Parameter {name!r} needs a time zone (+07:00)", expression=name)
    return when


def _answer(done: StepDone) -> OperationResult:
    params: list[dict[str, Any]] = [
        {"name": "alert", "resource": done.alert.content},
        {"name": "step", "valueCode": done.alert.step.value},
    ]
    if done.action is not None:
        params.append({"name": "action", "resource": done.action})
    return OperationResult({"resourceType": "Parameters", "parameter": params})


Runner = Callable[[OperationCall, str], Awaitable[StepDone]]


def _handler(run: Runner) -> Callable[[OperationCall], Awaitable[OperationResult]]:
    async def handle(call: OperationCall) -> OperationResult:
        assert call.resource_id is not None
        if call.principal is None and access_policy() is not OPEN:
            raise OperationError(401, "Cần đăng nhập / sign in to act on alerts", "login")
        try:
            return _answer(await run(call, call.resource_id))
        except WorkflowError as e:
            raise OperationError(e.status, str(e), e.code) from None
        except VersionConflict:
            raise OperationError(
                409,
                "Cảnh báo vừa được người khác cập nhật / the alert changed meanwhile: reload it",
                "conflict",
            ) from None
        except ValueError as e:
            raise OperationError(400, str(e)) from None

    return handle


async def _triage(call: OperationCall, alert_id: str) -> StepDone:
    return await triage(
        call.store, alert_id, _text(call, "decision", required=True) or "", principal=call.principal,
        note=_text(call, "note") or "", duplicate_of=_text(call, "duplicateOf"),
    )  # fmt: skip


async def _assign(call: OperationCall, alert_id: str) -> StepDone:
    owner = _text(call, "owner", required=True) or ""
    if not owner.startswith("Practitioner/"):
        raise OperationError(400, "Parameter 'owner' must reference a Practitioner", expression="owner")
    return await assign(
        call.store,
        alert_id,
        owner,
        principal=call.principal,
        due=_time(call, "due"),
        note=_text(call, "note") or "",
    )


async def _verify(call: OperationCall, alert_id: str) -> StepDone:
    return await verify(
        call.store, alert_id, _text(call, "outcome", required=True) or "", principal=call.principal,
        note=_text(call, "note") or "",
    )  # fmt: skip


async def _respond(call: OperationCall, alert_id: str) -> StepDone:
    return await respond(
        call.store, alert_id, principal=call.principal, description=_text(call, "action"),
        action_id=_text(call, "actionTask"), status=_text(call, "status"), action_owner=_text(call, "actionOwner"),
        action_due=_time(call, "actionDue"), note=_text(call, "note") or "",
    )  # fmt: skip


async def _close(call: OperationCall, alert_id: str) -> StepDone:
    return await close(
        call.store, alert_id, _text(call, "reason", required=True) or "", principal=call.principal,
        note=_text(call, "note") or "",
    )  # fmt: skip


_RUNNERS: Final[dict[str, tuple[Runner, str]]] = {
    "alert-triage": (
        _triage,
        "Triage an outbreak signal: keep it for verification, discard it or mark a duplicate",
    ),
    "alert-assign": (_assign, "Assign the officer who verifies a signal, with a due time"),
    "alert-verify": (_verify, "The assigned officer's verification: confirmed (an event) or not confirmed"),
    "alert-respond": (_respond, "Add a response action to an event, or set the status of one"),
    "alert-close": (_close, "Close an event with a reason and a summary"),
}


def register_alert_operations() -> None:
    """Register the five alert operations on Task (instance level)."""
    for name in OPERATION_NAMES:
        run, documentation = _RUNNERS[name]
        register(
            Operation(
                name,
                _handler(run),
                frozenset({"instance"}),
                _OD + name,
                resource_types=frozenset({"Task"}),
                affects_state=True,
                authorizes_writes=True,
                documentation=documentation,
            ),
            replace=True,
        )


def unregister_alert_operations() -> None:
    for name in OPERATION_NAMES:
        unregister(name)
