"""Bulk Data ``$export`` (system, Patient and Group level): the kick-off and the export the worker runs.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (the asynchronous request pattern, the query
parameters, the completion manifest) and https://hl7.org/fhir/R4/async.html. Parameters:
:mod:`senhealth.analytics.bulk_export_request`; jobs: :mod:`senhealth.analytics.bulk_jobs`; files:
:mod:`senhealth.analytics.bulk_files`; routes: :mod:`senhealth.api.bulk`; design: docs/bulk.md.

Kick-off (:func:`kick_off_export`): the parameters are checked, the access policy is asked which types
the caller may search (an explicit ``_type`` the caller may not search is refused with 403) and which
patients' data it may see (the :class:`~senhealth.fhir.access.Restriction`, stored with the job), the
Group and ``patient`` references are resolved, and the job is written with its queue job in one
transaction: 202 with ``Content-Location`` naming the status URL.

The export (:func:`export_to_directory`) reads from ONE ``REPEATABLE READ`` snapshot, so its files are
consistent with each other, type by type through a server-side cursor: ``SELECT`` of the current
content where the type, ``_since`` (``last_updated >``), the patient filter (``compartments &&`` the
patients: the compartment membership stored with every resource; a Patient-level export without
``patient`` takes every resource in some patient's compartment), the restriction (the search engine's
own SQL, :meth:`~senhealth.fhir.search.sql.SqlBuilder.restricted`) and the ``_typeFilter`` queries
(the search engine's conditions, OR-ed; ``:below`` / ``:above`` / ``:in`` / ``:not-in`` first resolved to
code sets by the terminology service, as a search does, at the kick-off too) hold. Content goes out as
stored, unless ``_elements`` (top-level elements, tagged ``SUBSETTED``) or a de-identified restriction
(:func:`senhealth.fhir.deidentify.deidentify`) asks to change it.

``transactionTime``: writes stamp ``meta.lastUpdated`` before they commit, and commit out of order, so
"everything up to the snapshot's time" could miss a write still in flight that an export with
``_since`` = this time would then skip for ever. The time reported is therefore the snapshot's start,
moved back to the start of the oldest FHIR write transaction still running (writers announce
themselves with the change-feed lock of migration 0017) and by :data:`TIME_MARGIN` more (clock
differences, the stamp taken before the transaction began). A client that exports again with
``_since=transactionTime`` never misses a change; it may receive a few resources twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from senhealth.analytics.bulk_export_request import (
    ExportLevel,
    ExportRequest,
    compartment_types,
    lenient,
    parse_export,
)
from senhealth.analytics.bulk_files import (
    FILE_RESOURCES,
    PartWriter,
    bulk_root,
    job_directory,
    remove_job_files,
)
from senhealth.analytics.bulk_jobs import (
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
from senhealth.fhir.access import OPEN, AccessEvent, Principal, Restriction, access_policy, audit_sink
from senhealth.fhir.deidentify import deidentify, identifying_params
from senhealth.fhir.json import dumps_text
from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.search.execute import subset, visible_pkeys
from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.request import SearchRequest, parse_search, resource_types
from senhealth.fhir.search.sql import ParamIds, SqlBuilder
from senhealth.fhir.search.terminology import resolve_terminology
from senhealth.fhir.store import FhirStore, Gone, NotFound, content_from_text

__all__ = [
    "EXPORT_TASK",
    "MAX_ACTIVE",
    "TIME_MARGIN",
    "Busy",
    "ExportCancelled",
    "ExportResult",
    "export_to_directory",
    "kick_off_export",
    "run_export_job",
]

EXPORT_TASK: Final = "bulk.export"
#: Exports one requester may have waiting or running at once (then 429 Too Many Requests).
MAX_ACTIVE: Final = 3
#: How far ``transactionTime`` is moved back before the oldest running write (see the module docstring).
TIME_MARGIN: Final = timedelta(seconds=5)
#: Patients named in the audit record of one export at most (beyond: their number only).
AUDIT_PATIENTS: Final = 1000
_FETCH = 2000  # rows per round trip of the server-side cursor
_PROGRESS_S = 1.0  # progress is written at most this often
_STOP_S = 2.0  # the job's cancellation is checked this often

# Writers hold a shared advisory lock in the key range 0x5E4E << 48 from their first seq to their commit
# (migration 0017_change_feed.sql): the oldest running write transaction started at min(xact_start).
_TIME = (
    "SELECT now(), (SELECT min(a.xact_start) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.pid <> pg_backend_pid()"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint >= 1582170112 AND l.classid::bigint < 1582170112 + 65536)"
)
# The distinct resource types stored (a loose index scan of fhir_resource_type_id).
_TYPES = (
    "WITH RECURSIVE t AS (SELECT min(res_type) AS v FROM fhir_resource UNION ALL"
    " SELECT (SELECT min(res_type) FROM fhir_resource WHERE res_type > t.v) FROM t WHERE t.v IS NOT NULL)"
    " SELECT v FROM t WHERE v IS NOT NULL"
)


class Busy(OperationError):
    """Too many exports of this requester are waiting or running: 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message, "throttled")
        self.retry_after = retry_after


