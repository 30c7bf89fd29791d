"""Bulk import of NDJSON into the FHIR store: every line validated, all or nothing, through COPY.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request (the NDJSON files
an export produces: one resource a line, current versions only), https://hl7.org/fhir/R4/http.html#update
(each resource is written as an update-as-create: a copy keeps its id) and the Bulk Data ``$import``
proposal https://github.com/smart-on-fhir/bulk-import (an OperationOutcome for what went wrong). The
operation around it (sources, jobs, HTTP) is :mod:`senhealth.analytics.bulk_import`; design and
measurements: docs/bulk.md.

``await import_ndjson(store, chunks)`` takes :class:`Chunk` s of numbered lines (:func:`chunk_lines`
cuts byte blocks into them) and returns an :class:`ImportReport`:

- every non-blank line is parsed (exact decimals), validated with the store's validator, stamped
  (``meta.versionId`` 1, ``meta.lastUpdated`` the import's time: a copy is a new write here; ``id`` and
  the rest of ``meta`` kept; a resource without an id gets a new one), indexed and turned into COPY
  text. A bad line (not JSON, not a resource, invalid, or a second copy of one resource in the same
  import) is reported as an OperationOutcome naming its line and the FHIRPath of the fault;
- everything is written in ONE transaction: if any line is bad nothing is committed (at most
  ``max_errors`` bad lines are collected, then reading stops). A resource that already exists gets its
  next version when its content differs and is left alone when it is the same, as :func:`~senhealth.fhir
  .store.load.load` does; write hooks are not called (as for ``load``): consumers follow the change feed;
- the Python work (about 130 µs a resource) runs in ``workers`` processes (default: one per CPU) while
  this process feeds PostgreSQL: per chunk one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the
  locator rows, ``COPY`` into ``fhir_resource`` and the index tables, and the history rows copied from
  ``fhir_resource`` with ``INSERT ... SELECT`` (the JSON is not parsed a second time). ``rid`` and
  ``seq`` values are taken in blocks on a side connection, after the import's transaction announced
  its lowest ``seq`` (``fhir_next_seq()``, the change-feed horizon);
- ``defer_indexes`` (first loads into an empty store): the PostgreSQL indexes of the resource,
  history and index tables (not their primary keys) are dropped inside the transaction and built
  again before it commits, which is faster once the tables outgrow memory; the rebuild's time is
  reported apart (``index_seconds``). The DDL is transactional: a failed import leaves the indexes as
  they were. Meanwhile the tables are locked against other writers and readers.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import multiprocessing
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.json import NestedTooDeeply, dumps_checked_bytes, parse
from senhealth.fhir.search.extract import extract
from senhealth.fhir.search.index import SearchIndex
from senhealth.fhir.store.compartment import compartment_keys
from senhealth.fhir.store.copy_rows import add_index_lines, resource_line
from senhealth.fhir.store.errors import InvalidResource
from senhealth.fhir.store.index_rows import COLUMNS
from senhealth.fhir.store.load import _copy, _Item, _update_existing
from senhealth.fhir.store.meta import new_id, stamp
from senhealth.fhir.store.model import LoadReport
from senhealth.fhir.store.write import _NUL, check, prepare, utc

if TYPE_CHECKING:
    from senhealth.fhir.store.store import FhirStore

__all__ = [
    "DEFERRABLE_TABLES",
    "BadLine",
    "Chunk",
    "ImportCancelled",
    "ImportReport",
    "bad_line_outcome",
    "chunk_lines",
    "default_workers",
    "import_ndjson",
    "shutdown_workers",
    "start_workers",
]

CHUNK_LINES: Final = 1000
MAX_LINE_BYTES: Final = 64 * 1024 * 1024  # one resource a line; a longer line is refused
#: Tables whose PostgreSQL indexes ``defer_indexes`` drops and builds again (primary keys stay).
DEFERRABLE_TABLES: Final = ("fhir_resource", "fhir_history", *COLUMNS)

_START = "SELECT now(), fhir_next_seq()"  # the import's time; announces its lowest seq (change feed)
_IDS = "SELECT nextval('fhir_rid_seq'), nextval('fhir_seq') FROM generate_series(1, %s)"
_CLAIM = (
    "INSERT INTO fhir_locator (res_type, res_id, rid, pkey, version, deleted) "
    "SELECT u->>0, u->>1, (u->>2)::bigint, u->>3, 1, false FROM jsonb_array_elements(%s::jsonb) AS u "
    "ON CONFLICT DO NOTHING RETURNING "
)
_LOCATORS = _CLAIM + "res_type, res_id"
# The same, answering only how many rows it inserted (all of them, nearly always: then nothing more is
# needed); when fewer, _CLAIMED says which: the rows that carry this chunk's rids (rids are drawn for the
# import, so a locator row with one of them is a row this statement inserted).
_LOCATORS_COUNTED = f"WITH claimed AS ({_CLAIM}1) SELECT count(*) FROM claimed"
_CLAIMED = (
    "SELECT l.res_type, l.res_id FROM jsonb_array_elements(%s::jsonb) AS u "
    "JOIN fhir_locator l ON l.rid = (u->>2)::bigint"
)
# Of the resources whose locator row was there already, which this transaction wrote itself (a second
# copy of one resource within the import) rather than an earlier writer.
_OWN = (
    "SELECT l.res_type, l.res_id FROM fhir_locator l "
    "JOIN unnest(%s::text[], %s::text[]) AS u(t, i) ON l.res_type = u.t AND l.res_id = u.i "
    "WHERE l.xmin = pg_current_xact_id()::xid"
)
_COPY_RESOURCE = (
    "COPY fhir_resource (pkey, rid, res_type, res_id, version, last_updated, compartments, content, "
    "content_raw, seq) FROM STDIN"
)
# The same JSON keys as _LOCATORS ([type, id, rid, pkey, method], ...): binding Python lists as arrays
# costs several µs a resource in psycopg's list dumper, the JSON text nothing more.
_HISTORY = (
    "INSERT INTO fhir_history (pkey, rid, res_type, res_id, version, last_updated, method, deleted, "
    "content, content_raw, seq) SELECT r.pkey, r.rid, r.res_type, r.res_id, r.version, r.last_updated, u->>4, "
    "false, r.content, r.content_raw, r.seq FROM jsonb_array_elements(%s::jsonb) AS u "
    "JOIN fhir_resource r ON r.pkey = u->>3 AND r.rid = (u->>2)::bigint"
)
_COPY_INDEX = {
    table: f"COPY {table} (pkey, rid, param_id, {', '.join(cols)}) FROM STDIN"
    for table, cols in COLUMNS.items()
}
_INDEXES = (
    "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = ANY(SELECT to_regclass(t) FROM unnest(%s::text[]) AS t) "
    "AND NOT i.indisprimary AND NOT i.indisunique ORDER BY c.relname"
)


class ImportCancelled(Exception):
    """Raised inside :func:`import_ndjson` when ``stop`` said so: the transaction is rolled back."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Numbered lines of one source (``lines``: (line number from 1, the line's bytes), blank lines left
    out); ``offset``: bytes of the source read up to the end of this chunk (for progress)."""

    source: str
    lines: list[tuple[int, bytes]]
    offset: int = 0


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be imported: its source, number and OperationOutcome."""

    source: str
    line: int
    outcome: dict[str, Any]


