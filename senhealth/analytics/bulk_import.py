"""Bulk Data ``$import``: NDJSON into the FHIR store, all or nothing, as an asynchronous job.

Spec: there is no final Bulk Data import specification; this follows the "ping and pull" proposal
https://github.com/smart-on-fhir/bulk-import/blob/master/import-pnp.md (kick-off ``POST [base]/$import``
with a Parameters body, 202 with ``Content-Location``, status polling, DELETE, a completion body with
``transactionTime``, ``requiresAccessToken`` and ``outcome`` files of OperationOutcomes) as far as it
fits, and https://hl7.org/fhir/R4/async.html. The store's side (validation, COPY, one transaction):
:func:`senhealth.fhir.store.bulk_import.import_ndjson`; design and measurements: docs/bulk.md.

What may be imported (the kick-off, :func:`kick_off_import` and :func:`kick_off_ndjson`):

- NDJSON posted as the body (``Content-Type: application/fhir+ndjson``, ``application/ndjson`` or
  ``application/x-ndjson``); it is kept in the job's directory until the job ends;
- a Parameters body with ``input`` parameters (parts ``type``, optional, and ``url``: an NDJSON file),
  or with ``exportUrl`` and ``exportType`` = ``static`` (the URL of a Bulk Data export's completion
  manifest: its ``output`` files are imported; ``dynamic``, kicking off an export on the other server,
  is not supported). Every URL must be ``https`` on a host listed in ``Settings.bulk_import_hosts``
  (exact names; plain ``http`` only to a listed loopback host, for tests); anything else is refused
  with 400 before anything is queued, redirects are not followed, and manifest file URLs are checked
  the same way when the manifest is read;
- ``deferIndexes`` (valueBoolean, an extension of ours): build the store's PostgreSQL indexes once at
  the end, for a first load into an empty store.

Only unrestricted callers import: a system client (SMART Backend Services) whose scopes grant create
and update on every type, with no restriction from the access policy, or anyone when no policy is
installed (development). Everyone else gets 403. The job: every line validated; any bad line (with its
line number and FHIRPath in an OperationOutcome) fails the whole import and nothing is written; the
status request then answers 400 with the bad lines' issues, and their OperationOutcomes are also in an
``errors`` file.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from senhealth.analytics.bulk_files import PartWriter, bulk_root, job_directory, remove_job_files
from senhealth.analytics.bulk_jobs import (
    BulkJob,
    active_jobs,
    create_job,
    fail_job,
    finish_job,
    is_cancelled,
    requester_key,
    set_queue_job,
    start_job,
)
from senhealth.core.config import Settings
from senhealth.core.db import get_pool
from senhealth.core.errors import operation_outcome
from senhealth.core.queue import JobContext, enqueue
from senhealth.fhir.access import OPEN, AccessEvent, Principal, access_policy, audit_sink
from senhealth.fhir.json import dumps_text
from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.bulk_import import Chunk, ImportCancelled, ImportReport, chunk_lines, import_ndjson

__all__ = [
    "IMPORT_TASK",
    "MAX_BODY_BYTES",
    "NDJSON_TYPES",
    "ImportSourceError",
    "check_url",
    "kick_off_import",
    "kick_off_ndjson",
    "may_import",
    "run_import_job",
]

IMPORT_TASK: Final = "bulk.import"
#: Content types of NDJSON posted directly.
NDJSON_TYPES: Final = frozenset(
    {"application/fhir+ndjson", "application/ndjson", "application/x-ndjson", "ndjson"}
)
#: The largest NDJSON body accepted in the request itself (larger files: ``input`` URLs).
MAX_BODY_BYTES: Final = 1 << 30
#: Imports one requester may have waiting or running at once.
MAX_ACTIVE: Final = 2
#: Bad lines whose issues the failed status answer lists (all are in the errors file, up to max_errors).
ANSWERED_LINES: Final = 100
MAX_ERRORS: Final = 1000
_BLOCK = 1 << 20
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
SUMMARY_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/bulk-import-summary"


class ImportSourceError(Exception):
    """An input could not be read (HTTP status, network, a manifest without files)."""


def may_import(principal: Principal | None) -> None:
    """403 unless the caller is unrestricted: see the module docstring."""
    policy = access_policy()
    if policy is OPEN:
        return
    if (
        principal is not None
        and principal.kind == "system"
        and policy.restriction(principal, "create") is None
        and policy.check(principal, "create", None)
        and policy.check(principal, "update", None)
    ):
        return
    raise OperationError(
        403,
        "$import is for system clients with create and update access to every resource type "
        "(SMART Backend Services, system/*.cu)",
        "forbidden",
    )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any, allowed_hosts: list[str] | tuple[str, ...], expression: str = "input.url") -> str:
    """``url`` when it may be fetched (https on an allowed host; http only to an allowed loopback
    host); else :class:`OperationError` 400 naming ``expression``."""
    if not isinstance(url, str) or not url:
        raise OperationError(400, f"{expression} must be a URL", expression=expression)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise OperationError(400, f"{expression}: {url!r} is not an https URL", expression=expression)
    if host not in allowed:
        listed = (
            "no host is allowed (Settings.bulk_import_hosts is empty)"
            if not allowed
            else "hosts allowed: " + ", ".join(sorted(allowed))
        )
        raise OperationError(
            400,
            f"{expression}: the host {host} is not on this server's import list; {listed}",
            "security",
            expression,
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise OperationError(400, f"{expression}: {url!r} must use https", "security", expression)
    return url


def _allowed_hosts(settings: Settings) -> list[str]:
    return list(getattr(settings, "bulk_import_hosts", None) or [])


def _sources(params: Mapping[str, list[Any]], settings: Settings) -> list[dict[str, Any]]:
    """The inputs of a Parameters kick-off, every URL checked."""
    hosts = _allowed_hosts(settings)
    fmt = params.get("inputFormat")
    if fmt and (len(fmt) > 1 or str(fmt[0]).strip() not in NDJSON_TYPES):
        raise OperationError(
            400, "inputFormat: only application/fhir+ndjson is supported", expression="inputFormat"
        )
    sources: list[dict[str, Any]] = []
    for n, value in enumerate(params.get("input", [])):
        if not isinstance(value, dict):
            raise OperationError(400, "input needs parts type and url", expression=f"input[{n}]")
        urls = value.get("url") or []
        if len(urls) != 1:
            raise OperationError(400, "input needs one url part", expression=f"input[{n}].url")
        types = value.get("type") or []
        sources.append(
            {
                "kind": "url",
                "url": check_url(urls[0], hosts, f"input[{n}].url"),
                "type": types[0] if types else None,
            }
        )
    exports = params.get("exportUrl", [])
    if exports:
        kind = (params.get("exportType") or ["dynamic"])[0]
        if kind != "static":
            raise OperationError(
                400,
                "exportType: only static (the URL of an export's completion manifest) is supported",
                "not-supported",
                "exportType",
            )
        for url in exports:
            sources.append({"kind": "manifest", "url": check_url(url, hosts, "exportUrl")})
    if not sources:
        raise OperationError(
            400, "Nothing to import: give input (type, url) or exportUrl", expression="input"
        )
    return sources


def _defer(params: Mapping[str, list[Any]]) -> bool:
    values = params.get("deferIndexes") or []
    if not values:
        return False
    value = values[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise OperationError(400, "deferIndexes must be true or false", expression="deferIndexes")


async def _queue(
    store: FhirStore,
    settings: Settings,
    *,
    job_id: str,
    principal: Principal | None,
    request_url: str,
    base_url: str,
    sources: list[dict[str, Any]],
    defer: bool,
    directory: Path,
) -> OperationResult:
    params = {
        "sources": sources,
        "deferIndexes": defer,
        "workers": getattr(settings, "bulk_import_workers", None),
        "allowedHosts": _allowed_hosts(settings),
        "baseUrls": list(store.base_urls),
    }
    async with store.pool.connection() as conn, conn.transaction():
        await create_job(
            conn,
            job_id=job_id,
            kind="import",
            principal=principal,
            request=request_url,
            base_url=base_url,
            params=params,
            restriction=None,
            directory=str(directory),
        )
        queue_job = await enqueue(IMPORT_TASK, {"bulk_job": job_id}, conn=conn)
        await set_queue_job(conn, job_id, queue_job)
    status_url = f"{base_url}/$import-status/{job_id}"
    outcome = operation_outcome(
        "information", "informational", f"Đã nhận yêu cầu nhập dữ liệu / import accepted: poll {status_url}"
    )
    return OperationResult(outcome, 202, {"Content-Location": status_url})


async def _not_busy(principal: Principal | None) -> None:
    if await active_jobs(requester_key(principal), "import") >= MAX_ACTIVE:
        raise OperationError(429, f"You already have {MAX_ACTIVE} imports waiting or running", "throttled")


async def kick_off_import(call: OperationCall, settings: Settings) -> OperationResult:
    """``POST [base]/$import`` with a Parameters body (``input`` / ``exportUrl``)."""
    may_import(call.principal)
    if call.body is None or call.body.get("resourceType") != "Parameters":
        raise OperationError(
            400,
            "$import takes a Parameters body (input, exportUrl) or NDJSON (Content-Type application/fhir+ndjson)",
        )
    sources = _sources(call.params, settings)
    defer = _defer(call.params)
    await _not_busy(call.principal)
    job_id = str(uuid.uuid4())
    directory = job_directory(bulk_root(settings), job_id)
    return await _queue(
        call.store,
        settings,
        job_id=job_id,
        principal=call.principal,
        request_url=f"{call.base_url}/$import",
        base_url=call.base_url,
        sources=sources,
        defer=defer,
        directory=directory,
    )


async def kick_off_ndjson(
    store: FhirStore,
    settings: Settings,
    body: AsyncIterator[bytes],
    *,
    principal: Principal | None,
    base_url: str,
    defer: bool = False,
    max_bytes: int = MAX_BODY_BYTES,
) -> OperationResult:
    """``POST [base]/$import`` with NDJSON as the body: kept in the job's directory, then queued."""
    may_import(principal)
    await _not_busy(principal)
    job_id = str(uuid.uuid4())
    directory = job_directory(bulk_root(settings), job_id)
    path = directory / "input.ndjson"
    size = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as out:
            async for block in body:
                size += len(block)
                if size > max_bytes:
                    raise OperationError(
                        413,
                        f"The NDJSON body is larger than {max_bytes} bytes: give it as an input URL instead",
                    )
                out.write(block)
    except BaseException:
        remove_job_files(directory)
        raise
    if size == 0:
        remove_job_files(directory)
        raise OperationError(400, "The NDJSON body is empty")
    sources = [{"kind": "file", "path": str(path), "name": "the request body", "remove": True}]
    return await _queue(
        store,
        settings,
        job_id=job_id,
        principal=principal,
        request_url=f"{base_url}/$import",
        base_url=base_url,
        sources=sources,
        defer=defer,
        directory=directory,
    )


