"""Bulk load: many resources with ids, written as updates (update-as-create) in batches with COPY.

Spec: https://hl7.org/fhir/R4/http.html#update (each resource is a PUT: created when new, a new version
when it differs from the stored one, nothing when identical) and https://hl7.org/fhir/R4/http.html#upsert.
Used by ``senhealth load`` (bundles, NDJSON) and the demo; transaction-bundle semantics (``urn:uuid:``
references, conditional operations) belong to the caller, which rewrites references first
(:func:`senhealth.fhir.store.references.rewrite_references`).

How it is fast (docs/storage.md "Bulk load"):

- two tasks overlap Python and PostgreSQL: the producer validates, stamps, extracts, takes ``rid``s (in
  blocks) and formats the COPY text (:mod:`senhealth.fhir.store.copy_rows`) of batch *k+1* while the
  writer sends batch *k* (PostgreSQL works in its own process, so on two cores Python and the server
  each keep one busy); the producer yields after every resource, so the writer never waits long;
- one transaction per batch (``batch_size`` resources, default 1000): the locator rows in one
  ``INSERT ... SELECT FROM jsonb_array_elements(...) ON CONFLICT DO NOTHING RETURNING`` (what it does
  not return already existed and is locked, compared and given its next version), ``seq`` values in one
  query, then ``COPY`` into ``fhir_resource``, ``fhir_history`` and each index table;
- batches are sorted by (type, id), so concurrent loads lock locator rows in one order (no deadlock).

A resource that fails validation is skipped and reported (``on_error="skip"``) or stops the load
(``"raise"``: batches already committed stay). A resource without an id gets a new one (a create).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core import db
from senhealth.fhir.store.copy_rows import history_head, index_lines, resource_head
from senhealth.fhir.store.errors import InvalidResource, StoreError
from senhealth.fhir.store.index_rows import COLUMNS
from senhealth.fhir.store.meta import new_id, now, same_content
from senhealth.fhir.store.model import LoadReport, Rejected, Stored
from senhealth.fhir.store.write import Prepared, check, content_from_text, prepare, utc

if TYPE_CHECKING:
    from senhealth.fhir.store.store import FhirStore

__all__ = ["EntryInvalid", "Written", "load", "write_items"]

_YIELD_EVERY = 1  # resources prepared between two turns of the event loop: the writer never waits long

_SEQS = "SELECT fhir_next_seq() FROM generate_series(1, %s)"
# The batch's keys as one JSON parameter ([[type, id, rid, pkey], ...]): binding four Python lists as
# arrays costs ~4 µs a resource in psycopg's list dumper, the JSON a tenth of that.
_LOCATORS = (
    "INSERT INTO fhir_locator (res_type, res_id, rid, pkey, version, deleted) "
    "SELECT u->>0, u->>1, (u->>2)::bigint, u->>3, 1, false FROM jsonb_array_elements(%s::jsonb) AS u "
    "ON CONFLICT DO NOTHING RETURNING res_type, res_id"
)
_LOCK = (
    "SELECT l.res_type, l.res_id, l.rid, l.pkey, l.version, l.deleted FROM fhir_locator l "
    "JOIN unnest(%s::text[], %s::text[]) AS u(t, i) ON l.res_type = u.t AND l.res_id = u.i "
    "ORDER BY l.res_type, l.res_id FOR UPDATE OF l"
)
_CURRENT = (
    "SELECT l.res_type, l.res_id, r.last_updated, coalesce(r.content_raw, r.content::text), r.seq "
    "FROM fhir_locator l JOIN unnest(%s::text[], %s::text[]) AS u(t, i) ON l.res_type = u.t AND l.res_id = u.i "
    "JOIN fhir_resource r ON r.pkey = l.pkey AND r.rid = l.rid"
)
_UPDATE_LOCATORS = (
    "UPDATE fhir_locator l SET pkey = u.p, version = u.v, deleted = false "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[]) AS u(t, i, p, v) "
    "WHERE l.res_type = u.t AND l.res_id = u.i"
)
_OLD_ROWS = "(pkey, rid) IN (SELECT * FROM unnest(%(pkeys)s::text[], %(rids)s::bigint[]))"
_DELETE_OLD = (
    "WITH r AS (DELETE FROM fhir_resource WHERE "
    + _OLD_ROWS
    + "), "
    + ", ".join(f"d{i} AS (DELETE FROM {t} WHERE {_OLD_ROWS})" for i, t in enumerate(COLUMNS))
    + " SELECT 1"
)
_MOVE_HISTORY = (
    "UPDATE fhir_history h SET pkey = u.p FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS u(o, r, p) "
    "WHERE h.pkey = u.o AND h.rid = u.r"
)
_COPY_RESOURCE = (
    "COPY fhir_resource (pkey, rid, res_type, res_id, version, last_updated, compartments, content, "
    "content_raw, seq) FROM STDIN"
)
_COPY_HISTORY = (
    "COPY fhir_history (pkey, rid, res_type, res_id, version, last_updated, method, deleted, content, "
    "content_raw, seq) FROM STDIN"
)
_COPY_INDEX = {
    table: f"COPY {table} (pkey, rid, param_id, {', '.join(cols)}) FROM STDIN"
    for table, cols in COLUMNS.items()
}


@dataclass(slots=True)
class _Item:
    """One resource of a batch, with its COPY text ready (all but ``seq``)."""

    resource: dict[str, Any]
    p: Prepared
    method: str
    rid: int
    resource_line: str = ""
    history_line: str = ""
    index: dict[str, str] | None = None
    position: int = 0  # in the caller's list (write_items)
    seq: int = 0
    created: bool = True  # False once found live in the database (a new version of it is written)

    def render(self, params: dict[tuple[str, str], int]) -> None:
        p = self.p
        self.resource_line = resource_head(
            p.pkey, self.rid, p.res_type, p.res_id, p.version, p.last_updated, p.compartments, p.text, p.raw
        )
        self.history_line = history_head(
            p.pkey, self.rid, p.res_type, p.res_id, p.version, p.last_updated, self.method, p.text, p.raw
        )
        self.index = index_lines(p.index, params, p.pkey, self.rid, p.text)


async def _aiter(resources: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]]) -> AsyncIterator[Any]:
    if isinstance(resources, AsyncIterable):
        async for r in resources:
            yield r
    else:
        for r in resources:
            yield r


async def _put(
    queue: asyncio.Queue[list[_Item] | None], batch: list[_Item] | None, writer: asyncio.Task[None]
) -> None:
    """Queue a batch, unless the writer has stopped (then raise its error instead of waiting forever)."""
    put = asyncio.ensure_future(queue.put(batch))
    await asyncio.wait({put, writer}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        writer.result()  # raises the writer's error
        raise RuntimeError("the load's writer stopped")


async def _produce(
    store: FhirStore,
    resources: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
    queue: asyncio.Queue[list[_Item] | None],
    writer: asyncio.Task[None],
    batch_size: int,
    on_error: str,
    report: LoadReport,
) -> None:
    params = await store.param_ids()
    batch: dict[tuple[str, str], _Item] = {}
    when = now()
    rids: list[int] = []
    position = -1
    async for resource in _aiter(resources):
        position += 1
        try:
            rtype = check(resource)
            res_id = resource.get("id")
            method = "PUT"
            if not isinstance(res_id, str) or not res_id:
                res_id, method = new_id(), "POST"
            key = (rtype, res_id)
            if key in batch or len(batch) >= batch_size:  # a second version of one resource: next batch
                await _put(queue, list(batch.values()), writer)
                batch = {}
                when = now()
            p = prepare(resource, rtype, res_id, 1, when, store.base_urls)
        except InvalidResource as e:
            if on_error == "raise":
                raise
            rtype_ = resource.get("resourceType") if isinstance(resource, dict) else None
            rid_ = resource.get("id") if isinstance(resource, dict) else None
            report.rejected.append(
                Rejected(
                    position,
                    rtype_ if isinstance(rtype_, str) else None,
                    rid_ if isinstance(rid_, str) else None,
                    e.outcome(),
                )
            )
            continue
        if not rids:
            async with store.pool.connection() as conn:
                rids = await store.take_rids(conn, batch_size)
        item = _Item(resource, p, method, rids.pop())
        item.render(params)
        batch[key] = item
        if position % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
    if batch:
        await _put(queue, list(batch.values()), writer)
    await _put(queue, None, writer)


async def _lock_existing(
    conn: AsyncConnection[TupleRow], items: list[_Item]
) -> tuple[dict[tuple[str, str], tuple[Any, ...]], dict[tuple[str, str], tuple[datetime, str, int]]]:
    types = [it.p.res_type for it in items]
    ids = [it.p.res_id for it in items]
    cur = await conn.execute(_LOCK, (types, ids))
    locked = {(r[0], r[1]): r for r in await cur.fetchall()}
    cur = await conn.execute(_CURRENT, (types, ids))
    current = {(r[0], r[1]): (utc(r[2]), r[3], int(r[4])) for r in await cur.fetchall()}
    return locked, current


async def _write_batch(
    store: FhirStore, items: list[_Item], params: dict[tuple[str, str], int], report: LoadReport
) -> None:
    async with db.transaction(store.pool) as conn:
        await _write_items(store, conn, items, params, report)


async def _write_items(
    store: FhirStore,
    conn: AsyncConnection[TupleRow],
    items: list[_Item],
    params: dict[tuple[str, str], int],
    report: LoadReport,
    unchanged: dict[tuple[str, str], Stored] | None = None,
) -> list[_Item]:
    """Write ``items`` in ``conn``'s transaction; return those that made a new version (sorted).

    ``unchanged`` receives the current version of each resource whose content was the same.
    """
    items.sort(key=lambda it: (it.p.res_type, it.p.res_id))
    keys = orjson.dumps([(it.p.res_type, it.p.res_id, it.rid, it.p.pkey) for it in items]).decode()
    cur = await conn.execute(_LOCATORS, (keys,))
    created = {(r[0], r[1]) for r in await cur.fetchall()}
    report.created += len(created)
    if len(created) < len(items):
        existing = [it for it in items if (it.p.res_type, it.p.res_id) not in created]
        items = await _update_existing(store, conn, existing, items, created, params, report, unchanged)
    if items:
        await _copy(conn, items, report)
    return items


async def _update_existing(
    store: FhirStore,
    conn: AsyncConnection[TupleRow],
    existing: list[_Item],
    items: list[_Item],
    created: set[tuple[str, str]],
    params: dict[tuple[str, str], int],
    report: LoadReport,
    unchanged: dict[tuple[str, str], Stored] | None = None,
) -> list[_Item]:
    """Lock the resources that existed, drop the unchanged, give the others their next version."""
    locked, current = await _lock_existing(conn, existing)
    keep: list[_Item] = [it for it in items if (it.p.res_type, it.p.res_id) in created]
    updated: list[_Item] = []
    old_pkeys: list[str] = []
    old_rids: list[int] = []
    moves: list[tuple[str, int, str]] = []
    for it in existing:
        key = (it.p.res_type, it.p.res_id)
        _, _, rid, pkey, version, deleted = locked[key]
        live = key in current and not deleted
        if live and same_content(it.resource, content := content_from_text(current[key][1])):
            report.unchanged += 1
            if unchanged is not None:
                when_, _, seq = current[key]
                unchanged[key] = Stored(
                    key[0], key[1], int(version), when_, False, content, int(rid), seq, it.method, str(pkey)
                )
            continue
        when = it.p.last_updated
        if live and current[key][0] > when:
            when = current[key][0]
        it.p = prepare(it.resource, it.p.res_type, it.p.res_id, int(version) + 1, when, store.base_urls)
        it.rid = int(rid)
        it.render(params)
        if live:
            old_pkeys.append(pkey)
            old_rids.append(it.rid)
            report.updated += 1
            it.created = False
        else:
            report.created += 1
        if pkey != it.p.pkey:
            moves.append((pkey, it.rid, it.p.pkey))
        updated.append(it)
    if updated:
        await conn.execute(
            _UPDATE_LOCATORS,
            (
                [it.p.res_type for it in updated],
                [it.p.res_id for it in updated],
                [it.p.pkey for it in updated],
                [it.p.version for it in updated],
            ),
        )
    if old_rids:
        await conn.execute(_DELETE_OLD, {"pkeys": old_pkeys, "rids": old_rids})
    if moves:
        await conn.execute(_MOVE_HISTORY, tuple(list(col) for col in zip(*moves, strict=True)))
    return keep + updated


async def _copy(conn: AsyncConnection[TupleRow], items: list[_Item], report: LoadReport) -> None:
    cur = await conn.execute(_SEQS, (len(items),))
    seqs = [str(r[0]) for r in await cur.fetchall()]
    for it, s in zip(items, seqs, strict=True):
        it.seq = int(s)
    async with conn.cursor() as cursor:
        async with cursor.copy(_COPY_RESOURCE) as copy:
            await copy.write("".join([f"{it.resource_line}{s}\n" for it, s in zip(items, seqs, strict=True)]))
        async with cursor.copy(_COPY_HISTORY) as copy:
            await copy.write("".join([f"{it.history_line}{s}\n" for it, s in zip(items, seqs, strict=True)]))
        by_table: dict[str, list[str]] = {}
        for it in items:
            if it.index:
                for table, chunk in it.index.items():
                    found = by_table.get(table)
                    if found is None:
                        by_table[table] = [chunk]
                    else:
                        found.append(chunk)
        for table in COLUMNS:
            chunks = by_table.get(table)
            if chunks:
                data = "".join(chunks)
                report.index_rows += data.count("\n")
                async with cursor.copy(_COPY_INDEX[table]) as copy:
                    await copy.write(data)


async def _consume(
    store: FhirStore,
    queue: asyncio.Queue[list[_Item] | None],
    report: LoadReport,
    progress: Callable[[LoadReport], None] | None,
    started: float,
) -> None:
    params = await store.param_ids()
    while (batch := await queue.get()) is not None:
        await _write_batch(store, batch, params, report)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(report)


async def load(
    store: FhirStore,
    resources: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
    *,
    batch_size: int = 1000,
    on_error: str = "skip",
    progress: Callable[[LoadReport], None] | None = None,
) -> LoadReport:
    """Write ``resources`` in batches; see the module docstring. ``progress`` is called after each batch."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', not {on_error!r}")
    report = LoadReport()
    started = time.perf_counter()
    await store.param_ids()
    queue: asyncio.Queue[list[_Item] | None] = asyncio.Queue(maxsize=2)
    consumer = asyncio.create_task(_consume(store, queue, report, progress, started))
    try:
        await _produce(store, resources, queue, consumer, max(1, batch_size), on_error, report)
        await consumer
    except BaseException:
        consumer.cancel()
        raise
    finally:
        report.seconds = time.perf_counter() - started
    return report


