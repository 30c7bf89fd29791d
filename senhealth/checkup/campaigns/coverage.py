"""Check-up coverage per commune and per province: covered / target, overall and by priority group.

Coverage of the year's check-up (Politburo Resolution 72/2025: every citizen at least once a year) is the
share of a commune's target population (living citizens registered at its station, one count per person)
with a valid check-up in the year at any facility (:mod:`senhealth.checkup.campaigns.population`). One SQL
statement per level, whatever the number of people: ``level="commune"`` groups by commune code,
``level="province"`` answers one row for the stations asked (the whole province by default).

As a FHIR resource the answer is a MeasureReport (https://hl7.org/fhir/R4/measurereport.html), type
``summary``, one group per population group, numerator = covered, denominator = target, stratified by
commune: :func:`coverage_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from senhealth.checkup.campaigns.population import Station, population_sql, stations
from senhealth.checkup.campaigns.vocabulary import COMMUNE_SYSTEM, GROUP_TEXT, PRIORITY_ORDER
from senhealth.fhir.store import FhirStore

__all__ = ["COVERAGE_MEASURE", "Coverage", "GroupCoverage", "coverage", "coverage_report", "select_stations"]

COVERAGE_MEASURE: Final = "https://senhealth.vn/fhir/Measure/checkup-coverage"
MEASURE_POPULATION: Final = "http://terminology.hl7.org/CodeSystem/measure-population"
_GROUPS: Final = ("all", "priority", *PRIORITY_ORDER)


@dataclass(frozen=True, slots=True)
class GroupCoverage:
    target: int
    covered: int

    @property
    def rate(self) -> float | None:
        """covered / target, None when nobody is in the group."""
        return self.covered / self.target if self.target else None


@dataclass(frozen=True, slots=True)
class Coverage:
    """One commune's (``commune_code`` set) or the province's coverage for ``year``."""

    year: int
    commune_code: str | None
    commune_name: str
    target: int
    covered: int
    groups: dict[str, GroupCoverage] = field(default_factory=dict)  # "priority" and each PRIORITY_ORDER

    @property
    def rate(self) -> float | None:
        return self.covered / self.target if self.target else None


def select_stations(all_stations: Sequence[Station], communes: Iterable[str] | None) -> list[Station]:
    """The stations named by commune code or Organization id (``None``: all); ValueError for an unknown one."""
    if communes is None:
        return list(all_stations)
    wanted = [c.strip().removeprefix("Organization/") for c in communes if c.strip()]
    out: list[Station] = []
    for key in wanted:
        found = [s for s in all_stations if key in (s.commune_code, s.organization_id)]
        if not found:
            raise ValueError(f"No commune health station with citizens registered is known as {key!r}")
        out += [s for s in found if s not in out]
    return out


def _select(level: str) -> str:
    counts = [
        "count(*)",
        "count(*) FILTER (WHERE covered)",
        "count(*) FILTER (WHERE elderly OR disabled OR poor OR chronic OR remote)",
        "count(*) FILTER (WHERE covered AND (elderly OR disabled OR poor OR chronic OR remote))",
    ]
    for group in PRIORITY_ORDER:
        counts += [f"count(*) FILTER (WHERE {group})", f"count(*) FILTER (WHERE {group} AND covered)"]
    if level == "commune":
        return f"SELECT commune, {', '.join(counts)} FROM pop GROUP BY commune ORDER BY commune"
    return f"SELECT NULL, {', '.join(counts)} FROM pop"


async def coverage(
    store: FhirStore,
    year: int,
    *,
    level: Literal["commune", "province"] = "commune",
    communes: Iterable[str] | None = None,
    remote_communes: Iterable[str] = (),
) -> list[Coverage]:
    """Coverage of ``year``'s check-ups per commune (one row each, by code) or for the province (one row).

    ``communes``: commune codes or station Organization ids to count (default: every station);
    ``remote_communes``: commune codes of the official list of remote communes (the ``remote`` group).
    One SQL statement. Raises ValueError for an unknown commune.
    """
    if level not in ("commune", "province"):
        raise ValueError("level must be 'commune' or 'province'")
    known = await stations(store, remote_communes=remote_communes)
    chosen = select_stations(known, communes)
    names = {s.commune_code: s.commune_name or s.name for s in chosen}
    if not chosen:
        return [] if level == "commune" else [Coverage(year, None, "", 0, 0, _empty_groups())]
    cte, params = await population_sql(store, year, chosen)
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(cte + _select(level), params)).fetchall()
    out = []
    for row in rows:
        commune, target, covered, *rest = row
        groups = {
            name: GroupCoverage(int(rest[2 * i]), int(rest[2 * i + 1]))
            for i, name in enumerate(("priority", *PRIORITY_ORDER))
        }
        out.append(
            Coverage(
                year=year,
                commune_code=str(commune) if commune is not None else None,
                commune_name=names.get(str(commune), "") if commune is not None else "",
                target=int(target),
                covered=int(covered),
                groups=groups,
            )
        )
    return out


def _empty_groups() -> dict[str, GroupCoverage]:
    return {name: GroupCoverage(0, 0) for name in ("priority", *PRIORITY_ORDER)}


def _populations(target: int, covered: int) -> list[dict[str, Any]]:
    return [
        {"code": {"coding": [{"system": MEASURE_POPULATION, "code": "denominator"}]}, "count": target},
        {"code": {"coding": [{"system": MEASURE_POPULATION, "code": "numerator"}]}, "count": covered},
    ]


def _counts(row: Coverage, group: str) -> tuple[int, int]:
    if group == "all":
        return row.target, row.covered
    g = row.groups[group]
    return g.target, g.covered


def coverage_report(year: int, province: Coverage, communes: Sequence[Coverage]) -> dict[str, Any]:
    """The coverage as a summary MeasureReport: a group per population group, stratified by commune."""
    groups = []
    for group in _GROUPS:
        target, covered = _counts(province, group)
        text = {
            "all": "Toàn bộ dân số đích / Whole target population",
            "priority": "Nhóm ưu tiên (bất kỳ) / Any priority group",
        }.get(group) or GROUP_TEXT[group]
        out: dict[str, Any] = {
            "code": {"coding": [{"system": f"{COVERAGE_MEASURE}/group", "code": group}], "text": text},
            "population": _populations(target, covered),
        }
        if target:
            out["measureScore"] = {"value": round(covered / target, 6)}
        strata = []
        for row in communes:
            t, c = _counts(row, group)
            stratum: dict[str, Any] = {
                "value": {
                    "coding": [
                        {"system": COMMUNE_SYSTEM, "code": row.commune_code, "display": row.commune_name}
                    ]
                },
                "population": _populations(t, c),
            }
            if t:
                stratum["measureScore"] = {"value": round(c / t, 6)}
            strata.append(stratum)
        if strata:
            out["stratifier"] = [{"code": [{"text": "Xã, phường / Commune"}], "stratum": strata}]
        groups.append(out)
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": COVERAGE_MEASURE,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "period": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
        "group": groups,
    }
