"""Control indicators of a registered patient: blood pressure, glycaemia, seen recently.

Definitions (issue 7; docs/checkup-registries.md "Control indicators"):

- **blood pressure controlled**: the latest reading is < 140 systolic and < 90 diastolic mmHg (the
  treatment target of Decision 3192/QĐ-BYT, :func:`senhealth.checkup.risk.is_controlled`); ``None``
  when no reading is on record;
- **glycaemia controlled**: the latest HbA1c (4548-4) is < 7 %; without any HbA1c, the latest fasting
  glucose (1558-6) is < 7.0 mmol/L; ``None`` when neither is on record;
- **seen recently**: an Encounter (not planned, cancelled or in error) started within
  ``seen_within_days`` (default 90 days, "seen within 3 months").

The worklists (:mod:`.worklist`) compute the same definitions in SQL over a whole station.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import BpReading, PatientRecord, Reading, Visit
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.risk import is_controlled

__all__ = ["FASTING_GLUCOSE_TARGET", "HBA1C_TARGET", "ControlStatus", "bp_controlled", "control_status"]

HBA1C_TARGET = 7.0
"""%: an HbA1c below it is at target."""
FASTING_GLUCOSE_TARGET = 7.0
"""mmol/L: a fasting glucose below it is at target."""


@dataclass(frozen=True, slots=True)
class ControlStatus:
    patient_id: str
    bp_controlled: bool | None
    last_bp: BpReading | None
    glycaemia_controlled: bool | None
    last_glycaemia: Reading | None
    """The HbA1c (or, without one, the fasting glucose) judged."""
    last_visit: Visit | None
    seen_recently: bool


def bp_controlled(sbp: float, dbp: float) -> bool:
    try:
        return is_controlled(sbp, dbp)
    except ValueError:  # a reading outside the accepted ranges (kept as recorded): compare plainly
        return sbp < 140 and dbp < 90


def control_status(record: PatientRecord, now: datetime) -> ControlStatus:
    """The indicators of ``record`` at ``now`` (aware)."""
    bp = record.blood_pressure[-1] if record.blood_pressure else None
    a1c = record.latest(codes.HBA1C)
    glucose = record.latest(codes.FASTING_GLUCOSE)
    glycaemia: Reading | None
    if a1c is not None:
        glycaemia, controlled = a1c, a1c.value < HBA1C_TARGET
    elif glucose is not None:
        glycaemia, controlled = glucose, glucose.value < FASTING_GLUCOSE_TARGET
    else:
        glycaemia, controlled = None, False
    visit = record.last_visit()
    window = timedelta(days=get_config().seen_within_days)
    return ControlStatus(
        record.patient_id,
        None if bp is None else bp_controlled(bp.sbp, bp.dbp),
        bp,
        None if glycaemia is None else controlled,
        glycaemia,
        visit,
        visit is not None and visit.start >= now - window,
    )
