"""History: every version of one resource, of one type, or of the whole system, newest first.

Spec: https://hl7.org/fhir/R4/http.html#history (instance, type and system level; ``_since``: versions
created at or after the instant; ``_at``: the versions current at that instant; ``_count``; deletes
appear as entries with method DELETE and no resource).

Order and paging use ``seq`` (docs/storage.md "Change feed"): entries are sorted by ``seq``
descending, and the opaque cursor carries the last ``seq`` of a page; the next page asks for
``seq < cursor``. No OFFSET, and pages stay stable while others write (new versions land before the
first page). ``seq`` comes from a sequence taken at write time, not at commit, so a version written by a
transaction that commits after a page was read can fall behind the cursor and be missed by a client
paging through; a consumer that must see every version reads :mod:`.change_feed` (the horizon of
docs/storage.md) instead.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.store.errors import InvalidCursor
from senhealth.fhir.store.model import HistoryPage, Stored
from senhealth.fhir.store.write import content_from_text, utc

__all__ = ["MAX_COUNT", "decode_cursor", "encode_cursor", "history"]

MAX_COUNT = 1000

_COLUMNS = (
    "h.res_type, h.res_id, h.version, h.last_updated, h.deleted, "
    "coalesce(h.content_raw, h.content::text), h.rid, h.seq, h.method, h.pkey"
)
_CURRENT_AT = (
    "h.last_updated <= %(at)s AND NOT EXISTS (SELECT 1 FROM fhir_history n WHERE n.pkey = h.pkey "
    "AND n.rid = h.rid AND n.version = h.version + 1 AND n.last_updated <= %(at)s)"
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"h1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix != "h1":
            raise ValueError(prefix)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise InvalidCursor(f"not a history cursor of this server: {cursor!r}") from e


def _entry(row: tuple[Any, ...]) -> Stored:
    rtype, rid_, version, when, deleted, text, rid, seq, method, pkey = row
    content = None if deleted or text is None else content_from_text(text)
    return Stored(
        rtype, rid_, int(version), utc(when), bool(deleted), content, int(rid), int(seq), method, pkey
    )


async def history(
    conn: AsyncConnection[TupleRow],
    res_type: str | None = None,
    res_id: str | None = None,
    *,
    since: datetime | None = None,
    at: datetime | None = None,
    count: int = 50,
    cursor: str | None = None,
) -> HistoryPage:
    """One page of history; see the module docstring."""
    if res_id is not None and res_type is None:
        raise ValueError("instance history needs the resource type")
    count = max(0, min(count, MAX_COUNT))
    where: list[str] = []
    params: dict[str, Any] = {"type": res_type, "id": res_id, "since": since, "at": at}
    if res_id is not None:
        where.append(
            "(h.pkey, h.rid) = (SELECT pkey, rid FROM fhir_locator WHERE res_type = %(type)s AND res_id = %(id)s)"
        )
    elif res_type is not None:
        where.append("h.res_type = %(type)s")
    if since is not None:
        where.append("h.last_updated >= %(since)s")
    if at is not None:
        where.append(_CURRENT_AT)
    filters = list(where)
    if cursor is not None:
        params["after"] = decode_cursor(cursor)
        where.append("h.seq < %(after)s")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params["limit"] = count + 1
    entries: list[Stored] = []
    if count > 0:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM fhir_history h {clause} ORDER BY h.seq DESC LIMIT %(limit)s",
            params,
        )
        entries = [_entry(row) for row in await cur.fetchall()]
    more = len(entries) > count
    entries = entries[:count]
    next_cursor = encode_cursor(entries[-1].seq) if more and entries else None
    total: int | None = None
    if res_id is not None or count == 0:
        total_clause = f"WHERE {' AND '.join(filters)}" if filters else ""
        cur = await conn.execute(f"SELECT count(*) FROM fhir_history h {total_clause}", params)
        row = await cur.fetchone()
        total = int(row[0]) if row else 0
    elif cursor is None and not more:
        total = len(entries)
    return HistoryPage(entries, next_cursor, total)
