"""Recording every access of the REST API through the audit sink of :mod:`senhealth.fhir.access`.

Spec: the Basic Audit Log Patterns IG https://profiles.ihe.net/ITI/BALP/ (one AuditEvent per RESTful
interaction: who, what, when, from where, the outcome, and the patients concerned: for a search, the
patients whose data it returned).

Where each interaction is recorded:

- writes (``instance.write``: create, update, patch, delete and their conditional forms) in the
  write's own transaction, so a committed change always has its record and a failed one has none;
- transaction and batch Bundles in :mod:`senhealth.fhir.bundle` (one event per Bundle, in its
  transaction);
- searches: in the search's own transaction;
- reads, vreads, history and operations: handed to a per-process buffer that a background task writes
  every :data:`GATHER_S` in one transaction (:class:`ReadAuditBuffer`; with
  :class:`senhealth.security.audit.PostgresAuditSink` a batch is two statements whatever its size),
  committed without waiting for the disk (see ``_RELAXED``); the request does not wait for it. What
  is buffered when the application stops is written by :func:`drain` (the app's shutdown); a crash
  loses at most the read records of the last :data:`GATHER_S` (and, with ``synchronous_commit =
  off``, those PostgreSQL had not flushed), never a write's.

With no sink installed (:data:`senhealth.fhir.access.NO_AUDIT`, the FHIR core on its own) nothing is
built or written.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from starlette.types import Scope

from senhealth.fhir.access import NO_AUDIT, AccessEvent, Action, audit_sink, current_principal
from senhealth.fhir.store import FhirStore

__all__ = ["ReadAuditBuffer", "auditing", "drain", "patients_of", "record_access"]

log = logging.getLogger(__name__)

#: How long the buffer waits for more events before writing, and the most it writes at once. A batch
#: costs about 0.3 ms of Python and 0.3 ms of PostgreSQL CPU whatever its size (two round trips), and
#: each row ~20 µs of each more: at 5 ms a worker wrote batches of a few reads and the fixed cost was
#: most of the audit's; at 50 ms a batch holds tens of reads (docs/audit.md "Cost"). A crash can lose
#: the last GATHER_S of read records, within what ``synchronous_commit = off`` already risks (0.6 s).
GATHER_S: Final = 0.05
MAX_BATCH: Final = 500

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
    if relaxed:
        _buffer(store).add(event)
        return
    async with store.pool.connection() as own, own.transaction():
        await sink.record(own, event)


async def _write(conn: AsyncConnection[TupleRow], events: Sequence[AccessEvent]) -> None:
    """Write a batch on a pooled connection (not in a transaction). A sink with ``record_many`` (the
    platform's) writes it as its own transaction in two statements (autocommit: no BEGIN, SET or
    COMMIT round trips); another sink gets the events one by one in one transaction."""
    sink = audit_sink()
    many = getattr(sink, "record_many", None)
    if many is None:
        async with conn.transaction():
            await conn.execute(_RELAXED)
            for event in events:
                await sink.record(conn, event)
        return
    saved = conn.autocommit
    await conn.set_autocommit(True)
    try:
        await many(conn, events, synchronous=False)
    finally:
        if not conn.closed:
            await conn.set_autocommit(saved)


class ReadAuditBuffer:
    """The read events of one store waiting to be written (see the module docstring). Only its own
    background task writes, so that a batch is never cut off in the middle of its transaction."""

    def __init__(self, store: FhirStore) -> None:
        self.store = store
        self.events: list[AccessEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def add(self, event: AccessEvent) -> None:
        self.events.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing and len(self.events) < MAX_BATCH:
                await asyncio.sleep(GATHER_S)
            try:
                # One batch per wake-up: what arrives while it is written waits for the next one
                # (``add`` wakes the task again), so that batches stay GATHER_S apart and large.
                await self.flush(once=not self._closing)
                if self.events:  # more than a batch was waiting: go on without a new event
                    self._wake.set()
            except Exception:  # the database is away: keep the events, try again shortly
                log.exception("audit records of reads not written yet (%d waiting)", len(self.events))
                if self._closing:
                    raise
                await asyncio.sleep(1.0)
                self._wake.set()
            if self._closing and not self.events:
                return

    async def flush(self, *, once: bool = False) -> None:
        """Write everything buffered now, or only its first batch (``once``); raises if the database
        refuses (the events stay buffered)."""
        while self.events:
            batch = self.events[:MAX_BATCH]
            async with self.store.pool.connection() as conn:
                await _write(conn, batch)
            del self.events[: len(batch)]
            if once:
                return

    async def close(self) -> None:
        """Write what is left (the task finishes the batch it is on, then the rest) and stop."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            self._wake.set()
            await task
        else:
            await self.flush()
        self._task = None


_buffers: weakref.WeakKeyDictionary[FhirStore, ReadAuditBuffer] = weakref.WeakKeyDictionary()


def _buffer(store: FhirStore) -> ReadAuditBuffer:
    found = _buffers.get(store)
    if found is None:
        found = _buffers[store] = ReadAuditBuffer(store)
    return found


async def drain(store: FhirStore) -> None:
    """Write the buffered read records of ``store`` (at the application's shutdown, and in tests)."""
    found = _buffers.pop(store, None)
    if found is not None:
        await found.close()
