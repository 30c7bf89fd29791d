"""The codes, systems and extension URLs the check-up forms and their extraction share.

Spec: SDC extensions https://hl7.org/fhir/uv/sdc/extensions.html (``observationExtract``,
``observation-extract-category``, ``subQuestionnaire``, ``calculatedExpression``), R4 core extensions
https://hl7.org/fhir/R4/extensibility-registry.html (``translation``, ``questionnaire-unit``,
``minValue``, ``maxValue``), observation categories
https://terminology.hl7.org/CodeSystem-observation-category.html, LOINC https://loinc.org and UCUM
https://ucum.org .

Measurements use LOINC; answers that have no LOINC code the project is sure of (alcohol use, FINDRISC
items, school screening, the health classification) use the project's code system :data:`CHECKUP_ITEM`
with answers from :data:`CHECKUP_ANSWER` (docs/checkup-forms.md lists them).
"""

from __future__ import annotations

from typing import Final

from senhealth.fhir.terminology import icd10_vn

SDC: Final = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
OBSERVATION_EXTRACT: Final = SDC + "sdc-questionnaire-observationExtract"
OBSERVATION_EXTRACT_CATEGORY: Final = SDC + "sdc-questionnaire-observation-extract-category"
SUB_QUESTIONNAIRE: Final = SDC + "sdc-questionnaire-subQuestionnaire"
CALCULATED_EXPRESSION: Final = SDC + "sdc-questionnaire-calculatedExpression"
TRANSLATION: Final = "http://hl7.org/fhir/StructureDefinition/translation"
QUESTIONNAIRE_UNIT: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
MIN_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/maxValue"

#: Project extension (valueBoolean): a boolean item answered ``true`` becomes a Condition coded ``item.code``.
CONDITION_EXTRACT: Final = "https://senhealth.vn/fhir/StructureDefinition/questionnaire-conditionExtract"
#: Project extension (valueCode ``female``/``male``): the item is kept only in that sex's form.
QUESTIONNAIRE_SEX: Final = "https://senhealth.vn/fhir/StructureDefinition/questionnaire-sex"
#: Project extension (valueRange, UCUM ``a``): the ages in completed years a form is for.
QUESTIONNAIRE_AGE_RANGE: Final = "https://senhealth.vn/fhir/StructureDefinition/questionnaire-age-range"

QUESTIONNAIRE_BASE: Final = "https://senhealth.vn/fhir/Questionnaire/"
CHECKUP_ITEM: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-item"
CHECKUP_ANSWER: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-answer"
ENCOUNTER_TYPE: Final = "https://senhealth.vn/fhir/CodeSystem/encounter-type"

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
ICD10: Final = icd10_vn.SYSTEM
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

BP_PANEL: Final = "85354-9"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
BODY_HEIGHT: Final = "8302-2"
BODY_WEIGHT: Final = "29463-7"
BMI: Final = "39156-5"
WAIST: Final = "8280-0"
TOTAL_CHOLESTEROL: Final = "2093-3"
FASTING_GLUCOSE: Final = "1558-6"
HBA1C: Final = "4548-4"
SMOKING_STATUS: Final = "72166-2"
BMI_DISPLAY: Final = "Body mass index (BMI) [Ratio]"

CATEGORY_DISPLAY: Final = {
    "vital-signs": "Vital Signs",
    "laboratory": "Laboratory",
    "social-history": "Social History",
    "survey": "Survey",
    "exam": "Exam",
}
