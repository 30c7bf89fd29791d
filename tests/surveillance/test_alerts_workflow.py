"""The alert state machine: every allowed transition, every refused one, and who may take each action."""

from __future__ import annotations

import pytest

from senhealth.surveillance.alerts.workflow import (
    TASK_STATUS,
    Action,
    Step,
    WorkflowError,
    allowed_actions,
    may,
    transition,
)

ALLOWED = {
    (Step.SIGNAL, Action.TRIAGE, "verify"): (Step.TRIAGED, None),
    (Step.SIGNAL, Action.TRIAGE, "discard"): (Step.CLOSED, "discarded"),
    (Step.SIGNAL, Action.TRIAGE, "duplicate"): (Step.CLOSED, "duplicate"),
    (Step.TRIAGED, Action.ASSIGN, None): (Step.VERIFICATION, None),
    (Step.VERIFICATION, Action.ASSIGN, None): (Step.VERIFICATION, None),
    (Step.VERIFICATION, Action.VERIFY, "confirmed"): (Step.EVENT, None),
    (Step.VERIFICATION, Action.VERIFY, "not-confirmed"): (Step.CLOSED, "not-confirmed"),
    (Step.EVENT, Action.RESPOND, None): (Step.RESPONSE, None),
    (Step.RESPONSE, Action.RESPOND, None): (Step.RESPONSE, None),
    (Step.EVENT, Action.CLOSE, "false-alarm"): (Step.CLOSED, "false-alarm"),
    (Step.RESPONSE, Action.CLOSE, "event-over"): (Step.CLOSED, "event-over"),
}


@pytest.mark.parametrize(("start", "action", "decision"), list(ALLOWED))
def test_allowed_transitions(start: Step, action: Action, decision: str | None) -> None:
    move = transition(start, action, decision)
    assert (move.after, move.closure) == ALLOWED[(start, action, decision)]
    assert move.before is start and move.action is action


def test_every_other_step_action_pair_is_refused_with_409() -> None:
    allowed_pairs = {(s, a) for s, a, _ in ALLOWED}
    refused = 0
    for step in Step:
        for action in Action:
            if (step, action) in allowed_pairs:
                continue
            decision = {"triage": "verify", "verify": "confirmed", "close": "event-over"}.get(action.value)
            with pytest.raises(WorkflowError) as e:
                transition(step, action, decision)
            assert e.value.status == 409 and step.value in str(e.value)
            refused += 1
    assert refused == len(Step) * len(Action) - len(allowed_pairs) == 22
    assert allowed_actions(Step.CLOSED) == []
    assert allowed_actions(Step.RESPONSE) == [Action.RESPOND, Action.CLOSE]


def test_decisions_are_checked() -> None:
    with pytest.raises(WorkflowError, match="one of verify, discard, duplicate") as e:
        transition(Step.SIGNAL, Action.TRIAGE, "maybe")
    assert e.value.status == 400
    with pytest.raises(WorkflowError, match="takes no decision"):
        transition(Step.TRIAGED, Action.ASSIGN, "now")
    with pytest.raises(WorkflowError):
        transition(Step.VERIFICATION, Action.VERIFY, None)


def test_who_may() -> None:
    cdc = {"cdc_officer"}
    for action in Action:
        assert may(action, cdc, is_owner=True)
        for roles in ({"doctor"}, {"provincial_officer"}, {"patient"}, {"system"}, set()):
            assert not may(action, roles, is_owner=True)
    assert may(Action.ASSIGN, cdc) and not may(Action.VERIFY, cdc)  # only the assigned officer verifies


def test_task_status_of_each_step() -> None:
    assert TASK_STATUS[Step.SIGNAL] == "requested" and TASK_STATUS[Step.CLOSED] == "completed"
    assert set(TASK_STATUS) == set(Step)
