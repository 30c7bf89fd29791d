"""Outbreak alerts: signal → triage → verification → event → response → closure (docs/surveillance-alerts.md).

Spec: https://hl7.org/fhir/R4/task.html (one Task per alert, its history the record of its steps).

- :mod:`.workflow`: the steps, the allowed transitions and who may take them (pure);
- :mod:`.model`: the alert's Task shape and codes, :class:`DetectorResult` (what opens a signal);
- :mod:`.store`: :func:`open_signal` (idempotent, for the detectors' runs) and the steps, each audited;
- :mod:`.operations`: ``Task/[id]/$alert-triage``, ``$alert-assign``, ``$alert-verify``, ``$alert-respond``,
  ``$alert-close``;
- :mod:`.notify`: e-mail (SMTP) and webhook notifiers, queued with retries;
- :mod:`.escalation`: overdue alerts escalated one level at a time;
- :mod:`.tasks`: the job handlers (``TASK_MODULES``); :mod:`.config`: ``SENHEALTH_ALERTS_*``.
"""

from senhealth.surveillance.alerts.config import AlertConfig, configure, get_config
from senhealth.surveillance.alerts.escalation import Escalated, escalate_overdue
from senhealth.surveillance.alerts.model import Alert, DetectorResult, signal_id
from senhealth.surveillance.alerts.notify import (
    Notification,
    NotificationFailed,
    Notifier,
    SmtpNotifier,
    WebhookNotifier,
    install_notifier,
)
from senhealth.surveillance.alerts.operations import register_alert_operations, unregister_alert_operations
from senhealth.surveillance.alerts.store import (
    AlertNotFound,
    Opened,
    StepDone,
    alert_history,
    assign,
    close,
    open_alerts,
    open_signal,
    open_signals,
    read_alert,
    respond,
    response_actions,
    triage,
    verify,
)
from senhealth.surveillance.alerts.workflow import Action, Step, WorkflowError

__all__ = [
    "Action",
    "Alert",
    "AlertConfig",
    "AlertNotFound",
    "DetectorResult",
    "Escalated",
    "Notification",
    "NotificationFailed",
    "Notifier",
    "Opened",
    "SmtpNotifier",
    "Step",
    "StepDone",
    "WebhookNotifier",
    "WorkflowError",
    "alert_history",
    "assign",
    "close",
    "configure",
    "escalate_overdue",
    "get_config",
    "install_notifier",
    "open_alerts",
    "open_signal",
    "open_signals",
    "read_alert",
    "register_alert_operations",
    "respond",
    "response_actions",
    "signal_id",
    "triage",
    "unregister_alert_operations",
    "verify",
]