class EntryInvalid(StoreError):
    """:func:`write_items`: the resource at ``position`` is not valid (``cause``); nothing was written."""

    code = "invalid"
    status = 400

    def __init__(self, position: int, cause: InvalidResource) -> None:
        super().__init__(cause.message, cause.expression)
        self.position = position
        self.cause = cause

    def outcome(self) -> dict[str, Any]:
        return self.cause.outcome()


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_items` did with one resource: ``created`` (a new resource, or one that was
    deleted), ``changed`` (a new version) or neither (the same content: ``stored`` is the current)."""

    stored: Stored
    created: bool
    changed: bool


async def write_items(
    store: FhirStore,
    conn: AsyncConnection[TupleRow],
    entries: list[tuple[dict[str, Any], str, str]],
) -> list[Written]:
    """Write ``(resource, id, method)`` entries (``POST``: a create with a new id; ``PUT``: update or
    create) in ``conn``'s transaction, with the bulk path's statements (locator rows in one statement,
    COPY for the rest); results in the entries' order.

    A transaction Bundle of plain creates and updates (:mod:`senhealth.fhir.bundle`) is written this
    way: the same rows, validation and versioning as entry by entry, in a handful of statements.
    Raises :class:`EntryInvalid` for the first invalid resource before anything is written; the ids
    must be distinct.
    """
    params = await store.param_ids()
    when = now()
    rids = await store.take_rids(conn, len(entries))
    items: list[_Item] = []
    for position, (resource, res_id, method) in enumerate(entries):
        try:
            rtype = check(resource)
            p = prepare(resource, rtype, res_id, 1, when, store.base_urls)
        except InvalidResource as e:
            raise EntryInvalid(position, e) from None
        item = _Item(resource, p, method, rids[position], position=position)
        item.render(params)
        items.append(item)
    report = LoadReport()
    unchanged: dict[tuple[str, str], Stored] = {}
    written = await _write_items(store, conn, list(items), params, report, unchanged)
    by_key = {(it.p.res_type, it.p.res_id): it for it in written}
    out: list[Written] = []
    for it in items:
        key = (it.p.res_type, it.p.res_id)
        done = by_key.get(key)
        if done is None:
            out.append(Written(unchanged[key], created=False, changed=False))
            continue
        p = done.p
        stored = Stored(
            p.res_type,
            p.res_id,
            p.version,
            p.last_updated,
            False,
            p.content,
            done.rid,
            done.seq,
            it.method,
            p.pkey,
        )
        out.append(Written(stored, created=done.created, changed=True))
    return out