@dataclass(slots=True)
class ImportReport:
    """What :func:`import_ndjson` did. ``committed`` is False when anything was bad (then nothing was
    written), when it was cancelled, or when it failed."""

    lines: int = 0  # non-blank lines read
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    index_rows: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)
    truncated: bool = False  # stopped reading after max_errors bad lines
    committed: bool = False
    transaction_time: datetime | None = None
    seconds: float = 0.0  # the whole import, commit included
    index_seconds: float = 0.0  # building the deferred indexes (part of ``seconds``)
    bytes_read: int = 0

    @property
    def written(self) -> int:
        return self.created + self.updated

    @property
    def per_second(self) -> float:
        """Resources (written or unchanged) per second of the whole import."""
        done = self.created + self.updated + self.unchanged
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "indexRows": self.index_rows,
            "byType": dict(sorted(self.by_type.items())),
            "badLines": len(self.bad),
            "truncated": self.truncated,
            "committed": self.committed,
            "seconds": round(self.seconds, 3),
            "indexSeconds": round(self.index_seconds, 3),
        }


# --- lines ----------------------------------------------------------------------------------------------


async def chunk_lines(
    source: str, blocks: AsyncIterable[bytes] | Iterable[bytes], size: int = CHUNK_LINES
) -> AsyncIterator[Chunk]:
    """Cut byte blocks (a file read in pieces, an HTTP body streamed) into chunks of ``size`` numbered,
    non-blank lines (``\\n`` or ``\\r\\n`` ends a line; the last line needs no end). A line longer than
    :data:`MAX_LINE_BYTES` raises ValueError."""
    pending = b""
    number = 0
    offset = 0
    lines: list[tuple[int, bytes]] = []

    async def each() -> AsyncIterator[bytes]:
        if isinstance(blocks, AsyncIterable):
            async for b in blocks:
                yield b
        else:
            for b in blocks:
                yield b

    async for block in each():
        offset += len(block)
        pending += block
        parts = pending.split(b"\n")
        pending = parts.pop()
        if len(pending) > MAX_LINE_BYTES:
            raise ValueError(
                f"{source}: line {number + len(parts) + 1} is longer than {MAX_LINE_BYTES} bytes"
            )
        for part in parts:
            number += 1
            if part and not part.isspace():  # not blank (as part.strip(), without a copy)
                lines.append((number, part[:-1] if part.endswith(b"\r") else part))
        if len(lines) >= size:
            yield Chunk(source, lines, offset)
            lines = []
    if pending.strip():
        lines.append((number + 1, pending))
    if lines:
        yield Chunk(source, lines, offset)