# --- reading the inputs -----------------------------------------------------------------------------------


def _file_blocks(path: str) -> AsyncIterator[bytes]:
    async def blocks() -> AsyncIterator[bytes]:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                yield block

    return blocks()


async def _url_chunks(client: httpx.AsyncClient, url: str, name: str) -> AsyncIterator[Chunk]:
    try:
        async with client.stream("GET", url, headers={"Accept": "application/fhir+ndjson"}) as response:
            if response.status_code != 200:
                raise ImportSourceError(f"{url} answered HTTP {response.status_code}")
            async for chunk in chunk_lines(name, response.aiter_bytes(_BLOCK)):
                yield chunk
    except httpx.HTTPError as e:
        raise ImportSourceError(f"{url} could not be read: {type(e).__name__}: {e}") from e


async def _manifest_urls(client: httpx.AsyncClient, url: str, hosts: list[str]) -> list[str]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as e:
        raise ImportSourceError(f"the manifest {url} could not be read: {e}") from e
    if response.status_code != 200:
        raise ImportSourceError(f"the manifest {url} answered HTTP {response.status_code}")
    try:
        manifest = orjson.loads(response.content)
        outputs = manifest["output"]
        urls = [item["url"] for item in outputs]
    except (ValueError, KeyError, TypeError):
        raise ImportSourceError(f"{url} is not a Bulk Data completion manifest (no output[].url)") from None
    return [check_url(u, hosts, "exportUrl output.url") for u in urls]


