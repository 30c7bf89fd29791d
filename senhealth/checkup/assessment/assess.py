"""Compute a patient's risks from the store and keep one current RiskAssessment per patient and score.

Spec: https://hl7.org/fhir/R4/riskassessment.html; updates keep the old versions in history
(https://hl7.org/fhir/R4/http.html#update, #history).

:func:`assess` runs in one store transaction, under a transaction-level advisory lock on the patient (two
jobs for one patient run one after the other, so neither creates a second RiskAssessment): it reads the
patient's record (:func:`~.patient_record.load_record`), computes the WHO CVD risk
(:mod:`.who_cvd_assessment`) and writes it over the previous RiskAssessment of the same patient and code
(an update in place: same id, a new version). When nothing but the time of the assessment would change,
nothing is written. When the chart no longer applies (the patient is now 75, or the data it used was
withdrawn) the previous RiskAssessment is deleted (its versions stay in history), so no stale risk is shown
as current; :attr:`Assessment.not_assessed` says why. FINDRISC (:mod:`.findrisc_assessment`) is kept the
same way, from the check-up form's answers of the last 12 months.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.findrisc_assessment import findrisc_inputs, findrisc_resource
from senhealth.checkup.assessment.patient_record import VN_TZ, PatientRecord, load_record
from senhealth.checkup.assessment.who_cvd_assessment import NotAssessed, cvd_inputs, cvd_resource
from senhealth.fhir.store import FhirStore, StoreTx, content_from_text

__all__ = ["Assessment", "assess", "assess_patient", "current_assessment"]

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('checkup.assess:' || %s, 0))"
_CURRENT = (
    "SELECT res_id, coalesce(content_raw, content::text) FROM fhir_resource "
    "WHERE pkey = %s AND res_type = 'RiskAssessment' AND content->'code'->'coding' @> %s::jsonb "
    "AND content->'subject'->>'reference' = %s ORDER BY last_updated DESC, res_id"
)
_VOLATILE = ("id", "meta", "occurrenceDateTime")


@dataclass(slots=True)
class Assessment:
    """What :func:`assess` found and did for one patient."""

    patient_id: str
    risk_assessments: list[dict[str, Any]] = field(default_factory=list)
    """The patient's current RiskAssessments (as stored) after the run."""
    not_assessed: list[NotAssessed] = field(default_factory=list)
    written: int = 0
    """Versions written (creates, updates, deletes)."""
    record: PatientRecord | None = None


def _comparable(content: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in content.items() if k not in _VOLATILE}
    prediction = [dict(p) for p in out.get("prediction", ())]
    for p in prediction:
        p.pop("whenPeriod", None)
    out["prediction"] = prediction
    return out


async def current_assessment(
    conn: AsyncConnection[TupleRow], patient_id: str, code: str = codes.WHO_CVD
) -> list[dict[str, Any]]:
    """The patient's live RiskAssessments of ``code`` (normally one), newest first."""
    coding = orjson.dumps([{"system": codes.RISK_SYSTEM, "code": code}]).decode()
    cur = await conn.execute(_CURRENT, (patient_id, coding, f"Patient/{patient_id}"))
    return [content_from_text(str(text)) for _, text in await cur.fetchall()]


async def _put(
    tx: StoreTx, patient_id: str, code: str, resource: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, int]:
    existing = await current_assessment(tx.conn, patient_id, code)
    written = 0
    keep = existing[0] if existing else None
    for extra in existing[1:]:  # never more than one current: remove any duplicate
        await tx.delete("RiskAssessment", str(extra["id"]))
        written += 1
    if resource is None:
        if keep is not None:
            await tx.delete("RiskAssessment", str(keep["id"]))
            written += 1
        return None, written
    if keep is not None:
        if _comparable(keep) == _comparable(resource):
            return keep, written
        stored, _ = await tx.update({**resource, "id": keep["id"]})
    else:
        stored = await tx.create(resource)
    assert stored.content is not None
    return stored.content, written + 1


async def assess(store: FhirStore, patient_id: str, *, now: datetime | None = None) -> Assessment:
    """Compute and store the risks of ``patient_id`` (see the module docstring)."""
    when = (now or datetime.now(VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
    out = Assessment(patient_id)
    async with store.transaction() as tx:
        await tx.conn.execute(_LOCK, (patient_id,))
        record = await load_record(tx.conn, patient_id)
        out.record = record
        inputs = cvd_inputs(record, when.date())
        if isinstance(inputs, NotAssessed):
            out.not_assessed.append(inputs)
            resource = None
        else:
            resource = cvd_resource(patient_id, inputs, when)
        if not record.exists:
            return out
        diabetes_inputs = findrisc_inputs(record, when.date())
        if isinstance(diabetes_inputs, NotAssessed):
            out.not_assessed.append(diabetes_inputs)
            diabetes = None
        else:
            diabetes = findrisc_resource(patient_id, diabetes_inputs, when)
        for code, content in ((codes.WHO_CVD, resource), (codes.FINDRISC, diabetes)):
            current, written = await _put(tx, patient_id, code, content)
            out.written += written
            if current is not None:
                out.risk_assessments.append(current)
    return out


async def assess_patient(store: FhirStore, patient_id: str) -> list[dict[str, Any]]:
    """Compute and store the risks of ``patient_id``; its current RiskAssessments (empty when none applies:
    :func:`assess` gives the reasons)."""
    return (await assess(store, patient_id)).risk_assessments