# --- the render stage: pure Python, in worker processes ---------------------------------------------------


@dataclass(slots=True)
class _Task:
    source: str
    lines: list[tuple[int, bytes]]
    ids: list[tuple[int, int]]  # (rid, seq) per line
    when: datetime
    params: bytes  # the search parameters' ids, as :func:`_param_blob` writes them
    base_urls: tuple[str, ...]


def _param_blob(params: Mapping[tuple[str, str], int]) -> bytes:
    """The parameter ids of a store as JSON (``[[type, code, id], ...]``): sent with every task, bytes
    cross to a render process without unpickling a dict of thousands of entries each time."""
    return orjson.dumps([[rtype, code, pid] for (rtype, code), pid in params.items()])


_PARAM_TABLES: dict[bytes, tuple[dict[tuple[str, str], int], dict[str, dict[str, int]]]] = {}


def _param_tables(blob: bytes) -> tuple[dict[tuple[str, str], int], dict[str, dict[str, int]]]:
    """The ids of :func:`_param_blob` by (type, code), and by type then code; decoded once per process
    and store."""
    found = _PARAM_TABLES.get(blob)
    if found is None:
        params: dict[tuple[str, str], int] = {}
        by_type: dict[str, dict[str, int]] = {}
        for rtype, code, pid in orjson.loads(blob):
            params[(rtype, code)] = pid
            by_type.setdefault(rtype, {})[code] = pid
        if len(_PARAM_TABLES) >= 8:
            _PARAM_TABLES.clear()
        found = _PARAM_TABLES[blob] = (params, by_type)
    return found


@dataclass(slots=True)
class _Rendered:
    bad: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    keys: list[tuple[str, str, int, str, str]] = field(default_factory=list)  # type, id, rid, pkey, method
    numbers: list[int] = field(default_factory=list)  # the line of each key
    resources: bytes = b""  # COPY text, encoded here (a worker's result crosses to this process as bytes)
    index: dict[str, bytes] = field(default_factory=dict)
    index_rows: int = 0


