"""The codes a check-up campaign reads and writes: what counts as a check-up, the priority groups, the systems.

A **valid check-up** (Politburo Resolution 72/2025: a free check-up or screening for every citizen at least
once a year) is a ``finished`` Encounter (https://hl7.org/fhir/R4/encounter.html) whose period starts in the
campaign year (Asia/Ho_Chi_Minh), at any facility, coded either

- with ``Encounter.type`` :data:`ENCOUNTER_TYPE_SYSTEM` | ``checkup`` (what the platform's check-up forms
  write), or
- with ``Encounter.reasonCode`` ICD-10 Z00.0–Z00.3 or Z00.8 (general examination of a person without
  complaint: adult, child, growth, adolescence, other), what imported records and the synthetic province
  carry.

**Priority groups** (Resolution 72/2025 and Decision 1551/2026: elderly, disabled, poor, chronic-disease
patients, remote areas), in the order :data:`PRIORITY_ORDER`, each read from data the platform holds:

- ``elderly``: aged 60 or more by the end of the campaign year (Law on the Elderly 2009, Art. 2), from
  ``Patient.birthDate``;
- ``disabled``: an Observation coded :data:`SOCIAL_STATUS_SYSTEM` | ``disability`` (the commune's
  disability certificate, Law on Persons with Disabilities 2010 Art. 16), status not
  ``entered-in-error``/``cancelled``, whose effective date or period overlaps the year;
- ``poor``: the same with code ``poor-household`` (the commune's annual list of poor households), or a
  health-insurance card of category ``HN`` (hộ nghèo, :data:`POOR_BHYT_CATEGORIES`);
- ``chronic``: an active Condition coded ICD-10 I10–I15 (hypertension), E10–E14 (diabetes), J44 (COPD) or
  J45 (asthma);
- ``remote``: living in a remote commune: one named by the caller (the official list of extremely
  disadvantaged communes, Decision 861/QĐ-TTg) or an island special zone (đặc khu).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADMIN_UNIT_EXTENSION",
    "CAMPAIGN_CATEGORY_SYSTEM",
    "CHECKUP_REASON_CODES",
    "CHRONIC_PREFIXES",
    "COMMUNE_SYSTEM",
    "ENCOUNTER_TYPE_SYSTEM",
    "GROUP_TEXT",
    "ICD10_SYSTEMS",
    "POOR_BHYT_CATEGORIES",
    "PRIORITY_GROUP_SYSTEM",
    "PRIORITY_ORDER",
    "SOCIAL_STATUS_SYSTEM",
]

ENCOUNTER_TYPE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
CHECKUP: Final = "checkup"
ICD10_SYSTEMS: Final = ("https://senhealth.vn/fhir/CodeSystem/icd10-vn", "http://hl7.org/fhir/sid/icd-10")
CHECKUP_REASON_CODES: Final = ("Z00.0", "Z00.1", "Z00.2", "Z00.3", "Z00.8", "Z000", "Z001", "Z008")
CHRONIC_PREFIXES: Final = (
    "I10",
    "I11",
    "I12",
    "I13",
    "I14",
    "I15",
    "E10",
    "E11",
    "E12",
    "E13",
    "E14",
    "J44",
    "J45",
)
SOCIAL_STATUS_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/social-status"
POOR_BHYT_CATEGORIES: Final = ("HN",)
PRIORITY_GROUP_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-priority-group"
CAMPAIGN_CATEGORY_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/care-plan-category"
COMMUNE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
ADMIN_UNIT_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"

PRIORITY_ORDER: Final = ("elderly", "disabled", "poor", "chronic", "remote")
"""Priority groups, first served first (see :func:`senhealth.checkup.campaigns.schedule.priority_key`)."""

GROUP_TEXT: Final = {
    "elderly": "Người cao tuổi (≥ 60) / Elderly (60+)",
    "disabled": "Người khuyết tật / Persons with disabilities",
    "poor": "Hộ nghèo / Poor households",
    "chronic": "Người mắc bệnh mạn tính / Chronic-disease patients",
    "remote": "Vùng sâu, vùng xa, hải đảo / Remote communes",
}
