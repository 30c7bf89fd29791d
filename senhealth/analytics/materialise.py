"""Materialised views: a view's rows kept in a PostgreSQL table or a directory of Parquet files, and
refreshed from the store's change feed.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html (the rows), the
project's change feed (:mod:`senhealth.fhir.store.change_feed`, docs/storage.md "Change feed and
cursors": every version in one global order, read only up to the *horizon* below which no transaction
can still commit), DESIGN.md §1 (derived data is rebuilt from the resources) and §5 (no timestamps as
a change order).

- :func:`materialise` builds a target from scratch: it reads the feed's horizon ``H`` first, then
  every current resource of the view's type (keyset batches, :mod:`.view_source`), and records ``H``
  as the target's *position*. Every version at or below ``H`` has committed, so the build reflects
  them all; versions above ``H`` it happened to read are applied again by the next refresh, which is
  harmless (a refresh replaces rows, it never adds them twice).
- :func:`refresh` applies the feed after the position, a page (:data:`PAGE` versions) per
  transaction: the ids of the resources of the view's type that changed; their rows are deleted
  (every row carries ``_resource_id``, :data:`RESOURCE_ID`), their *current* versions are read and
  their new rows inserted (a deleted resource has none), and the position moves to the page's end,
  all in one transaction: a refresh stopped half-way resumes from the last page it committed.
  If the view changed since the build (a stored view edited, compared by a hash), the target is
  built again instead. Refreshing twice in a row finds nothing to do.
- Targets: ``postgres`` — a table ``<schema>.<table>`` (default schema :data:`SCHEMA`, table the
  view's ``name``) with ``_resource_id text`` and one column per view column, typed from the
  column's ``type`` (:func:`pg_type`), indexed on ``_resource_id``; the build replaces the table in
  one transaction (readers keep the old one until it commits). ``parquet`` — a directory of
  ``part-*.parquet`` files (:mod:`.materialise_parquet`).
- State: one row per target in ``analytics_materialisation`` (migration ``0016_views.sql``): the view
  (or the stored view it follows), its hash, the position, the row count. Runs on one target are
  serialised by a transaction-level advisory lock (two-key form, so that it can never be mistaken for
  a writer's seq announcement, which the horizon reads).

These are system jobs (no access restriction); the job ``analytics.refresh_view``
(:mod:`senhealth.analytics.tasks`) and ``senhealth views materialise / refresh`` call them.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from senhealth.core.errors import SenHealthError
from senhealth.fhir.json import dumps, dumps_text
from senhealth.fhir.store import content_from_text
from senhealth.fhir.store.change_feed import changes, horizon

from . import materialise_parquet as parquet
from .view_source import BATCH, Source, StoredResource, fetch_batch
from .view_store import get_view, view_problems
from .viewdef import CompiledView, ViewColumn, ViewDefinitionError, compile_view
from .viewdef.formats import cell_text

__all__ = [
    "PAGE",
    "RESOURCE_ID",
    "SCHEMA",
    "MaterialiseError",
    "MaterialiseReport",
    "Target",
    "drop_materialisation",
    "list_materialisations",
    "materialise",
    "parquet_target",
    "pg_type",
    "postgres_target",
    "refresh",
    "refresh_all",
]

#: The column of every materialised row naming the resource it came from.
RESOURCE_ID: Final = "_resource_id"
#: Default schema of materialised tables.
SCHEMA: Final = "analytics"
#: Change-feed versions applied per refresh transaction.
PAGE: Final = 5_000
#: First key of the advisory lock serialising runs on one target (``pg_advisory_xact_lock(int, int)``).
_LOCK_SPACE: Final = 0x56494557  # "VIEW"
_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_PG_TYPES: Final[Mapping[str, str]] = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "integer64": "bigint",
    "decimal": "numeric",
    "instant": "timestamptz",
}

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


class MaterialiseError(SenHealthError):
    """A materialisation that cannot be done as asked (a bad target, an unknown one, no view)."""

    code = "invalid"
    status = 400


@dataclass(frozen=True, slots=True)
class Target:
    """Where a view's rows go: ``kind`` ``postgres`` (``location`` is ``schema.table``) or ``parquet``
    (``location`` is an absolute directory)."""

    kind: Literal["postgres", "parquet"]
    location: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.location}"

    @classmethod
    def parse(cls, target_id: str) -> Target:
        kind, _, location = target_id.partition(":")
        if kind == "postgres":
            schema, _, table = location.partition(".")
            return postgres_target(schema=schema, table=table)
        if kind == "parquet" and location:
            return parquet_target(location)
        raise MaterialiseError(f"{target_id!r} is not a target: postgres:<schema>.<table> or parquet:<dir>")


def postgres_target(*, table: str, schema: str = SCHEMA) -> Target:
    """A PostgreSQL table target (identifiers: letters, digits, ``_``; at most 63 characters)."""
    for what, name in (("schema", schema), ("table", table)):
        if not _IDENT.match(name or ""):
            raise MaterialiseError(f"{what} name {name!r} must match {_IDENT.pattern}")
    return Target("postgres", f"{schema}.{table}")


def parquet_target(directory: str | Path) -> Target:
    """A Parquet directory target (made absolute)."""
    return Target("parquet", str(Path(directory).expanduser().resolve()))


@dataclass(slots=True)
class MaterialiseReport:
    """What one build or refresh did."""

    target: str
    built: bool = False  # a full build (first time, or the view changed)
    changed: int = 0  # resources whose rows were replaced
    deleted: int = 0  # rows removed
    inserted: int = 0  # rows written
    rows: int = 0  # rows in the target afterwards
    position: int = 0  # the change-feed position reached
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # refresh_all: why this target could not be refreshed

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.target}: failed: {self.error}"
        what = "built" if self.built else f"{self.changed} resources changed"
        return (
            f"{self.target}: {what}, -{self.deleted} +{self.inserted} rows, {self.rows} rows, "
            f"position {self.position}, {self.seconds:.2f} s"
        )


def pg_type(column: ViewColumn) -> str:
    """The PostgreSQL type of a view column: from its ``type`` (``decimal`` → numeric, ``instant`` →
    timestamptz, ...; dates and other text types → text, as FHIR dates may be partial); ``jsonb`` for
    a ``collection`` and for a column without ``type`` (its values keep their JSON types)."""
    if column.collection or column.type is None:
        return "jsonb"
    return _PG_TYPES.get(column.type, "text")


def _misfit(column: ViewColumn, value: Any) -> ViewDefinitionError:
    return ViewDefinitionError(
        f"column {column.name!r} is declared {column.type} but gave {value!r}", column.where
    )


def _pg_value(column: ViewColumn, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "jsonb":
        return Jsonb(value, dumps=dumps_text)
    if kind == "text":
        return cell_text(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("integer", "bigint") and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
    if kind == "numeric" and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    if kind == "timestamptz" and isinstance(value, str):
        return value
    raise _misfit(column, value)


def _hash(view: Mapping[str, Any]) -> str:
    """The view's definition as a digest (keys sorted: jsonb gives them back in its own order)."""
    body = {k: v for k, v in view.items() if k not in ("id", "meta")}
    return hashlib.sha256(dumps(body, sort_keys=True)).hexdigest()


