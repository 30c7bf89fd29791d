"""Background jobs of the outbreak alerts: notifications, escalation, on-demand signal opening.

Spec: the job queue :mod:`senhealth.core.queue` (procrastinate); what the jobs do: :mod:`.notify`,
:mod:`.escalation`, :mod:`.store`. The worker imports this module through
``senhealth.jobs.registry.TASK_MODULES``.

- ``surveillance.alert_notify`` (``channel``, ``reference``, ``subject``, ``text``, ``to``, ``payload``,
  ``attempt``): one attempt to deliver a notification; a failure queues the next attempt with back-off and
  fails this job, so every attempt is visible in the job list; the last failure fails for good.
- ``surveillance.alert_escalate`` (no arguments; every 15 minutes): :func:`.escalation.escalate_overdue`.
- ``surveillance.alert_open_signals`` (``results``: a list of ``{disease, area, week, method, observed,
  expected, upperbound, alarm, disease_display, area_display}``, ``requested_by``): opens the signals of an
  on-demand detector run (:func:`.store.open_signals`), recorded under ``requested_by``.
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, PermanentFailure, schedule, task
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.alerts.config import get_config
from senhealth.surveillance.alerts.escalation import escalate_overdue
from senhealth.surveillance.alerts.model import DetectorResult
from senhealth.surveillance.alerts.notify import (
    NOTIFY_TASK,
    Notification,
    NotificationFailed,
    notifier,
    queue_notification,
)
from senhealth.surveillance.alerts.store import open_signals

__all__ = ["ESCALATE_CRON", "ESCALATE_TASK", "OPEN_TASK", "escalate_job", "notify_job", "open_signals_job"]

ESCALATE_TASK: Final = "surveillance.alert_escalate"
ESCALATE_CRON: Final = "*/15 * * * *"
OPEN_TASK: Final = "surveillance.alert_open_signals"


@task(NOTIFY_TASK)
async def notify_job(job: JobContext, *, attempt: int = 1, **args: Any) -> dict[str, Any]:
    """One attempt to deliver a notification (see the module docstring)."""
    message = Notification.from_args(args)
    sender = notifier(message.channel)
    if sender is None:
        raise PermanentFailure(f"the {message.channel} channel is not configured (SENHEALTH_ALERTS_*)")
    try:
        await sender.send(message)
    except NotificationFailed as e:
        config = get_config()
        if attempt >= config.notify_attempts:
            raise PermanentFailure(f"attempt {attempt}, the last: {e}") from None
        delay = min(config.notify_backoff_max_s, config.notify_backoff_s * 2 ** (attempt - 1))
        await queue_notification(message, attempt=attempt + 1, delay_s=delay)
        raise PermanentFailure(f"attempt {attempt}: {e}; attempt {attempt + 1} in {delay:g} s") from None
    return {"sent": message.reference, "channel": message.channel, "attempt": attempt}


@task(ESCALATE_TASK, retries=2, backoff_s=30)
async def escalate_job(job: JobContext) -> dict[str, Any]:
    """Escalate the overdue alerts."""
    done = await escalate_overdue(FhirStore(get_pool()))
    return {"escalated": [f"{e.alert} {e.step} level {e.level}" for e in done]}


@task(OPEN_TASK, retries=2, backoff_s=10)
async def open_signals_job(
    job: JobContext, *, results: list[dict[str, Any]], requested_by: str = OPEN_TASK
) -> dict[str, Any]:
    """Open the signals of an on-demand detector run."""
    try:
        parsed = [DetectorResult(**r) for r in results]
        for r in parsed:
            r.check()
    except (TypeError, ValueError) as e:
        raise PermanentFailure(f"bad detector result: {e}") from None
    principal = Principal(kind="system", subject=requested_by, roles=frozenset({"system"}))
    done = await open_signals(FhirStore(get_pool()), parsed, principal=principal)
    return {
        "opened": [d.alert.reference for d in done if d.opened],
        "updated": [d.alert.reference for d in done if d.updated],
        "unchanged": [d.alert.reference for d in done if not d.opened and not d.updated],
    }


schedule(ESCALATE_TASK, cron=ESCALATE_CRON, schedule_id="every-15-min")