class ExportCancelled(Exception):
    """The job was cancelled (DELETE) while it ran."""


@dataclass(slots=True)
class ExportResult:
    """What :func:`export_to_directory` wrote: ``files`` ``{type, name, count}`` in order."""

    transaction_time: datetime
    files: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    patients: set[str] = field(default_factory=set)
    many_patients: bool = False  # more than AUDIT_PATIENTS: ``patients`` holds the first ones only
    seconds: float = 0.0


# --- kick-off ---------------------------------------------------------------------------------------------


def _level(call: OperationCall) -> tuple[ExportLevel, str | None]:
    if call.level == "system":
        return "system", None
    if call.level == "type" and call.resource_type == "Patient":
        return "patient", None
    if call.level == "instance" and call.resource_type == "Group" and call.resource_id:
        return "group", call.resource_id
    raise OperationError(
        404, "$export runs at [base]/$export, [base]/Patient/$export and [base]/Group/[id]/$export"
    )


def allowed_types(principal: Principal | None, request: ExportRequest) -> list[str] | None:
    """The types the caller may search among those asked (None: every type, no policy in the way).

    An explicit ``_type`` naming a type the caller may not search is refused (403); without ``_type``
    the export covers the types the caller may search, silently leaving out the others."""
    policy = access_policy()
    if policy is OPEN:
        return None
    asked = request.types or sorted(compartment_types() if request.level != "system" else resource_types())
    allowed = [t for t in asked if policy.check(principal, "search", t)]
    if request.types:
        denied = [t for t in request.types if t not in allowed]
        if denied:
            raise OperationError(
                403, f"Your access does not cover searching {', '.join(denied)}", "forbidden", "_type"
            )
    if not allowed:
        raise OperationError(403, "Your access does not cover searching any resource type", "forbidden")
    return allowed


def _restriction(principal: Principal | None) -> Restriction | None:
    policy = access_policy()
    return None if policy is OPEN else policy.restriction(principal, "search")


