"""What the store holds about one patient that the risk scores and the registries read.

Spec: https://hl7.org/fhir/R4/observation.html (value, components, effective[x], status),
https://hl7.org/fhir/R4/condition.html (clinicalStatus, verificationStatus),
https://hl7.org/fhir/R4/patient.html (birthDate, gender, managingOrganization, telecom).

One query reads the patient's resources of the types needed from the patient's own partition
(``fhir_resource.pkey`` is the patient id for everything in the patient's compartment, DESIGN.md §4):
no cross-patient join, so it stays cheap when the store is sharded by patient. Values are converted to
the units the scores take (mmol/L, %, kg, cm); a value in a unit not understood is left out rather than
guessed. Observations count when their status is final, amended or corrected; Conditions when they are
not refuted or entered in error, and clinically active (or with no clinical status).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.checkup.assessment import codes
from senhealth.fhir.store import content_from_text

__all__ = [
    "VN_TZ",
    "Answer",
    "BpReading",
    "ConditionEntry",
    "PatientRecord",
    "Reading",
    "load_record",
    "parse_fhir_datetime",
    "record_from_resources",
]

VN_TZ = timezone(timedelta(hours=7))
"""Values without an offset are read in Viet Nam's time (as the search index does)."""

_TYPES = ["Patient", "Observation", "Condition", "Encounter"]
_LOAD = (
    "SELECT res_type, res_id, coalesce(content_raw, content::text) FROM fhir_resource "
    "WHERE pkey = %s AND res_type = ANY(%s)"
)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_fhir_datetime(value: object) -> datetime | None:
    """A FHIR date / dateTime / instant as an aware datetime (partial dates: their first moment)."""
    if not isinstance(value, str) or not value:
        return None
    m = _DATE.match(value)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
        return datetime(y, mo, d, tzinfo=VN_TZ)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=VN_TZ)


def _codes(concept: object) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding", ())
        if isinstance(c, dict)
    ]


def _loinc(concept: object) -> set[str]:
    return {code for system, code in _codes(concept) if system == codes.LOINC}


def _effective(content: dict[str, Any]) -> datetime | None:
    when = content.get("effectiveDateTime") or content.get("effectiveInstant")
    if when is None and isinstance(content.get("effectivePeriod"), dict):
        when = content["effectivePeriod"].get("start")
    if when is None:
        when = content.get("issued")
    return parse_fhir_datetime(when)


def _quantity(q: object, code: str) -> float | None:
    """The value of ``q`` in the unit the scores take for LOINC ``code``; None if not understood."""
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return None
    value = float(q["value"])
    unit = str(q.get("code") or q.get("unit") or "").strip()
    low = unit.lower()
    if code == codes.TOTAL_CHOLESTEROL:
        if low == "mmol/l":
            return value
        if low == "mg/dl":
            return value / codes.MG_DL_PER_MMOL_L_CHOLESTEROL
        return None
    if code == codes.FASTING_GLUCOSE:
        if low == "mmol/l":
            return value
        if low == "mg/dl":
            return value / codes.MG_DL_PER_MMOL_L_GLUCOSE
        return None
    if code == codes.HBA1C:
        if unit == "%":
            return value
        if low == "mmol/mol":
            return value / 10.929 + 2.15
        return None
    if code in (codes.SYSTOLIC, codes.DIASTOLIC):
        return value if low in ("mm[hg]", "mmhg") else None
    if code == codes.BODY_WEIGHT:
        return value if low == "kg" else value / 1000.0 if low == "g" else None
    if code in (codes.BODY_HEIGHT, codes.WAIST):
        return value if low == "cm" else value * 100.0 if low == "m" else None
    if code == codes.BMI:
        return value if low in ("kg/m2", "kg/m^2") else None
    return None


@dataclass(frozen=True, slots=True)
class Reading:
    """One numeric result, in the unit the scores take."""

    ref: str
    effective: datetime
    value: float


@dataclass(frozen=True, slots=True)
class BpReading:
    ref: str
    effective: datetime
    sbp: float
    dbp: float


@dataclass(frozen=True, slots=True)
class SmokingReading:
    ref: str
    effective: datetime
    smoker: bool


@dataclass(frozen=True, slots=True)
class Answer:
    """A check-up form's answer kept as an Observation: a yes/no, or the code of the chosen option."""

    ref: str
    effective: datetime
    value: bool | str


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    ref: str
    code: str
    """The ICD-10 code as written (``E11.9``)."""
    recorded: datetime | None


@dataclass(frozen=True, slots=True)
class Visit:
    ref: str
    start: datetime


@dataclass(slots=True)
class PatientRecord:
    """A patient's facts, each list oldest first."""

    patient_id: str
    birth_date: date | None = None
    sex: str | None = None
    organization: str | None = None
    """``Organization/<id>`` of the patient's managing organisation (the commune station)."""
    phone: str | None = None
    name: str = ""
    blood_pressure: list[BpReading] = field(default_factory=list)
    values: dict[str, list[Reading]] = field(default_factory=dict)
    smoking: list[SmokingReading] = field(default_factory=list)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    """checkup-item code → its answers (:data:`codes.ANSWER_CODES` only)."""
    conditions: list[ConditionEntry] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.sex is not None or self.birth_date is not None

    def latest(self, loinc: str) -> Reading | None:
        found = self.values.get(loinc)
        return found[-1] if found else None

    def answer(self, item: str) -> Answer | None:
        """The latest answer to the check-up item ``item``."""
        found = self.answers.get(item)
        return found[-1] if found else None

    def readings(self, loinc: str) -> list[Reading]:
        return self.values.get(loinc, [])

    def has_condition(self, categories: Iterable[str]) -> list[ConditionEntry]:
        wanted = set(categories)
        return [c for c in self.conditions if codes.icd10_category(c.code) in wanted]

    def age_on(self, day: date) -> int | None:
        """Completed years on ``day``."""
        b = self.birth_date
        if b is None:
            return None
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def last_visit(self) -> Visit | None:
        return self.visits[-1] if self.visits else None


