"""Alerts in the FHIR store: opening a signal from a detector's result, and every step after it.

Spec: https://hl7.org/fhir/R4/task.html (the shape: :mod:`.model`), https://hl7.org/fhir/R4/http.html#versioning
(each step is an update with If-Match on the version read, so two officers acting at once cannot both
succeed: the second gets :class:`~senhealth.fhir.store.VersionConflict`), the steps and who may take them:
:mod:`.workflow`.

Each step runs in ONE transaction that writes the Task's new version (a note with the author and time),
records an audit event (:class:`senhealth.fhir.access.AccessEvent`, ``query`` = ``alert-<step>``, through the
installed audit sink) and queues the notifications (:mod:`.notify`): all three or none.

:func:`open_signal` is the interface for the detectors' runs (scheduled or on demand): it takes one
detector result for (disease, area, week) and opens the signal idempotently: one Task per
disease × area × week × method (its id is derived from that key, so concurrent runs meet on the same
row). Run again while the signal is open, it updates the counts (a new version, when they changed); once
the signal is closed it stays closed: a person decided, and the decision is in the history.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import Conflict, FhirStore, Gone, NotFound
from senhealth.fhir.store.store import StoreTx
from senhealth.surveillance.alerts.config import get_config
from senhealth.surveillance.alerts.model import (
    ALERT_SYSTEM,
    CLOSURE_SYSTEM,
    ESCALATION_URL,
    ICD10,
    INPUT_SYSTEM,
    SIGNAL_ID_SYSTEM,
    STEP_SYSTEM,
    Alert,
    DetectorResult,
    area_system,
    fhir_time,
    is_alert,
)
from senhealth.surveillance.alerts.notify import messages_for, queue_notifications
from senhealth.surveillance.alerts.workflow import (
    CLOSURE_REASONS,
    TASK_STATUS,
    Action,
    Step,
    Transition,
    WorkflowError,
    may,
    transition,
)

__all__ = [
    "ACTION_STATUSES",
    "AlertNotFound",
    "Opened",
    "StepDone",
    "alert_history",
    "assign",
    "close",
    "open_alerts",
    "open_signal",
    "open_signals",
    "read_alert",
    "record_escalation",
    "respond",
    "response_actions",
    "triage",
    "verify",
]

#: The statuses a response action may be set to (https://hl7.org/fhir/R4/valueset-task-status.html).
ACTION_STATUSES: Final = ("requested", "in-progress", "completed", "cancelled")
_FINISHED: Final = frozenset({"completed", "cancelled"})
_SYSTEM_AUTHOR: Final = "Hệ thống giám sát / surveillance system"


class AlertNotFound(WorkflowError):
    """No alert Task with that id (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 404, "not-found")


@dataclass(frozen=True, slots=True)
class Opened:
    """What :func:`open_signal` did: ``opened`` (a new signal), ``updated`` (new counts), or neither."""

    alert: Alert
    opened: bool
    updated: bool = False


@dataclass(frozen=True, slots=True)
class StepDone:
    """A step taken: the alert's new version, the transition, and the response action touched (respond)."""

    alert: Alert
    transition: Transition
    action: dict[str, Any] | None = None
    jobs: tuple[int, ...] = ()


@dataclass(slots=True)
class _Prep:
    """What a step's own preparation adds: the due time, e-mail recipients, the action Task, the event, a
    text for the step's note (besides the caller's note)."""

    due: datetime | None
    emails: list[str] = field(default_factory=list)
    action: dict[str, Any] | None = None
    event: str = "step"
    text: str = ""


# --- building blocks -------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _concept(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _input(name: str, **value: Any) -> dict[str, Any]:
    return {"type": _concept(INPUT_SYSTEM, name), **value}


