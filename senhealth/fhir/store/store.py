"""The FHIR store on PostgreSQL: create, read, vread, update, delete, history, transactions, bulk load.

Spec: https://hl7.org/fhir/R4/http.html (the RESTful interactions this API serves: #create, #read,
#vread, #update, #delete, #history, #transaction, #concurrency).

``FhirStore`` is the entry point (one per process, on the process's pool); every method runs in one
database transaction. ``store.transaction()`` gives a :class:`StoreTx`, whose methods share one
transaction (a FHIR transaction Bundle): committed when the block ends, rolled back when it raises. A
store call made inside ``senhealth.core.db.transaction()`` of the same task joins that transaction (as
a savepoint), so a caller can write resources, queue jobs and register ``on_commit`` hooks atomically.

Choices (docs/storage.md):

- ids: the server assigns a UUIDv7 on create (:func:`senhealth.fhir.store.meta.new_id`); a client's
  ``id`` in a create body is ignored, as the spec says; ``create(res_id=...)`` is for the server's own
  callers (transaction bundles) and raises :class:`Conflict` when the id is taken (deleted ones too).
- update: update-as-create is allowed (also over a deleted resource: ``created`` is then True); an
  update identical to the current version (``meta.versionId`` / ``lastUpdated`` aside) makes no new
  version; If-Match against a missing resource is a :class:`VersionConflict`.
- delete: a new version marked deleted, kept in history; the resource leaves ``fhir_resource`` and the
  index tables. Deleting a deleted or unknown resource returns None.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core import db
from senhealth.fhir.store import hooks
from senhealth.fhir.store import read as read_ops
from senhealth.fhir.store.errors import Conflict, InvalidResource, StoreError, VersionConflict
from senhealth.fhir.store.history import history as history_query
from senhealth.fhir.store.meta import new_id, now, same_content
from senhealth.fhir.store.model import HistoryPage, LoadReport, Stored

if TYPE_CHECKING:
    from senhealth.fhir.store.load import Written
from senhealth.fhir.store.params import sync_params
from senhealth.fhir.store.write import (
    Current,
    check,
    content_from_text,
    insert_version,
    lock,
    prepare,
    write_delete,
)

__all__ = ["FhirStore", "StoreTx"]

_RID_BLOCK = 64
_CLAIM = (
    "INSERT INTO fhir_locator (res_type, res_id, rid, pkey, version, deleted) VALUES (%s, %s, %s, '', 0, true) "
    "ON CONFLICT DO NOTHING RETURNING rid"
)
_DROP_PLACEHOLDER = "DELETE FROM fhir_locator WHERE res_type = %s AND res_id = %s AND version = 0"
_LOCK_MANY = (
    "SELECT 1 FROM fhir_locator l JOIN unnest(%s::text[], %s::text[]) AS u(t, i) "
    "ON l.res_type = u.t AND l.res_id = u.i ORDER BY l.res_type, l.res_id FOR UPDATE OF l"
)


class FhirStore:
    """The FHIR resource store. ``pool``: the connection pool (default: the process's, at first use);
    ``base_urls``: this server's own base URLs (absolute references under them count as local)."""

    def __init__(self, pool: db.Pool | None = None, *, base_urls: Iterable[str] = ()) -> None:
        self._pool = pool
        self.base_urls = tuple(u.rstrip("/") for u in base_urls)
        self._params: dict[tuple[str, str], int] | None = None
        self._params_lock = asyncio.Lock()
        self._rids: list[int] = []

    @property
    def pool(self) -> db.Pool:
        return self._pool if self._pool is not None else db.get_pool()

    # -- transactions ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTx]:
        """One database transaction for several operations: commit on exit, roll back on exception."""
        await self.param_ids()  # before taking a connection: numbering needs one of its own
        async with db.transaction(self.pool) as conn:
            yield StoreTx(self, conn)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        # Inside a caller's transaction, read through it (read-your-writes); else one autocommit query.
        if db.in_transaction():
            async with db.transaction(self.pool) as conn:
                yield conn
        else:
            async with self.pool.connection() as conn:
                yield conn

    # -- the interactions, each in its own transaction ------------------------------------------------

    async def create(self, resource: dict[str, Any], *, res_id: str | None = None) -> Stored:
        """Create a resource (new id unless ``res_id``); the stored version 1."""
        rtype = check(resource)
        async with self.transaction() as tx:
            return await tx._create(resource, rtype, res_id)

    async def read(self, res_type: str, res_id: str) -> Stored:
        """The current version; raises :class:`NotFound` or :class:`Gone` (carrying the delete)."""
        async with self._reader() as conn:
            return await read_ops.read(conn, res_type, res_id)

    async def vread(self, res_type: str, res_id: str, version: int) -> Stored:
        """One version; raises :class:`NotFound`, or :class:`Gone` for a delete version."""
        async with self._reader() as conn:
            return await read_ops.vread(conn, res_type, res_id, version)

    async def update(
        self, resource: dict[str, Any], *, if_match: int | None = None, method: str = "PUT"
    ) -> tuple[Stored, bool]:
        """Update (or create with the given id); returns ``(stored, created)``."""
        rtype = check(resource)
        async with self.transaction() as tx:
            return await tx._update(resource, rtype, if_match, method)

    async def delete(self, res_type: str, res_id: str, *, if_match: int | None = None) -> Stored | None:
        """Delete; returns the delete version, or None if there was nothing to delete."""
        async with self.transaction() as tx:
            return await tx.delete(res_type, res_id, if_match=if_match)

    async def history(
        self,
        res_type: str | None = None,
        res_id: str | None = None,
        *,
        since: datetime | None = None,
        at: datetime | None = None,
        count: int = 50,
        cursor: str | None = None,
    ) -> HistoryPage:
        """Instance (type and id), type (type) or system (neither) history, newest first."""
        async with self._reader() as conn:
            return await history_query(conn, res_type, res_id, since=since, at=at, count=count, cursor=cursor)

    async def load(
        self,
        resources: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
        *,
        batch_size: int = 1000,
        on_error: str = "skip",
        progress: Callable[[LoadReport], None] | None = None,
    ) -> LoadReport:
        """Bulk write of resources with ids, as updates (see :mod:`senhealth.fhir.store.load`)."""
        from senhealth.fhir.store.load import load

        return await load(self, resources, batch_size=batch_size, on_error=on_error, progress=progress)

    # -- shared state ---------------------------------------------------------------------------------

    async def param_ids(self) -> dict[tuple[str, str], int]:
        """``(res_type, code) -> param_id``, numbering the shipped parameters on first use.

        Runs on a connection of its own (never inside a caller's transaction, whose rollback would
        undo numbers this process has cached).
        """
        if self._params is None:
            async with self._params_lock:
                if self._params is None:
                    async with self.pool.connection() as conn, conn.transaction():
                        self._params = await sync_params(conn)
        return self._params

    async def take_rids(self, conn: AsyncConnection[TupleRow], n: int = 1) -> list[int]:
        """``n`` new resource keys (``fhir_rid_seq``), fetched in blocks."""
        while len(self._rids) < n:  # concurrent callers may take keys while this one awaits the fetch
            want = max(_RID_BLOCK, n - len(self._rids))
            cur = await conn.execute("SELECT nextval('fhir_rid_seq') FROM generate_series(1, %s)", (want,))
            self._rids.extend(int(r[0]) for r in await cur.fetchall())
        taken, self._rids = self._rids[:n], self._rids[n:]
        return taken


class StoreTx:
    """Store operations sharing one database transaction; ``conn`` runs other queries inside it."""

    def __init__(self, store: FhirStore, conn: AsyncConnection[TupleRow]) -> None:
        self.store = store
        self.conn = conn

    async def create(self, resource: dict[str, Any], *, res_id: str | None = None) -> Stored:
        return await self._create(resource, check(resource), res_id)

    async def read(self, res_type: str, res_id: str) -> Stored:
        return await read_ops.read(self.conn, res_type, res_id)

    async def vread(self, res_type: str, res_id: str, version: int) -> Stored:
        return await read_ops.vread(self.conn, res_type, res_id, version)

    async def update(
        self, resource: dict[str, Any], *, if_match: int | None = None, method: str = "PUT"
    ) -> tuple[Stored, bool]:
        return await self._update(resource, check(resource), if_match, method)

    async def delete(self, res_type: str, res_id: str, *, if_match: int | None = None) -> Stored | None:
        current = await lock(self.conn, res_type, res_id, create=False)
        if current is None or not current.live:
            return None
        if if_match is not None and if_match != current.version:
            raise VersionConflict(
                f"{res_type}/{res_id} is at version {current.version}, not {if_match}", current.version
            )
        stored = await write_delete(self.conn, res_type, res_id, current, now())
        if hooks.wants(res_type):
            await hooks.after_write(self, "delete", stored, current.text)
        return stored

    async def lock_existing(self, keys: Iterable[tuple[str, str]]) -> None:
        """Lock the locator rows of the resources ``keys`` that exist, in one order (type, id).

        A transaction that will write several resources calls this first: two such transactions then
        queue on their first common resource instead of deadlocking on rows taken in opposite orders.
        """
        pairs = sorted(set(keys))
        if pairs:
            await self.conn.execute(_LOCK_MANY, ([t for t, _ in pairs], [i for _, i in pairs]))

    async def write_many(self, entries: list[tuple[dict[str, Any], str, str]]) -> list[Written]:
        """Write ``(resource, id, method)`` creates and updates with the bulk statements
        (:func:`senhealth.fhir.store.load.write_items`); results in order."""
        from senhealth.fhir.store.load import write_items

        if any(hooks.wants(str(r.get("resourceType"))) for r, _, _ in entries):
            return await hooks.after_bulk_write(self, entries, write_items)
        return await write_items(self.store, self.conn, entries)

    async def history(
        self,
        res_type: str | None = None,
        res_id: str | None = None,
        *,
        since: datetime | None = None,
        at: datetime | None = None,
        count: int = 50,
        cursor: str | None = None,
    ) -> HistoryPage:
        return await history_query(
            self.conn, res_type, res_id, since=since, at=at, count=count, cursor=cursor
        )

    async def _create(self, resource: dict[str, Any], rtype: str, res_id: str | None) -> Stored:
        store = self.store
        params = await store.param_ids()
        (rid,) = await store.take_rids(self.conn)
        if res_id is None:  # a fresh UUIDv7: the locator row is inserted with the version
            p = prepare(resource, rtype, new_id(), 1, now(), store.base_urls)
            stored = await insert_version(self.conn, p, rid, params, method="POST", current=None)
        else:
            # A chosen id may be taken: claim it first, so a clash leaves the transaction usable.
            cur = await self.conn.execute(_CLAIM, (rtype, res_id, rid))
            if await cur.fetchone() is None:
                raise Conflict(f"{rtype}/{res_id} already exists")
            p = prepare(resource, rtype, res_id, 1, now(), store.base_urls)
            placeholder = Current(rid, "", 0, True)
            stored = await insert_version(self.conn, p, rid, params, method="POST", current=placeholder)
        if hooks.wants(rtype):
            await hooks.after_write(self, "create", stored, None)
        return stored

    async def _update(
        self, resource: dict[str, Any], rtype: str, if_match: int | None, method: str
    ) -> tuple[Stored, bool]:
        res_id = resource.get("id")
        if not isinstance(res_id, str) or not res_id:
            raise InvalidResource("an update needs the resource's id", expression=f"{rtype}.id")
        store = self.store
        params = await store.param_ids()
        current = await lock(self.conn, rtype, res_id, create=True)
        assert current is not None
        try:
            return await self._write_update(resource, rtype, res_id, current, if_match, method, params)
        except StoreError:
            if not current.exists:  # the caller may go on with this transaction: leave no placeholder
                await self.conn.execute(_DROP_PLACEHOLDER, (rtype, res_id))
            raise

    async def _write_update(
        self,
        resource: dict[str, Any],
        rtype: str,
        res_id: str,
        current: Current,
        if_match: int | None,
        method: str,
        params: dict[tuple[str, str], int],
    ) -> tuple[Stored, bool]:
        if if_match is not None and (not current.exists or current.version != if_match):
            found = current.version if current.exists else None
            raise VersionConflict(
                f"{rtype}/{res_id} is at version {found}, not {if_match}"
                if found is not None
                else f"{rtype}/{res_id} does not exist (If-Match {if_match})",
                found,
            )
        if (
            current.live
            and current.text is not None
            and same_content(resource, content_from_text(current.text))
        ):
            return current.stored(rtype, res_id), False
        when = current.next_time(now())
        p = prepare(resource, rtype, res_id, current.version + 1, when, self.store.base_urls)
        stored = await insert_version(self.conn, p, current.rid, params, method=method, current=current)
        if hooks.wants(rtype):
            await hooks.after_write(self, "update" if current.live else "create", stored, current.text)
        return stored, not current.live
