"""Bulk Data jobs as the ``bulk_job`` table holds them: who asked, what, under which restriction, how far.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (the asynchronous request pattern: kick-off, status
polling, the completion manifest, DELETE; "a server MAY additionally restrict status and file requests
to the client that originated the export") and https://hl7.org/fhir/R4/async.html. Table: migration
``0014_bulk.sql``; the operations: :mod:`senhealth.analytics.bulk_export`,
:mod:`senhealth.analytics.bulk_import`.

The caller's principal and the access policy's :class:`~senhealth.fhir.access.Restriction` are stored
with the job at kick-off, so the worker applies exactly what the caller could see then, whatever
process runs it. :func:`requester_key` names the owner: only that principal polls, cancels and
downloads; anyone else is answered 404, as for an unknown job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from senhealth.core.db import get_pool
from senhealth.fhir.access import Principal, Restriction

__all__ = [
    "ACTIVE",
    "RETENTION",
    "BulkJob",
    "Kind",
    "active_jobs",
    "cancel_job",
    "create_job",
    "expire_jobs",
    "fail_job",
    "finish_job",
    "get_job",
    "is_cancelled",
    "list_jobs",
    "principal_from_json",
    "principal_to_json",
    "requester_key",
    "restriction_from_json",
    "restriction_to_json",
    "set_queue_job",
    "start_job",
]

Kind = Literal["export", "import"]
#: Statuses of a job that still runs or waits.
ACTIVE: Final = ("accepted", "in-progress")
#: How long the files of a finished job are kept (the manifest's ``Expires``).
RETENTION: Final = timedelta(hours=24)

_COLUMNS = (
    "id, kind, status, requester, principal, request, base_url, params, restriction, directory, queue_job, "
    "transaction_time, output, errors, summary, outcome, error_status, created_at, started_at, finished_at, "
    "expires_at"
)


def requester_key(principal: Principal | None) -> str:
    """The owner of a job: ``kind:subject`` of the caller, ``""`` without sign-in (development)."""
    return "" if principal is None else f"{principal.kind}:{principal.subject}"


def principal_to_json(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "facility": principal.facility,
        "scopes": sorted(principal.scopes),
        "patient": principal.patient,
        "practitioner": principal.practitioner,
        "clientId": principal.client_id,
        "breakGlass": principal.break_glass,
    }


def principal_from_json(data: dict[str, Any] | None) -> Principal | None:
    if not data:
        return None
    return Principal(
        kind=data["kind"],
        subject=data["subject"],
        roles=frozenset(data.get("roles") or ()),
        facility=data.get("facility"),
        scopes=frozenset(data.get("scopes") or ()),
        patient=data.get("patient"),
        practitioner=data.get("practitioner"),
        client_id=data.get("clientId"),
        break_glass=data.get("breakGlass"),
    )


def restriction_to_json(restriction: Restriction | None) -> dict[str, Any] | None:
    if restriction is None:
        return None
    return {
        "patients": sorted(restriction.patients),
        "facilities": list(restriction.facilities),
        "network": restriction.network,
        "networkPurpose": restriction.network_purpose,
        "conditions": list(restriction.conditions),
        "consented": restriction.consented,
        "deidentified": restriction.deidentified,
    }


def restriction_from_json(data: dict[str, Any] | None) -> Restriction | None:
    if data is None:
        return None
    return Restriction(
        patients=frozenset(data.get("patients") or ()),
        facilities=tuple(data.get("facilities") or ()),
        network=bool(data.get("network")),
        network_purpose=str(data.get("networkPurpose") or "TREAT"),
        conditions=tuple(data.get("conditions") or ()),
        consented=data.get("consented"),
        deidentified=bool(data.get("deidentified")),
    )


@dataclass(frozen=True, slots=True)
class BulkJob:
    """One row of ``bulk_job``."""

    id: str
    kind: Kind
    status: str
    requester: str
    principal: Principal | None
    request: str
    base_url: str
    params: dict[str, Any]
    restriction: Restriction | None
    directory: str
    queue_job: int | None
    transaction_time: datetime | None
    output: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    summary: dict[str, Any]
    outcome: dict[str, Any] | None
    error_status: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _job(row: tuple[Any, ...]) -> BulkJob:
    return BulkJob(
        str(row[0]),
        row[1],
        row[2],
        row[3],
        principal_from_json(row[4]),
        row[5],
        row[6],
        row[7],
        restriction_from_json(row[8]),
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        row[15],
        row[16],
        row[17],
        row[18],
        row[19],
        row[20],
    )


def _uuid(job_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


async def create_job(
    conn: AsyncConnection[TupleRow],
    *,
    job_id: str,
    kind: Kind,
    principal: Principal | None,
    request: str,
    base_url: str,
    params: dict[str, Any],
    restriction: Restriction | None,
    directory: str,
) -> None:
    """Insert a job (``accepted``) on ``conn`` (in the caller's transaction, with its queue job)."""
    await conn.execute(
        "INSERT INTO bulk_job (id, kind, requester, principal, request, base_url, params, restriction, directory)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            job_id,
            kind,
            requester_key(principal),
            Jsonb(principal_to_json(principal)),
            request,
            base_url,
            Jsonb(params),
            Jsonb(restriction_to_json(restriction)),
            directory,
        ),
    )


