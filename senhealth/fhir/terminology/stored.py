"""CodeSystem, ValueSet and ConceptMap resources stored by users in the FHIR store, found by URL.

Spec: https://hl7.org/fhir/R4/references.html#canonical ("a canonical reference ... resolved by
looking for a resource with a matching url (and version)") and https://hl7.org/fhir/R4/search.html
(the ``url`` search parameter of the three types, indexed as ``uri``).

A look-up reads the ``url`` index rows of the type (``idx_uri``, the ``(param_id, value)`` index) and
the current content: one indexed query. Terminology resources are in no patient compartment
(``pkey = ''``). Two sources: :class:`StoreSource` (a :class:`~senhealth.fhir.store.FhirStore`: the
operations) and :class:`ConnectionSource` (a connection of a search in progress, so that ``:in`` sees
the search's own transaction). When several resources carry the same URL the highest ``version``
(then the last updated) wins, unless a version is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core import db
from senhealth.fhir.store.write import content_from_text

__all__ = ["ConnectionSource", "Source", "StoreSource", "StoredResource"]

_BY_URL = (
    "SELECT r.res_id, r.version, r.last_updated, coalesce(r.content_raw, r.content::text)"
    " FROM idx_uri u JOIN fhir_resource r ON r.pkey = u.pkey AND r.rid = u.rid"
    " WHERE u.param_id = %s AND u.value = %s AND u.pkey = '' AND r.res_type = %s"
)
_BY_ID = (
    "SELECT r.res_id, r.version, r.last_updated, coalesce(r.content_raw, r.content::text)"
    " FROM fhir_locator l JOIN fhir_resource r ON r.pkey = l.pkey AND r.rid = l.rid"
    " WHERE l.res_type = %s AND l.res_id = %s"
)


@dataclass(frozen=True, slots=True)
class StoredResource:
    """A stored terminology resource: its id and version (the cache key) and content."""

    res_type: str
    res_id: str
    version_id: int
    content: dict[str, Any]


class Source(Protocol):
    """Where stored terminology resources are read from."""

    async def by_url(self, res_type: str, url: str, version: str | None = None) -> StoredResource | None: ...

    async def by_id(self, res_type: str, res_id: str) -> StoredResource | None: ...


def _pick(rows: list[tuple[Any, ...]], res_type: str, version: str | None) -> StoredResource | None:
    found = [(r[2], StoredResource(res_type, str(r[0]), int(r[1]), content_from_text(r[3]))) for r in rows]
    if version is not None:
        found = [f for f in found if f[1].content.get("version") == version]
    if not found:
        return None
    found.sort(key=lambda f: (str(f[1].content.get("version") or ""), f[0]))
    return found[-1][1]


async def _by_url(
    conn: AsyncConnection[TupleRow],
    param_ids: Mapping[tuple[str, str], int],
    res_type: str,
    url: str,
    version: str | None,
) -> StoredResource | None:
    pid = param_ids.get((res_type, "url"))
    if pid is None:
        return None
    cur = await conn.execute(_BY_URL, (pid, url, res_type), prepare=False)
    return _pick(list(await cur.fetchall()), res_type, version)


async def _by_id(conn: AsyncConnection[TupleRow], res_type: str, res_id: str) -> StoredResource | None:
    cur = await conn.execute(_BY_ID, (res_type, res_id), prepare=False)
    row = await cur.fetchone()
    if row is None:
        return None
    return StoredResource(res_type, str(row[0]), int(row[1]), content_from_text(row[3]))


@dataclass(slots=True)
class ConnectionSource:
    """Reads through a connection already open (a search's)."""

    conn: AsyncConnection[TupleRow]
    param_ids: Mapping[tuple[str, str], int]

    async def by_url(self, res_type: str, url: str, version: str | None = None) -> StoredResource | None:
        return await _by_url(self.conn, self.param_ids, res_type, url, version)

    async def by_id(self, res_type: str, res_id: str) -> StoredResource | None:
        return await _by_id(self.conn, res_type, res_id)


class StoreSource:
    """Reads through a :class:`~senhealth.fhir.store.FhirStore`'s pool, one short query per look-up."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def by_url(self, res_type: str, url: str, version: str | None = None) -> StoredResource | None:
        param_ids = await self.store.param_ids()
        async with db.transaction(self.store.pool) as conn:
            return await _by_url(conn, param_ids, res_type, url, version)

    async def by_id(self, res_type: str, res_id: str) -> StoredResource | None:
        async with db.transaction(self.store.pool) as conn:
            return await _by_id(conn, res_type, res_id)
