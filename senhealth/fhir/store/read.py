"""Reading stored resources: read (current version) and vread (one version).

Spec: https://hl7.org/fhir/R4/http.html#read and https://hl7.org/fhir/R4/http.html#vread ("a read of a
deleted resource returns 410 Gone"; a vread of a version that is a delete returns 410 as well).

Content comes back as text (``coalesce(content_raw, content::text)``, :data:`CONTENT_SQL`) parsed by
:func:`senhealth.fhir.json.parse`, so decimals keep their digits (``1.50`` stays ``1.50``); psycopg's own
``jsonb`` loader would turn them into floats. Other readers of ``fhir_resource`` (search) should use
:data:`CONTENT_SQL` and :func:`content_from_text` the same way.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.store.errors import Gone, NotFound
from senhealth.fhir.store.model import Stored
from senhealth.fhir.store.write import content_from_text, utc

__all__ = ["CONTENT_SQL", "content_sql", "read", "vread"]


def content_sql(alias: str = "r") -> str:
    """The SQL expression giving the exact JSON text of a ``fhir_resource`` / ``fhir_history`` row."""
    return f"coalesce({alias}.content_raw, {alias}.content::text)"


CONTENT_SQL = content_sql("r")

_READ = (
    "SELECT l.rid, l.version, l.deleted, r.seq, r.last_updated, coalesce(r.content_raw, r.content::text), "
    "l.pkey FROM fhir_locator l LEFT JOIN fhir_resource r ON r.pkey = l.pkey AND r.rid = l.rid "
    "WHERE l.res_type = %s AND l.res_id = %s"
)
_VREAD = (
    "SELECT h.rid, h.version, h.deleted, h.seq, h.last_updated, coalesce(h.content_raw, h.content::text), "
    "h.method, h.pkey FROM fhir_locator l JOIN fhir_history h ON h.pkey = l.pkey AND h.rid = l.rid "
    "AND h.version = %s WHERE l.res_type = %s AND l.res_id = %s"
)


async def read(conn: AsyncConnection[TupleRow], res_type: str, res_id: str) -> Stored:
    """The current version; :class:`NotFound` if there is none, :class:`Gone` if it is deleted."""
    cur = await conn.execute(_READ, (res_type, res_id))
    row = await cur.fetchone()
    if row is None or row[1] == 0:
        raise NotFound(f"{res_type}/{res_id} is not known", expression=None)
    rid, version, deleted = int(row[0]), int(row[1]), bool(row[2])
    if deleted or row[5] is None:
        return await vread(conn, res_type, res_id, version)  # raises Gone with the delete
    return Stored(
        res_type,
        res_id,
        version,
        utc(row[4]),
        False,
        content_from_text(row[5]),
        rid,
        int(row[3]),
        None,
        row[6],
    )


async def vread(conn: AsyncConnection[TupleRow], res_type: str, res_id: str, version: int) -> Stored:
    """One version; :class:`NotFound` if the resource or version does not exist, :class:`Gone` if that
    version is a delete."""
    cur = await conn.execute(_VREAD, (version, res_type, res_id))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"{res_type}/{res_id}/_history/{version} is not known")
    rid, deleted, seq, when = int(row[0]), bool(row[2]), int(row[3]), utc(row[4])
    if deleted:
        stored = Stored(res_type, res_id, version, when, True, None, rid, seq, "DELETE", row[7])
        raise Gone(f"{res_type}/{res_id} was deleted (version {version})", stored)
    return Stored(res_type, res_id, version, when, False, content_from_text(row[5]), rid, seq, row[6], row[7])
