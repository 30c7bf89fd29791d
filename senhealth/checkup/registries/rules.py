"""Enrolment rules of the chronic-disease registries and screening cohorts, as data.

Spec of the resources they lead to: https://hl7.org/fhir/R4/episodeofcare.html. Sources of the rules
(docs/checkup-registries.md keeps the list, with what is unverified):

- hypertension: a diagnosis I10–I15, or blood pressure ≥ 140 systolic and/or ≥ 90 diastolic mmHg measured
  on at least two different days (Ministry of Health Decision 3192/QĐ-BYT, 2010: diagnosis after repeated
  measurement);
- diabetes: a diagnosis E10–E14, or a fasting plasma glucose ≥ 7.0 mmol/L on two different days, or an
  HbA1c ≥ 6.5 % (Decision 5481/QĐ-BYT, 2020, following WHO / ADA criteria; a single HbA1c is taken
  as enough here, as the issue asks: unverified against the Decision's confirmation rule);
- COPD and asthma: a diagnosis J44 or J45;
- cancer-screening cohorts (unverified, to be checked against the Ministry's current screening programme):
  women aged 30–65 for cervical cancer, women aged 40–69 for breast cancer.

A rule says *why* someone qualifies (:class:`Eligibility` with the resources used); the first criterion
met is the one reported. Days are calendar days in Viet Nam's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import VN_TZ, PatientRecord

__all__ = [
    "RULES",
    "BloodPressureCriterion",
    "CohortCriterion",
    "Eligibility",
    "LabCriterion",
    "RegistryRule",
    "eligible",
    "rule_for",
]


@dataclass(frozen=True, slots=True)
class LabCriterion:
    """``times`` results of ``loinc`` at or above ``threshold`` (in ``unit``), on different days."""

    loinc: str
    threshold: float
    unit: str
    times: int
    label_vi: str


@dataclass(frozen=True, slots=True)
class BloodPressureCriterion:
    """``times`` readings with systolic ≥ ``systolic`` or diastolic ≥ ``diastolic``, on different days."""

    systolic: float
    diastolic: float
    times: int


@dataclass(frozen=True, slots=True)
class CohortCriterion:
    """People of ``sex`` aged ``age_min``–``age_max`` (completed years, both inclusive)."""

    sex: str
    age_min: int
    age_max: int


@dataclass(frozen=True, slots=True)
class RegistryRule:
    registry: str
    """The registry code (https://senhealth.vn/fhir/CodeSystem/registry)."""
    cohort: str | None
    """The screening cohort (https://senhealth.vn/fhir/CodeSystem/screening-cohort), for cancer screening."""
    label_vi: str
    label_en: str
    conditions: tuple[str, ...] = ()
    """ICD-10 three-character categories that enrol."""
    labs: tuple[LabCriterion, ...] = ()
    blood_pressure: BloodPressureCriterion | None = None
    population: CohortCriterion | None = None
    source: str = ""


RULES: Final[tuple[RegistryRule, ...]] = (
    RegistryRule(
        "hypertension",
        None,
        "Quản lý tăng huyết áp",
        "Hypertension registry",
        conditions=codes.HYPERTENSION,
        blood_pressure=BloodPressureCriterion(140.0, 90.0, 2),
        source="Quyết định 3192/QĐ-BYT (2010)",
    ),
    RegistryRule(
        "diabetes",
        None,
        "Quản lý đái tháo đường",
        "Diabetes registry",
        conditions=codes.DIABETES,
        labs=(
            LabCriterion(codes.FASTING_GLUCOSE, 7.0, "mmol/L", 2, "glucose máu lúc đói"),
            LabCriterion(codes.HBA1C, 6.5, "%", 1, "HbA1c"),
        ),
        source="Quyết định 5481/QĐ-BYT (2020)",
    ),
    RegistryRule(
        "copd-asthma",
        None,
        "Quản lý bệnh phổi tắc nghẽn mạn tính và hen phế quản",
        "COPD and asthma registry",
        conditions=codes.COPD + codes.ASTHMA,
        source="ICD-10 J44, J45",
    ),
    RegistryRule(
        "cancer-screening",
        "cervical",
        "Sàng lọc ung thư cổ tử cung",
        "Cervical cancer screening cohort",
        population=CohortCriterion("female", 30, 65),
        source="unverified: women 30–65",
    ),
    RegistryRule(
        "cancer-screening",
        "breast",
        "Sàng lọc ung thư vú",
        "Breast cancer screening cohort",
        population=CohortCriterion("female", 40, 69),
        source="unverified: women 40–69",
    ),
)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Why a patient belongs in a registry."""

    rule: RegistryRule
    reason_vi: str
    reason_en: str
    basis: tuple[str, ...]
    """References of the Conditions or Observations used."""
    conditions: tuple[str, ...] = ()
    """The Condition references among :attr:`basis` (EpisodeOfCare.diagnosis)."""


def rule_for(registry: str, cohort: str | None = None) -> RegistryRule:
    for rule in RULES:
        if rule.registry == registry and rule.cohort == cohort:
            return rule
    raise KeyError(f"no registry rule {registry!r} / {cohort!r}")


def _distinct_days(refs_days: Sequence[tuple[str, date]], times: int) -> tuple[str, ...] | None:
    seen: dict[date, str] = {}
    for ref, day in reversed(refs_days):  # the most recent first
        seen.setdefault(day, ref)
        if len(seen) >= times:
            return tuple(seen.values())
    return None


def _check(rule: RegistryRule, record: PatientRecord, today: date) -> Eligibility | None:
    found = record.has_condition(rule.conditions) if rule.conditions else []
    if found:
        c = found[-1]
        return Eligibility(rule, f"chẩn đoán {c.code}", f"diagnosis {c.code}", (c.ref,), (c.ref,))
    bp = rule.blood_pressure
    if bp is not None:
        high = [
            (r.ref, r.effective.astimezone(VN_TZ).date())
            for r in record.blood_pressure
            if r.sbp >= bp.systolic or r.dbp >= bp.diastolic
        ]
        refs = _distinct_days(high, bp.times)
        if refs is not None:
            return Eligibility(
                rule,
                f"huyết áp ≥ {bp.systolic:.0f}/{bp.diastolic:.0f} mmHg ở {bp.times} ngày khác nhau",
                f"blood pressure ≥ {bp.systolic:.0f}/{bp.diastolic:.0f} mmHg on {bp.times} different days",
                refs,
            )
    for lab in rule.labs:
        high = [
            (r.ref, r.effective.astimezone(VN_TZ).date())
            for r in record.readings(lab.loinc)
            if r.value >= lab.threshold
        ]
        refs = _distinct_days(high, lab.times)
        if refs is not None:
            days = f" ở {lab.times} ngày khác nhau" if lab.times > 1 else ""
            days_en = f" on {lab.times} different days" if lab.times > 1 else ""
            threshold = f"{lab.threshold:g}".replace(".", ",")
            return Eligibility(
                rule,
                f"{lab.label_vi} ≥ {threshold} {lab.unit}{days}",
                f"LOINC {lab.loinc} ≥ {lab.threshold:g} {lab.unit}{days_en}",
                refs,
            )
    pop = rule.population
    if pop is not None and record.sex == pop.sex:
        age = record.age_on(today)
        if age is not None and pop.age_min <= age <= pop.age_max:
            sex_vi = "nữ" if pop.sex == "female" else "nam"
            return Eligibility(
                rule,
                f"{sex_vi} {pop.age_min}–{pop.age_max} tuổi",
                f"{pop.sex} aged {pop.age_min}–{pop.age_max}",
                (),
            )
    return None


def eligible(record: PatientRecord, today: date, rules: Sequence[RegistryRule] = RULES) -> list[Eligibility]:
    """The registries ``record`` qualifies for on ``today``, in the order of ``rules``."""
    out = []
    for rule in rules:
        found = _check(rule, record, today)
        if found is not None:
            out.append(found)
    return out
