"""The province's check-up dashboard: coverage and chronic-disease control rates per commune.

Issue 7, build item 6 (the province's view); shown by ``GET /dashboards/checkup`` (docs/dashboards.md).
Every rate comes with its numerator and denominator, per commune (by the station's commune code) and for
the province (the sums: each person counts at one commune).

- ``coverage``: the year's check-up coverage, :func:`senhealth.checkup.campaigns.coverage` (covered /
  target population; docs/checkup-campaigns.md);
- ``htn-control``: patients in the hypertension registry whose **latest** blood pressure is < 140/90 mmHg,
  over every patient enrolled (an open EpisodeOfCare ``registry|hypertension`` managed by a station of
  the commune). A patient with no reading counts in the denominator, not the numerator (the HEARTS
  "controlled among registered patients" convention: an unmeasured patient is not known to be
  controlled); how many have no reading is given beside it;
- ``dm-control``: the same for the diabetes registry, controlled = the latest HbA1c < 7 %, or without any
  HbA1c the latest fasting glucose < 7.0 mmol/L;
- ``seen``: patients of the followed registries (hypertension, diabetes, COPD/asthma; each person once)
  with a visit (an Encounter not planned, cancelled or in error) within ``seen_within_days`` (90:
  "seen within 3 months").

The definitions and their unit conversions are the worklists' (:mod:`.registries.worklist`, the same SQL
fragments) and the per-patient indicators' (:mod:`.registries.control`). The registry indicators are
judged **as of** ``min(now, the end of the year)``: readings, visits and enrolments after that instant
are left out, so a past year shows its state on 31 December (enrolment status is the current one: a
registry left since then is not counted).

Two SQL statements in all (plus the stations' list): the coverage's (:mod:`.campaigns.population`) and
one for the registries: the stations' open EpisodeOfCares through the reference index, then per patient
lateral look-ups inside the patient's partition (``pkey``), grouped by commune. No loop over patients in
Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from senhealth.checkup.assessment import codes
from senhealth.checkup.campaigns import coverage
from senhealth.checkup.campaigns.coverage import select_stations
from senhealth.checkup.campaigns.population import ZONE, Station, stations, year_bounds
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.registries.enrolment import OPEN_STATUSES
from senhealth.checkup.registries.worklist import _A1C, _COMPONENT, _GLUCOSE, FOLLOWED
from senhealth.fhir.store import FhirStore

__all__ = [
    "INDICATORS",
    "CheckupDashboard",
    "CommuneIndicators",
    "Indicator",
    "Ratio",
    "checkup_dashboard",
]

Indicator = Literal["coverage", "htn-control", "dm-control", "seen"]
INDICATORS: Final[tuple[Indicator, ...]] = ("coverage", "htn-control", "dm-control", "seen")


@dataclass(frozen=True, slots=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        """numerator / denominator, None when the denominator is 0 (no data)."""
        return self.numerator / self.denominator if self.denominator else None

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)


_ZERO: Final = Ratio(0, 0)


@dataclass(frozen=True, slots=True)
class CommuneIndicators:
    """One commune's numbers (``commune_code`` "" for the province's total)."""

    commune_code: str
    commune_name: str
    coverage: Ratio = _ZERO
    htn_control: Ratio = _ZERO
    dm_control: Ratio = _ZERO
    seen: Ratio = _ZERO
    htn_unmeasured: int = 0
    """Enrolled in hypertension, no blood pressure on record (in the denominator only)."""
    dm_unmeasured: int = 0
    """Enrolled in diabetes, neither HbA1c nor fasting glucose on record."""

    def ratio(self, indicator: str) -> Ratio:
        """The :class:`Ratio` of ``indicator`` (one of :data:`INDICATORS`); KeyError otherwise."""
        return {
            "coverage": self.coverage,
            "htn-control": self.htn_control,
            "dm-control": self.dm_control,
            "seen": self.seen,
        }[indicator]


@dataclass(frozen=True, slots=True)
class CheckupDashboard:
    year: int
    as_of: datetime
    """The instant the registry indicators are judged at."""
    communes: list[CommuneIndicators]
    """By commune code; only communes with a station (registered citizens)."""
    total: CommuneIndicators


def _latest_before(alias: str, registry: str, loinc: str, columns: str, units: str = "") -> str:
    """A lateral sub-query: for people in ``registry`` (``htn``/``dm``), the latest final Observation coded
    ``loinc`` up to ``as_of`` (with one of the quoted ``units``, when given)."""
    unit_filter = f"\n          AND lower(o.content->'valueQuantity'->>'code') IN ({units})" if units else ""
    coding = f'[{{"system": "{codes.LOINC}", "code": "{loinc}"}}]'
    return f"""
    LEFT JOIN LATERAL (
        SELECT {columns}
        FROM fhir_resource o
        JOIN idx_date d ON d.pkey = o.pkey AND d.rid = o.rid AND d.param_id = %(obs_date)s
        WHERE t.{registry} AND o.pkey = t.pkey AND o.res_type = 'Observation' AND o.content->>'status' = ANY(%(final)s)
          AND o.content->'code'->'coding' @> '{coding}'::jsonb{unit_filter}
          AND d.low <= %(as_of)s
        ORDER BY d.low DESC, o.res_id DESC LIMIT 1
    ) {alias} ON true"""


_REGISTRIES = (
    """
