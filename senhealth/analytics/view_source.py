"""The resources a view runs over, read from the FHIR store in batches, under the caller's restriction.

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html (``patient``,
``group``, ``_since``); the store's tables: docs/storage.md and ``senhealth/migrations/0002_fhir_store.sql``;
the access policy's restriction: :class:`senhealth.fhir.access.Restriction`, applied in SQL by the
search engine's own builder (:meth:`senhealth.fhir.search.sql.SqlBuilder.restricted`), so a view sees
exactly the resources a search by the same caller would.

:func:`read_batches` pages through ``fhir_resource`` of one type by keyset on ``(res_type, res_id)``
(the ``fhir_resource_type_id`` index): each batch is one statement on a pooled connection taken for
that statement only, so a slow reader of the output never holds a connection, and no ``OFFSET`` is
ever scanned. The batches are not one snapshot: a resource written while a long run pages is read in
the state its batch finds (each resource at most once; one created behind the position is not read).
Content is parsed with :func:`senhealth.fhir.store.content_from_text` (decimals keep their digits).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.fhir.access import Restriction
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.search.sql import ParamIds, SqlBuilder
from senhealth.fhir.store import content_from_text

__all__ = [
    "BATCH",
    "Source",
    "StoredResource",
    "existing_patients",
    "fetch_batch",
    "group_patients",
    "read_batches",
]

#: Resources per statement.
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class Source:
    """Which resources of the view's type to read: changed at or after ``since``; in the compartment
    of one of ``patients`` (None: any; only for types in the Patient compartment, the others are not
    filtered); visible under ``restriction`` (None: unrestricted)."""

    since: datetime | None = None
    patients: tuple[str, ...] | None = None
    restriction: Restriction | None = None


@dataclass(slots=True)
class StoredResource:
    """One current resource: its id, its patient key (``""``: no patient) and its content, parsed from
    the stored JSON ``text`` when first asked for (so that the parsing happens where the view runs: in
    a worker thread, not on the event loop)."""

    res_id: str
    pkey: str
    text: str | None = None
    parsed: dict[str, Any] | None = None

    @property
    def content(self) -> dict[str, Any]:
        if self.parsed is None:
            self.parsed = content_from_text(self.text or "{}")
        return self.parsed


def _statement(
    res_type: str, source: Source, after: str, limit: int, param_ids: Mapping[tuple[str, str], int]
) -> tuple[sql.Composed, dict[str, Any]]:
    b = SqlBuilder(ParamIds.of(param_ids))
    where: list[sql.Composable] = [
        sql.SQL("r.res_type = {}").format(b.p.add(res_type)),
        sql.SQL("r.res_id > {}").format(b.p.add(after)),
    ]
    if source.since is not None:
        where.append(sql.SQL("r.last_updated >= {}").format(b.p.add(source.since, "timestamptz")))
    if source.patients is not None and patient_compartment().get(res_type):
        where.append(sql.SQL("r.compartments && {}").format(b.p.add(list(source.patients), "text[]")))
    if source.restriction is not None:
        where.append(b.restricted("r", source.restriction))
    query = sql.SQL(
        "SELECT r.res_id, r.pkey, coalesce(r.content_raw, r.content::text) FROM fhir_resource r"
        " WHERE {} ORDER BY r.res_id LIMIT {}"
    ).format(sql.SQL(" AND ").join(where), b.p.add(limit, "integer"))
    return query, b.p.values


async def fetch_batch(
    conn: AsyncConnection[TupleRow],
    res_type: str,
    source: Source,
    param_ids: Mapping[tuple[str, str], int],
    *,
    after: str = "",
    limit: int = BATCH,
) -> list[StoredResource]:
    """One batch: at most ``limit`` resources of ``res_type`` with ids after ``after``, by id."""
    query, params = _statement(res_type, source, after, limit, param_ids)
    cur = await conn.execute(query, params)
    return [StoredResource(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def read_batches(
    pool: AsyncConnectionPool[AsyncConnection[TupleRow]],
    res_type: str,
    source: Source,
    param_ids: Mapping[tuple[str, str], int],
    *,
    batch: int = BATCH,
    after: str = "",
) -> AsyncGenerator[list[StoredResource], None]:
    """The current resources of ``res_type`` that ``source`` selects, ``batch`` at a time, by id
    (only ids after ``after``), each batch on a connection taken for it; see the module docstring."""
    position = after
    while True:
        async with pool.connection() as conn:
            found = await fetch_batch(conn, res_type, source, param_ids, after=position, limit=batch)
        if not found:
            return
        yield found
        if len(found) < batch:
            return
        position = found[-1].res_id


async def existing_patients(conn: AsyncConnection[TupleRow], ids: Sequence[str]) -> set[str]:
    """Which of the Patient ids exist (and are not deleted)."""
    cur = await conn.execute(
        "SELECT res_id FROM fhir_locator WHERE res_type = 'Patient' AND res_id = ANY(%s)"
        " AND version > 0 AND NOT deleted",
        (list(ids),),
    )
    return {str(r[0]) for r in await cur.fetchall()}


def group_patients(group: Mapping[str, Any]) -> list[str]:
    """The Patient ids a Group's active members reference (``member.entity``, ``Patient/<id>``, also at
    the end of an absolute URL); https://hl7.org/fhir/R4/group.html."""
    out: list[str] = []
    for member in group.get("member") or ():
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        ref = (member.get("entity") or {}).get("reference")
        if not isinstance(ref, str) or "Patient/" not in ref:
            continue
        pid = ref.rsplit("Patient/", 1)[1].split("/", 1)[0]
        if pid and pid not in out:
            out.append(pid)
    return out
