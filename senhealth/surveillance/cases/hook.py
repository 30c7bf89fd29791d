"""The write hook that queues case detection when data that may be notifiable is written, and indexes
event-based signals.

Spec: write hooks :mod:`senhealth.fhir.store.hooks` (inside the writer's transaction; the bulk loader
calls none); the queue :mod:`senhealth.core.queue` (the job exists only if the write commits).

A write is relevant (content or previous content) when it is

- a Condition coded with an ICD-10 code notifiable under some configured list;
- an Encounter with such a code in ``reasonCode``, or discharged dead (``exp``: the outcome of a case);
- an Observation coded with a configured laboratory test (LOINC), whatever its result (a corrected
  result may withdraw a case);
- a Patient whose links (an MPI merge or unmerge), home address or death changed.

For each patient touched, one ``surveillance.detect`` job is queued with the queueing lock
``surveillance-detect:<patient id>``: while one waits, further writes queue nothing. Detection runs in the
job, not here: a failure in surveillance never blocks a clinical write, and one job reads a burst of
writes at once (an encounter with its conditions and results). A Communication in the event-signal
category (:mod:`.signals`) is indexed here, in the writer's transaction: one insert, nothing to fail on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook
from senhealth.surveillance.cases import signals
from senhealth.surveillance.notifiable.lists import ICD10_SYSTEMS, LOINC, any_list_code, lab_tests

if TYPE_CHECKING:
    from senhealth.fhir.store import StoreTx

__all__ = [
    "DETECT_TASK",
    "HOOKED_TYPES",
    "detect_key",
    "install_case_detection",
    "on_writes",
    "relevant",
    "uninstall_case_detection",
]

DETECT_TASK: Final = "surveillance.detect"
HOOKED_TYPES: Final = frozenset({"Condition", "Encounter", "Observation", "Patient", "Communication"})
_PATIENT_FIELDS: Final = ("link", "address", "deceasedBoolean", "deceasedDateTime", "active")


def detect_key(patient_id: str) -> str:
    """The queueing lock of a patient's waiting ``surveillance.detect`` job."""
    return f"surveillance-detect:{patient_id}"


def _codings(concept: object) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding", ())
        if isinstance(c, dict)
    ]


def _notifiable(concepts: list[Any]) -> bool:
    return any(s in ICD10_SYSTEMS and any_list_code(c) for concept in concepts for s, c in _codings(concept))


def _relevant_content(res_type: str, content: dict[str, Any] | None) -> bool:
    if not content:
        return False
    if res_type == "Condition":
        return _notifiable([content.get("code")])
    if res_type == "Encounter":
        hospitalization = content.get("hospitalization")
        disposition = (
            hospitalization.get("dischargeDisposition") if isinstance(hospitalization, dict) else None
        )
        return _notifiable(list(content.get("reasonCode") or [])) or any(
            c == "exp" for _, c in _codings(disposition)
        )
    if res_type == "Observation":
        tests = lab_tests()
        return any(s == LOINC and c in tests for s, c in _codings(content.get("code")))
    return False


def relevant(w: Write) -> bool:
    """Whether ``w`` may change a case report."""
    if w.res_type == "Patient":
        if w.interaction != "update" or w.content is None or w.previous is None:
            return False  # a new Patient has no evidence yet; a deleted one keeps its cases
        return any(w.content.get(f) != w.previous.get(f) for f in _PATIENT_FIELDS)
    return _relevant_content(w.res_type, w.content) or _relevant_content(w.res_type, w.previous)


async def on_writes(tx: StoreTx, writes: Sequence[Write]) -> None:
    """Queue one ``surveillance.detect`` job per patient touched; index event-based signals."""
    patients: dict[str, None] = {}
    for w in writes:
        if w.res_type == "Communication":
            await signals.index_write(tx.conn, w)
        elif relevant(w):
            pid = w.res_id if w.res_type == "Patient" else w.pkey
            if pid:
                patients[pid] = None
    for patient_id in patients:
        with contextlib.suppress(AlreadyQueued):  # a waiting job will read this write too
            await enqueue(
                DETECT_TASK, {"patient": patient_id}, conn=tx.conn, dedupe_key=detect_key(patient_id)
            )


def install_case_detection() -> None:
    """Register the write hook in this process (API servers and workers; idempotent)."""
    register_write_hook(on_writes, types=HOOKED_TYPES)


def uninstall_case_detection() -> None:
    unregister_write_hook(on_writes)
