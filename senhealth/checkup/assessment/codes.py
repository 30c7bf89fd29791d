"""The codes the check-up parts share in the store: LOINC observations, ICD-10 conditions, our own systems.

Specs: LOINC https://loinc.org (vital signs as the FHIR vital-signs profile names them,
https://hl7.org/fhir/R4/observation-vitalsigns.html), UCUM https://ucum.org, the tobacco smoking status
value set of SNOMED CT (https://hl7.org/fhir/R4/observation-example-satisfied.html uses 72166-2), and the
Ministry's ICD-10 edition (:data:`senhealth.fhir.terminology.icd10_vn.SYSTEM`, the system the demo
province writes). Unit conversions: cholesterol 1 mmol/L = 38.67 mg/dL, glucose 1 mmol/L = 18.016 mg/dL,
HbA1c % = mmol/mol / 10.929 + 2.15 (the IFCC–NGSP master equation).
"""

from __future__ import annotations

from typing import Final

from senhealth.fhir.terminology import icd10_vn

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
ICD10: Final = icd10_vn.SYSTEM
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"

RISK_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/risk"
RISK_METHOD_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/risk-method"
RISK_BAND_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/who-cvd-risk-band"
CHART_CELL_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/who-cvd-chart-cell"
REGISTRY_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/registry"
SCREENING_COHORT_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/screening-cohort"
ENCOUNTER_TYPE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/encounter-type"

CHECKUP_ITEM_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-item"
CHECKUP_ANSWER_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-answer"

WHO_CVD: Final = "who-cvd-2019"
FINDRISC: Final = "findrisc"

# The check-up forms' answers FINDRISC reads (checkup-item codes; docs/checkup-forms.md)
PHYSICAL_ACTIVITY: Final = "physical-activity-daily"
VEGETABLES_FRUIT: Final = "vegetables-fruit-daily"
BP_MEDICATION: Final = "bp-medication-ever"
HIGH_GLUCOSE_HISTORY: Final = "high-glucose-history"
FAMILY_HISTORY_DIABETES: Final = "family-history-diabetes"
ANSWER_CODES: Final = frozenset(
    {PHYSICAL_ACTIVITY, VEGETABLES_FRUIT, BP_MEDICATION, HIGH_GLUCOSE_HISTORY, FAMILY_HISTORY_DIABETES}
)

# Observations (LOINC)
BP_PANEL: Final = "85354-9"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
BODY_WEIGHT: Final = "29463-7"
BODY_HEIGHT: Final = "8302-2"
BMI: Final = "39156-5"
WAIST: Final = "8280-0"
TOTAL_CHOLESTEROL: Final = "2093-3"
FASTING_GLUCOSE: Final = "1558-6"
HBA1C: Final = "4548-4"
SMOKING_STATUS: Final = "72166-2"

OBSERVATION_CODES: Final = frozenset(
    {
        BP_PANEL,
        SYSTOLIC,
        DIASTOLIC,
        BODY_WEIGHT,
        BODY_HEIGHT,
        BMI,
        WAIST,
        TOTAL_CHOLESTEROL,
        FASTING_GLUCOSE,
        HBA1C,
        SMOKING_STATUS,
    }
)
"""LOINC codes whose Observations feed the risk scores and the registries."""

# Tobacco smoking status (SNOMED CT): current smokers count as smokers on the WHO charts.
CURRENT_SMOKER: Final = frozenset(
    {"77176002", "449868002", "428041000124106", "65568007", "428061000124105", "428071000124103"}
)
NON_SMOKER: Final = frozenset({"8517006", "266919005"})

# Conditions (ICD-10 three-character categories)
HYPERTENSION: Final = ("I10", "I11", "I12", "I13", "I14", "I15")
DIABETES: Final = ("E10", "E11", "E12", "E13", "E14")
COPD: Final = ("J44",)
ASTHMA: Final = ("J45",)
CONDITION_PREFIXES: Final = HYPERTENSION + DIABETES + COPD + ASTHMA

FINAL_STATUSES: Final = frozenset({"final", "amended", "corrected"})
"""Observation statuses whose values are used."""

MG_DL_PER_MMOL_L_CHOLESTEROL: Final = 38.67
MG_DL_PER_MMOL_L_GLUCOSE: Final = 18.016


def icd10_category(code: str) -> str:
    """``"I10"`` of ``"I10"``, ``"E11.9"`` or ``"E119"``."""
    return code.strip().upper()[:3]


def relevant_condition(code: str) -> bool:
    return icd10_category(code) in CONDITION_PREFIXES
