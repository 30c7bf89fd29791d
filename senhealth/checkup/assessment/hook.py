"""The write hook that queues a patient's risk recomputation when data the scores read arrives.

Spec: write hooks :mod:`senhealth.fhir.store.hooks` (after every create, update, delete and transaction
Bundle, inside the writer's transaction; the bulk loader calls none); the queue
:mod:`senhealth.core.queue` (the job is inserted in the writer's transaction: it exists only if the write
commits).

A write is relevant when it is

- an Observation (created, changed or deleted) coded with one of :data:`codes.OBSERVATION_CODES`
  (blood pressure, weight, height, BMI, waist, cholesterol, fasting glucose, HbA1c, smoking status);
- a Condition coded I10–I15, E10–E14, J44 or J45 (ICD-10);
- a Patient created, or updated with another birth date, sex or managing organisation.

For each patient touched (the write's patient-compartment key), one job ``checkup.assess`` is queued
with the queueing lock ``checkup-assess:<patient id>``: while one waits, further writes for that patient
queue nothing (the waiting job will read them all). The job (:mod:`senhealth.checkup.tasks`) recomputes
the RiskAssessment and the registry enrolment. Cost per write: a few dict lookups; one insert per patient
and hook call when relevant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from senhealth.checkup.assessment import codes
from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook

if TYPE_CHECKING:
    from senhealth.fhir.store import StoreTx

__all__ = [
    "ASSESS_TASK",
    "HOOKED_TYPES",
    "assess_key",
    "install_assessment",
    "on_writes",
    "relevant",
    "uninstall_assessment",
]

ASSESS_TASK: Final = "checkup.assess"
HOOKED_TYPES: Final = frozenset({"Observation", "Condition", "Patient"})
_PATIENT_FIELDS: Final = ("birthDate", "gender", "managingOrganization")


def assess_key(patient_id: str) -> str:
    """The queueing lock of a patient's waiting ``checkup.assess`` job."""
    return f"checkup-assess:{patient_id}"


def _codings(content: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not content:
        return []
    concept = content.get("code")
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding", ())
        if isinstance(c, dict)
    ]


def _relevant_content(res_type: str, content: dict[str, Any] | None) -> bool:
    if res_type == "Observation":
        return any(s == codes.LOINC and c in codes.OBSERVATION_CODES for s, c in _codings(content))
    if res_type == "Condition":
        return any(s == codes.ICD10 and codes.relevant_condition(c) for s, c in _codings(content))
    return False


def relevant(w: Write) -> bool:
    """Whether ``w`` may change a patient's risk or registry membership."""
    if w.res_type == "Patient":
        if w.interaction != "update" or w.previous is None or w.content is None:
            return w.interaction == "create"
        return any(w.content.get(f) != w.previous.get(f) for f in _PATIENT_FIELDS)
    return _relevant_content(w.res_type, w.content) or _relevant_content(w.res_type, w.previous)


async def on_writes(tx: StoreTx, writes: Sequence[Write]) -> None:
    """Queue one ``checkup.assess`` job per patient touched by a relevant write."""
    patients = dict.fromkeys(w.pkey for w in writes if w.pkey and relevant(w))
    for patient_id in patients:
        with contextlib.suppress(AlreadyQueued):  # a waiting job will read this write too
            await enqueue(
                ASSESS_TASK, {"patient": patient_id}, conn=tx.conn, dedupe_key=assess_key(patient_id)
            )


def install_assessment() -> None:
    """Register the write hook in this process (API servers and workers; idempotent)."""
    register_write_hook(on_writes, types=HOOKED_TYPES)


def uninstall_assessment() -> None:
    unregister_write_hook(on_writes)