def evaluate_rows(compiled: CompiledView, batch: Sequence[StoredResource]) -> list[dict[str, Any]]:
    """The rows of a batch of resources, each with :data:`RESOURCE_ID` first."""
    out: list[dict[str, Any]] = []
    for res in batch:
        for row in compiled.rows(res.content):
            out.append({RESOURCE_ID: res.res_id, **row})
    return out


async def _rows_of(compiled: CompiledView, batch: Sequence[StoredResource]) -> list[dict[str, Any]]:
    if len(batch) > 20:
        return await asyncio.to_thread(evaluate_rows, compiled, batch)
    return evaluate_rows(compiled, batch)


async def _lock(conn: AsyncConnection[TupleRow], target: Target) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_SPACE, target.id))


# --- PostgreSQL tables --------------------------------------------------------------------------------


def _table(target: Target) -> sql.Composed:
    schema, _, table = target.location.partition(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


async def _pg_create(conn: AsyncConnection[TupleRow], target: Target, compiled: CompiledView) -> None:
    schema = target.location.partition(".")[0]
    await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(target)))
    columns = [sql.SQL("{} text NOT NULL").format(sql.Identifier(RESOURCE_ID))]
    columns.extend(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(pg_type(c))) for c in compiled.columns
    )
    await conn.execute(sql.SQL("CREATE TABLE {} ({})").format(_table(target), sql.SQL(", ").join(columns)))


async def _pg_insert(
    conn: AsyncConnection[TupleRow], target: Target, compiled: CompiledView, rows: Sequence[Mapping[str, Any]]
) -> int:
    if not rows:
        return 0
    kinds = [(c, pg_type(c)) for c in compiled.columns]
    names = [sql.Identifier(RESOURCE_ID), *(sql.Identifier(c.name) for c in compiled.columns)]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(_table(target), sql.SQL(", ").join(names))
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(
                [row[RESOURCE_ID], *(_pg_value(c, kind, row.get(c.name)) for c, kind in kinds)]
            )
    return len(rows)


async def _pg_index(conn: AsyncConnection[TupleRow], target: Target) -> None:
    table = target.location.partition(".")[2]
    await conn.execute(
        sql.SQL("CREATE INDEX {} ON {} ({})").format(
            sql.Identifier(f"{table[:50]}_resource_id"), _table(target), sql.Identifier(RESOURCE_ID)
        )
    )


