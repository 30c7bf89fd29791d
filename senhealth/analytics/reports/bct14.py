"""Report form 14/BCT: the province's monthly morbidity and mortality by ICD-10 chapter, from the data.

Source of the obligation: the Ministry of Health's statistical reporting regime (form 14/BCT, Circular
23/2025; ../shared/reference/vietnam.md §6). The form's text was not at hand when this was written: its
columns here follow the layout of the Ministry's hospital morbidity forms of the earlier regimes
(Circulars 27/2014 and 37/2019: outpatient cases, inpatient cases, deaths, each with "of which female",
and children under 15 with "of which under 5"), an **assumption** stated in docs/reports-14bct.md and in
the JSON (``assumptions``). Rows are the 22 chapters of the Vietnamese ICD-10 (Decision 4469/QĐ-BYT,
:mod:`senhealth.fhir.terminology.icd10_vn`); the form's finer disease groups are not produced.

Computed from the indicator library's views (:mod:`senhealth.analytics.indicators.views`: Encounter,
Condition, Patient, Organization; materialised and refreshed) by one statement, ``bct14.sql``; what
counts as a case, a death, the month and the diagnosis is written there and in the docs. The test proves
the numbers equal an independent SQL query over the store's own tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Final

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.analytics.indicators.period import Period, local_day_sql, month
from senhealth.analytics.indicators.views import SCHEMA, ensure_views
from senhealth.fhir.terminology import icd10_vn

__all__ = [
    "COLUMNS",
    "FORM",
    "VERSION",
    "VIEWS",
    "Column",
    "Report14BCT",
    "default_province",
    "province_name",
    "report_14bct",
]

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]

FORM: Final = "14/BCT"
VERSION: Final = "1.0.0"
VIEWS: Final = ("ind_encounter", "ind_condition", "ind_patient", "ind_organization")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label_vi: str
    label_en: str


COLUMNS: Final[tuple[Column, ...]] = (
    Column("cases", "Tổng số mắc", "Cases, total"),
    Column("cases_female", "Mắc – trong đó nữ", "Cases, female"),
    Column("outpatient_cases", "Khám bệnh (ngoại trú) – mắc", "Outpatient cases"),
    Column("outpatient_female", "Khám bệnh – trong đó nữ", "Outpatient cases, female"),
    Column("inpatient_cases", "Điều trị nội trú – mắc", "Inpatient cases"),
    Column("inpatient_female", "Điều trị nội trú – trong đó nữ", "Inpatient cases, female"),
    Column("deaths", "Tổng số tử vong", "Deaths, total"),
    Column("deaths_female", "Tử vong – trong đó nữ", "Deaths, female"),
    Column("inpatient_deaths", "Điều trị nội trú – tử vong", "Inpatient deaths"),
    Column("inpatient_deaths_female", "Nội trú tử vong – trong đó nữ", "Inpatient deaths, female"),
    Column("children_u15_cases", "Trẻ em < 15 tuổi – mắc", "Children under 15, cases"),
    Column("children_u5_cases", "Trong đó < 5 tuổi – mắc", "of which under 5, cases"),
    Column("children_u15_deaths", "Trẻ em < 15 tuổi – tử vong", "Children under 15, deaths"),
    Column("children_u5_deaths", "Trong đó < 5 tuổi – tử vong", "of which under 5, deaths"),
)
KEYS: Final = tuple(c.key for c in COLUMNS)

ASSUMPTIONS: Final = (
    "Columns follow the Ministry's earlier hospital morbidity forms (Circulars 27/2014, 37/2019); "
    "the text of form 14/BCT of Circular 23/2025 was not available: check before official use.",
    "One case = one encounter (a patient seen twice in the month counts twice).",
    "Outpatient cases count in the month the encounter starts; inpatient cases (IMP, ACUTE, NONAC, "
    "finished) in the month of discharge; Viet Nam time.",
    "Diagnosis: the principal Condition of the encounter (rank 1, else the first), else the first "
    "ICD-10 reason code; rows by ICD-10 chapter only (the form's disease groups are not produced).",
    "Death: an encounter discharged as expired (discharge-disposition 'exp').",
)


@dataclass(frozen=True, slots=True)
class Report14BCT:
    year: int
    month: int
    province: str
    province_name: str
    rows: list[dict[str, Any]]
    total: dict[str, int]
    unclassified: dict[str, int]
    """Counted encounters with no ICD-10 code or one outside every chapter (not in the rows)."""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "form": FORM,
            "version": VERSION,
            "year": self.year,
            "month": self.month,
            "province": self.province,
            "province_name": self.province_name,
            "generated_at": self.generated_at.isoformat(),
            "columns": [{"key": c.key, "label_vi": c.label_vi, "label_en": c.label_en} for c in COLUMNS],
            "rows": self.rows,
            "total": self.total,
            "unclassified": self.unclassified,
            "assumptions": list(ASSUMPTIONS),
        }


@cache
def _sql() -> str:
    return (resources.files(__package__) / "bct14.sql").read_text(encoding="utf-8")


def province_name(code: str) -> str:
    """The province's name (2025 units), "" when unknown."""
    from senhealth.fhir.terminology.administrative_units import provinces

    concept = provinces().concepts.get(code)
    return concept.display if concept is not None and concept.display else ""


