"""An outbreak alert as a FHIR ``Task``: the codes, the shape, and its reading back as an :class:`Alert`.

Spec: https://hl7.org/fhir/R4/task.html (``businessStatus``: "the current status of the task within the
workflow", ``owner``, ``restriction.period``, ``input``, ``output``, ``note``, ``partOf``) and
https://hl7.org/fhir/R4/workflow-management.html (a Task tracks the fulfilment of a piece of work).

One alert is one Task (``code`` = ``alert`` in :data:`ALERT_SYSTEM`):

- ``identifier``: the signal key ``disease|area|week|method`` (:data:`SIGNAL_ID_SYSTEM`); the Task's id is
  derived from it (:func:`signal_id`), so a detector run that finds the same alarm again meets the same Task;
- ``businessStatus``: the step (:class:`~.workflow.Step`, system :data:`STEP_SYSTEM`); ``status``: the Task
  status of that step (:data:`~.workflow.TASK_STATUS`); ``statusReason``: the closure reason;
- ``owner``: the officer verifying it (``Practitioner``); ``restriction.period.end``: when the current step
  is due (overdue after it: escalated);
- ``input``: ``disease`` (ICD-10), ``area`` (commune or province code), ``week`` (ISO week), ``method``,
  ``observed``, ``expected``, ``upperbound`` (system :data:`INPUT_SYSTEM`);
- ``output``: ``verification`` (``confirmed`` / ``not-confirmed``) once verified;
- ``note``: one per step, with its author and time; ``extension`` :data:`ESCALATION_URL`: one per escalation
  (``step``, ``level``, ``due``, ``at``);
- every step is a new version: the Task's history (``Task/[id]/_history``) is the record of the alert.

A verified *event* stays on the same Task (step ``event``): a ``DetectedIssue`` is about one patient's
clinical issue (a drug interaction), not a population event, and keeping one resource keeps one history
and one owner. Response actions are Tasks of their own (``code`` = ``response-action``) whose ``partOf`` is
the alert.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from senhealth.surveillance.alerts.workflow import Step

__all__ = [
    "ALERT_SYSTEM",
    "AREA_SYSTEMS",
    "CLOSURE_SYSTEM",
    "ESCALATION_URL",
    "ICD10",
    "INPUT_SYSTEM",
    "SIGNAL_ID_SYSTEM",
    "STEP_SYSTEM",
    "Alert",
    "DetectorResult",
    "EscalationRecord",
    "area_system",
    "fhir_time",
    "is_alert",
    "parse_time",
    "signal_id",
]

ALERT_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/surveillance-alert"
STEP_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/alert-step"
CLOSURE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/alert-closure"
INPUT_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/alert-input"
SIGNAL_ID_SYSTEM: Final = "https://senhealth.vn/fhir/sid/surveillance-signal"
ESCALATION_URL: Final = "https://senhealth.vn/fhir/StructureDefinition/alert-escalation"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
#: Area codes: 5-digit communes and 2-digit provinces of the 2025 administrative units.
AREA_SYSTEMS: Final = {
    5: "https://senhealth.vn/fhir/CodeSystem/commune-2025",
    2: "https://senhealth.vn/fhir/CodeSystem/province-2025",
}

_WEEK: Final = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")
_DISEASE: Final = re.compile(r"^[A-Z]\d\d(\.\d{1,2})?$")
_METHOD: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def area_system(area: str) -> str:
    """The code system of an area code (5 digits: commune, 2 digits: province)."""
    if not area.isdigit() or len(area) not in AREA_SYSTEMS:
        raise ValueError(f"area {area!r}: a 5-digit commune code or a 2-digit province code")
    return AREA_SYSTEMS[len(area)]


def signal_id(disease: str, area: str, week: str, method: str) -> str:
    """The Task id of the signal of ``(disease, area, week, method)``: the same key always gives the same id."""
    key = f"{disease}|{area}|{week}|{method}"
    return "sig-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def fhir_time(when: datetime) -> str:
    """A FHIR ``dateTime`` / ``instant`` with its offset, to the second."""
    if when.tzinfo is None:
        raise ValueError("a time must be timezone-aware")
    return when.isoformat(timespec="seconds")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """One monitored week of one detector for one disease in one area: what opens a signal.

    ``disease``: ICD-10 code (``A90``); ``area``: commune (5 digits) or province (2 digits) code; ``week``:
    ISO week (``2026-W07``); ``method``: the detector's name (``ears-c2``, ``farrington-flexible``...);
    ``observed``, ``expected`` and ``upperbound`` as the detector printed them (``None``: undefined).
    """

    disease: str
    area: str
    week: str
    method: str
    observed: float
    expected: float | None
    upperbound: float | None
    alarm: bool = True
    disease_display: str = ""
    area_display: str = ""

    def check(self) -> None:
        """ValueError naming the first field that is not as described."""
        if not _DISEASE.match(self.disease):
            raise ValueError(f"disease {self.disease!r}: an ICD-10 code such as A90 or B08.4")
        area_system(self.area)
        if not _WEEK.match(self.week):
            raise ValueError(f"week {self.week!r}: an ISO week such as 2026-W07")
        if not _METHOD.match(self.method):
            raise ValueError(f"method {self.method!r}: lower-case letters, digits and '-'")
        for name in ("observed", "expected", "upperbound"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    @property
    def key(self) -> str:
        return f"{self.disease}|{self.area}|{self.week}|{self.method}"

    @property
    def task_id(self) -> str:
        return signal_id(self.disease, self.area, self.week, self.method)


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    step: str
    level: int
    due: datetime | None
    at: datetime | None


def _code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def is_alert(task: dict[str, Any], code: str = "alert") -> bool:
    """Whether ``task`` is an alert (or, with ``code='response-action'``, a response action)."""
    return any(
        c.get("system") == ALERT_SYSTEM and c.get("code") == code
        for c in (task.get("code") or {}).get("coding") or []
        if isinstance(c, dict)
    )


def _inputs(task: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in task.get("input") or []:
        name = _code(item.get("type"))
        if name is None:
            continue
        for key, value in item.items():
            if key.startswith("value"):
                out[name] = _code(value) if key == "valueCodeableConcept" else value
    return out


def _escalations(task: dict[str, Any]) -> tuple[EscalationRecord, ...]:
    out = []
    for ext in task.get("extension") or []:
        if ext.get("url") != ESCALATION_URL:
            continue
        parts = {
            e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
            for e in ext.get("extension") or []
        }
        level = parts.get("level")
        out.append(
            EscalationRecord(
                str(parts.get("step") or ""),
                level if isinstance(level, int) else 0,
                parse_time(parts.get("due")),
                parse_time(parts.get("at")),
            )
        )
    return tuple(out)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert Task read back (one version); ``content`` is the Task itself."""

    id: str
    version: int
    step: Step
    disease: str
    area: str
    week: str
    method: str
    observed: float | None
    expected: float | None
    upperbound: float | None
    owner: str | None  # "Practitioner/<id>"
    due: datetime | None
    closure: str | None
    escalations: tuple[EscalationRecord, ...]
    content: dict[str, Any] = field(repr=False)

    @classmethod
    def from_task(cls, task: dict[str, Any]) -> Alert:
        inputs = _inputs(task)
        owner = (task.get("owner") or {}).get("reference")
        return cls(
            id=str(task.get("id", "")),
            version=int((task.get("meta") or {}).get("versionId") or 0),
            step=Step(_code(task.get("businessStatus")) or Step.SIGNAL.value),
            disease=str(inputs.get("disease") or ""),
            area=str(inputs.get("area") or ""),
            week=str(inputs.get("week") or ""),
            method=str(inputs.get("method") or ""),
            observed=_number(inputs.get("observed")),
            expected=_number(inputs.get("expected")),
            upperbound=_number(inputs.get("upperbound")),
            owner=owner if isinstance(owner, str) else None,
            due=parse_time(((task.get("restriction") or {}).get("period") or {}).get("end")),
            closure=_code(task.get("statusReason")),
            escalations=_escalations(task),
            content=task,
        )

    @property
    def reference(self) -> str:
        return f"Task/{self.id}"

    @property
    def disease_display(self) -> str:
        return str(_display(self.content, "disease") or self.disease)

    @property
    def area_display(self) -> str:
        return str(_display(self.content, "area") or self.area)


def _display(task: dict[str, Any], name: str) -> str | None:
    for item in task.get("input") or []:
        if _code(item.get("type")) == name:
            for coding in (item.get("valueCodeableConcept") or {}).get("coding") or []:
                if coding.get("display"):
                    return str(coding["display"])
    return None
