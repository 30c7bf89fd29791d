"""The detection run: the detectors over every watched disease × area, on a schedule, after the series change
and on demand, every alarm an alert (docs/surveillance-detectors.md, "The detection run").

- :mod:`.config`: the plans (methods per disease, R's parameter names) and ``SENHEALTH_DETECTION_*``;
- :mod:`.methods`: one plan over many series at once (the detectors' batch variants), the history it needs;
- :mod:`.run`: :func:`detection_run`: read the series, run the plans, :func:`~senhealth.surveillance.alerts.open_signals`;
- :mod:`.trigger`: the write hook that queues a run after a case report changed the series.

The job ``surveillance.detection_run`` is in :mod:`senhealth.surveillance.tasks`.
"""

from senhealth.surveillance.detection.config import (
    DetectionConfig,
    MethodPlan,
    configure,
    default_plan,
    get_config,
    plan_for,
)
from senhealth.surveillance.detection.methods import Outcome, fit_history, history_needed, run_plan
from senhealth.surveillance.detection.run import (
    SYSTEM_PRINCIPAL,
    AreaSeries,
    RunReport,
    detection_run,
    monitored_weeks,
    read_series,
)
from senhealth.surveillance.detection.trigger import (
    RUN_LOCK,
    RUN_TASK,
    install_detection_trigger,
    uninstall_detection_trigger,
)

__all__ = [
    "RUN_LOCK",
    "RUN_TASK",
    "SYSTEM_PRINCIPAL",
    "AreaSeries",
    "DetectionConfig",
    "MethodPlan",
    "Outcome",
    "RunReport",
    "configure",
    "default_plan",
    "detection_run",
    "fit_history",
    "get_config",
    "history_needed",
    "install_detection_trigger",
    "monitored_weeks",
    "plan_for",
    "read_series",
    "run_plan",
    "uninstall_detection_trigger",
]
