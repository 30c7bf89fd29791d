"""The care a citizen receives in the window: acute visits, epidemic cases, chronic follow-up, check-ups.

A visit is planned as a :class:`Visit` (when, where, which class of encounter, why, what is measured);
:mod:`senhealth.demo.records` turns it into FHIR resources. The levels of care and encounter classes come
from :mod:`senhealth.demo.acute`; people with hypertension, diabetes or another followed chronic disease
are seen about every three months (three visits in four kept), mostly at their commune station, with
HbA1c, cholesterol and creatinine at the regional hospital; adults have an annual check-up (Z00.0) with a
probability of 20–30 % a year (Politburo Resolution 72/2025 plans one for everyone from 2026).
FHIR Encounter: https://hl7.org/fhir/R4/encounter.html .
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

from senhealth.demo.acute import (
    ACUTE_DISEASES,
    CARDIOVASCULAR_EVENTS,
    EPIDEMICS,
    VISIT_RATE,
    AcuteDisease,
    age_group,
)
from senhealth.demo.context import Context
from senhealth.demo.facilities import Facility, Staff
from senhealth.demo.person import Chronic, Citizen
from senhealth.demo.streams import Weighted, poisson

__all__ = ["FOLLOWED", "Visit", "plan_visits"]

FOLLOWED = ("hypertension", "diabetes", "copd", "ischaemic_heart", "ckd", "stroke_sequelae")
"""Chronic conditions the commune station follows up (the national NCD management programme)."""


@dataclass(frozen=True, slots=True)
class Visit:
    kind: str  # "acute" | "epidemic" | "complication" | "follow-up" | "check-up"
    start: datetime
    end: datetime
    klass: str  # "AMB" | "EMER" | "IMP"
    facility: Facility
    clinician: Staff
    codes: tuple[str, ...]  # ICD-10 reason codes, the main one first
    disease: AcuteDisease | None  # the new acute condition, if any
    onset: date | None
    chronic: tuple[Chronic, ...]  # chronic conditions the visit addresses
    fever: bool
    measurements: tuple[str, ...]
    admit_source: str | None = None


@cache
def _case_mix(group: int, sex: str) -> Weighted[AcuteDisease]:
    return Weighted.of(
        [(d, d.ages[group] * (d.female_factor if sex == "female" else 1.0)) for d in ACUTE_DISEASES]
    )


@cache
def _care(disease: AcuteDisease) -> Weighted[tuple[str, str]]:
    return Weighted.of([((level, klass), weight) for level, klass, weight in disease.care])


@cache
def _severity(options: tuple[tuple[AcuteDisease, float], ...]) -> Weighted[AcuteDisease]:
    return Weighted.of(options)


def _times(rng: random.Random, day: date, klass: str, stay: tuple[int, int]) -> tuple[datetime, datetime]:
    if klass == "AMB":
        start = datetime.combine(
            day, time(rng.choice((7, 8, 9, 10, 13, 14, 15, 16)), rng.randrange(0, 60, 5))
        )
        return start, start + timedelta(minutes=rng.randrange(15, 65, 5))
    if klass == "EMER":
        start = datetime.combine(day, time(rng.randrange(24), rng.randrange(60)))
        return start, start + timedelta(minutes=rng.randrange(90, 360, 10))
    start = datetime.combine(day, time(rng.randrange(7, 21), rng.randrange(60)))
    end_day = day + timedelta(days=rng.randint(*stay))
    return start, datetime.combine(end_day, time(rng.randrange(8, 12), rng.randrange(60)))


def _acute_measurements(
    citizen: Citizen, disease: AcuteDisease, day: date, level: str, klass: str
) -> list[str]:
    age = citizen.age_on(day)
    kinds = ["temperature", "heart_rate"]
    if age >= 16:
        kinds.append("bp")
    if age < 16 or klass != "AMB":
        kinds.append("weight")
    if age < 6:
        kinds.append("height")
    if level != "commune" or klass == "IMP":
        kinds += [lab for lab in disease.labs if lab not in kinds]
        if klass == "IMP" and age >= 18:
            kinds += [lab for lab in ("glucose", "creatinine") if lab not in kinds]
    return kinds


def _acute_visit(
    ctx: Context, citizen: Citizen, rng: random.Random, disease: AcuteDisease, day: date, kind: str
) -> Visit:
    level, klass = _care(disease).pick(rng)
    facility = ctx.network.facility_at(level, citizen.commune.code)
    start, end = _times(rng, day, klass, disease.stay)
    onset = day - timedelta(days=rng.randint(2, 4) if kind == "epidemic" else rng.randint(0, 3))
    source = None
    if klass == "IMP":
        source = "emd" if kind == "complication" or rng.random() < 0.5 else "outp"
    related = tuple(c for c in citizen.chronic if c.onset <= day and c.key in ("hypertension", "diabetes"))
    return Visit(
        kind=kind,
        start=start,
        end=end,
        klass=klass,
        facility=facility,
        clinician=facility.clinician(rng),
        codes=(disease.code, *(c.code for c in related if kind == "complication")),
        disease=disease,
        onset=max(onset, citizen.birth_date),
        chronic=related if kind == "complication" else (),
        fever=rng.random() < disease.fever,
        measurements=tuple(_acute_measurements(citizen, disease, day, level, klass)),
        admit_source=source,
    )


def _follow_ups(ctx: Context, citizen: Citizen, rng: random.Random) -> list[Visit]:
    followed = [c for c in citizen.chronic if c.key in FOLLOWED]
    if not followed or citizen.age < 18:
        return []
    window = ctx.window
    first = max(window.start, min(c.onset for c in followed))
    day = first + timedelta(days=rng.randint(0, 89))
    visits: list[Visit] = []
    n = 0
    while day <= window.end:
        if rng.random() < 0.75:
            current = tuple(c for c in followed if c.onset <= day)
            diabetic = any(c.key == "diabetes" for c in current)
            regional = (diabetic and n % 2 == 1) or rng.random() < 0.2
            facility = ctx.network.facility_at("regional" if regional else "commune", citizen.commune.code)
            kinds = ["bp", "heart_rate", "weight", "bmi"]
            if diabetic:
                kinds.append("glucose")
            if regional:
                kinds += ["hba1c"] if diabetic else []
                kinds += ["cholesterol", "creatinine"]
            start, end = _times(rng, day, "AMB", (0, 0))
            visits.append(
                Visit(
                    "follow-up",
                    start,
                    end,
                    "AMB",
                    facility,
                    facility.clinician(rng),
                    tuple(c.code for c in current),
                    None,
                    None,
                    current,
                    False,
                    tuple(kinds),
                )
            )
            n += 1
        day += timedelta(days=rng.randint(75, 105))
    return visits


def _check_ups(ctx: Context, citizen: Citizen, rng: random.Random) -> list[Visit]:
    visits: list[Visit] = []
    window = ctx.window
    for year in range(window.start.year, window.end.year + 1):
        first = max(window.start, date(year, 1, 1))
        last = min(window.end, date(year, 12, 31))
        day = first + timedelta(days=rng.randint(0, (last - first).days))
        age = citizen.age_on(day)
        if age < 18 or rng.random() >= (0.3 if age >= 40 else 0.2):
            continue
        level = "commune" if rng.random() < 0.6 else "regional"
        facility = ctx.network.facility_at(level, citizen.commune.code)
        kinds = ["bp", "heart_rate", "height", "weight", "bmi", "glucose", "cholesterol"]
        if age >= 40:
            kinds.append("creatinine")
        start, end = _times(rng, day, "AMB", (0, 0))
        visits.append(
            Visit(
                "check-up",
                start,
                end,
                "AMB",
                facility,
                facility.clinician(rng),
                ("Z00.0",),
                None,
                None,
                (),
                False,
                tuple(kinds),
            )
        )
    return visits


def plan_visits(ctx: Context, citizen: Citizen, rng: random.Random) -> list[Visit]:
    """Every visit of ``citizen`` in the window, in time order."""
    window = ctx.window
    mid = window.start + (window.end - window.start) / 2
    age_mid = max(0.0, citizen.age_on(mid))
    group = age_group(age_mid)
    visits: list[Visit] = []

    mix = _case_mix(group, citizen.sex)
    for _ in range(poisson(rng, VISIT_RATE[group] * window.years)):
        disease = mix.pick(rng)
        day = ctx.season(disease.season).pick(rng).random_day(rng)
        if day >= citizen.birth_date:
            visits.append(_acute_visit(ctx, citizen, rng, disease, day, "acute"))

    scale = ctx.options.epidemic_scale
    for epidemic in EPIDEMICS:
        risk = epidemic.age_factor(age_mid) * epidemic.annual_incidence[ctx.province.region] * scale
        if risk <= 0.0:
            continue
        exposure, months = ctx.epidemic(epidemic, citizen.commune.code)
        for _ in range(poisson(rng, risk * exposure)):
            day = months.pick(rng).random_day(rng)
            severity = _severity(epidemic.severity).pick(rng)
            if day >= citizen.birth_date:
                visits.append(_acute_visit(ctx, citizen, rng, severity, day, "epidemic"))

    if citizen.has("hypertension") and age_mid >= 50:
        for disease, rate in CARDIOVASCULAR_EVENTS:
            for _ in range(poisson(rng, rate * window.years)):
                day = ctx.season("flat").pick(rng).random_day(rng)
                visits.append(_acute_visit(ctx, citizen, rng, disease, day, "complication"))

    visits += _follow_ups(ctx, citizen, rng)
    visits += _check_ups(ctx, citizen, rng)
    visits.sort(key=lambda v: (v.start, v.kind, v.codes))
    return visits
