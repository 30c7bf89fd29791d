"""The notifiable-disease lists (Circular 54/2015/TT-BYT and the 2026 list that replaces it) as dated
configuration, the laboratory tests that confirm a case, and the case report form (Questionnaire).

See :mod:`.lists` and :mod:`.forms`; the data and their sources: ``data/`` (each list and disease says
whether it was verified against the published text); docs/surveillance.md.
"""

from senhealth.surveillance.notifiable.forms import (
    QUESTIONNAIRE_URL,
    case_report_questionnaire,
    ensure_questionnaire,
)
from senhealth.surveillance.notifiable.lists import (
    Disease,
    LabTest,
    NotifiableList,
    all_lists,
    deadline_after,
    disease_for_code,
    lab_tests,
    list_by_id,
    list_on,
    reload,
)

__all__ = [
    "QUESTIONNAIRE_URL",
    "Disease",
    "LabTest",
    "NotifiableList",
    "all_lists",
    "case_report_questionnaire",
    "deadline_after",
    "disease_for_code",
    "ensure_questionnaire",
    "lab_tests",
    "list_by_id",
    "list_on",
    "reload",
]
