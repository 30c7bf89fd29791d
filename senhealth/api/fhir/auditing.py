"""Recording every access of the REST API through the audit sink of :mod:`senhealth.fhir.access`.

Spec: the Basic Audit Log Patterns IG https://profiles.ihe.net/ITI/BALP/ (one AuditEvent per RESTful
interaction: who, what, when, from where, the outcome, and the patients concerned: for a search, the
patients whose data it returned).

Where each interaction is recorded:

- writes (``instance.write``: create, update, patch, delete and their conditional forms) in the
  write's own transaction, so a committed change always has its record and a failed one has none;
- transaction and batch Bundles in :mod:`senhealth.fhir.bundle` (one event per Bundle, in its
  transaction);
- reads, vreads, searches, history, ``$everything``: one event each, written before the answer leaves,
  committed without waiting for the disk (see ``_RELAXED``).

With no sink installed (:data:`senhealth.fhir.access.NO_AUDIT`, the FHIR core on its own) nothing is
built or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from starlette.types import Scope

from senhealth.fhir.access import NO_AUDIT, AccessEvent, Action, audit_sink, current_principal
from senhealth.fhir.store import FhirStore

__all__ = ["auditing", "patients_of", "record_access"]

# The record of a read commits without waiting for its WAL flush (``synchronous_commit = off`` for that
# transaction only): a read that writes a row would otherwise wait for the disk (a third of the read
# throughput on the development machine). A crash can lose the records of the last moments of reads
# (PostgreSQL: at most 3 × wal_writer_delay, 0.6 s by default), never a write's: writes record in their
# own transaction, which commits synchronously. docs/audit.md.
_READS: frozenset[str] = frozenset({"read", "search", "history", "operation"})
_RELAXED = "SET LOCAL synchronous_commit TO off"


def auditing() -> bool:
    """Whether a sink is installed (callers skip collecting what only the audit needs)."""
    return audit_sink() is not NO_AUDIT


def patients_of(pkeys: Iterable[str | None]) -> list[str]:
    """The distinct patient ids among partition keys (``""`` / None: a resource of no patient)."""
    return sorted({p for p in pkeys if p})


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


async def record_access(
    scope: Scope,
    store: FhirStore,
    action: Action,
    res_type: str | None,
    res_id: str | None = None,
    *,
    conn: AsyncConnection[TupleRow] | None = None,
    patients: Iterable[str | None] = (),
    status: int = 200,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one access; in ``conn``'s transaction when given, else on a pooled connection."""
    sink = audit_sink()
    if sink is NO_AUDIT:
        return
    query = scope.get("query_string", b"")
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=current_principal().get(),
        action=action,
        res_type=res_type,
        res_id=res_id,
        query=query.decode("latin-1") if query else None,
        patients=patients_of(patients),
        outcome="success" if status < 400 else "failed",
        status=status,
        source_ip=_client(scope),
        details=details or {},
    )
    relaxed = action in _READS
    if conn is not None:
        if relaxed:
            await conn.execute(_RELAXED)
        await sink.record(conn, event)
        return
    async with store.pool.connection() as own, own.transaction():
        if relaxed:
            await own.execute(_RELAXED)
        await sink.record(own, event)
