"""Bulk Data Access wired into the platform: the ``$export`` / ``$import`` operations and their jobs.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/ (OperationDefinitions ``export``, ``patient-export``,
``group-export``) and the import proposal https://github.com/smart-on-fhir/bulk-import. The pieces:
:mod:`senhealth.analytics.bulk_export`, :mod:`senhealth.analytics.bulk_import`; the HTTP routes (status,
cancel, files, NDJSON bodies): :mod:`senhealth.api.bulk`; docs/bulk.md.

- :func:`register_bulk_operations` adds the operations to the FHIR core's registry (so that the
  CapabilityStatement lists them and the generic operation routes reach them); call it before the app
  is created. :func:`senhealth.api.bulk.bulk_router` serves the same kick-offs with the bulk rules
  (types checked as searches, NDJSON bodies), the status, cancel and file routes;
- importing this module registers the worker's tasks ``bulk.export``, ``bulk.import`` (one retry after
  a crash: an export starts again from a fresh snapshot, an import is all or nothing) and
  ``bulk.cleanup``, hourly, which removes the files of jobs past their expiry. The worker imports it
  through :data:`senhealth.jobs.registry.TASK_MODULES`.
"""

from __future__ import annotations

from typing import Final

from senhealth.analytics.bulk_export import EXPORT_TASK, kick_off_export, run_export_job
from senhealth.analytics.bulk_files import remove_job_files
from senhealth.analytics.bulk_import import IMPORT_TASK, kick_off_import, run_import_job
from senhealth.analytics.bulk_jobs import expire_jobs
from senhealth.core.config import Settings, get_settings
from senhealth.core.queue import JobContext, schedule, task
from senhealth.fhir.operations.registry import Operation, OperationCall, OperationResult, register

__all__ = ["CLEANUP_TASK", "EXPORT_DEFINITION", "IMPORT_DEFINITION", "register_bulk_operations"]

EXPORT_DEFINITION: Final = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT_DEFINITION: Final = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_EXPORT_DEFINITION: Final = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
IMPORT_DEFINITION: Final = "https://senhealth.vn/fhir/OperationDefinition/bulk-import"
CLEANUP_TASK: Final = "bulk.cleanup"


@task(EXPORT_TASK, retries=1, backoff_s=5.0)
async def export_task(job: JobContext, *, bulk_job: str) -> None:
    await run_export_job(job, bulk_job)


@task(IMPORT_TASK, retries=1, backoff_s=5.0)
async def import_task(job: JobContext, *, bulk_job: str) -> None:
    await run_import_job(job, bulk_job)


@task(CLEANUP_TASK)
async def cleanup_task(job: JobContext) -> None:
    """Remove the files of finished jobs past their expiry (their status then answers 404)."""
    for expired in await expire_jobs():
        remove_job_files(expired.directory)


schedule(CLEANUP_TASK, cron="17 * * * *", schedule_id="hourly")


def register_bulk_operations(settings: Settings | None = None) -> None:
    """Register ``$export`` (system, ``Patient``, ``Group/[id]``) and ``$import`` (system)."""
    chosen = settings

    async def export(call: OperationCall) -> OperationResult:
        return await kick_off_export(call, chosen or get_settings())

    async def import_(call: OperationCall) -> OperationResult:
        return await kick_off_import(call, chosen or get_settings())

    register(
        Operation(
            name="export",
            handler=export,
            levels=frozenset({"system", "type", "instance"}),
            definition=EXPORT_DEFINITION,
            resource_types=frozenset({"Patient", "Group"}),
            documentation=(
                "Bulk Data export (asynchronous): 202 with the status URL in Content-Location. "
                "[base]/$export, [base]/Patient/$export, [base]/Group/[id]/$export; docs/bulk.md."
            ),
        ),
        replace=True,
    )
    register(
        Operation(
            name="import",
            handler=import_,
            levels=frozenset({"system"}),
            definition=IMPORT_DEFINITION,
            affects_state=True,
            documentation=(
                "Bulk import of NDJSON (asynchronous, all or nothing): a Parameters body with input "
                "(type, url) or exportUrl, or NDJSON as the body; docs/bulk.md."
            ),
        ),
        replace=True,
    )