async def _pg_delete(conn: AsyncConnection[TupleRow], target: Target, ids: Sequence[str]) -> int:
    cur = await conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(_table(target), sql.Identifier(RESOURCE_ID)),
        (list(ids),),
    )
    return cur.rowcount


# --- state --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    target: Target
    view_id: str | None
    view: dict[str, Any]
    view_hash: str
    position: int
    rows: int


async def _state(conn: AsyncConnection[TupleRow], target: Target, *, lock: bool = False) -> _State | None:
    cur = await conn.execute(
        "SELECT view_id, view::text, view_hash, position, row_count FROM analytics_materialisation"
        f" WHERE id = %s{' FOR UPDATE' if lock else ''}",
        (target.id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return _State(target, row[0], content_from_text(row[1]), row[2], int(row[3]), int(row[4]))


async def _save(
    conn: AsyncConnection[TupleRow],
    target: Target,
    view_id: str | None,
    view: Mapping[str, Any],
    position: int,
    rows: int,
    *,
    built: bool,
) -> None:
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO analytics_materialisation (id, kind, target, view_id, view, view_hash, position,"
        " row_count, built_at, refreshed_at) VALUES (%(id)s, %(kind)s, %(target)s, %(view_id)s, %(view)s,"
        " %(hash)s, %(position)s, %(rows)s, %(now)s, %(now)s) ON CONFLICT (id) DO UPDATE SET"
        " view_id = excluded.view_id, view = excluded.view, view_hash = excluded.view_hash,"
        " position = excluded.position, row_count = excluded.row_count, refreshed_at = excluded.refreshed_at,"
        " built_at = CASE WHEN %(built)s THEN excluded.built_at ELSE analytics_materialisation.built_at END",
        {
            "id": target.id,
            "kind": target.kind,
            "target": target.location,
            "view_id": view_id,
            "view": Jsonb(dict(view), dumps=dumps_text),
            "hash": _hash(view),
            "position": position,
            "rows": rows,
            "now": now,
            "built": built,
        },
    )


def _compiled(view: Mapping[str, Any]) -> CompiledView:
    problems = view_problems(view)
    if problems:
        path, message = problems[0]
        raise ViewDefinitionError(message, path)
    return compile_view(view)


async def _resolve(
    conn: AsyncConnection[TupleRow], view: Mapping[str, Any] | None, view_id: str | None
) -> dict[str, Any]:
    if view is not None:
        return dict(view)
    if view_id is None:
        raise MaterialiseError("give a view or the id of a stored view")
    return (await get_view(conn, view_id)).content


# --- build and refresh ---------------------------------------------------------------------------------


async def materialise(
    pool: Pool,
    target: Target,
    *,
    view: Mapping[str, Any] | None = None,
    view_id: str | None = None,
    param_ids: Mapping[tuple[str, str], int],
    batch: int = BATCH,
) -> MaterialiseReport:
    """Build ``target`` from scratch with ``view`` (or the stored view ``view_id``, which later
    refreshes follow); ``param_ids`` is ``FhirStore.param_ids()``. See the module docstring."""
    started = time.monotonic()
    async with pool.connection() as conn, conn.transaction():
        await _lock(conn, target)
        definition = await _resolve(conn, view, view_id)
        report = await _build(conn, target, definition, view_id, param_ids, batch)
    report.seconds = time.monotonic() - started
    return report


async def _build(
    conn: AsyncConnection[TupleRow],
    target: Target,
    view: dict[str, Any],
    view_id: str | None,
    param_ids: Mapping[tuple[str, str], int],
    batch: int,
) -> MaterialiseReport:
    compiled = _compiled(view)
    report = MaterialiseReport(target.id, built=True)
    top = await horizon(conn)  # before reading: everything at or below it is reflected
    writer = None
    if target.kind == "postgres":
        await _pg_create(conn, target, compiled)
    else:
        writer = parquet.Build(Path(target.location), compiled.columns, RESOURCE_ID)
    try:
        after = ""
        while True:
            found = await fetch_batch(conn, compiled.resource, Source(), param_ids, after=after, limit=batch)
            if not found:
                break
            rows = await _rows_of(compiled, found)
            if writer is not None:
                writer.write(rows)
                report.inserted += len(rows)
            else:
                report.inserted += await _pg_insert(conn, target, compiled, rows)
            if len(found) < batch:
                break
            after = found[-1].res_id
        if writer is not None:
            writer.finish()
        else:
            await _pg_index(conn, target)
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    report.rows = report.inserted
    report.position = top
    await _save(conn, target, view_id, view, top, report.rows, built=True)
    return report


async def refresh(
    pool: Pool,
    target: Target,
    *,
    param_ids: Mapping[tuple[str, str], int],
    page: int = PAGE,
    batch: int = BATCH,
) -> MaterialiseReport:
    """Bring ``target`` up to date with the changes since its position (module docstring); a target
    whose view changed is built again. :class:`MaterialiseError` for a target never materialised."""
    started = time.monotonic()
    report = MaterialiseReport(target.id)
    while True:
        async with pool.connection() as conn, conn.transaction():
            await _lock(conn, target)
            state = await _state(conn, target, lock=True)
            if state is None:
                raise MaterialiseError(f"{target.id} was never materialised: materialise it first")
            view = await _resolve(conn, None, state.view_id) if state.view_id else state.view
            if _hash(view) != state.view_hash or not await _target_exists(conn, target):
                built = await _build(conn, target, view, state.view_id, param_ids, batch)
                built.notes.append("the view changed or the target was missing: built again")
                built.seconds = time.monotonic() - started
                return built
            done = await _apply_page(conn, state, view, report, page)
        if done:
            break
    report.seconds = time.monotonic() - started
    return report


async def _target_exists(conn: AsyncConnection[TupleRow], target: Target) -> bool:
    if target.kind == "parquet":
        return Path(target.location).is_dir()
    cur = await conn.execute("SELECT to_regclass(%s)", (_table(target).as_string(conn),))
    row = await cur.fetchone()
    return bool(row and row[0])


async def _apply_page(
    conn: AsyncConnection[TupleRow], state: _State, view: dict[str, Any], report: MaterialiseReport, page: int
) -> bool:
    """Apply one page of the feed in the caller's transaction; True when the feed is exhausted."""
    compiled = _compiled(view)
    target = state.target
    feed = await changes(conn, state.position, types=[compiled.resource], limit=page)
    rids = sorted({c.rid for c in feed.changes})
    ids = sorted({c.res_id for c in feed.changes})
    deleted = inserted = 0
    if ids:
        cur = await conn.execute(
            "SELECT l.res_id, l.pkey, coalesce(r.content_raw, r.content::text) FROM fhir_locator l"
            " JOIN fhir_resource r ON r.pkey = l.pkey AND r.rid = l.rid WHERE l.rid = ANY(%s)"
            " ORDER BY l.res_id",
            (rids,),
        )
        current = [StoredResource(r[0], r[1], r[2]) for r in await cur.fetchall()]
        rows = await _rows_of(compiled, current)
        if target.kind == "postgres":
            deleted = await _pg_delete(conn, target, ids)
            inserted = await _pg_insert(conn, target, compiled, rows)
        else:
            deleted, inserted = await asyncio.to_thread(
                parquet.replace, Path(target.location), compiled.columns, RESOURCE_ID, ids, rows
            )
    rows_now = state.rows - deleted + inserted
    await _save(conn, target, state.view_id, view, feed.position, rows_now, built=False)
    report.changed += len(ids)
    report.deleted += deleted
    report.inserted += inserted
    report.rows = rows_now
    report.position = feed.position
    return feed.complete


async def refresh_all(pool: Pool, *, param_ids: Mapping[tuple[str, str], int]) -> list[MaterialiseReport]:
    """Refresh every materialised target, one after the other; a target that fails (its stored view
    deleted, a view that fails on new data) gets a report with ``error`` and the others go on."""
    reports = []
    for m in await list_materialisations(pool):
        try:
            reports.append(await refresh(pool, Target.parse(m["id"]), param_ids=param_ids))
        except (SenHealthError, ViewDefinitionError, OSError) as e:
            reports.append(MaterialiseReport(m["id"], error=str(e)))
    return reports


async def list_materialisations(pool: Pool) -> list[dict[str, Any]]:
    """Every materialised target: id, kind, target, view_id, view name, position, rows, times."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, kind, target, view_id, view->>'name', view->>'resource', position, row_count,"
            " built_at, refreshed_at FROM analytics_materialisation ORDER BY id"
        )
        rows = await cur.fetchall()
    keys = (
        "id",
        "kind",
        "target",
        "view_id",
        "name",
        "resource",
        "position",
        "rows",
        "built_at",
        "refreshed_at",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


async def drop_materialisation(pool: Pool, target: Target) -> bool:
    """Forget a target and remove its table or files; False when it was not materialised."""
    async with pool.connection() as conn, conn.transaction():
        await _lock(conn, target)
        cur = await conn.execute("DELETE FROM analytics_materialisation WHERE id = %s", (target.id,))
        if cur.rowcount == 0:
            return False
        if target.kind == "postgres":
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(target)))
        else:
            parquet.remove(Path(target.location))
        return True
