"""Background jobs of case reporting and the surveillance series.

Spec: the job queue :mod:`senhealth.core.queue` (procrastinate); what the jobs do:
:mod:`senhealth.surveillance.cases` and :mod:`senhealth.surveillance.series`. The worker imports this
module through ``senhealth.jobs.registry.TASK_MODULES``.

- ``surveillance.detect`` (``patient``): reconcile the person's case reports with their records (and the
  series with them, in the same transaction); queued by the write hook
  (:func:`senhealth.surveillance.cases.install_case_detection`), one waiting job per patient. Retried
  twice (a deadlock, a restart): detection is idempotent.
- ``surveillance.rebuild_series``: recompute every count from the case index.
- ``surveillance.population_from_index`` (``year``): count residents per commune from the patient index
  (configured figures are kept).
- ``surveillance.detection_run`` (``start``, ``end``: ISO weeks, ``diseases``: keys, ``requested_by``, all
  optional): the detectors over every watched disease × area, every alarm an alert
  (:func:`senhealth.surveillance.detection.detection_run`). Scheduled hourly (``SENHEALTH_DETECTION_CRON``),
  queued a few seconds after a case report changes the series
  (:func:`senhealth.surveillance.detection.install_detection_trigger`) and on demand (``senhealth surveillance
  run --queue``). ``SENHEALTH_DETECTION_ENABLED=false`` stops the scheduled and triggered runs, not the ones
  asked for (``requested_by``).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from senhealth.core.db import get_pool, transaction
from senhealth.core.queue import AlreadyQueued, JobContext, PermanentFailure, enqueue, schedule, task
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.cases.config import get_config
from senhealth.surveillance.cases.detect import detect_for_patient
from senhealth.surveillance.cases.hook import DETECT_TASK
from senhealth.surveillance.detection import RUN_TASK, detection_run
from senhealth.surveillance.detection import get_config as detection_config
from senhealth.surveillance.detection.trigger import RUN_LOCK
from senhealth.surveillance.series.counts import rebuild
from senhealth.surveillance.series.population import count_from_patient_index

__all__ = [
    "POPULATION_TASK",
    "REBUILD_TASK",
    "RUN_SCHEDULE_ID",
    "RUN_TASK",
    "detect_job",
    "detection_run_job",
    "population_job",
    "rebuild_job",
]

REBUILD_TASK = "surveillance.rebuild_series"
POPULATION_TASK = "surveillance.population_from_index"
RUN_SCHEDULE_ID = "hourly"


@task(DETECT_TASK, retries=2, backoff_s=2)
async def detect_job(job: JobContext, *, patient: str) -> dict[str, Any]:
    """Reconcile the case reports of ``patient``'s person."""
    done = await detect_for_patient(FhirStore(get_pool()), patient, auto_report=get_config().auto_report)
    return done.as_json()


@task(REBUILD_TASK)
async def rebuild_job(job: JobContext) -> dict[str, Any]:
    """Recompute the series from the case index."""
    async with transaction() as conn:
        cases = await rebuild(conn)
    return {"cases": cases}


@task(POPULATION_TASK)
async def population_job(job: JobContext, *, year: int) -> dict[str, Any]:
    """Count the patient index's residents per commune for ``year``."""
    async with transaction() as conn:
        communes = await count_from_patient_index(conn, year)
    return {"communes": communes}


@task(RUN_TASK, retries=2, backoff_s=30)
async def detection_run_job(
    job: JobContext,
    *,
    start: str | None = None,
    end: str | None = None,
    diseases: list[str] | None = None,
    requested_by: str | None = None,
    trigger: str = "schedule",
) -> dict[str, Any]:
    """Run the detectors and open the signals (see the module docstring)."""
    if requested_by is None and not detection_config().enabled:
        return {"disabled": True, "trigger": trigger}
    principal = (
        Principal(kind="system", subject=requested_by, roles=frozenset({"system"})) if requested_by else None
    )
    before = await _recent_series()
    try:
        report = await detection_run(
            FhirStore(get_pool()),
            start=start,
            end=end,
            diseases=diseases,
            principal=principal,
            now=job.scheduled_for,
        )
    except ValueError as e:  # a bad range or configuration: retrying would not help
        raise PermanentFailure(str(e)) from None
    if trigger == "series" and await _recent_series() != before:
        # A case report committed while this run read the series may have found this job still waiting (and
        # queued nothing, under the queueing lock): one more run reads it.
        due = datetime.now(UTC) + timedelta(seconds=detection_config().debounce_s)
        async with transaction() as conn:
            with contextlib.suppress(AlreadyQueued):
                await enqueue(RUN_TASK, {"trigger": "series"}, conn=conn, run_at=due, dedupe_key=RUN_LOCK)
    return {**report.as_json(), "trigger": trigger}


async def _recent_series() -> tuple[int, ...]:
    """A fingerprint of the weekly counts of the last 12 weeks: it changes when a case report moves them."""
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), coalesce(sum(cases), 0), coalesce(sum(confirmed), 0), coalesce(sum(deaths), 0) "
            "FROM surveillance_count_week WHERE week_start >= current_date - 84"
        )
        row = await cur.fetchone()
    return tuple(int(v) for v in row) if row else ()


schedule(RUN_TASK, cron=detection_config().cron, schedule_id=RUN_SCHEDULE_ID)
