"""The indicator library's SQL-on-FHIR views: package data, materialised into PostgreSQL tables and kept
up to date from the store's change feed.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html; materialisation and
incremental refresh: :mod:`senhealth.analytics.materialise` (docs/analytics.md).

Each view is a JSON file ``views/<name>.json`` with a canonical ``url`` and a ``version``; its table is
``<schema>.<name>`` (default schema ``analytics``). :func:`ensure_views` builds a table the first time,
builds it again when the packaged definition changed (a new version of the library), and otherwise
refreshes it: only the resources changed since the last run are evaluated again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.analytics.materialise import (
    SCHEMA,
    MaterialiseReport,
    materialise,
    postgres_target,
    refresh,
)

__all__ = ["SCHEMA", "VIEW_NAMES", "ensure_views", "load_view"]

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]

VIEW_NAMES: Final = (
    "ind_encounter",
    "ind_condition",
    "ind_patient",
    "ind_organization",
    "ind_location",
    "ind_composition",
    "ind_signature",
    "ind_referral",
    "ind_appointment",
)


@cache
def _text(name: str) -> str:
    if name not in VIEW_NAMES:
        raise KeyError(f"no indicator view {name!r}")
    return (resources.files(__package__) / "views" / f"{name}.json").read_text(encoding="utf-8")


def load_view(name: str) -> dict[str, Any]:
    """The packaged ViewDefinition ``name`` (a fresh copy)."""
    view: dict[str, Any] = json.loads(_text(name))
    return view


async def _built_with(pool: Pool, target_id: str) -> Mapping[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT view FROM analytics_materialisation WHERE id = %s", (target_id,))
        row = await cur.fetchone()
    return None if row is None else dict(row[0])


async def ensure_views(
    pool: Pool,
    names: Iterable[str],
    *,
    param_ids: Mapping[tuple[str, str], int],
    schema: str = SCHEMA,
) -> list[MaterialiseReport]:
    """Make the tables of ``names`` current: build (first time, or the packaged view changed) or refresh."""
    reports = []
    for name in dict.fromkeys(names):
        view = load_view(name)
        target = postgres_target(table=name, schema=schema)
        built = await _built_with(pool, target.id)
        if built is None or {k: v for k, v in built.items() if k not in ("id", "meta")} != view:
            reports.append(await materialise(pool, target, view=view, param_ids=param_ids))
            # Statistics now, not when autovacuum comes: without them every indicator query over the fresh
            # table is planned as nested loops (seconds instead of milliseconds).
            async with pool.connection() as conn:
                await conn.execute(
                    sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
                )
        else:
            reports.append(await refresh(pool, target, param_ids=param_ids))
    return reports