def _kept(value: float | None) -> int | float | None:
    """A detector number as the alert keeps it (6 decimals): what a re-run's numbers are compared with."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _decimal(name: str, value: float | None) -> dict[str, Any] | None:
    number = _kept(value)
    if number is None:
        return None
    return _input(name, valueDecimal=number)


def _inputs(result: DetectorResult) -> list[dict[str, Any]]:
    items = [
        _input("disease", valueCodeableConcept=_concept(ICD10, result.disease, result.disease_display)),
        _input(
            "area", valueCodeableConcept=_concept(area_system(result.area), result.area, result.area_display)
        ),
        _input("week", valueString=result.week),
        _input("method", valueString=result.method),
        _decimal("observed", result.observed),
        _decimal("expected", result.expected),
        _decimal("upperbound", result.upperbound),
    ]
    return [i for i in items if i is not None]


def _author(principal: Principal | None) -> dict[str, Any]:
    if principal is None or principal.kind == "system":
        return {"authorString": principal.subject if principal else _SYSTEM_AUTHOR}
    practitioner = (principal.practitioner or "").removeprefix("Practitioner/")
    if practitioner:
        return {"authorReference": {"reference": f"Practitioner/{practitioner}"}}
    return {"authorString": principal.subject}


def _note(task: dict[str, Any], principal: Principal | None, when: datetime, text: str) -> None:
    task.setdefault("note", []).append({**_author(principal), "time": fhir_time(when), "text": text})


def _due_after(step: Step, when: datetime) -> datetime | None:
    c = get_config()
    hours = {
        Step.SIGNAL: c.triage_hours,
        Step.TRIAGED: c.assign_hours,
        Step.VERIFICATION: c.verification_hours,
        Step.EVENT: c.response_start_hours,
        Step.RESPONSE: c.response_review_hours,
    }.get(step)
    return None if hours is None else when + timedelta(hours=hours)


def _set_step(task: dict[str, Any], step: Step, when: datetime, due: datetime | None) -> None:
    task["status"] = TASK_STATUS[step]
    task["businessStatus"] = _concept(STEP_SYSTEM, step.value)
    task["lastModified"] = fhir_time(when)
    if due is None:
        task.pop("restriction", None)
    else:
        task["restriction"] = {"period": {"end": fhir_time(due)}}
    if step is Step.CLOSED:
        task["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": fhir_time(when)}


async def _audit(
    tx: StoreTx, principal: Principal | None, alert: Alert, event: str, when: datetime, **details: Any
) -> None:
    await audit_sink().record(
        tx.conn,
        AccessEvent(
            when=when,
            principal=principal,
            action="create" if event == "signal-opened" else "update",
            res_type="Task",
            res_id=alert.id,
            query=f"alert-{event}",
            details={"event": event, "step": alert.step.value, "version": alert.version, **details},
        ),
    )


async def _notify(
    tx: StoreTx,
    event: str,
    alert: Alert,
    *,
    emails: Iterable[str] = (),
    level: int | None = None,
    note: str = "",
) -> tuple[int, ...]:
    reference = f"{alert.id}:{alert.version}:{event}" + (f":{level}" if level is not None else "")
    messages = messages_for(event, alert, emails=list(emails), level=level, note=note, reference=reference)
    return tuple(await queue_notifications(messages, tx.conn))


async def _read(tx: StoreTx, alert_id: str) -> Alert:
    try:
        stored = await tx.read("Task", alert_id)
    except (NotFound, Gone):
        raise AlertNotFound(f"Không có cảnh báo / no alert Task/{alert_id}") from None
    if stored.content is None or not is_alert(stored.content):
        raise AlertNotFound(f"Task/{alert_id} is not an outbreak alert")
    return Alert.from_task(stored.content)


async def _save(tx: StoreTx, task: dict[str, Any], version: int) -> Alert:
    stored, _ = await tx.update(task, if_match=version)
    assert stored.content is not None
    return Alert.from_task(stored.content)


def _is_owner(principal: Principal | None, alert: Alert) -> bool:
    if principal is None or alert.owner is None:
        return principal is None
    mine = (principal.practitioner or "").removeprefix("Practitioner/")
    return bool(mine) and alert.owner == f"Practitioner/{mine}"


def _check(action: Action, principal: Principal | None, alert: Alert) -> None:
    """Who may: a trusted in-process caller (no principal), or a principal the workflow allows."""
    if principal is None:
        return
    owner = _is_owner(principal, alert)
    if not may(action, principal.roles, is_owner=owner):
        if action is Action.VERIFY and may(action, principal.roles, is_owner=True):
            raise WorkflowError(
                f"Chỉ cán bộ được phân công ({alert.owner}) mới xác minh / only the assigned officer verifies",
                403,
                "forbidden",
            )
        raise WorkflowError(
            f"Vai trò của bạn không được {action.value} cảnh báo / your role may not {action.value} alerts",
            403,
            "forbidden",
        )


# --- opening a signal ------------------------------------------------------------------------------------


def _signal_task(result: DetectorResult, when: datetime) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": SIGNAL_ID_SYSTEM, "value": result.key}],
        "intent": "order",
        "priority": "urgent",
        "code": _concept(ALERT_SYSTEM, "alert", "Cảnh báo dịch / outbreak alert"),
        "description": (
            f"Tín hiệu {result.method}: {result.disease_display or result.disease} tại "
            f"{result.area_display or result.area}, tuần {result.week}"
        ),
        "authoredOn": fhir_time(when),
        "requester": {"display": f"Bộ phát hiện / detector {result.method}"},
        "executionPeriod": {"start": fhir_time(when)},
        "input": _inputs(result),
    }
    _set_step(task, Step.SIGNAL, when, _due_after(Step.SIGNAL, when))
    observed = f"{result.observed:g}"
    bound = "—" if result.upperbound is None else f"{result.upperbound:g}"
    _note(
        task,
        None,
        when,
        f"Tín hiệu mới: {observed} ca, ngưỡng {bound} / new signal: {observed} cases, threshold {bound}",
    )
    return task


async def _open_in(
    tx: StoreTx, result: DetectorResult, when: datetime, principal: Principal | None
) -> Opened:
    task_id = result.task_id
    try:
        stored = await tx.read("Task", task_id)
    except (NotFound, Gone):
        stored = None
    if stored is None:
        try:
            created = await tx.create(_signal_task(result, when), res_id=task_id)
        except Conflict:  # another run opened it first (or it was deleted: ids are never reused)
            created = None
        if created is not None:
            assert created.content is not None
            alert = Alert.from_task(created.content)
            await _audit(tx, principal, alert, "signal-opened", when, key=result.key)
            await _notify(tx, "signal-opened", alert, emails=get_config().signal_emails)
            return Opened(alert, opened=True)
        stored = await tx.read("Task", task_id)
    assert stored.content is not None
    alert = Alert.from_task(stored.content)
    fresh = (_kept(result.observed), _kept(result.expected), _kept(result.upperbound))
    if alert.step is Step.CLOSED or (alert.observed, alert.expected, alert.upperbound) == fresh:
        return Opened(alert, opened=False)
    task = copy.deepcopy(stored.content)
    kept = [i for i in task.get("input") or [] if (i.get("type") or {}).get("coding", [{}])[0].get("code")
            not in ("observed", "expected", "upperbound")]  # fmt: skip
    task["input"] = kept + [
        i
        for i in (
            _decimal("observed", result.observed),
            _decimal("expected", result.expected),
            _decimal("upperbound", result.upperbound),
        )
        if i is not None
    ]
    task["lastModified"] = fhir_time(when)
    _note(
        task,
        principal,
        when,
        f"Chạy lại bộ phát hiện: {alert.observed:g} → {result.observed:g} ca / detector re-run: observed "
        f"{alert.observed:g} → {result.observed:g}"
        if alert.observed is not None
        else f"Chạy lại bộ phát hiện / detector re-run: observed {result.observed:g}",
    )
    updated = await _save(tx, task, alert.version)
    await _audit(tx, principal, updated, "signal-updated", when, key=result.key)
    await _notify(tx, "step", updated)
    return Opened(updated, opened=False, updated=True)


async def open_signal(
    store: FhirStore,
    result: DetectorResult,
    *,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> Opened | None:
    """Open the signal of ``result`` (None when ``result`` has no alarm); see the module docstring.

    ``principal``: who runs the detectors (the scheduled job's system principal, or the officer who asked
    for an on-demand run), recorded in the audit event. ValueError when ``result`` is malformed.
    """
    if not result.alarm:
        return None
    result.check()
    when = _now(now)
    async with store.transaction() as tx:
        return await _open_in(tx, result, when, principal)


async def open_signals(
    store: FhirStore,
    results: Iterable[DetectorResult],
    *,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> list[Opened]:
    """:func:`open_signal` for each alarmed result, each in its own transaction (one bad row spoils nothing)."""
    out = []
    for result in results:
        done = await open_signal(store, result, now=now, principal=principal)
        if done is not None:
            out.append(done)
    return out


# --- the steps -------------------------------------------------------------------------------------------


async def _step(
    store: FhirStore,
    alert_id: str,
    action: Action,
    *,
    principal: Principal | None,
    decision: str | None = None,
    note: str = "",
    now: datetime | None = None,
    prepare: Any = None,
) -> StepDone:
    """Take ``action``: check step and caller, let ``prepare(tx, alert, task, transition, when)`` fill the
    Task (and return the due time, the e-mail recipients, an action Task), save, audit, notify."""
    when = _now(now)
    async with store.transaction() as tx:
        alert = await _read(tx, alert_id)
        move = transition(alert.step, action, decision)
        _check(action, principal, alert)
        task = copy.deepcopy(alert.content)
        prep = _Prep(_due_after(move.after, when))
        if prepare is not None:
            prep = await prepare(tx, alert, task, move, when, prep.due)
        due, emails, extra, event = prep.due, prep.emails, prep.action, prep.event
        _set_step(task, move.after, when, due)
        if move.closure is not None:
            vi, en = CLOSURE_REASONS[move.closure]
            task["statusReason"] = _concept(CLOSURE_SYSTEM, move.closure, f"{vi} / {en}")
        said = " — ".join(t for t in (prep.text, note) if t)
        text = f"[{action.value}{'' if decision is None else ': ' + decision}] {said}".strip()
        _note(task, principal, when, text)
        saved = await _save(tx, task, alert.version)
        details: dict[str, Any] = {"action": action.value, "from": move.before.value, "to": move.after.value}
        if decision is not None:
            details["decision"] = decision
        if extra is not None:
            details["responseAction"] = f"Task/{extra['id']}"
        await _audit(tx, principal, saved, action.value, when, **details)
        jobs = await _notify(tx, event, saved, emails=emails, note=note)
        return StepDone(saved, move, extra, jobs)


def _need_note(note: str | None, what: str) -> str:
    if not note or not note.strip():
        raise WorkflowError(f"Cần ghi chú / {what} needs a note", 400, "required")
    return note.strip()


async def triage(
    store: FhirStore,
    alert_id: str,
    decision: str,
    *,
    principal: Principal | None,
    note: str = "",
    duplicate_of: str | None = None,
    now: datetime | None = None,
) -> StepDone:
    """Triage a signal: ``verify`` (keep it: it waits for an officer), ``discard`` or ``duplicate`` (closes)."""

    async def prepare(tx: StoreTx, alert: Alert, task: dict[str, Any], move: Transition, when: datetime,
                      due: datetime | None) -> _Prep:  # fmt: skip
        if decision == "duplicate":
            if not duplicate_of:
                raise WorkflowError("duplicate needs the signal it repeats (duplicateOf)", 400, "required")
            other = await _read(tx, duplicate_of.removeprefix("Task/"))
            if other.id == alert.id:
                raise WorkflowError("a signal cannot duplicate itself", 400, "invalid")
            task["partOf"] = [{"reference": other.reference}]
        return _Prep(due)

    return await _step(store, alert_id, Action.TRIAGE, principal=principal, decision=decision, note=note,
                       now=now, prepare=prepare)  # fmt: skip


async def assign(
    store: FhirStore,
    alert_id: str,
    owner: str,
    *,
    principal: Principal | None,
    due: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> StepDone:
    """Assign the verifying officer (``Practitioner/<id>``) and the due time (default: ``verification_hours``)."""
    practitioner_id = owner.removeprefix("Practitioner/")
    if due is not None and due.tzinfo is None:
        raise WorkflowError("due must carry a time zone", 400, "invalid")

    async def prepare(tx: StoreTx, alert: Alert, task: dict[str, Any], move: Transition, when: datetime,
                      default_due: datetime | None) -> _Prep:  # fmt: skip
        try:
            stored = await tx.read("Practitioner", practitioner_id)
        except (NotFound, Gone):
            raise WorkflowError(f"Practitioner/{practitioner_id} is not known", 422, "not-found") from None
        person = stored.content or {}
        names = person.get("name") or [{}]
        display = (
            names[0].get("text") or " ".join([names[0].get("family", ""), *names[0].get("given", [])]).strip()
        )
        task["owner"] = {
            "reference": f"Practitioner/{practitioner_id}",
            **({"display": display} if display else {}),
        }
        emails = [
            t["value"] for t in person.get("telecom") or [] if t.get("system") == "email" and t.get("value")
        ]
        when_due = due or default_due
        if when_due is not None and when_due <= when:
            raise WorkflowError("due must be in the future", 400, "invalid")
        return _Prep(when_due, emails, event="assigned")

    return await _step(
        store, alert_id, Action.ASSIGN, principal=principal, note=note, now=now, prepare=prepare
    )


async def verify(
    store: FhirStore,
    alert_id: str,
    outcome: str,
    *,
    principal: Principal | None,
    note: str,
    now: datetime | None = None,
) -> StepDone:
    """The assigned officer's verification: ``confirmed`` (an event) or ``not-confirmed`` (closed); a note."""
    text = _need_note(note, "verification")

    async def prepare(tx: StoreTx, alert: Alert, task: dict[str, Any], move: Transition, when: datetime,
                      due: datetime | None) -> _Prep:  # fmt: skip
        task["output"] = [
            o for o in task.get("output") or [] if (o.get("type") or {}).get("text") != "verification"
        ]
        task["output"].append({"type": {**_concept(INPUT_SYSTEM, "verification"), "text": "verification"},
                               "valueCode": outcome})  # fmt: skip
        return _Prep(due)

    return await _step(store, alert_id, Action.VERIFY, principal=principal, decision=outcome, note=text, now=now,
                       prepare=prepare)  # fmt: skip


