"""Check-up forms: FHIR Questionnaires per age group and sex, SDC extraction, ``$extract``, installing.

Spec: FHIR R4 Questionnaire https://hl7.org/fhir/R4/questionnaire.html and Structured Data Capture
https://hl7.org/fhir/uv/sdc/ (modular forms, observation- and definition-based extraction). See
docs/checkup-forms.md.

- :func:`form_for` (age, sex) → the Questionnaire; :func:`all_forms`, :func:`find_form`;
- :func:`extract` (questionnaire, response, patient=, encounter=) → Observations and Conditions;
- :func:`register_forms_operations`: ``QuestionnaireResponse/$extract`` (``persist`` = true writes all at once);
- :func:`install_forms` (store): the packaged forms into the store, idempotent.
"""

from senhealth.checkup.forms.catalogue import AGE_GROUPS, SEXES, age_group, all_forms, find_form, form_for
from senhealth.checkup.forms.extract_operation import (
    extract_bundle,
    register_forms_operations,
    unregister_forms_operations,
)
from senhealth.checkup.forms.extraction import ExtractionError, extract, extracted_id
from senhealth.checkup.forms.install import Installed, install_forms, resolve_questionnaire

__all__ = [
    "AGE_GROUPS",
    "SEXES",
    "ExtractionError",
    "Installed",
    "age_group",
    "all_forms",
    "extract",
    "extract_bundle",
    "extracted_id",
    "find_form",
    "form_for",
    "install_forms",
    "register_forms_operations",
    "resolve_questionnaire",
    "unregister_forms_operations",
]