def group_members(group: dict[str, Any]) -> list[str]:
    """The Patient ids among a Group's active members (``member.entity`` references ``Patient/<id>``)."""
    out: list[str] = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        ref = (member.get("entity") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/") and ref[8:] and ref[8:] not in out:
            out.append(ref[8:])
    return out


async def _check_patients(store: FhirStore, patients: list[str], restriction: Restriction | None) -> None:
    """400 naming the first ``patient`` that is not stored or that the caller may not see."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT res_id FROM fhir_locator WHERE res_type = 'Patient' AND res_id = ANY(%s) AND NOT deleted",
            (patients,),
        )
        found = {str(r[0]) for r in await cur.fetchall()}
        if restriction is not None and found:
            found &= await visible_pkeys(conn, restriction, sorted(found), await store.param_ids())
    for pid in patients:
        if pid not in found:
            raise OperationError(400, f"patient: Patient/{pid} is not known", "not-found", "patient")


async def kick_off_export(
    call: OperationCall, settings: Settings, *, file_resources: int = FILE_RESOURCES
) -> OperationResult:
    """Check the request, queue the export, answer 202 with the status URL in ``Content-Location``."""
    level, group = _level(call)
    request = parse_export(
        level,
        group,
        call.params,
        method=call.method,
        is_lenient=lenient(call.headers),
        base_urls=call.store.base_urls,
    )
    principal = call.principal
    restriction = _restriction(principal)
    types = allowed_types(principal, request)
    if restriction is not None and restriction.deidentified:
        names = [
            name for queries in request.type_filters.values() for q in queries for name, _ in parse_qsl(q)
        ]
        found = identifying_params(names)
        if found:
            raise OperationError(
                403,
                f"De-identified access cannot filter by {', '.join(sorted(set(found)))}",
                "forbidden",
                "_typeFilter",
            )
    if group is not None:
        try:
            stored = await call.store.read("Group", group)
        except (NotFound, Gone):
            raise OperationError(404, f"Group/{group} is not known", "not-found") from None
        members = group_members(stored.content or {})
        if request.patients is not None:
            outside = [p for p in request.patients if p not in members]
            if outside:
                raise OperationError(
                    400,
                    f"patient: Patient/{outside[0]} is not a member of Group/{group}",
                    "invalid",
                    "patient",
                )
    if request.patients:
        await _check_patients(call.store, request.patients, restriction)
    if request.type_filters:  # an unknown code system or value set is the kick-off's 400, not a failed job
        async with call.store.pool.connection() as conn:
            await type_filters(conn, request, await call.store.param_ids(), call.store.base_urls)
    requester = requester_key(principal)
    if await active_jobs(requester, "export") >= MAX_ACTIVE:
        raise Busy(f"You already have {MAX_ACTIVE} exports waiting or running: wait for one to finish", 30)
    job_id = str(uuid.uuid4())
    directory = job_directory(bulk_root(settings), job_id)
    params = {
        "request": request.to_json(),
        "types": types,
        "fileResources": file_resources,
        "baseUrls": list(call.store.base_urls),
    }
    async with call.store.pool.connection() as conn, conn.transaction():
        await create_job(
            conn,
            job_id=job_id,
            kind="export",
            principal=principal,
            request=_request_url(call),
            base_url=call.base_url,
            params=params,
            restriction=restriction,
            directory=str(directory),
        )
        queue_job = await enqueue(EXPORT_TASK, {"bulk_job": job_id}, conn=conn)
        await set_queue_job(conn, job_id, queue_job)
    status_url = f"{call.base_url}/$export-status/{job_id}"
    outcome = operation_outcome(
        "information", "informational", f"Đã nhận yêu cầu xuất dữ liệu / export accepted: poll {status_url}"
    )
    return OperationResult(outcome, 202, {"Content-Location": status_url})


def _request_url(call: OperationCall) -> str:
    """The kick-off URL (GET: with its query; POST: without the body's parameters)."""
    path = {
        "system": "",
        "type": f"/{call.resource_type}",
        "instance": f"/{call.resource_type}/{call.resource_id}",
    }
    url = f"{call.base_url}{path[call.level]}/${call.name}"
    if call.method == "GET" and call.query:
        url += "?" + urlencode([(k, v) for k, values in call.query.items() for v in values])
    return url


# --- the export -------------------------------------------------------------------------------------------


async def _transaction_time(conn: AsyncConnection[TupleRow]) -> datetime:
    cur = await conn.execute(_TIME)
    row = await cur.fetchone()
    assert row is not None
    start: datetime = row[0] if row[1] is None else min(row[0], row[1])
    when = (start - TIME_MARGIN).astimezone(UTC)
    # FHIR instants carry milliseconds; a write stamped in the same millisecond must still be "after" it
    return when.replace(microsecond=when.microsecond - when.microsecond % 1000) - timedelta(milliseconds=1)


async def _export_types(
    conn: AsyncConnection[TupleRow], request: ExportRequest, allowed: list[str] | None
) -> list[str]:
    cur = await conn.execute(_TYPES)
    present = {str(r[0]) for r in await cur.fetchall()}
    if request.level != "system":
        present &= compartment_types()
    if allowed is not None:
        present &= set(allowed)
    if request.types is not None:
        return [t for t in request.types if t in present]
    return sorted(present)


async def _patients(conn: AsyncConnection[TupleRow], request: ExportRequest) -> list[str] | None:
    """The patients whose compartments the export covers (None: every patient's)."""
    if request.level != "group":
        return request.patients
    cur = await conn.execute(
        "SELECT coalesce(content_raw, content::text) FROM fhir_resource WHERE res_type = 'Group' AND res_id = %s",
        (request.group,),
    )
    row = await cur.fetchone()
    if row is None:
        raise OperationError(
            404, f"Group/{request.group} is not known (deleted since the export was asked)", "not-found"
        )
    members = group_members(content_from_text(row[0]))
    if request.patients is not None:
        members = [p for p in members if p in request.patients]
    return members


async def type_filters(
    conn: AsyncConnection[TupleRow],
    request: ExportRequest,
    param_ids: Mapping[tuple[str, str], int],
    base_urls: tuple[str, ...],
) -> dict[str, list[SearchRequest]]:
    """The ``_typeFilter`` queries as search requests, their terminology modifiers (``:below``, ``:above``,
    ``:in``, ``:not-in``) resolved to code sets as a search does (:mod:`senhealth.fhir.search.terminology`).
    Raises :class:`OperationError` (400 naming ``_typeFilter``) for an unknown code system or value set."""
    out: dict[str, list[SearchRequest]] = {}
    for rtype, queries in request.type_filters.items():
        for q in queries:
            try:
                parsed = parse_search(
                    rtype, parse_qsl(q, keep_blank_values=True), strict=True, base_urls=base_urls
                )
                resolved = await resolve_terminology(conn, parsed, param_ids)
            except SearchError as e:
                raise OperationError(
                    400, f"_typeFilter {rtype}?{q}: {e.message}", expression="_typeFilter"
                ) from None
            out.setdefault(rtype, []).append(resolved)
    return out


def _statement(
    rtype: str,
    request: ExportRequest,
    patients: list[str] | None,
    restriction: Restriction | None,
    ids: ParamIds,
    filters: Mapping[str, list[SearchRequest]],
) -> tuple[sql.Composed, dict[str, Any]]:
    b = SqlBuilder(ids)
    parts: list[sql.Composable] = [sql.SQL("r.res_type = {}").format(b.p.add(rtype))]
    since = request.since_time
    if since is not None:
        parts.append(sql.SQL("r.last_updated > {}").format(b.p.add(since, "timestamptz")))
    if patients is not None:
        parts.append(sql.SQL("r.compartments && {}").format(b.p.add(patients, "text[]")))
    elif request.level == "patient":
        parts.append(sql.SQL("r.pkey <> ''"))
    if restriction is not None:
        parts.append(b.restricted("r", restriction))
    queries = filters.get(rtype)
    if queries:
        alternatives = [b.filters(q, "r") for q in queries]
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join(alternatives)))
    query = sql.SQL(
        "SELECT coalesce(r.content_raw, r.content::text), r.pkey FROM fhir_resource r WHERE {}"
    ).format(sql.SQL(" AND ").join(parts))
    return query, b.p.values


