"""Numbering of search parameters: ``fhir_search_param`` maps (resource type, code) to a ``smallint``.

Spec: https://hl7.org/fhir/R4/searchparameter-registry.html (the shipped definitions) and
https://hl7.org/fhir/R4/searchparameter.html.

Index rows carry ``param_id`` instead of the code text: 2 bytes, and a parameter id names the resource
type too (Observation ``code`` and Condition ``code`` have different ids), so ``param_id = $1`` alone
selects one type's rows. Every (type, code) pair of the shipped R4 parameters (3,023, the
Resource/DomainResource ones counted once per type) is numbered the first time a store needs the table.
Numbers are never reused or changed: missing pairs are appended after the largest id, under a
transaction-level advisory lock, so concurrent processes agree and a later release that ships more
parameters only adds rows.
"""

from __future__ import annotations

from functools import cache

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import search_params_for

__all__ = ["LOCK_KEY", "shipped_params", "sync_params"]

LOCK_KEY = 0x53454E_50415241  # "SENPARA": taken while numbering parameters


@cache
def shipped_params() -> tuple[tuple[str, str, str, str], ...]:
    """``(res_type, code, type, url)`` of every R4 search parameter, per resource type, sorted."""
    out: list[tuple[str, str, str, str]] = []
    for rtype in sorted(get_model().resource_types()):
        for code, p in sorted(search_params_for(rtype).items()):
            out.append((rtype, code, p.type, p.url))
    return tuple(out)


async def _read(conn: AsyncConnection[TupleRow]) -> dict[tuple[str, str], int]:
    cur = await conn.execute("SELECT res_type, code, param_id FROM fhir_search_param")
    return {(t, c): int(i) for t, c, i in await cur.fetchall()}


async def sync_params(conn: AsyncConnection[TupleRow]) -> dict[tuple[str, str], int]:
    """Number the shipped parameters missing from ``fhir_search_param``; return the whole mapping.

    Runs in the caller's transaction (the advisory lock is released when it ends).
    """
    known = await _read(conn)
    wanted = shipped_params()
    if all((t, c) in known for t, c, _, _ in wanted):
        return known
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    known = await _read(conn)  # another process may have numbered them while we waited
    missing = [row for row in wanted if (row[0], row[1]) not in known]
    if missing:
        start = max(known.values(), default=0) + 1
        if start + len(missing) > 32767:
            raise RuntimeError("fhir_search_param is full: param_id is a smallint")
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO fhir_search_param (param_id, res_type, code, type, url) VALUES (%s, %s, %s, %s, %s)",
                [(start + i, t, c, ty, url) for i, (t, c, ty, url) in enumerate(missing)],
            )
        known = await _read(conn)
    return known
