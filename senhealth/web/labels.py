"""Labels of codes shown on the pages (roles), in the page's language."""

from __future__ import annotations

from typing import Final

from senhealth.security.roles import ROLES, Role
from senhealth.web.i18n import N_

__all__ = ["CODE_LABELS", "role_label"]


def role_label(role: str | None, lang: str) -> str:
    try:
        info = ROLES[Role(role or "")]
    except ValueError:
        return role or ""
    return info.label_vi if lang == "vi" else info.label_en


#: Codes shown through the catalogue (``_(code)`` in the templates): listed here so that extraction finds them.
CODE_LABELS: Final = (
    N_("male"), N_("female"), N_("other"), N_("unknown"),
    N_("active"), N_("inactive"), N_("resolved"), N_("recurrence"), N_("remission"), N_("completed"),
    N_("stopped"), N_("on-hold"), N_("cancelled"), N_("draft"), N_("final"), N_("entered-in-error"),
    N_("high"), N_("low"), N_("unable-to-assess"),
    N_("DocumentReference"), N_("Composition"), N_("DiagnosticReport"),
    N_("Patient"), N_("Encounter"), N_("Condition"), N_("Observation"), N_("MedicationRequest"),
    N_("MedicationStatement"), N_("AllergyIntolerance"), N_("Immunization"), N_("Consent"), N_("Encounter"),
)  # fmt: skip