def bad_line_outcome(source: str, line: int, outcome: dict[str, Any]) -> dict[str, Any]:
    """``outcome`` (a validator's OperationOutcome) with each issue naming the line: ``diagnostics``
    starts with "Line N of source", ``location`` is ``Line[N]``; ``expression`` (the FHIRPath) is kept."""
    issues: list[dict[str, Any]] = []
    for issue in outcome.get("issue") or []:
        if issue.get("severity") not in ("error", "fatal"):
            continue
        entry = dict(issue)
        text = str(entry.get("diagnostics") or (entry.get("details") or {}).get("text") or "invalid")
        entry["diagnostics"] = f"Line {line} of {source}: {text}"
        entry["location"] = [f"Line[{line}]"]
        issues.append(entry)
    if not issues:
        issues.append(
            {"severity": "error", "code": "invalid", "diagnostics": f"Line {line} of {source}: invalid"}
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue(source: str, line: int, message: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": "invalid", "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return bad_line_outcome(source, line, {"issue": [issue]})


@dataclass(slots=True)
class _Prepared:
    pkey: str
    compartments: list[str]
    index: SearchIndex
    data: bytes  # the stamped content as orjson wrote it (UTF-8 JSON)
    raw: bytes | None  # ``data`` again when jsonb would rewrite a number


def _prepare(
    resource: dict[str, Any], rtype: str, res_id: str, when: datetime, base_urls: tuple[str, ...]
) -> _Prepared:
    """:func:`~senhealth.fhir.store.write.prepare` of version 1, with the JSON kept as the bytes orjson
    writes: the COPY stream is bytes, so the text is neither decoded nor encoded again (the same
    steps, checks and errors otherwise)."""
    content = stamp(resource, res_id, 1, when)
    index = extract(content, base_urls=base_urls)
    pkey, compartments = compartment_keys(rtype, res_id, index)
    try:
        data, exponent = dumps_checked_bytes(content)
    except NestedTooDeeply as e:
        raise InvalidResource(str(e), expression=rtype) from None
    if b"\\u0000" in data and _NUL.search(data.decode()):
        raise InvalidResource("strings cannot contain the character U+0000", expression=rtype)
    return _Prepared(pkey, compartments, index, data, data if exponent else None)


def _render(task: _Task) -> _Rendered:
    """Parse, validate, stamp, index and format one chunk (runs in a worker process, or inline)."""
    out = _Rendered()
    resources: list[bytes] = []
    index: dict[str, list[str]] = {}
    index_rows = 0
    when, base_urls = task.when, task.base_urls
    params, by_type = _param_tables(task.params)
    for (number, raw), (rid, seq) in zip(task.lines, task.ids, strict=True):
        try:
            resource = parse(raw)
        except ValueError as e:  # orjson's and json's decode errors are ValueErrors
            out.bad.append((number, _issue(task.source, number, f"the line is not valid JSON: {e}")))
            continue
        try:
            rtype = check(resource)
            res_id = resource.get("id")
            method = "PUT"
            if not isinstance(res_id, str) or not res_id:
                res_id, method = new_id(), "POST"
            p = _prepare(resource, rtype, res_id, when, base_urls)
        except InvalidResource as e:
            out.bad.append((number, bad_line_outcome(task.source, number, e.outcome())))
            continue
        out.keys.append((rtype, res_id, rid, p.pkey, method))
        out.numbers.append(number)
        if out.bad:
            continue  # the import will not commit: only its keys matter now (second copies are errors)
        resources += resource_line(p.pkey, rid, rtype, res_id, 1, when, p.compartments, p.data, p.raw, seq)
        index_rows += add_index_lines(p.index, params, p.pkey, rid, p.data, index, by_type.get(rtype, {}))
    if not out.bad:
        out.resources = b"".join(resources)
        out.index = {table: "".join(lines).encode() for table, lines in index.items()}
        out.index_rows = index_rows
    return out


def _warm() -> None:
    """Worker start-up: build the validators and the search-parameter tables once, then move them out of
    the garbage collector's way (``gc.freeze``: collections walk only what each chunk allocates)."""
    from senhealth.fhir.search.request import resource_types
    from senhealth.fhir.validation import precompile

    precompile()
    resource_types()
    gc.collect()
    gc.freeze()


def _ready() -> None:
    """A no-op task: done once a render process has started and warmed up."""


_executor: ProcessPoolExecutor | None = None
_executor_size = 0
_warmed: list[Future[None]] = []


def _workers(count: int) -> tuple[ProcessPoolExecutor, list[Future[None]]]:
    """This process's pool of ``count`` render processes (``spawn``: no inherited threads or sockets),
    started on first use and kept for later imports, with one warm-up task per process (all done: the
    pool is ready)."""
    global _executor, _executor_size, _warmed
    if _executor is None or _executor_size != count:
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)
        _executor = ProcessPoolExecutor(
            count, mp_context=multiprocessing.get_context("spawn"), initializer=_warm
        )
        _executor_size = count
        _warmed = [_executor.submit(_ready) for _ in range(count)]
    return _executor, _warmed


async def start_workers(count: int | None = None) -> None:
    """Start the render processes now and wait until they are warm (an import otherwise starts them at
    its second chunk and renders in this process until they are ready)."""
    _, warm = _workers(default_workers() if count is None else count)
    await asyncio.gather(*(asyncio.wrap_future(w) for w in warm))


def shutdown_workers() -> None:
    """Stop the render processes (they are otherwise kept until this process exits)."""
    global _executor, _executor_size, _warmed
    if _executor is not None:
        _executor.shutdown(wait=True, cancel_futures=True)
    _executor, _executor_size, _warmed = None, 0, []


def default_workers() -> int:
    """Render processes by default: one per CPU this process may use but one (PostgreSQL's backend and
    this process need the last), at least one, at most four (beyond, PostgreSQL's single backend is the
    limit: docs/bulk.md)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, max(1, cpus - 1))


# --- the write stage: one connection, one transaction ----------------------------------------------------


def _without(text: bytes, rids: set[bytes]) -> bytes:
    """COPY text without the rows of ``rids`` (the second column); rows hold no raw newline."""
    return b"".join(
        line + b"\n" for line in text.split(b"\n") if line and line.split(b"\t", 2)[1] not in rids
    )


@dataclass(slots=True)
class _Writer:
    store: FhirStore
    conn: AsyncConnection[TupleRow]
    params: dict[tuple[str, str], int]
    when: datetime
    report: ImportReport
    reload: LoadReport = field(default_factory=LoadReport)  # resources that existed already

    async def write(self, chunk: Chunk, done: _Rendered) -> list[tuple[int, dict[str, Any]]]:
        """Write one rendered chunk; return bad lines found here (second copies of one resource)."""
        keys = done.keys
        if not keys:
            return []
        keys_json = orjson.dumps(keys).decode()
        cur = await self.conn.execute(_LOCATORS_COUNTED, (keys_json,))
        row = await cur.fetchone()
        skip: set[bytes] = set()
        existing: list[int] = []  # positions in keys
        if row is None or int(row[0]) < len(keys):
            cur = await self.conn.execute(_CLAIMED, (keys_json,))
            created = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
            bad = await self._classify(chunk, done, created, existing)
            if bad:
                return bad
            skip = {str(keys[i][2]).encode() for i in existing}
        resources, index = done.resources, done.index
        if skip:
            resources = _without(resources, skip)
            index = {t: _without(text, skip) for t, text in index.items()}
        kept = (
            [i for i in range(len(keys)) if str(keys[i][2]).encode() not in skip]
            if skip
            else range(len(keys))
        )
        async with self.conn.cursor() as cursor:
            if resources:
                async with cursor.copy(_COPY_RESOURCE) as copy:
                    await copy.write(resources)
            for table in COLUMNS:
                text = index.get(table)
                if text:
                    async with cursor.copy(_COPY_INDEX[table]) as copy:
                        await copy.write(text)
        self.report.index_rows += sum(t.count(b"\n") for t in index.values()) if skip else done.index_rows
        if kept:
            await self.conn.execute(
                _HISTORY, (keys_json if not skip else orjson.dumps([keys[i] for i in kept]).decode(),)
            )
        self.report.created += len(kept)
        by_type = self.report.by_type
        for i in kept:
            by_type[keys[i][0]] = by_type.get(keys[i][0], 0) + 1
        if existing:
            await self._update(chunk, done, existing)
        return []

    async def duplicates(self, chunk: Chunk, done: _Rendered) -> list[tuple[int, dict[str, Any]]]:
        """After a bad line: claim the chunk's locator rows only (rolled back with the rest), to report
        resources that appear twice in the import."""
        if not done.keys:
            return []
        cur = await self.conn.execute(_LOCATORS, (orjson.dumps(done.keys).decode(),))
        created = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
        return await self._classify(chunk, done, created, [])

    async def _classify(
        self, chunk: Chunk, done: _Rendered, created: set[tuple[str, str]], existing: list[int]
    ) -> list[tuple[int, dict[str, Any]]]:
        """Sort the keys not inserted: second copies within the import (bad lines) or resources stored
        before (``existing``, positions in ``done.keys``)."""
        keys = done.keys
        first: dict[tuple[str, str], int] = {}
        bad: list[tuple[int, dict[str, Any]]] = []
        rest: list[int] = []
        for i, (rtype, rid_, *_) in enumerate(keys):
            key = (rtype, rid_)
            if key in first:
                bad.append(
                    (done.numbers[i], _twice(chunk.source, done.numbers[i], key, done.numbers[first[key]]))
                )
                continue
            first[key] = i
            if key not in created:
                rest.append(i)
        if rest:
            cur = await self.conn.execute(_OWN, ([keys[i][0] for i in rest], [keys[i][1] for i in rest]))
            own = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
            for i in rest:
                key = (keys[i][0], keys[i][1])
                if key in own:
                    bad.append((done.numbers[i], _twice(chunk.source, done.numbers[i], key, None)))
                else:
                    existing.append(i)
        return bad

    async def _update(self, chunk: Chunk, done: _Rendered, existing: list[int]) -> None:
        """Resources stored before the import: the next version when the content differs (the bulk
        load's statements); rare, so they are parsed again here."""
        raw = dict(chunk.lines)
        items: list[_Item] = []
        for i in existing:
            resource = parse(raw[done.numbers[i]])
            rtype, res_id = done.keys[i][0], done.keys[i][1]
            p = prepare(resource, rtype, res_id, 1, self.when, self.store.base_urls)
            items.append(_Item(resource, p, done.keys[i][4], 0))
        items.sort(key=lambda it: (it.p.res_type, it.p.res_id))
        before = (self.reload.created, self.reload.updated, self.reload.index_rows)
        written = await _update_existing(self.store, self.conn, items, items, set(), self.params, self.reload)
        if written:
            await _copy(self.conn, written, self.reload)
        self.report.created += self.reload.created - before[0]
        self.report.updated += self.reload.updated - before[1]
        self.report.index_rows += self.reload.index_rows - before[2]
        self.report.unchanged = self.reload.unchanged
        for it in written:
            self.report.by_type[it.p.res_type] = self.report.by_type.get(it.p.res_type, 0) + 1


def _twice(source: str, line: int, key: tuple[str, str], earlier: int | None) -> dict[str, Any]:
    where = f"line {earlier}" if earlier is not None else "an earlier line"
    return _issue(
        source,
        line,
        f"{key[0]}/{key[1]} is in this import twice (also at {where}): an import holds one version of each "
        "resource",
        "id",
    )


async def _deferred_indexes(conn: AsyncConnection[TupleRow]) -> list[str]:
    """Drop the secondary indexes of the FHIR tables (in the caller's transaction); their definitions."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM fhir_locator)")
    row = await cur.fetchone()
    if row is not None and row[0]:
        raise ValueError("defer_indexes is for a first load into an empty store: this store holds resources")
    cur = await conn.execute(_INDEXES, (list(DEFERRABLE_TABLES),))
    found = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
    for name, _ in found:
        await conn.execute(f'DROP INDEX "{name}"')
    # a partitioned table's index reads "ON ONLY parent": built again for every partition
    return [definition.replace(" ON ONLY ", " ON ") for _, definition in found]


async def _build_indexes(conn: AsyncConnection[TupleRow], definitions: list[str]) -> None:
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for definition in definitions:
        await conn.execute(definition)


# --- the import --------------------------------------------------------------------------------------------

Progress = Callable[[ImportReport], Awaitable[None] | None]
Stop = Callable[[], Awaitable[bool]]


async def _aiter(chunks: AsyncIterable[Chunk] | Iterable[Chunk]) -> AsyncIterator[Chunk]:
    if isinstance(chunks, AsyncIterable):
        async for c in chunks:
            yield c
    else:
        for c in chunks:
            yield c


async def import_ndjson(
    store: FhirStore,
    chunks: AsyncIterable[Chunk] | Iterable[Chunk],
    *,
    defer_indexes: bool = False,
    workers: int | None = None,
    max_errors: int = 100,
    progress: Progress | None = None,
    stop: Stop | None = None,
) -> ImportReport:
    """Import ``chunks`` (see the module docstring). ``workers``: render processes (None: one per CPU;
    0: render in this process). ``progress`` is called after each chunk; ``stop`` is asked after each
    chunk and, when it answers True, the import is rolled back and :class:`ImportCancelled` raised.
    A database error rolls back and propagates; bad lines roll back and are in ``report.bad``."""
    report = ImportReport()
    started = time.perf_counter()
    params = await store.param_ids()
    count = default_workers() if workers is None else max(0, workers)
    loop = asyncio.get_running_loop()
    try:
        async with store.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_START)
            row = await cur.fetchone()
            assert row is not None
            when = utc(row[0])
            when = when.replace(microsecond=when.microsecond - when.microsecond % 1000)
            report.transaction_time = when
            definitions = await _deferred_indexes(conn) if defer_indexes else []
            writer = _Writer(store, conn, params, when, report)
            queue: asyncio.Queue[tuple[Chunk, asyncio.Future[_Rendered]] | None] = asyncio.Queue(
                maxsize=max(2, 2 * count)
            )
            producer = asyncio.create_task(_produce(store, chunks, queue, count, loop, when, params, report))
            try:
                await _consume(queue, producer, writer, report, max_errors, progress, stop)
            finally:
                if not producer.done():
                    producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
            if report.bad:
                raise _Rollback
            if definitions:
                t0 = time.perf_counter()
                await _build_indexes(conn, definitions)
                report.index_seconds = time.perf_counter() - t0
        report.committed = True
    except _Rollback:
        report.committed = False
    except BrokenProcessPool:
        shutdown_workers()  # a render process died: start afresh next time
        raise
    finally:
        report.seconds = time.perf_counter() - started
    return report


class _Rollback(Exception):
    """Leaves the import's transaction without committing (bad lines)."""


async def _produce(
    store: FhirStore,
    chunks: AsyncIterable[Chunk] | Iterable[Chunk],
    queue: asyncio.Queue[tuple[Chunk, asyncio.Future[_Rendered]] | None],
    workers: int,
    loop: asyncio.AbstractEventLoop,
    when: datetime,
    params: dict[tuple[str, str], int],
    report: ImportReport,
) -> None:
    """Render the chunks in order: in the render processes once they are warm (the pool is started at
    the second chunk, or used at once when an earlier import started it), in this process until then."""
    base_urls = store.base_urls
    blob = _param_blob(params)
    pool: ProcessPoolExecutor | None = None
    warm: list[Future[None]] = []
    async with store.pool.connection() as side:  # rid and seq blocks, outside the import's transaction
        n = 0
        async for chunk in _aiter(chunks):
            if not chunk.lines:
                continue
            if pool is None and workers > 0 and (n >= 1 or _executor_size == workers):
                pool, warm = _workers(workers)
            n += 1
            cur = await side.execute(_IDS, (len(chunk.lines),))
            ids: list[tuple[int, int]] = await cur.fetchall()  # (bigint, bigint) rows: ints already
            task = _Task(chunk.source, chunk.lines, ids, when, blob, base_urls)
            if pool is not None and all(w.done() and w.exception() is None for w in warm):
                future = asyncio.wrap_future(pool.submit(_render, task))
            else:
                future = loop.create_future()
                future.set_result(_render(task))
                await asyncio.sleep(0)
            await queue.put((chunk, future))
    await queue.put(None)


async def _next(
    queue: asyncio.Queue[tuple[Chunk, asyncio.Future[_Rendered]] | None], producer: asyncio.Task[None]
) -> tuple[Chunk, asyncio.Future[_Rendered]] | None:
    """The next rendered chunk, or None at the end; the producer's error if it failed first."""
    getter = asyncio.ensure_future(queue.get())
    await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
    if not getter.done() and producer.done() and producer.exception() is not None:
        getter.cancel()
        raise producer.exception()  # type: ignore[misc]
    return await getter


async def _consume(
    queue: asyncio.Queue[tuple[Chunk, asyncio.Future[_Rendered]] | None],
    producer: asyncio.Task[None],
    writer: _Writer,
    report: ImportReport,
    max_errors: int,
    progress: Progress | None,
    stop: Stop | None,
) -> None:
    while (item := await _next(queue, producer)) is not None:
        chunk, future = item
        done = await future
        report.lines += len(chunk.lines)
        report.bytes_read = chunk.offset
        if not done.bad and not report.bad:
            bad = await writer.write(chunk, done)
        else:  # nothing will be committed: only look for second copies of one resource
            bad = sorted([*done.bad, *await writer.duplicates(chunk, done)], key=lambda b: b[0])
        report.bad.extend(BadLine(chunk.source, n, o) for n, o in bad)
        if len(report.bad) >= max_errors:
            del report.bad[max_errors:]
            report.truncated = True
            return
        if progress is not None:
            result = progress(report)
            if inspect.isawaitable(result):
                await result
        if stop is not None and await stop():
            raise ImportCancelled("the import was cancelled")
