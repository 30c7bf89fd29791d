"""Background jobs of the check-up domain: risk and registry recomputation, reminders.

Spec: the job queue :mod:`senhealth.core.queue` (procrastinate); what the jobs do:
:mod:`senhealth.checkup.assessment` and :mod:`senhealth.checkup.registries`. The worker imports this module
through ``senhealth.jobs.registry.TASK_MODULES``.

- ``checkup.assess`` (``patient``): recompute the patient's RiskAssessment and registry enrolment; queued by
  the write hook (:func:`senhealth.checkup.assessment.install_assessment`) with one waiting job per patient.
  Retried twice on failure (a deadlock, a restart).
- ``checkup.remind`` (``to``, ``text``, ``reference``, ``patient``, ``attempt``): one attempt to send a
  reminder; a failure queues the next attempt with back-off (:mod:`senhealth.checkup.registries.reminders`)
  and fails this job, so every attempt is visible in the job list.
- ``checkup.overdue_reminders`` (``organization``): queue reminders for a station's overdue patients.
"""

from __future__ import annotations

from typing import Any

from senhealth.checkup.assessment import ASSESS_TASK, assess
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.registries.enrolment import enrol
from senhealth.checkup.registries.reminders import (
    REMIND_TASK,
    ReminderFailed,
    queue_overdue_reminders,
    queue_reminder,
    reminder_sender,
)
from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, PermanentFailure, task
from senhealth.fhir.store import FhirStore

__all__ = ["OVERDUE_TASK", "assess_job", "overdue_reminders_job", "remind_job"]

OVERDUE_TASK = "checkup.overdue_reminders"


@task(ASSESS_TASK, retries=2, backoff_s=5)
async def assess_job(job: JobContext, *, patient: str) -> dict[str, Any]:
    """Recompute ``patient``'s risks and registry enrolment."""
    store = FhirStore(get_pool())
    done = await assess(store, patient)
    enrolled = await enrol(store, patient)
    return {
        "riskAssessments": [str(r["id"]) for r in done.risk_assessments],
        "notAssessed": [f"{n.code}: {n.reason}" for n in done.not_assessed],
        "written": done.written,
        "enrolled": [str(e["id"]) for e in enrolled.created],
    }


@task(REMIND_TASK)
async def remind_job(
    job: JobContext, *, to: str, text: str, reference: str, patient: str = "", attempt: int = 1
) -> dict[str, Any]:
    """One attempt to send a reminder; on failure the next attempt is queued (see the module docstring)."""
    sender = reminder_sender()
    if sender is None:
        raise PermanentFailure("no reminder gateway is configured (SENHEALTH_CHECKUP_REMINDER_WEBHOOK_URL)")
    try:
        await sender.send(to, text, extra={"reference": reference, "patient": patient})
    except ReminderFailed as e:
        config = get_config()
        if attempt >= config.reminder_attempts:
            raise PermanentFailure(f"attempt {attempt}, the last: {e}") from None
        delay = min(config.reminder_backoff_max_s, config.reminder_backoff_s * 2 ** (attempt - 1))
        await queue_reminder(
            to, text, reference=reference, patient=patient, attempt=attempt + 1, delay_s=delay
        )
        raise PermanentFailure(f"attempt {attempt}: {e}; attempt {attempt + 1} in {delay:g} s") from None
    return {"sent": reference, "attempt": attempt}


@task(OVERDUE_TASK)
async def overdue_reminders_job(job: JobContext, *, organization: str) -> dict[str, Any]:
    """Queue reminders for the overdue patients of ``organization``."""
    queued = await queue_overdue_reminders(FhirStore(get_pool()), organization)
    return {"queued": queued}