Progress = Callable[[int, str], Awaitable[None]]
Stop = Callable[[], Awaitable[bool]]


async def export_to_directory(
    store: FhirStore,
    request: ExportRequest,
    directory: Path,
    *,
    allowed: list[str] | None = None,
    restriction: Restriction | None = None,
    file_resources: int = FILE_RESOURCES,
    progress: Progress | None = None,
    stop: Stop | None = None,
) -> ExportResult:
    """Write the NDJSON files of ``request`` into ``directory`` (see the module docstring).

    ``allowed``: the types the caller may search (None: any); ``progress(done, type)`` is called now and
    then; ``stop()`` is asked every few seconds (True: :class:`ExportCancelled`). Raises
    :class:`~senhealth.fhir.operations.registry.OperationError` for a Group that is gone.
    """
    started = time.perf_counter()
    param_ids = await store.param_ids()
    ids = ParamIds.of(param_ids)
    last_progress = last_stop = time.monotonic()
    async with store.pool.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        result = ExportResult(await _transaction_time(conn))  # the first statement takes the snapshot
        types = await _export_types(conn, request, allowed)
        patients = await _patients(conn, request)
        if patients == []:
            types = []  # a Group without members: nothing to export
        filters = await type_filters(conn, request, param_ids, store.base_urls)
        for rtype in types:
            query, values = _statement(rtype, request, patients, restriction, ids, filters)
            elements = request.elements_for(rtype) if request.elements else []
            deidentified = restriction is not None and restriction.deidentified
            with PartWriter(directory, rtype, file_resources) as writer:
                async with conn.cursor(name=f"bulk_export_{uuid.uuid4().hex[:8]}") as cur:
                    await cur.execute(query, values)
                    while rows := await cur.fetchmany(_FETCH):
                        if elements or deidentified:
                            writer.write_many([_transform(r[0], elements, deidentified) for r in rows])
                        else:
                            writer.write_many([r[0] for r in rows])
                        result.total += len(rows)
                        _note_patients(result, rows)
                        now = time.monotonic()
                        if progress is not None and now - last_progress >= _PROGRESS_S:
                            last_progress = now
                            await progress(result.total, rtype)
                        if stop is not None and now - last_stop >= _STOP_S:
                            last_stop = now
                            if await stop():
                                raise ExportCancelled
            result.files.extend({"type": rtype, "name": name, "count": n} for name, n in writer.files)
    if request.ignored:
        with PartWriter(directory, "errors", file_resources) as errors:
            for message in request.ignored:
                errors.write(dumps_text(operation_outcome("warning", "not-supported", message)))
        result.errors.extend({"type": "OperationOutcome", "name": n, "count": c} for n, c in errors.files)
    result.seconds = time.perf_counter() - started
    return result


