"""HTTP routes of Bulk Data Access: kick-offs, status polling, cancel, file downloads (``bulk_router()``).

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (kick-off, status request: 202 with ``X-Progress``
and ``Retry-After`` while running, 200 with the manifest when done, 4xx/5xx with an OperationOutcome
when failed; DELETE: 202, then 404; output files ``application/fhir+ndjson`` under
``requiresAccessToken``) and the import proposal https://github.com/smart-on-fhir/bulk-import. The
operations themselves: :mod:`senhealth.analytics.bulk_export`, :mod:`senhealth.analytics.bulk_import`.

=====================================================  ==================================================
``GET|POST /fhir/$export``                             system-level export
``GET|POST /fhir/Patient/$export``                     all patients (``patient`` in a POST body: some)
``GET|POST /fhir/Group/{id}/$export``                  the Group's member patients
``POST /fhir/$import``                                 Parameters (``input`` / ``exportUrl``) or NDJSON
``GET|DELETE /fhir/$export-status/{job}``              status and manifest; cancel (files removed)
``GET /fhir/$export-files/{job}/{name}``               one NDJSON file of the manifest
``GET|DELETE /fhir/$import-status/{job}``              status of an import; cancel
``GET /fhir/$import-files/{job}/{name}``               its outcome or errors file
=====================================================  ==================================================

The router is included before the generic FHIR routes (``create_app(extra_routers=[bulk_router()])``).
An export is asked as a search of each exported type (so an analyst, who may search but not invoke
operations, may export, de-identified); an import needs an unrestricted system client. Status, cancel
and files answer only the principal who started the job (``requiresAccessToken``: the same bearer
token scheme); anyone else gets 404, as for a job that does not exist. Each kick-off and each file
download is recorded by the audit sink.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from senhealth.analytics.bulk_export import Busy, kick_off_export
from senhealth.analytics.bulk_files import FILE_RESOURCES, file_path, remove_job_files
from senhealth.analytics.bulk_import import NDJSON_TYPES, kick_off_import, kick_off_ndjson
from senhealth.analytics.bulk_jobs import BulkJob, Kind, cancel_job, get_job, requester_key
from senhealth.api.fhir.auditing import record_access
from senhealth.api.fhir.context import base_url, get_store, respond
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.interactions import check_id
from senhealth.api.fhir.negotiation import check_content_type, media_type, parse_json, read_body
from senhealth.core.config import Settings
from senhealth.core.errors import operation_outcome
from senhealth.core.queue import get_job as get_queue_job
from senhealth.fhir.access import Action, current_principal
from senhealth.fhir.operations.parameters import from_body, from_query
from senhealth.fhir.operations.registry import Level, OperationCall, OperationResult

__all__ = ["bulk_router"]

_RETRY_AFTER = "2"  # seconds between status polls while a job runs


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        out.setdefault(name, []).append(value)
    return out


async def _call(
    request: Request, name: str, level: Level, res_type: str | None, res_id: str | None
) -> OperationCall:
    """The operation call of a kick-off: parameters from the query and a Parameters body."""
    query = _query(request)
    params = from_query(query)
    body: dict[str, Any] | None = None
    if request.method == "POST":
        raw = await read_body(request)
        if raw.strip():
            check_content_type(request)
            parsed = parse_json(raw)
            if not isinstance(parsed, dict) or parsed.get("resourceType") != "Parameters":
                raise FhirError(400, f"The body of ${name} must be a Parameters resource")
            body = parsed
            for key, values in from_body(parsed).items():
                params.setdefault(key, []).extend(values)
    return OperationCall(
        name=name,
        level=level,
        resource_type=res_type,
        resource_id=res_id,
        params=params,
        store=get_store(request),
        base_url=base_url(request),
        body=body,
        query=query,
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        restriction=None,
        principal=current_principal().get(),
    )


async def _answer(
    request: Request, result: OperationResult, call_name: str, res_type: str | None
) -> Response:
    action: Action = "create" if call_name == "import" else "operation"
    await record_access(
        request.scope,
        get_store(request),
        action,
        res_type,
        None,
        status=result.status,
        details={"operation": call_name},
    )
    return respond(request, result.resource, result.status, result.headers)


async def _export(
    request: Request, level: Level, res_type: str | None, res_id: str | None, files: int
) -> Response:
    call = await _call(request, "export", level, res_type, res_id)
    try:
        result = await kick_off_export(call, _settings(request), file_resources=files)
    except Busy as e:
        raise FhirError(
            429, e.message, code="throttled", headers={"Retry-After": str(e.retry_after)}
        ) from None
    return await _answer(request, result, "export", res_type)


async def _owned(job_id: str, kind: Kind) -> BulkJob:
    """The job, when the caller started it; 404 otherwise (as for an unknown job)."""
    job = await get_job(job_id, kind=kind)
    if (
        job is None
        or job.requester != requester_key(current_principal().get())
        or job.status in ("cancelled", "expired")
    ):
        raise FhirError(404, f"No {kind} job {job_id[:64]}", code="not-found")
    return job


def _instant(job: BulkJob) -> str | None:
    t = job.transaction_time
    return None if t is None else t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _status(request: Request, job_id: str, kind: Kind) -> Response:
    job = await _owned(job_id, kind)
    if job.active:
        progress = "accepted" if job.status == "accepted" else "in progress"
        if job.queue_job is not None:
            queued = await get_queue_job(job.queue_job)
            if queued is not None and queued.progress is not None:
                p = queued.progress
                share = f"{p.fraction:.0%} " if p.fraction is not None else ""
                progress = f"{share}{p.message}"[:99]
        return Response(
            status_code=202,
            headers={"X-Progress": progress.encode("ascii", "replace").decode(), "Retry-After": _RETRY_AFTER},
        )
    if job.status == "failed":
        outcome = job.outcome or operation_outcome("error", "exception", f"The {kind} failed")
        return respond(request, outcome, job.error_status or 500)
    files = f"{job.base_url}/${kind}-files/{job.id}"
    body: dict[str, Any] = {
        "transactionTime": _instant(job),
        "request": job.request,
        "requiresAccessToken": True,
    }
    items = [{"type": f["type"], "url": f"{files}/{f['name']}", "count": f["count"]} for f in job.output]
    errors = [{"type": f["type"], "url": f"{files}/{f['name']}", "count": f["count"]} for f in job.errors]
    if kind == "export":
        body.update(output=items, error=errors)
    else:
        body.update(outcome=items + errors)
        body["extension"] = {"https://senhealth.vn/fhir/StructureDefinition/bulk-import-summary": job.summary}
    headers = (
        {"Expires": format_datetime(job.expires_at.astimezone(UTC), usegmt=True)} if job.expires_at else {}
    )
    return JSONResponse(body, headers=headers)


async def _cancel(request: Request, job_id: str, kind: Kind) -> Response:
    await _owned(job_id, kind)
    job = await cancel_job(job_id)
    if job is None:
        raise FhirError(404, f"No {kind} job {job_id[:64]}", code="not-found")
    if job.status != "in-progress":  # a running job removes what it wrote when it sees the cancel
        remove_job_files(job.directory)
    message = "Đã hủy / cancelled" if job.active else "Đã xóa các tệp / files deleted"
    return respond(request, operation_outcome("information", "informational", message), 202)


async def _file(request: Request, job_id: str, name: str, kind: Kind) -> Response:
    job = await _owned(job_id, kind)
    listed = {f["name"] for f in [*job.output, *job.errors]}
    path = file_path(job.directory, name)
    if job.active or name not in listed or path is None or not path.is_file():
        raise FhirError(404, f"No file {name[:80]} in {kind} job {job_id[:64]}", code="not-found")
    await record_access(
        request.scope,
        get_store(request),
        "read",
        None,
        details={"operation": f"{kind}-file", "job": job.id, "file": name},
    )
    return FileResponse(path, media_type="application/fhir+ndjson", filename=name)


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for block in request.stream():
            yield block
    except ClientDisconnect:
        raise FhirError(400, "The client went away while sending the body") from None


def bulk_router(*, file_resources: int = FILE_RESOURCES) -> APIRouter:
    """The Bulk Data routes (see the module docstring); ``file_resources``: resources per export file."""
    router = APIRouter(prefix="/fhir", tags=["bulk data"])

    @router.api_route("/$export", methods=["GET", "POST"], summary="$export (system level)")
    async def export_system(request: Request) -> Response:
        return await _export(request, "system", None, None, file_resources)

    @router.api_route("/Patient/$export", methods=["GET", "POST"], summary="$export (all patients)")
    async def export_patients(request: Request) -> Response:
        return await _export(request, "type", "Patient", None, file_resources)

    @router.api_route("/Group/{group_id}/$export", methods=["GET", "POST"], summary="$export (a Group)")
    async def export_group(request: Request, group_id: str) -> Response:
        check_id(group_id)
        return await _export(request, "instance", "Group", group_id, file_resources)

    @router.post("/$import", summary="$import (NDJSON, all or nothing)")
    async def import_(request: Request) -> Response:
        mt = media_type(request.headers.get("content-type"))
        if mt in NDJSON_TYPES:
            defer = request.query_params.get("deferIndexes", "false")
            if defer not in ("true", "false"):
                raise FhirError(400, "deferIndexes must be true or false", expression="deferIndexes")
            result = await kick_off_ndjson(
                get_store(request),
                _settings(request),
                _body(request),
                principal=current_principal().get(),
                base_url=base_url(request),
                defer=defer == "true",
            )
        else:
            call = await _call(request, "import", "system", None, None)
            result = await kick_off_import(call, _settings(request))
        return await _answer(request, result, "import", None)

    @router.get("/$export-status/{job_id}", summary="Status of an export")
    async def export_status(request: Request, job_id: str) -> Response:
        return await _status(request, job_id, "export")

    @router.delete("/$export-status/{job_id}", summary="Cancel an export, or delete its files")
    async def export_cancel(request: Request, job_id: str) -> Response:
        return await _cancel(request, job_id, "export")

    @router.get("/$export-files/{job_id}/{name}", summary="One file of an export")
    async def export_file(request: Request, job_id: str, name: str) -> Response:
        return await _file(request, job_id, name, "export")

    @router.get("/$import-status/{job_id}", summary="Status of an import")
    async def import_status(request: Request, job_id: str) -> Response:
        return await _status(request, job_id, "import")

    @router.delete("/$import-status/{job_id}", summary="Cancel an import")
    async def import_cancel(request: Request, job_id: str) -> Response:
        return await _cancel(request, job_id, "import")

    @router.get("/$import-files/{job_id}/{name}", summary="The outcome or errors file of an import")
    async def import_file(request: Request, job_id: str, name: str) -> Response:
        return await _file(request, job_id, name, "import")

    return router
