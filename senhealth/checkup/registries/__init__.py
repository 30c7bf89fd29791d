"""Chronic-disease registries and screening cohorts at the commune station (docs/checkup-registries.md).

Spec: https://hl7.org/fhir/R4/episodeofcare.html (membership), https://hl7.org/fhir/R4/careplan.html
(follow-up schedule).

- :mod:`.rules`: enrolment rules as data (hypertension, diabetes, COPD/asthma, cancer-screening cohorts);
- :mod:`.enrolment`: :func:`enrol`, an EpisodeOfCare and a CarePlan per registry joined;
- :mod:`.control`: :func:`control_status`, the control indicators of one patient;
- :mod:`.worklist`: :func:`worklist`, a station's overdue / uncontrolled / tests-missing lists, one query each;
- :mod:`.reminders`: :class:`ReminderSender`, the webhook sender, reminders for overdue patients;
- :mod:`.config`: intervals, windows and the webhook (``SENHEALTH_CHECKUP_*``).
"""

from senhealth.checkup.registries.config import RegistryConfig, configure, get_config
from senhealth.checkup.registries.control import ControlStatus, control_status
from senhealth.checkup.registries.enrolment import Enrolment, enrol, enrol_in
from senhealth.checkup.registries.reminders import (
    ReminderFailed,
    ReminderSender,
    WebhookReminderSender,
    install_reminder_sender,
    queue_overdue_reminders,
)
from senhealth.checkup.registries.rules import RULES, Eligibility, RegistryRule, eligible
from senhealth.checkup.registries.worklist import KINDS, WorklistError, WorklistItem, worklist

__all__ = [
    "KINDS",
    "RULES",
    "ControlStatus",
    "Eligibility",
    "Enrolment",
    "RegistryConfig",
    "RegistryRule",
    "ReminderFailed",
    "ReminderSender",
    "WebhookReminderSender",
    "WorklistError",
    "WorklistItem",
    "configure",
    "control_status",
    "eligible",
    "enrol",
    "enrol_in",
    "get_config",
    "install_reminder_sender",
    "queue_overdue_reminders",
    "worklist",
]