def _add_observation(record: PatientRecord, res_id: str, content: dict[str, Any]) -> None:
    if content.get("status") not in codes.FINAL_STATUSES:
        return
    when = _effective(content)
    if when is None:
        return
    ref = f"Observation/{res_id}"
    items = {code for system, code in _codes(content.get("code")) if system == codes.CHECKUP_ITEM_SYSTEM}
    for item in items & codes.ANSWER_CODES:
        answer: bool | str | None = content.get("valueBoolean")
        if not isinstance(answer, bool):
            chosen = [
                code
                for system, code in _codes(content.get("valueCodeableConcept"))
                if system == codes.CHECKUP_ANSWER_SYSTEM
            ]
            answer = chosen[0] if chosen else None
        if answer is not None:
            record.answers.setdefault(item, []).append(Answer(ref, when, answer))
    loinc = _loinc(content.get("code"))
    if codes.BP_PANEL in loinc:
        parts: dict[str, float] = {}
        for comp in content.get("component", ()):
            for code in _loinc(comp.get("code")) & {codes.SYSTOLIC, codes.DIASTOLIC}:
                value = _quantity(comp.get("valueQuantity"), code)
                if value is not None:
                    parts[code] = value
        if len(parts) == 2:
            record.blood_pressure.append(BpReading(ref, when, parts[codes.SYSTOLIC], parts[codes.DIASTOLIC]))
        return
    if codes.SMOKING_STATUS in loinc:
        status = {
            code for system, code in _codes(content.get("valueCodeableConcept")) if system == codes.SNOMED
        }
        if status & codes.CURRENT_SMOKER:
            record.smoking.append(SmokingReading(ref, when, True))
        elif status & codes.NON_SMOKER:
            record.smoking.append(SmokingReading(ref, when, False))
        return
    for code in loinc & codes.OBSERVATION_CODES:
        value = _quantity(content.get("valueQuantity"), code)
        if value is not None:
            record.values.setdefault(code, []).append(Reading(ref, when, value))


def _condition_counts(content: dict[str, Any]) -> bool:
    verification = {c for _, c in _codes(content.get("verificationStatus"))}
    if verification & {"refuted", "entered-in-error"}:
        return False
    clinical = {c for _, c in _codes(content.get("clinicalStatus"))}
    return not clinical or bool(clinical & {"active", "recurrence", "relapse"})


def _add_patient(record: PatientRecord, content: dict[str, Any]) -> None:
    birth = content.get("birthDate")
    if isinstance(birth, str) and len(birth) >= 10:
        try:
            record.birth_date = date.fromisoformat(birth[:10])
        except ValueError:
            record.birth_date = None
    gender = content.get("gender")
    record.sex = gender if isinstance(gender, str) else None
    org = content.get("managingOrganization")
    if isinstance(org, dict) and isinstance(org.get("reference"), str):
        record.organization = org["reference"]
    for t in content.get("telecom", ()):
        if isinstance(t, dict) and t.get("system") in ("phone", "sms") and t.get("value"):
            record.phone = str(t["value"])
            if t.get("use") == "mobile":
                break
    for n in content.get("name", ()):
        if isinstance(n, dict):
            text = n.get("text") or " ".join([*n.get("family", "").split(), *n.get("given", [])])
            record.name = str(text).strip()
            break


def record_from_resources(
    patient_id: str, resources: Iterable[tuple[str, str, dict[str, Any]]]
) -> PatientRecord:
    """Build a record from ``(type, id, content)`` of the patient's resources."""
    record = PatientRecord(patient_id)
    for res_type, res_id, content in resources:
        if res_type == "Patient":
            if res_id == patient_id:
                _add_patient(record, content)
        elif res_type == "Observation":
            _add_observation(record, res_id, content)
        elif res_type == "Condition":
            if not _condition_counts(content):
                continue
            recorded = parse_fhir_datetime(content.get("recordedDate") or content.get("onsetDateTime"))
            for system, code in _codes(content.get("code")):
                if system == codes.ICD10 and code:
                    record.conditions.append(ConditionEntry(f"Condition/{res_id}", code, recorded))
                    break
        elif res_type == "Encounter":
            if content.get("status") in ("planned", "cancelled", "entered-in-error"):
                continue
            period = content.get("period")
            start = parse_fhir_datetime(period.get("start")) if isinstance(period, dict) else None
            if start is not None:
                record.visits.append(Visit(f"Encounter/{res_id}", start))
    epoch = datetime(1, 1, 1, tzinfo=UTC)
    record.blood_pressure.sort(key=lambda r: (r.effective, r.ref))
    record.smoking.sort(key=lambda r: (r.effective, r.ref))
    for answers in record.answers.values():
        answers.sort(key=lambda r: (r.effective, r.ref))
    for values in record.values.values():
        values.sort(key=lambda r: (r.effective, r.ref))
    record.conditions.sort(key=lambda c: (c.recorded or epoch, c.ref))
    record.visits.sort(key=lambda v: (v.start, v.ref))
    return record


async def load_record(conn: AsyncConnection[TupleRow], patient_id: str) -> PatientRecord:
    """The record of ``patient_id`` as committed (or as this transaction sees it)."""
    cur = await conn.execute(_LOAD, (patient_id, _TYPES))
    rows = await cur.fetchall()
    return record_from_resources(
        patient_id, ((str(t), str(i), content_from_text(str(text))) for t, i, text in rows)
    )