WITH st(org, commune) AS (SELECT * FROM unnest(%(st_org)s::text[], %(st_commune)s::text[])),
enrolled AS (
    SELECT DISTINCT st.commune, e.pkey, reg.code AS registry
    FROM idx_reference x
    JOIN st ON st.org = x.target_id
    JOIN fhir_resource e ON e.pkey = x.pkey AND e.rid = x.rid
    CROSS JOIN LATERAL (
        SELECT c->>'code' AS code
        FROM jsonb_array_elements(e.content->'type') t, jsonb_array_elements(t->'coding') c
        WHERE c->>'system' = %(registry_system)s LIMIT 1
    ) reg
    WHERE x.param_id = %(org_param)s AND x.target_type = 'Organization'
      AND e.res_type = 'EpisodeOfCare' AND e.content->>'status' = ANY(%(open)s)
      AND reg.code = ANY(%(registries)s)
      AND coalesce(left(e.content->'period'->>'start', 10), '') <= %(as_of_day)s
),
people AS (
    SELECT commune, pkey, bool_or(registry = 'hypertension') AS htn, bool_or(registry = 'diabetes') AS dm
    FROM enrolled GROUP BY commune, pkey
),
judged AS (
    SELECT t.commune, t.pkey, t.htn, t.dm, bp.sbp, bp.dbp, a1c.value AS a1c, glu.value AS glu, lv.at AS visit
    FROM people t
"""
    + _latest_before(
        "bp",
        "htn",
        codes.BP_PANEL,
        _COMPONENT.format(code=codes.SYSTOLIC)
        + " AS sbp, "
        + _COMPONENT.format(code=codes.DIASTOLIC)
        + " AS dbp",
    )
    + _latest_before("a1c", "dm", codes.HBA1C, _A1C, "'%%', 'mmol/mol'")
    + _latest_before("glu", "dm", codes.FASTING_GLUCOSE, _GLUCOSE, "'mmol/l', 'mg/dl'")
    + """
    LEFT JOIN LATERAL (
        SELECT max(d.low) AS at
        FROM fhir_resource v
        JOIN idx_date d ON d.pkey = v.pkey AND d.rid = v.rid AND d.param_id = %(enc_date)s
        WHERE v.pkey = t.pkey AND v.res_type = 'Encounter'
          AND coalesce(v.content->>'status', '') <> ALL(%(not_visits)s)
          AND d.low <= %(as_of)s
    ) lv ON true
)
SELECT commune,
       count(*) FILTER (WHERE htn),
       count(*) FILTER (WHERE htn AND sbp < 140 AND dbp < 90),
       count(*) FILTER (WHERE htn AND (sbp IS NULL OR dbp IS NULL)),
       count(*) FILTER (WHERE dm),
       count(*) FILTER (WHERE dm AND CASE WHEN a1c IS NOT NULL THEN a1c < 7 ELSE glu < 7.0 END),
       count(*) FILTER (WHERE dm AND a1c IS NULL AND glu IS NULL),
       count(*),
       count(*) FILTER (WHERE visit >= %(seen_since)s)