async def set_queue_job(conn: AsyncConnection[TupleRow], job_id: str, queue_job: int) -> None:
    await conn.execute("UPDATE bulk_job SET queue_job = %s WHERE id = %s", (queue_job, job_id))


async def get_job(job_id: str, *, kind: Kind | None = None) -> BulkJob | None:
    """Job ``job_id`` (of ``kind``, when given), or None."""
    key = _uuid(job_id)
    if key is None:
        return None
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM bulk_job WHERE id = %s AND (%s::text IS NULL OR kind = %s)",
            (key, kind, kind),
        )
        row = await cur.fetchone()
    return None if row is None else _job(row)


async def active_jobs(requester: str, kind: Kind) -> int:
    """How many jobs of ``kind`` the requester has waiting or running."""
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM bulk_job WHERE requester = %s AND kind = %s AND status = ANY(%s)",
            (requester, kind, list(ACTIVE)),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def list_jobs(limit: int = 50) -> list[BulkJob]:
    """The newest jobs first."""
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM bulk_job ORDER BY created_at DESC LIMIT %s", (limit,)
        )
        rows = await cur.fetchall()
    return [_job(r) for r in rows]


async def start_job(job_id: str) -> BulkJob | None:
    """Mark the job in progress and return it; None when it was cancelled (or is gone) meanwhile."""
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            f"UPDATE bulk_job SET status = 'in-progress', started_at = now(), outcome = NULL, error_status = NULL"
            f" WHERE id = %s AND status IN ('accepted', 'in-progress') RETURNING {_COLUMNS}",
            (job_id,),
        )
        row = await cur.fetchone()
    return None if row is None else _job(row)


async def is_cancelled(job_id: str) -> bool:
    """Whether the job was cancelled (or removed): a running job asks this now and then."""
    async with get_pool().connection() as conn:
        cur = await conn.execute("SELECT status FROM bulk_job WHERE id = %s", (job_id,))
        row = await cur.fetchone()
    return row is None or row[0] in ("cancelled", "expired")


async def finish_job(
    job_id: str,
    *,
    transaction_time: datetime | None,
    output: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    summary: dict[str, Any],
) -> bool:
    """Mark the job completed with its manifest; False when it was cancelled meanwhile."""
    expires = datetime.now(UTC) + RETENTION
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            "UPDATE bulk_job SET status = 'completed', finished_at = now(), transaction_time = %s, output = %s,"
            " errors = %s, summary = %s, expires_at = %s WHERE id = %s AND status = 'in-progress' RETURNING id",
            (transaction_time, Jsonb(output), Jsonb(errors), Jsonb(summary), expires, job_id),
        )
        return await cur.fetchone() is not None


async def fail_job(
    job_id: str,
    outcome: dict[str, Any],
    status: int,
    *,
    errors: list[dict[str, Any]] | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    """Mark the job failed: its status request answers ``status`` with ``outcome``."""
    expires = datetime.now(UTC) + RETENTION
    async with get_pool().connection() as conn:
        await conn.execute(
            "UPDATE bulk_job SET status = 'failed', finished_at = now(), outcome = %s, error_status = %s,"
            " errors = %s, summary = %s, expires_at = %s WHERE id = %s AND status IN ('accepted', 'in-progress')",
            (Jsonb(outcome), status, Jsonb(errors or []), Jsonb(summary or {}), expires, job_id),
        )


async def cancel_job(job_id: str) -> BulkJob | None:
    """Mark the job cancelled (a running worker stops at its next check); the job as it was before,
    or None when there is no such job or it was cancelled already."""
    key = _uuid(job_id)
    if key is None:
        return None
    async with get_pool().connection() as conn, conn.transaction():
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM bulk_job WHERE id = %s FOR UPDATE", (key,))
        row = await cur.fetchone()
        if row is None or row[2] in ("cancelled", "expired"):
            return None
        await conn.execute(
            "UPDATE bulk_job SET status = 'cancelled', finished_at = now() WHERE id = %s", (key,)
        )
        if row[10] is not None and row[2] == "accepted":  # not started: the worker need not pick it up
            await conn.execute("SELECT procrastinate_cancel_job_v1(%s, false, false)", (row[10],))
    return _job(row)


async def expire_jobs(now: datetime | None = None) -> list[BulkJob]:
    """Mark finished jobs past their ``expires_at`` expired; return them (their files are to be removed)."""
    async with get_pool().connection() as conn:
        cur = await conn.execute(
            f"UPDATE bulk_job SET status = 'expired' WHERE status IN ('completed', 'failed') AND expires_at <= %s"
            f" RETURNING {_COLUMNS}",
            (now or datetime.now(UTC),),
        )
        rows = await cur.fetchall()
    return [_job(r) for r in rows]