def _zero() -> dict[str, int]:
    return dict.fromkeys(KEYS, 0)


async def report_14bct(
    pool: Pool,
    year: int,
    month_: int,
    province: str,
    *,
    param_ids: Mapping[tuple[str, str], int],
    schema: str = SCHEMA,
    refresh: bool = True,
) -> Report14BCT:
    """Form 14/BCT for ``year``-``month_`` and ``province`` (2 digits); ValueError for a bad month.

    ``refresh``: bring the views' tables up to date first (False: use them as they are, e.g. right after
    a scheduled refresh)."""
    period: Period = month(year, month_)
    if refresh:
        await ensure_views(pool, VIEWS, param_ids=param_ids, schema=schema)
    chapters = icd10_vn.chapters()
    fragments: dict[str, sql.Composable] = {v: sql.Identifier(schema, v) for v in VIEWS}
    fragments["e_start_day"] = sql.SQL(local_day_sql("e.start"))
    fragments["e_end_day"] = sql.SQL(local_day_sql('e."end"'))
    statement = sql.SQL(_sql()).format(**fragments)
    params = {
        "province": province,
        "start": period.start,
        "end": period.end,
        "chapters": [c.number for c in chapters],
        "lows": [c.range.split("-")[0] for c in chapters],
        "highs": [c.range.split("-")[-1] for c in chapters],
    }
    async with pool.connection() as conn:
        cur = await conn.execute(statement, params)
        names = [d.name for d in cur.description or ()]
        found = {
            row[0]: dict(zip(names[1:], (int(v) for v in row[1:]), strict=True))
            for row in await cur.fetchall()
        }
    rows: list[dict[str, Any]] = []
    for chapter in chapters:
        counts = found.get(chapter.number, _zero())
        rows.append(
            {
                "chapter": chapter.number,
                "icd_range": chapter.range,
                "name_vi": chapter.name_vi,
                "name_en": chapter.name_en,
                **counts,
            }
        )
    total = {k: sum(int(r[k]) for r in rows) for k in KEYS}
    return Report14BCT(
        year=year,
        month=month_,
        province=province,
        province_name=province_name(province),
        rows=rows,
        total=total,
        unclassified=found.get(None, _zero()),
    )


async def default_province(pool: Pool) -> str | None:
    """The province of most facilities in the store (Organizations with a facility code), None without any."""
    query = """
        SELECT p FROM (
            SELECT jsonb_path_query_first(content,
                     '$.address[0].extension[*].extension[*] ? (@.url == "province").valueCoding.code') #>> '{}' AS p
            FROM fhir_resource
            WHERE res_type = 'Organization'
              AND content->'identifier' @> '[{"system": "https://senhealth.vn/fhir/sid/facility"}]'::jsonb
        ) f
        WHERE p IS NOT NULL
        GROUP BY p ORDER BY count(*) DESC, p LIMIT 1
    """
    async with pool.connection() as conn:
        row = await (await conn.execute(query)).fetchone()
    return None if row is None else str(row[0])
