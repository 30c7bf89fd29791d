"""Chronic disease of the synthetic citizens: which conditions, at what prevalence, since when.

Prevalence is by age band, calibrated so that over the generator's age pyramid about a quarter of adults
have hypertension and about 7 % diabetes, as Viet Nam's national STEPS survey of non-communicable disease
risk factors found (Ministry of Health and WHO, "National survey on the risk factors of
non-communicable diseases (STEPS) Viet Nam 2021": raised blood pressure 26.2 % and raised blood glucose
or treated diabetes 7.1 % of people aged 18–69; https://www.who.int/teams/noncommunicable-diseases/surveillance/data/viet-nam).
The rise with age follows the published shape (a few per cent under 30, about half past 60).
Diabetes raises the chance of hypertension (relative risk 1.6) with the marginal prevalence kept.
The other conditions (dyslipidaemia, asthma, COPD, ischaemic heart disease, sequelae of stroke, chronic
kidney disease) use round approximate figures. Every figure here is approximate.

Codes are the Ministry's ICD-10 (:mod:`senhealth.fhir.terminology.icd10_vn`). FHIR Condition:
https://hl7.org/fhir/R4/condition.html .
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["CHRONIC_CONDITIONS", "ChronicDefinition", "assign_chronic"]

# Age bands of the prevalence tables: lower bounds (inclusive)
BANDS = (0, 5, 18, 30, 40, 50, 60, 70)


@dataclass(frozen=True, slots=True)
class ChronicDefinition:
    key: str
    code: str
    prevalence: tuple[float, ...]  # by BANDS
    male_factor: float = 1.0
    female_factor: float = 1.0


CHRONIC_CONDITIONS: dict[str, ChronicDefinition] = {
    d.key: d
    for d in (
        #                                              0     5     18    30    40    50    60    70
        ChronicDefinition("hypertension", "I10", (0.0, 0.0, 0.04, 0.13, 0.26, 0.40, 0.52, 0.60)),
        ChronicDefinition("diabetes", "E11.9", (0.0, 0.0, 0.008, 0.025, 0.07, 0.12, 0.16, 0.17)),
        ChronicDefinition("dyslipidaemia", "E78.5", (0.0, 0.0, 0.02, 0.04, 0.10, 0.14, 0.18, 0.18)),
        ChronicDefinition("asthma", "J45.9", (0.0, 0.04, 0.03, 0.03, 0.03, 0.03, 0.04, 0.04)),
        ChronicDefinition(
            "copd", "J44.9", (0.0, 0.0, 0.0, 0.0, 0.025, 0.04, 0.07, 0.09), male_factor=1.5, female_factor=0.5
        ),
        ChronicDefinition("ischaemic_heart", "I25.9", (0.0, 0.0, 0.0, 0.0, 0.005, 0.02, 0.04, 0.06)),
        ChronicDefinition("stroke_sequelae", "I69.4", (0.0, 0.0, 0.0, 0.0, 0.0, 0.008, 0.015, 0.025)),
        ChronicDefinition("ckd", "N18.9", (0.0, 0.0, 0.0, 0.003, 0.01, 0.015, 0.025, 0.035)),
    )
}

HYPERTENSION_RR_DIABETES = 1.6
DYSLIPIDAEMIA_RR_DIABETES = 2.0
CARDIOVASCULAR_RR_HYPERTENSION = 2.0
CKD_RR_DIABETES = 2.5


def _band_value(values: tuple[float, ...], age: int) -> float:
    index = 0
    for i, low in enumerate(BANDS):
        if age >= low:
            index = i
    return values[index]


def _conditional(rng: random.Random, base: float, exposed: bool, exposure_share: float, rr: float) -> bool:
    """Draw with risk ``rr`` × higher for the exposed, keeping the marginal prevalence ``base``."""
    p = base * (rr if exposed else 1.0) / (1.0 + (rr - 1.0) * exposure_share)
    return rng.random() < p


def assign_chronic(rng: random.Random, age: int, sex: str) -> list[tuple[str, float]]:
    """The chronic conditions of a person aged ``age``: ``(key, years since onset)``, in a fixed order."""
    defs = CHRONIC_CONDITIONS
    prevalence = {key: _band_value(d.prevalence, age) for key, d in defs.items()}
    for key, d in defs.items():
        prevalence[key] *= d.male_factor if sex == "male" else d.female_factor
    has: dict[str, bool] = {}
    has["diabetes"] = rng.random() < prevalence["diabetes"]
    has["hypertension"] = _conditional(
        rng, prevalence["hypertension"], has["diabetes"], prevalence["diabetes"], HYPERTENSION_RR_DIABETES
    )
    has["dyslipidaemia"] = _conditional(
        rng, prevalence["dyslipidaemia"], has["diabetes"], prevalence["diabetes"], DYSLIPIDAEMIA_RR_DIABETES
    )
    has["asthma"] = rng.random() < prevalence["asthma"]
    has["copd"] = rng.random() < prevalence["copd"]
    for key in ("ischaemic_heart", "stroke_sequelae"):
        has[key] = _conditional(
            rng,
            prevalence[key],
            has["hypertension"],
            prevalence["hypertension"],
            CARDIOVASCULAR_RR_HYPERTENSION,
        )
    has["ckd"] = _conditional(
        rng, prevalence["ckd"], has["diabetes"], prevalence["diabetes"], CKD_RR_DIABETES
    )
    out: list[tuple[str, float]] = []
    for key in defs:
        if not has[key]:
            continue
        earliest = 2.0 if key == "asthma" else 18.0
        span = max(0.0, min(age - earliest, 25.0))
        years = rng.random() * span if key != "stroke_sequelae" else rng.random() * min(span, 8.0)
        out.append((key, years))
    return out