async def _chunks(sources: list[dict[str, Any]], hosts: list[str]) -> AsyncIterator[Chunk]:
    timeout = httpx.Timeout(30.0, read=300.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for source in sources:
            if source["kind"] == "file":
                async for chunk in chunk_lines(source["name"], _file_blocks(source["path"])):
                    yield chunk
            elif source["kind"] == "url":
                url = check_url(source["url"], hosts)
                async for chunk in _url_chunks(client, url, url):
                    yield chunk
            else:
                for url in await _manifest_urls(client, source["url"], hosts):
                    async for chunk in _url_chunks(client, url, url):
                        yield chunk


# --- the job ----------------------------------------------------------------------------------------------


def failure_outcome(report: ImportReport) -> dict[str, Any]:
    """The OperationOutcome of an import refused for bad lines: a summary, then each bad line's issues."""
    issues: list[dict[str, Any]] = [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": (
                f"Nothing was imported: {len(report.bad)}{'+' if report.truncated else ''} bad line(s) in "
                f"{report.lines} line(s) read. Không có dữ liệu nào được nhập."
            ),
        }
    ]
    for bad in report.bad[:ANSWERED_LINES]:
        issues.extend(bad.outcome.get("issue") or [])
    return {"resourceType": "OperationOutcome", "issue": issues}


