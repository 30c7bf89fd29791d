"""The steps of an outbreak alert and who may move it from one to the next: a pure state machine.

Source: WHO, *Early detection, assessment and response to acute public health events: implementation of
early warning and response with a focus on event-based surveillance* (WHO/HSE/GCR/LYO/2014.4),
https://www.who.int/publications/i/item/WHO-HSE-GCR-LYO-2014.4 ; the steps are those of
``reference/risk-and-surveillance.md`` §4: signal → triage → verification → event → response → closure.
An alarm of a detector is a *signal*, not an outbreak: a person triages it (keep or discard), an assigned
officer verifies it by a due time, a verified signal is an *event*, the event gets response actions and is
closed with a reason.

==============  ===========================  ====================  ======================================
step            action (operation)           next step             who
==============  ===========================  ====================  ======================================
signal          triage ``verify``            triaged               a CDC officer
signal          triage ``discard`` /         closed                a CDC officer
                ``duplicate``
triaged,        assign (an officer, a due)   verification          a CDC officer (re-assigning too)
verification
verification    verify ``confirmed``         event                 the assigned officer only
verification    verify ``not-confirmed``     closed                the assigned officer only
event,          respond (add or update a     response              a CDC officer
response        response action)
event,          close (a reason, a summary)  closed                a CDC officer; every response action
response                                                           completed or cancelled first
==============  ===========================  ====================  ======================================

Opening a signal and escalating an overdue step are done by the system (the detectors' run and the
escalation job), never through these actions. Nothing here touches the store: :mod:`.store` applies a
:class:`Transition` to the alert's Task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "ACTION_ROLES",
    "CLOSURE_REASONS",
    "DECISIONS",
    "OPEN_STEPS",
    "TASK_STATUS",
    "Action",
    "Step",
    "Transition",
    "WorkflowError",
    "allowed_actions",
    "may",
    "transition",
]


class WorkflowError(Exception):
    """An action that the alert's step or the caller's role does not allow.

    ``status``: 409 (wrong step), 403 (not this caller), 400 (a bad decision); ``code``: the FHIR issue type.
    """

    def __init__(self, message: str, status: int = 409, code: str = "business-rule") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Step(StrEnum):
    """The alert's step (``Task.businessStatus``)."""

    SIGNAL = "signal"
    TRIAGED = "triaged"
    VERIFICATION = "verification"
    EVENT = "event"
    RESPONSE = "response"
    CLOSED = "closed"


class Action(StrEnum):
    """What a person does to an alert (one FHIR operation each: ``Task/[id]/$alert-<action>``)."""

    TRIAGE = "triage"
    ASSIGN = "assign"
    VERIFY = "verify"
    RESPOND = "respond"
    CLOSE = "close"


#: Steps still in the workflow (escalated when overdue).
OPEN_STEPS: Final = frozenset(Step) - {Step.CLOSED}

#: ``Task.status`` of each step (https://hl7.org/fhir/R4/valueset-task-status.html).
TASK_STATUS: Final[dict[Step, str]] = {
    Step.SIGNAL: "requested",
    Step.TRIAGED: "accepted",
    Step.VERIFICATION: "in-progress",
    Step.EVENT: "in-progress",
    Step.RESPONSE: "in-progress",
    Step.CLOSED: "completed",
}

#: The decisions an action takes, by action (an action without decisions takes none).
DECISIONS: Final[dict[Action, tuple[str, ...]]] = {
    Action.TRIAGE: ("verify", "discard", "duplicate"),
    Action.VERIFY: ("confirmed", "not-confirmed"),
    Action.CLOSE: ("event-over", "false-alarm", "merged", "other"),
}

#: Why an alert was closed (``Task.statusReason``): the closing decisions and the early ends.
CLOSURE_REASONS: Final[dict[str, tuple[str, str]]] = {
    "discarded": ("Loại bỏ khi sàng lọc", "discarded at triage"),
    "duplicate": ("Trùng với tín hiệu khác", "duplicate of another signal"),
    "not-confirmed": ("Không xác minh được", "not confirmed at verification"),
    "event-over": ("Sự kiện đã kết thúc", "the event is over"),
    "false-alarm": ("Báo động giả", "false alarm"),
    "merged": ("Gộp vào sự kiện khác", "merged into another event"),
    "other": ("Lý do khác", "other reason"),
}

#: The roles that may take each action (platform role codes, :mod:`senhealth.security.roles`).
ACTION_ROLES: Final[dict[Action, frozenset[str]]] = {action: frozenset({"cdc_officer"}) for action in Action}

_FROM: Final[dict[Action, frozenset[Step]]] = {
    Action.TRIAGE: frozenset({Step.SIGNAL}),
    Action.ASSIGN: frozenset({Step.TRIAGED, Step.VERIFICATION}),
    Action.VERIFY: frozenset({Step.VERIFICATION}),
    Action.RESPOND: frozenset({Step.EVENT, Step.RESPONSE}),
    Action.CLOSE: frozenset({Step.EVENT, Step.RESPONSE}),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of an allowed action: the step before and after, and the closure reason if it closes."""

    action: Action
    before: Step
    after: Step
    decision: str | None = None
    closure: str | None = None  # a key of CLOSURE_REASONS when ``after`` is closed


def allowed_actions(step: Step) -> list[Action]:
    """The actions a person may take at ``step``, in workflow order."""
    return [a for a in Action if step in _FROM[a]]


def may(action: Action, roles: Iterable[str], *, is_owner: bool = False) -> bool:
    """Whether a caller with ``roles`` may take ``action`` (``is_owner``: the caller is the assigned officer)."""
    if not ACTION_ROLES[action] & frozenset(roles):
        return False
    return action is not Action.VERIFY or is_owner


def transition(step: Step, action: Action, decision: str | None = None) -> Transition:
    """Where ``action`` with ``decision`` takes an alert at ``step``; :class:`WorkflowError` if nowhere."""
    if step not in _FROM[action]:
        doable = ", ".join(a.value for a in allowed_actions(step)) or "none"
        raise WorkflowError(
            f"Cảnh báo đang ở bước {step.value}: không thể {action.value} / the alert is at step "
            f"{step.value}: {action.value} is not allowed (allowed: {doable})"
        )
    choices = DECISIONS.get(action)
    if choices is not None:
        if decision not in choices:
            raise WorkflowError(
                f"Quyết định không hợp lệ / {action.value} needs a decision, one of {', '.join(choices)}"
                f" (got {decision!r})",
                400,
                "invalid",
            )
    elif decision is not None:
        raise WorkflowError(f"{action.value} takes no decision", 400, "invalid")
    if action is Action.TRIAGE:
        if decision == "verify":
            return Transition(action, step, Step.TRIAGED, decision)
        return Transition(
            action, step, Step.CLOSED, decision, "discarded" if decision == "discard" else "duplicate"
        )
    if action is Action.ASSIGN:
        return Transition(action, step, Step.VERIFICATION)
    if action is Action.VERIFY:
        if decision == "confirmed":
            return Transition(action, step, Step.EVENT, decision)
        return Transition(action, step, Step.CLOSED, decision, "not-confirmed")
    if action is Action.RESPOND:
        return Transition(action, step, Step.RESPONSE)
    return Transition(action, step, Step.CLOSED, decision, decision)
