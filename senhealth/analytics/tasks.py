"""The background job that refreshes materialised views (task ``analytics.refresh_view``).

Spec: https://sql-on-fhir.org/ig/latest/ (views); the job queue: :mod:`senhealth.core.queue`; what a
refresh does: :mod:`senhealth.analytics.materialise`.

``analytics.refresh_view`` with ``target`` (``postgres:<schema>.<table>`` or ``parquet:<dir>``) refreshes
that target; without it, every materialised target (one that fails does not stop the others; the job
then fails with their reasons, and is retried). A refresh with nothing new to apply reads one page
of the change feed and stops, so the schedule :data:`CRON` (every 15 minutes, all targets) costs little
when nothing changed. Runs on one target never overlap (a transaction-level advisory lock per target).
The worker imports this module through ``senhealth.jobs.registry.TASK_MODULES``.
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, schedule, task
from senhealth.fhir.store import FhirStore

from .materialise import MaterialiseError, Target, refresh, refresh_all

__all__ = ["CRON", "TASK", "refresh_view_job"]

TASK: Final = "analytics.refresh_view"
#: Every 15 minutes: refresh every materialised view.
CRON: Final = "*/15 * * * *"


@task(TASK, retries=3, backoff_s=60)
async def refresh_view_job(job: JobContext, *, target: str | None = None) -> dict[str, Any]:
    """Refresh ``target`` (or every target); progress and a summary on the job."""
    pool = get_pool()
    param_ids = await FhirStore(pool).param_ids()
    if target:
        reports = [await refresh(pool, Target.parse(target), param_ids=param_ids)]
    else:
        reports = await refresh_all(pool, param_ids=param_ids)
    for i, r in enumerate(reports, 1):
        await job.progress(i, len(reports), r.summary())
    failed = [r.summary() for r in reports if r.error is not None]
    if failed:  # the others were refreshed; the job fails (and is retried) for these
        raise MaterialiseError("; ".join(failed))
    return {
        "targets": len(reports),
        "changed": sum(r.changed for r in reports),
        "inserted": sum(r.inserted for r in reports),
        "deleted": sum(r.deleted for r in reports),
        "built": sum(1 for r in reports if r.built),
    }


schedule(TASK, cron=CRON, args={}, schedule_id="every-15-min")
