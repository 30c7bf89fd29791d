"""The background purge (task ``emr.retention_purge``): destroy documents whose retention has ended.

Spec: the job queue :mod:`senhealth.core.queue`; what a purge does and refuses: :mod:`.purge`. The
worker imports this module through ``senhealth.jobs.registry.TASK_MODULES``.

Arguments: ``reason`` (required: the destruction decision, recorded in the audit), ``compositions``
(ids; absent: every document due), ``as_of`` (ISO date; default today), ``dry_run``, ``requested_by``
(who asked: recorded as the audit event's principal). Documents still under retention, kept
permanently or on hold are refused and listed in the job's result, never destroyed. No schedule is
registered: destroying records is a decision of the facility (a destruction council), not a timer.
A run is not retried (a refused document would be refused again; a failure leaves nothing half-done:
each document is purged in its own transaction).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, PermanentFailure, task
from senhealth.emr.retention.purge import PurgeError, purge
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore

__all__ = ["TASK", "retention_purge_job"]

TASK: Final = "emr.retention_purge"


@task(TASK, retries=0)
async def retention_purge_job(
    job: JobContext,
    *,
    reason: str,
    compositions: list[str] | None = None,
    as_of: str | None = None,
    dry_run: bool = False,
    requested_by: str | None = None,
    zone: str = "Asia/Ho_Chi_Minh",
) -> dict[str, Any]:
    """Run :func:`senhealth.emr.retention.purge.purge`; the result lists what was purged and refused."""
    try:
        when = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise PermanentFailure(f"as_of must be an ISO date (YYYY-MM-DD), not {as_of!r}") from None
    principal = Principal(kind="system", subject=requested_by or TASK, roles=frozenset({"system"}))
    await job.progress(0, None, "retention purge started")
    try:
        report = await purge(
            FhirStore(get_pool()), compositions, as_of=when, zone=zone, dry_run=dry_run, principal=principal,
            reason=reason,
        )  # fmt: skip
    except PurgeError as e:
        raise PermanentFailure(str(e)) from None
    await job.progress(len(report.purged) + len(report.refused), None, "retention purge finished")
    return {
        **report.summary(),
        "purged_documents": [p.composition for p in report.purged],
        "refused_documents": [
            {"composition": r.composition, "decision": r.decision, "reason": r.reason} for r in report.refused
        ],
    }
