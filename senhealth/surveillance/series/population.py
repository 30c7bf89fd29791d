"""Population denominators per commune and province, for incidence per 100,000.

Two sources, in the table ``surveillance_population`` (one row per area and year, with its ``source``):

- **configured**: the statistics office's figures, loaded with :func:`set_population` (a province's CDC
  keeps them; the CLI or an admin page loads a CSV);
- **patient index**: :func:`count_from_patient_index` counts the active Patient records per commune of
  their home address (the administrative-unit extension of the address, with the 5-digit commune and
  2-digit province codes of the 2025 list, as the demo province writes them). Linked duplicates
  (``Patient.link`` ``replaced-by``) are not counted. A commune with a configured figure keeps it.

:func:`population` answers for a commune or a province and a year: the row of that year, else the latest
earlier year; a province without a row of its own is the sum of its communes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

__all__ = [
    "ADMIN_UNIT_EXTENSION",
    "PopulationRow",
    "count_from_patient_index",
    "population",
    "rate_per_100k",
    "set_population",
]

ADMIN_UNIT_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"


@dataclass(frozen=True, slots=True)
class PopulationRow:
    area: str
    level: str  # commune | province
    province: str
    year: int
    population: int
    name: str = ""


_UPSERT = (
    "INSERT INTO surveillance_population (area, level, province, year, population, name, source) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (area, year) DO UPDATE SET level = EXCLUDED.level, "
    "province = EXCLUDED.province, population = EXCLUDED.population, name = EXCLUDED.name, "
    "source = EXCLUDED.source"
)


async def set_population(conn: AsyncConnection[TupleRow], rows: Iterable[PopulationRow]) -> int:
    """Store configured figures (replacing those of the same area and year); returns how many."""
    n = 0
    for r in rows:
        if r.level not in ("commune", "province"):
            raise ValueError(f"{r.area}: level {r.level!r} is not commune or province")
        await conn.execute(_UPSERT, (r.area, r.level, r.province, r.year, r.population, r.name, "configured"))
        n += 1
    return n


# The commune and province codes of each active Patient's first home address carrying the extension.
_COUNT = """
WITH addr AS (
    SELECT DISTINCT ON (r.res_id) r.res_id, a.value AS address
    FROM fhir_resource r CROSS JOIN LATERAL jsonb_array_elements(r.content -> 'address')
         WITH ORDINALITY AS a(value, n)
    WHERE r.res_type = 'Patient' AND coalesce((r.content ->> 'active')::boolean, true)
      AND NOT coalesce(r.content -> 'link', '[]'::jsonb) @> '[{"type": "replaced-by"}]'
      AND a.value -> 'extension' @> jsonb_build_array(jsonb_build_object('url', %s::text))
    ORDER BY r.res_id, (a.value ->> 'use' = 'home') DESC NULLS LAST, a.n
), codes AS (
    SELECT (SELECT x -> 'valueCoding' ->> 'code' FROM jsonb_array_elements(e -> 'extension') x
            WHERE x ->> 'url' = 'commune') AS commune,
           (SELECT x -> 'valueCoding' ->> 'code' FROM jsonb_array_elements(e -> 'extension') x
            WHERE x ->> 'url' = 'province') AS province,
           (SELECT x -> 'valueCoding' ->> 'display' FROM jsonb_array_elements(e -> 'extension') x
            WHERE x ->> 'url' = 'commune') AS name
    FROM addr CROSS JOIN LATERAL jsonb_array_elements(addr.address -> 'extension') e
    WHERE e ->> 'url' = %s
)
INSERT INTO surveillance_population AS p (area, level, province, year, population, name, source)
SELECT commune, 'commune', coalesce(province, ''), %s, count(*), coalesce(max(name), ''), 'patient-index'
FROM codes WHERE commune IS NOT NULL GROUP BY commune, province
ON CONFLICT (area, year) DO UPDATE SET population = EXCLUDED.population, name = EXCLUDED.name
WHERE p.source = 'patient-index'
"""


async def count_from_patient_index(conn: AsyncConnection[TupleRow], year: int) -> int:
    """Count the patient index's residents per commune for ``year`` (configured figures are kept);
    returns the number of communes written."""
    cur = await conn.execute(_COUNT, (ADMIN_UNIT_EXTENSION, ADMIN_UNIT_EXTENSION, year))
    return cur.rowcount


async def population(
    conn: AsyncConnection[TupleRow], year: int, *, commune: str | None = None, province: str | None = None
) -> int | None:
    """The population of a commune or a province in ``year`` (the latest figure up to that year; a
    province without its own figure: the sum of its communes' latest figures); None when unknown."""
    if commune is not None:
        cur = await conn.execute(
            "SELECT population FROM surveillance_population WHERE area = %s AND level = 'commune' "
            "AND year <= %s ORDER BY year DESC LIMIT 1",
            (commune, year),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else None
    if province is None:
        raise ValueError("population of a commune or a province")
    cur = await conn.execute(
        "SELECT population FROM surveillance_population WHERE area = %s AND level = 'province' "
        "AND year <= %s ORDER BY year DESC LIMIT 1",
        (province, year),
    )
    row = await cur.fetchone()
    if row:
        return int(row[0])
    cur = await conn.execute(
        "SELECT sum(population)::int FROM (SELECT DISTINCT ON (area) population FROM surveillance_population"
        " WHERE level = 'commune' AND province = %s AND year <= %s ORDER BY area, year DESC) c",
        (province, year),
    )
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def rate_per_100k(count: int, pop: int | None) -> float | None:
    """Incidence per 100,000 (None when the population is unknown or zero)."""
    if not pop:
        return None
    return count * 100_000 / pop