async def _audit(record: BulkJob, report: ImportReport) -> None:
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=record.principal,
        action="create",
        res_type=None,
        query=record.request,
        details={"operation": "import", "job": record.id, **report.to_json()},
    )
    async with get_pool().connection() as conn, conn.transaction():
        await audit_sink().record(conn, event)


def _write_lines(directory: Path, stem: str, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with PartWriter(directory, stem, max(1, len(outcomes))) as writer:
        writer.write_many([dumps_text(o) for o in outcomes])
    return [{"type": "OperationOutcome", "name": n, "count": c} for n, c in writer.files]


def _remove_inputs(sources: list[dict[str, Any]]) -> None:
    for source in sources:
        if source.get("kind") == "file" and source.get("remove"):
            Path(source["path"]).unlink(missing_ok=True)


ProgressFn = Callable[[ImportReport], Awaitable[None]]


async def run_import_job(job: JobContext, bulk_job: str) -> None:
    """The worker's side of one import: read the inputs, import them, record the outcome."""
    record = await start_job(bulk_job)
    if record is None:
        return
    directory = Path(record.directory)
    params = record.params
    sources: list[dict[str, Any]] = params["sources"]
    store = FhirStore(base_urls=params.get("baseUrls") or ())
    total = sum(
        os.path.getsize(s["path"]) for s in sources if s["kind"] == "file" and os.path.exists(s["path"])
    )

    async def progress(report: ImportReport) -> None:
        await job.progress(
            report.bytes_read if total else report.lines,
            total or None,
            f"{report.lines} lines read, {report.written} resources written",
        )

    async def stop() -> bool:
        return await is_cancelled(bulk_job)

    try:
        report = await import_ndjson(
            store,
            _chunks(sources, list(params.get("allowedHosts") or [])),
            defer_indexes=bool(params.get("deferIndexes")),
            workers=params.get("workers"),
            max_errors=MAX_ERRORS,
            progress=progress,
            stop=stop,
        )
    except ImportCancelled:
        remove_job_files(directory)
        return
    except (ImportSourceError, ValueError, OperationError) as e:
        _remove_inputs(sources)
        message = e.message if isinstance(e, OperationError) else str(e)
        await fail_job(
            bulk_job, operation_outcome("error", "invalid", f"Nothing was imported: {message}"), 400
        )
        return
    except Exception as e:
        if job.attempt >= job.max_attempts:
            _remove_inputs(sources)
            outcome = operation_outcome("error", "exception", f"The import failed: {type(e).__name__}")
            await fail_job(bulk_job, outcome, 500)
        raise
    _remove_inputs(sources)
    summary = report.to_json()
    if not report.committed:
        errors = _write_lines(directory, "errors", [b.outcome for b in report.bad])
        await fail_job(bulk_job, failure_outcome(report), 400, errors=errors, summary=summary)
        return
    await _audit(record, report)
    text = (
        f"Imported {report.created} new and {report.updated} changed resources "
        f"({report.unchanged} unchanged) from {report.lines} lines in {report.seconds:.1f} s"
    )
    output = _write_lines(directory, "outcome", [operation_outcome("information", "informational", text)])
    await job.progress(report.lines, report.lines, "Xong / done")
    await finish_job(
        bulk_job, transaction_time=report.transaction_time, output=output, errors=[], summary=summary
    )
