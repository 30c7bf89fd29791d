"""The change feed: every version written after a position, in the store's global order, without gaps.

Spec context: https://hl7.org/fhir/R4/http.html#history (system history is the FHIR view of the same
order) and DESIGN.md §5 ("what truly needs a global order ... gets one explicit, documented mechanism ...
never a timestamp alone: transactions commit out of order").

Every version carries ``seq`` from the ``fhir_seq`` sequence, taken when the row is written, not when its
transaction commits: a reader asking "everything after seq N" right now could see seq N+5 (committed)
while N+3 (a longer transaction) is still running, move its position to N+5 and never see N+3.
Migration ``0017_change_feed.sql`` closes that gap: each writing transaction announces a lower bound of
the seqs it will take (a shared advisory lock in a key range of its own, taken before its first seq, by
``fhir_next_seq()``), and ``fhir_seq_horizon()`` returns the highest seq below which nothing can still
appear. :func:`changes` reads only up to that horizon, so a consumer that stores the last position it
processed (a materialised view's refresh, an export ``_since``, a subscription catch-up) sees every
version exactly once. The lock is per transaction (one per write transaction however many versions it
writes) and released by PostgreSQL at COMMIT or ROLLBACK. With Citus, each shard has its own sequence
and horizon; a reader merges the shards' feeds, each up to its own horizon (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

__all__ = ["Change", "ChangePage", "changes", "horizon"]


@dataclass(frozen=True, slots=True)
class Change:
    """One version in the feed (content is not read here: fetch it by ``(pkey, rid)`` if needed)."""

    seq: int
    res_type: str
    res_id: str
    version: int
    deleted: bool
    last_updated: datetime
    pkey: str
    rid: int


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Versions after ``since`` up to ``until`` (inclusive); ``position``: where the next read starts.

    ``complete`` is False when ``limit`` cut the page short: read again from ``position``.
    """

    changes: list[Change]
    position: int
    horizon: int
    complete: bool


async def horizon(conn: AsyncConnection[TupleRow]) -> int:
    """The highest ``seq`` at or below which no version can still appear (0: nothing written yet)."""
    cur = await conn.execute("SELECT fhir_seq_horizon()")
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def changes(
    conn: AsyncConnection[TupleRow],
    since: int,
    *,
    types: Sequence[str] | None = None,
    limit: int = 10_000,
) -> ChangePage:
    """The versions with ``since < seq <= horizon``, oldest first, at most ``limit``.

    ``types`` limits the feed to those resource types; ``position`` still advances over the versions
    of other types, so that a consumer of one type does not re-read the rest.
    """
    if since < 0:
        raise ValueError("since must be a seq (0: from the start)")
    if limit < 1:
        raise ValueError("limit must be positive")
    top = await horizon(conn)
    if top <= since:
        return ChangePage([], since, top, True)
    where = "seq > %(since)s AND seq <= %(top)s"
    params: dict[str, object] = {"since": since, "top": top, "limit": limit}
    if types is not None:
        where += " AND res_type = ANY(%(types)s)"
        params["types"] = list(types)
    cur = await conn.execute(
        "SELECT seq, res_type, res_id, version, deleted, last_updated, pkey, rid FROM fhir_history "
        f"WHERE {where} ORDER BY seq LIMIT %(limit)s",
        params,
    )
    rows = await cur.fetchall()
    found = [Change(int(r[0]), r[1], r[2], int(r[3]), bool(r[4]), r[5], r[6], int(r[7])) for r in rows]
    if len(found) == limit:
        return ChangePage(found, found[-1].seq, top, False)
    return ChangePage(found, top, top, True)