FROM judged GROUP BY commune ORDER BY commune
"""
)
"""One statement: per commune, the registry counts (see the module docstring)."""


async def _registry_counts(
    store: FhirStore, chosen: Sequence[Station], as_of: datetime
) -> dict[str, dict[str, int]]:
    if not chosen:
        return {}
    ids = await store.param_ids()
    params: dict[str, Any] = {
        "st_org": [s.organization_id for s in chosen],
        "st_commune": [s.commune_code for s in chosen],
        "registry_system": codes.REGISTRY_SYSTEM,
        "org_param": ids[("EpisodeOfCare", "organization")],
        "obs_date": ids[("Observation", "date")],
        "enc_date": ids[("Encounter", "date")],
        "open": list(OPEN_STATUSES),
        "registries": list(FOLLOWED),
        "final": sorted(codes.FINAL_STATUSES),
        "not_visits": ["planned", "cancelled", "entered-in-error"],
        "as_of": as_of,
        "as_of_day": as_of.astimezone(ZONE).date().isoformat(),
        "seen_since": as_of - timedelta(days=get_config().seen_within_days),
    }
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(_REGISTRIES, params)).fetchall()
    names = ("htn", "htn_ok", "htn_unmeasured", "dm", "dm_ok", "dm_unmeasured", "followed", "seen")
    return {str(row[0]): dict(zip(names, (int(v) for v in row[1:]))) for row in rows}


def _as_of(year: int, now: datetime | None) -> datetime:
    at = (now or datetime.now(UTC)).astimezone(UTC)
    end = year_bounds(year)[1] - timedelta(microseconds=1)
    return min(at, end.astimezone(UTC))


async def checkup_dashboard(
    store: FhirStore,
    year: int,
    *,
    communes: Iterable[str] | None = None,
    now: datetime | None = None,
) -> CheckupDashboard:
    """Coverage of ``year`` and the registries' control rates per commune, and the province's total.

    ``communes``: commune codes or station Organization ids (default: every station; ValueError for an
    unknown one, as :func:`senhealth.checkup.campaigns.coverage`); ``now``: the current time (default:
    the clock), the registry indicators being judged at ``min(now, end of year)``.
    """
    wanted = None if communes is None else list(communes)
    known = await stations(store)
    chosen = select_stations(known, wanted)
    as_of = _as_of(year, now)
    covered = {c.commune_code: c for c in await coverage(store, year, communes=wanted)} if chosen else {}
    registry = await _registry_counts(store, chosen, as_of)
    names: dict[str, str] = {}
    for s in chosen:  # stations whose address names no commune share the row of code "" (no name)
        names.setdefault(s.commune_code, (s.commune_name or s.name) if s.commune_code else "")
    rows = []
    for code in sorted(names):
        cov = covered.get(code)
        reg = registry.get(code, {})
        rows.append(
            CommuneIndicators(
                commune_code=code,
                commune_name=names[code],
                coverage=Ratio(cov.covered, cov.target) if cov else _ZERO,
                htn_control=Ratio(reg.get("htn_ok", 0), reg.get("htn", 0)),
                dm_control=Ratio(reg.get("dm_ok", 0), reg.get("dm", 0)),
                seen=Ratio(reg.get("seen", 0), reg.get("followed", 0)),
                htn_unmeasured=reg.get("htn_unmeasured", 0),
                dm_unmeasured=reg.get("dm_unmeasured", 0),
            )
        )
    total = CommuneIndicators(
        commune_code="",
        commune_name="",
        coverage=sum((r.coverage for r in rows), _ZERO),
        htn_control=sum((r.htn_control for r in rows), _ZERO),
        dm_control=sum((r.dm_control for r in rows), _ZERO),
        seen=sum((r.seen for r in rows), _ZERO),
        htn_unmeasured=sum(r.htn_unmeasured for r in rows),
        dm_unmeasured=sum(r.dm_unmeasured for r in rows),
    )
    return CheckupDashboard(year=year, as_of=as_of, communes=rows, total=total)
