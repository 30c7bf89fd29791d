"""Acute illness: what brings a citizen to a facility, where they are seen, how long they stay.

Each :class:`AcuteDisease` has an ICD-10 code of the Ministry's list, relative weights by age group, a
seasonal profile (:mod:`senhealth.demo.seasons`), the levels and classes of care it is seen at with their
weights (commune station, regional or provincial hospital; ambulatory ``AMB``, emergency ``EMER`` or
inpatient ``IMP`` encounters, https://terminology.hl7.org/ValueSet-v3-ActEncounterCode.html), the length
of an inpatient stay, the chance of fever and the lab tests it calls for.

Visit rates per person-year by age and the case mix are rounded, approximate figures meant to look like
a Vietnamese public facility's workload (respiratory infections first, then digestive, musculoskeletal,
injuries), not a statistical model.

Dengue and hand-foot-and-mouth disease are :class:`Epidemic` s: incidence of attended cases per
person-year, an age profile, a seasonal profile, and year-to-year and commune-to-commune variation
(log-normal factors with mean 1), so that a surveillance system sees seasons, bad years and hot spots.
Attended incidence is set above the reported figures (reported dengue in the north is in the order of
tens to a few hundred per 100,000 a year; hand-foot-and-mouth disease about 1–2 % of children under 5),
as most attended cases are never notified (attended: about 0.8 % a year for dengue in the north, 6 % of
children under 5 for hand-foot-and-mouth disease); ``epidemic_scale`` multiplies both. Dengue is coded A97.0, A97.1,
A97.2 (the 2019 WHO classification in the Vietnamese list) or A90; there is no A91. Hand-foot-and-mouth
disease is B08.4.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACUTE_DISEASES",
    "DENGUE",
    "EPIDEMICS",
    "HFMD",
    "VISIT_RATE",
    "AcuteDisease",
    "Care",
    "Epidemic",
    "age_group",
]

Care = tuple[tuple[str, str, float], ...]  # (level, encounter class, weight)

MINOR: Care = (("commune", "AMB", 0.7), ("regional", "AMB", 0.25), ("provincial", "AMB", 0.05))
CLINIC: Care = (("commune", "AMB", 0.5), ("regional", "AMB", 0.4), ("provincial", "AMB", 0.1))
INJURY: Care = (("commune", "AMB", 0.4), ("regional", "EMER", 0.5), ("provincial", "EMER", 0.1))


@dataclass(frozen=True, slots=True)
class AcuteDisease:
    code: str
    ages: tuple[float, float, float, float]  # weights for 0–4, 5–14, 15–59, 60+
    season: str
    care: Care
    stay: tuple[int, int] = (2, 5)  # days, for IMP
    fever: float = 0.0  # probability of fever
    female_factor: float = 1.0
    labs: tuple[str, ...] = ()


ACUTE_DISEASES: tuple[AcuteDisease, ...] = (
    AcuteDisease("J00", (25, 20, 14, 8), "respiratory", MINOR, fever=0.3),
    AcuteDisease("J06.9", (15, 10, 6, 4), "respiratory", MINOR, fever=0.5),
    AcuteDisease("J02.9", (5, 12, 8, 3), "respiratory", MINOR, fever=0.5),
    AcuteDisease("J03.9", (3, 8, 4, 1), "respiratory", MINOR, fever=0.7),
    AcuteDisease(
        "J20.9",
        (10, 6, 5, 7),
        "respiratory",
        (("commune", "AMB", 0.6), ("regional", "AMB", 0.35), ("provincial", "AMB", 0.05)),
        fever=0.4,
    ),
    AcuteDisease(
        "J18.9",
        (5, 1.5, 1, 5),
        "respiratory",
        (("regional", "AMB", 0.3), ("regional", "IMP", 0.45), ("provincial", "IMP", 0.25)),
        stay=(5, 10),
        fever=0.8,
        labs=("platelets",),
    ),
    AcuteDisease(
        "J11.1",
        (4, 5, 4, 4),
        "influenza",
        (("commune", "AMB", 0.6), ("regional", "AMB", 0.35), ("regional", "IMP", 0.05)),
        stay=(3, 6),
        fever=0.9,
    ),
    AcuteDisease("H66.9", (5, 3, 0.5, 0.3), "respiratory", MINOR, fever=0.4),
    AcuteDisease(
        "A09.0",
        (12, 6, 4, 3),
        "diarrhoea",
        (("commune", "AMB", 0.6), ("regional", "AMB", 0.25), ("regional", "IMP", 0.15)),
        stay=(2, 4),
        fever=0.3,
    ),
    AcuteDisease("A08.4", (6, 2, 1, 0.5), "diarrhoea", MINOR, fever=0.3),
    AcuteDisease("K29.7", (0, 1, 7, 5), "flat", CLINIC),
    AcuteDisease("K21.9", (0, 0.3, 4, 4), "flat", CLINIC),
    AcuteDisease("K59.0", (2, 1, 1, 2), "flat", MINOR),
    AcuteDisease("R10.4", (1, 2, 3, 2), "flat", CLINIC),
    AcuteDisease("M54.5", (0, 0.2, 7, 8), "flat", CLINIC),
    AcuteDisease("M17.9", (0, 0, 1.5, 8), "flat", CLINIC),
    AcuteDisease("N39.0", (0.5, 0.5, 3, 3), "flat", CLINIC, fever=0.3, female_factor=3.0),
    AcuteDisease("H10.9", (3, 3, 2, 1), "flat", MINOR),
    AcuteDisease("L30.9", (4, 3, 2, 2), "flat", MINOR),
    AcuteDisease("R51", (0, 1, 3, 2), "flat", MINOR),
    AcuteDisease("R50.9", (5, 3, 1, 1), "respiratory", MINOR, fever=1.0),
    AcuteDisease("S93.4", (0, 2, 3, 1), "flat", INJURY),
    AcuteDisease("S61.0", (0.5, 1.5, 3, 1), "flat", INJURY),
    AcuteDisease("S00.9", (2, 2, 1.5, 2), "flat", INJURY),
    AcuteDisease(
        "S52.5",
        (0.2, 1, 0.6, 1.5),
        "flat",
        (("regional", "EMER", 0.5), ("regional", "IMP", 0.2), ("provincial", "IMP", 0.3)),
        stay=(4, 9),
    ),
    AcuteDisease(
        "K35.8",
        (0.1, 0.8, 0.8, 0.3),
        "flat",
        (("regional", "IMP", 0.6), ("provincial", "IMP", 0.4)),
        stay=(4, 7),
        fever=0.6,
    ),
    AcuteDisease("B01.9", (2, 2, 0.3, 0), "hfmd", MINOR, fever=0.7),
)

VISIT_RATE: tuple[float, float, float, float] = (2.5, 1.2, 0.8, 1.5)
"""Acute visits per person-year for ages 0–4, 5–14, 15–59 and 60+."""

STROKE = AcuteDisease(
    "I63.9",
    (0, 0, 1, 1),
    "flat",
    (("provincial", "IMP", 0.8), ("regional", "IMP", 0.2)),
    stay=(7, 14),
    labs=("glucose", "cholesterol", "creatinine"),
)
ANGINA = AcuteDisease(
    "I20.9",
    (0, 0, 1, 1),
    "flat",
    (("regional", "AMB", 0.4), ("regional", "IMP", 0.3), ("provincial", "IMP", 0.3)),
    stay=(3, 6),
    labs=("glucose", "cholesterol", "creatinine"),
)
CARDIOVASCULAR_EVENTS: tuple[tuple[AcuteDisease, float], ...] = ((STROKE, 0.008), (ANGINA, 0.015))
"""Complications of hypertension past 50: (disease, events per person-year)."""


def age_group(age: float) -> int:
    """0: under 5, 1: 5–14, 2: 15–59, 3: 60 and over."""
    if age < 5:
        return 0
    if age < 15:
        return 1
    return 2 if age < 60 else 3


@dataclass(frozen=True, slots=True)
class Epidemic:
    key: str
    annual_incidence: dict[str, float]  # attended cases per person-year, by region, at relative age risk 1
    age_risk: tuple[tuple[int, float], ...]  # (lowest age, relative risk), ascending
    year_sigma: float  # log-normal spread of year factors
    commune_sigma: float  # log-normal spread of commune-and-year factors
    severity: tuple[tuple[AcuteDisease, float], ...]

    def age_factor(self, age: float) -> float:
        factor = 0.0
        for low, risk in self.age_risk:
            if age >= low:
                factor = risk
        return factor


DENGUE = Epidemic(
    key="dengue",
    annual_incidence={"north": 0.008, "central": 0.01, "south": 0.012},
    age_risk=((0, 0.4), (5, 1.0), (15, 1.3), (35, 0.9), (60, 0.5)),
    year_sigma=0.45,
    commune_sigma=0.5,
    severity=(
        (
            AcuteDisease(
                "A97.0",
                (1, 1, 1, 1),
                "flat",
                (("commune", "AMB", 0.45), ("regional", "AMB", 0.45), ("regional", "IMP", 0.1)),
                stay=(3, 6),
                fever=1.0,
                labs=("platelets", "hematocrit"),
            ),
            0.74,
        ),
        (
            AcuteDisease(
                "A97.1",
                (1, 1, 1, 1),
                "flat",
                (("regional", "IMP", 0.6), ("provincial", "IMP", 0.4)),
                stay=(4, 8),
                fever=1.0,
                labs=("platelets", "hematocrit"),
            ),
            0.22,
        ),
        (
            AcuteDisease(
                "A97.2",
                (1, 1, 1, 1),
                "flat",
                (("provincial", "IMP", 1.0),),
                stay=(6, 12),
                fever=1.0,
                labs=("platelets", "hematocrit", "creatinine"),
            ),
            0.01,
        ),
        (
            AcuteDisease(
                "A90",
                (1, 1, 1, 1),
                "flat",
                (("commune", "AMB", 0.5), ("regional", "AMB", 0.5)),
                fever=1.0,
                labs=("platelets",),
            ),
            0.03,
        ),
    ),
)

HFMD = Epidemic(
    key="hfmd",
    annual_incidence={"north": 0.06, "central": 0.06, "south": 0.07},
    age_risk=((0, 0.6), (1, 1.4), (2, 1.2), (3, 1.0), (4, 0.7), (5, 0.08), (10, 0.0)),
    year_sigma=0.3,
    commune_sigma=0.35,
    severity=(
        (
            AcuteDisease(
                "B08.4",
                (1, 1, 0, 0),
                "flat",
                (
                    ("commune", "AMB", 0.5),
                    ("regional", "AMB", 0.3),
                    ("regional", "IMP", 0.15),
                    ("provincial", "IMP", 0.05),
                ),
                stay=(3, 6),
                fever=0.8,
            ),
            1.0,
        ),
    ),
)

EPIDEMICS: tuple[Epidemic, ...] = (DENGUE, HFMD)
