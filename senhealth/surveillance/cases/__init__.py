"""Notifiable-disease case reports: automatic detection from Conditions, Encounters and laboratory
results, classification and outcome, reporting deadlines, de-duplication through the patient index,
line lists and event-based signals.

- :mod:`.evidence`, :mod:`.episodes`: what the records say (pure);
- :mod:`.detect`: reconcile one person's case reports (the ``surveillance.detect`` job);
- :mod:`.hook`: the write hook that queues it; :mod:`.record`: the case report (QuestionnaireResponse
  and its index row); :mod:`.actions`: report a case, record its outcome; :mod:`.linelist`;
  :mod:`.signals`. See docs/surveillance.md.
"""

from senhealth.surveillance.cases.actions import CaseNotFound, mark_reported, set_outcome
from senhealth.surveillance.cases.detect import DetectResult, detect_for_patient
from senhealth.surveillance.cases.hook import (
    DETECT_TASK,
    install_case_detection,
    uninstall_case_detection,
)
from senhealth.surveillance.cases.linelist import line_list, line_list_with_signals
from senhealth.surveillance.cases.signals import report_signal, signal_list

__all__ = [
    "DETECT_TASK",
    "CaseNotFound",
    "DetectResult",
    "detect_for_patient",
    "install_case_detection",
    "line_list",
    "line_list_with_signals",
    "mark_reported",
    "report_signal",
    "set_outcome",
    "signal_list",
    "uninstall_case_detection",
]