async def respond(
    store: FhirStore,
    alert_id: str,
    *,
    principal: Principal | None,
    description: str | None = None,
    action_id: str | None = None,
    status: str | None = None,
    action_owner: str | None = None,
    action_due: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> StepDone:
    """Add a response action (``description``) or set the ``status`` of one (``action_id``); the alert
    moves to (or stays at) ``response`` with a new review due time."""
    if (description is None) == (action_id is None):
        raise WorkflowError(
            "name a new action (action) or an existing one (actionTask), not both", 400, "required"
        )
    if status is not None and status not in ACTION_STATUSES:
        raise WorkflowError(f"status must be one of {', '.join(ACTION_STATUSES)}", 400, "invalid")
    if action_id is not None and status is None:
        raise WorkflowError("an existing action needs its new status", 400, "required")

    async def prepare(tx: StoreTx, alert: Alert, task: dict[str, Any], move: Transition, when: datetime,
                      due: datetime | None) -> _Prep:  # fmt: skip
        if description is not None:
            if not description.strip():
                raise WorkflowError("the action needs a description", 400, "required")
            action: dict[str, Any] = {
                "resourceType": "Task",
                "status": status or "requested",
                "intent": "order",
                "code": _concept(ALERT_SYSTEM, "response-action", "Hành động đáp ứng / response action"),
                "description": description.strip(),
                "partOf": [{"reference": alert.reference}],
                "authoredOn": fhir_time(when),
                "lastModified": fhir_time(when),
            }
            if action_owner:
                action["owner"] = {"reference": action_owner}
            if action_due is not None:
                action["restriction"] = {"period": {"end": fhir_time(action_due)}}
            if principal is not None:
                _note(action, principal, when, note or description.strip())
            stored = await tx.create(action)
            task_note = f"+ {description.strip()}"
        else:
            assert action_id is not None and status is not None
            try:
                current = await tx.read("Task", action_id.removeprefix("Task/"))
            except (NotFound, Gone):
                raise WorkflowError(f"no response action {action_id}", 404, "not-found") from None
            content = copy.deepcopy(current.content or {})
            if not is_alert(content, "response-action") or {"reference": alert.reference} not in content.get(
                "partOf", []
            ):
                raise WorkflowError(
                    f"{action_id} is not a response action of {alert.reference}", 422, "invalid"
                )
            content["status"] = status
            content["lastModified"] = fhir_time(when)
            _note(content, principal, when, f"{status}{': ' + note if note else ''}")
            stored, _ = await tx.update(content, if_match=current.version)
            task_note = f"{content.get('description', action_id)} → {status}"
        assert stored.content is not None
        return _Prep(due, action=stored.content, text=task_note)

    return await _step(
        store, alert_id, Action.RESPOND, principal=principal, note=note, now=now, prepare=prepare
    )


async def close(
    store: FhirStore,
    alert_id: str,
    reason: str,
    *,
    principal: Principal | None,
    note: str,
    now: datetime | None = None,
) -> StepDone:
    """Close an event (``event-over``, ``false-alarm``, ``merged``, ``other``) with a summary; refused while
    a response action is neither completed nor cancelled."""
    text = _need_note(note, "closure")

    async def prepare(tx: StoreTx, alert: Alert, task: dict[str, Any], move: Transition, when: datetime,
                      due: datetime | None) -> _Prep:  # fmt: skip
        pending = [a for a in await _actions(tx, alert.id) if a.get("status") not in _FINISHED]
        if pending:
            names = "; ".join(f"Task/{a['id']} ({a.get('description', '')})" for a in pending)
            raise WorkflowError(f"Còn hành động đáp ứng chưa xong / response actions still open: {names}")
        return _Prep(due)

    return await _step(store, alert_id, Action.CLOSE, principal=principal, decision=reason, note=text, now=now,
                       prepare=prepare)  # fmt: skip


async def record_escalation(
    store: FhirStore, alert: Alert, level: int, emails: Iterable[str], *, now: datetime | None = None
) -> Alert | None:
    """Record escalation ``level`` of the alert's current step and queue its notifications; None when the
    alert changed since it was read (another run escalated it, or an officer acted: nothing is done)."""
    when = _now(now)
    async with store.transaction() as tx:
        try:
            current = await _read(tx, alert.id)
        except AlertNotFound:
            return None
        if current.version != alert.version:
            return None
        task = copy.deepcopy(current.content)
        parts: list[dict[str, Any]] = [
            {"url": "step", "valueCode": current.step.value},
            {"url": "level", "valueInteger": level},
            {"url": "at", "valueDateTime": fhir_time(when)},
        ]
        if current.due is not None:
            parts.insert(2, {"url": "due", "valueDateTime": fhir_time(current.due)})
        task.setdefault("extension", []).append({"url": ESCALATION_URL, "extension": parts})
        _note(task, None, when, f"Quá hạn bước {current.step.value}: nhắc cấp {level} / overdue at step "
                                f"{current.step.value}: escalated to level {level}")  # fmt: skip
        saved = await _save(tx, task, current.version)
        await _audit(tx, None, saved, "escalated", when, level=level, overdueStep=current.step.value)
        await _notify(tx, "escalated", saved, emails=emails, level=level)
        return saved


# --- reading -----------------------------------------------------------------------------------------------


async def read_alert(store: FhirStore, alert_id: str) -> Alert:
    """The current version of alert ``alert_id`` (:class:`AlertNotFound` otherwise)."""
    async with store.transaction() as tx:
        return await _read(tx, alert_id)


async def alert_history(store: FhirStore, alert_id: str) -> list[Alert]:
    """Every version of the alert, oldest first: the record of its steps."""
    out: list[Alert] = []
    cursor: str | None = None
    while True:
        page = await store.history("Task", alert_id, count=100, cursor=cursor)
        out += [Alert.from_task(e.content) for e in page.entries if e.content is not None]
        cursor = page.next_cursor
        if not cursor:
            return sorted(out, key=lambda a: a.version)


async def _actions(tx: StoreTx, alert_id: str) -> list[dict[str, Any]]:
    request = parse_search("Task", [("part-of", f"Task/{alert_id}"), ("code", f"{ALERT_SYSTEM}|response-action"),
                                    ("_count", "1000")])  # fmt: skip
    result = await search(tx.conn, request, await tx.store.param_ids())
    return [row.content for row in result.matches]


async def response_actions(store: FhirStore, alert_id: str) -> list[dict[str, Any]]:
    """The response action Tasks of an alert, oldest first."""
    async with store.transaction() as tx:
        actions = await _actions(tx, alert_id)
    return sorted(actions, key=lambda a: str(a.get("authoredOn", "")))


async def open_alerts(store: FhirStore, *, page: int = 500) -> list[Alert]:
    """Every alert not yet closed (the escalation job's and the inbox's list)."""
    statuses = ",".join(sorted({TASK_STATUS[s] for s in Step if s is not Step.CLOSED}))
    out: list[Alert] = []
    cursor: str | None = None
    params = await store.param_ids()
    while True:
        criteria = [("code", f"{ALERT_SYSTEM}|alert"), ("status", statuses), ("_count", str(page))]
        if cursor:
            criteria.append(("_cursor", cursor))
        async with store.transaction() as tx:
            result = await search(tx.conn, parse_search("Task", criteria), params)
        out += [Alert.from_task(r.content) for r in result.matches]
        cursor = result.next_cursor
        if not cursor:
            return [a for a in out if a.step is not Step.CLOSED]
