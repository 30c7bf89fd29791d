"""Escalation: alerts overdue at their step are escalated, one level at a time, each level once.

Spec: the due time of the current step is the Task's ``restriction.period.end``
(https://hl7.org/fhir/R4/task-definitions.html#Task.restriction, "when fulfilment is sought"); the steps
and their default durations: :mod:`.workflow`, :mod:`.config`.

An alert whose due time has passed reaches level 1; every ``escalation_interval_hours`` after that it
reaches the next level, up to the number of ``escalation_levels`` (at least one). Each level is recorded on
the Task once per step and due time (extension ``alert-escalation``: ``step``, ``level``, ``due``, ``at``),
with a note and an audit event, and notifies that level's recipients plus the assigned officer and the
webhook (:mod:`.notify`). A new step or a new due time (re-assignment) starts again at level 1.
:func:`escalate_overdue` is what the job ``surveillance.alert_escalate`` runs (every 15 minutes,
:mod:`.tasks`); two runs at once cannot record a level twice (each write is conditional on the version read).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.surveillance.alerts.config import get_config
from senhealth.surveillance.alerts.model import Alert
from senhealth.surveillance.alerts.store import open_alerts, record_escalation

__all__ = ["Escalated", "escalate_overdue", "level_reached"]


@dataclass(frozen=True, slots=True)
class Escalated:
    alert: str  # Task/<id>
    step: str
    level: int


def level_reached(alert: Alert, now: datetime) -> int:
    """The escalation level ``alert`` has reached at ``now`` (0: not overdue)."""
    if alert.due is None or now <= alert.due:
        return 0
    config = get_config()
    levels = max(1, len(config.escalation_levels))
    steps = int((now - alert.due) / timedelta(hours=config.escalation_interval_hours))
    return min(levels, 1 + steps)


def _done(alert: Alert) -> set[int]:
    return {e.level for e in alert.escalations if e.step == alert.step.value and e.due == alert.due}


async def _owner_emails(store: FhirStore, alert: Alert) -> list[str]:
    if alert.owner is None or not alert.owner.startswith("Practitioner/"):
        return []
    with contextlib.suppress(NotFound, Gone):
        person = (await store.read("Practitioner", alert.owner.removeprefix("Practitioner/"))).content or {}
        return [
            t["value"] for t in person.get("telecom") or [] if t.get("system") == "email" and t.get("value")
        ]
    return []


async def escalate_overdue(store: FhirStore, *, now: datetime | None = None) -> list[Escalated]:
    """Escalate every overdue open alert to the level it has reached; the escalations recorded."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    config = get_config()
    out: list[Escalated] = []
    for alert in await open_alerts(store):
        reached = level_reached(alert, when)
        missing = [level for level in range(1, reached + 1) if level not in _done(alert)]
        if not missing:
            continue
        owner = await _owner_emails(store, alert)
        current: Alert | None = alert
        for level in missing:
            assert current is not None
            recipients = config.escalation_levels[level - 1] if level <= len(config.escalation_levels) else []
            current = await record_escalation(store, current, level, [*recipients, *owner], now=when)
            if current is None:  # changed meanwhile: the next run sees the new state
                break
            out.append(Escalated(current.reference, current.step.value, level))
    return out