def _transform(text: str, elements: list[str], deidentified: bool) -> str:
    content = content_from_text(text)
    if elements:
        content = subset(content, None, elements)
    if deidentified:
        content = deidentify(content)
    return dumps_text(content)


def _note_patients(result: ExportResult, rows: list[tuple[Any, ...]]) -> None:
    if result.many_patients:
        return
    for row in rows:
        if row[1]:
            result.patients.add(row[1])
    if len(result.patients) > AUDIT_PATIENTS:
        result.many_patients = True


# --- the job ----------------------------------------------------------------------------------------------


async def _audit(principal: Principal | None, request_url: str, job_id: str, result: ExportResult) -> None:
    """One record of what the export read (BALP: who, which patients), in its own transaction."""
    sink = audit_sink()
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=principal,
        action="search",
        res_type=None,
        query=request_url,
        patients=() if result.many_patients else sorted(result.patients),
        details={
            "operation": "export",
            "job": job_id,
            "resources": result.total,
            "patients": len(result.patients) if not result.many_patients else f">{AUDIT_PATIENTS}",
        },
    )
    async with get_pool().connection() as conn, conn.transaction():
        await sink.record(conn, event)


async def run_export_job(job: JobContext, bulk_job: str) -> None:
    """The worker's side of one export: run it, write the manifest, or record why it failed."""
    record = await start_job(bulk_job)
    if record is None:
        return  # cancelled before it started
    directory = Path(record.directory)
    remove_job_files(directory)  # what an earlier, interrupted attempt left
    job_directory(directory.parent, directory.name)
    params = record.params
    request = ExportRequest.from_json(params["request"])
    store = FhirStore(base_urls=params.get("baseUrls") or ())

    async def progress(done: int, rtype: str) -> None:
        await job.progress(done, None, f"{done} resources exported ({rtype})")

    async def stop() -> bool:
        return await is_cancelled(bulk_job)

    try:
        result = await export_to_directory(
            store,
            request,
            directory,
            allowed=params.get("types"),
            restriction=record.restriction,
            file_resources=int(params.get("fileResources") or FILE_RESOURCES),
            progress=progress,
            stop=stop,
        )
    except ExportCancelled:
        remove_job_files(directory)
        return
    except OperationError as e:  # the Group or a value set is gone: 400 (a 404 would read as "no such job")
        remove_job_files(directory)
        await fail_job(bulk_job, e.outcome(), 400 if e.status == 404 else e.status)
        return
    except Exception as e:
        remove_job_files(directory)
        if job.attempt >= job.max_attempts:
            message = f"The export failed: {type(e).__name__}"
            await fail_job(bulk_job, operation_outcome("error", "exception", message), 500)
        raise
    await _audit(record.principal, record.request, bulk_job, result)
    summary = {"resources": result.total, "seconds": round(result.seconds, 3)}
    await job.progress(result.total, result.total, "Xong / done")
    if not await finish_job(
        bulk_job,
        transaction_time=result.transaction_time,
        output=result.files,
        errors=result.errors,
        summary=summary,
    ):
        remove_job_files(directory)  # cancelled while it finished
