"""A teleconsultation as FHIR resources: the codes, the extension, and :class:`Consult` (a Task and its
ServiceRequest read together).

Spec: the workflow communication pattern "Task + request" (option H,
https://hl7.org/fhir/R4/workflow-communications.html#optionh): the requester writes a ServiceRequest (what is
asked, about whom, of whom) and a Task whose ``focus`` is that request; the consulted facility answers by
changing the Task (https://hl7.org/fhir/R4/task.html, statuses
https://hl7.org/fhir/R4/valueset-task-status.html): ``requested`` → ``accepted`` | ``rejected`` →
``in-progress`` (a meeting is booked) → ``completed`` (the signed conclusion is in both records).

- ``ServiceRequest.category`` SNOMED CT ``11429006`` |Consultation|: the code the shipped subscription
  topics ``consult-requested`` / ``consult-completed`` listen for (:mod:`senhealth.fhir.subscriptions.topics`);
- ``Task.code`` ``https://senhealth.vn/fhir/CodeSystem/telehealth-consult|consult``;
- the requesting facility: extension ``https://senhealth.vn/fhir/StructureDefinition/consult-requesting-facility``
  (``valueReference`` ``Organization/<id>``) on both, since R4 ``Task.requester`` holds one reference (the
  practitioner) and has no ``onBehalfOf``; the consulted facility is ``ServiceRequest.performer[0]`` and, until
  a specialist accepts, ``Task.owner``;
- what the consult produced: ``Task.output`` typed with the same code system (``consultant-encounter``,
  ``appointment``, ``conclusion``, ``document``, ``record-copy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "ACT_CODE",
    "CONSULT_CATEGORY",
    "CONSULT_CODE",
    "CONSULT_NOTE",
    "CONSULT_SYSTEM",
    "CONSULT_TASK_CODE",
    "CONSULT_TASK_SYSTEM",
    "LOINC",
    "MESSAGE_CATEGORY",
    "MESSAGE_CATEGORY_SYSTEM",
    "OPEN_STATUSES",
    "REQUESTING_FACILITY_URL",
    "Consult",
    "concept",
    "fhir_time",
    "is_consult_task",
    "now_utc",
    "output",
    "ref_id",
]

CONSULT_SYSTEM: Final = "http://snomed.info/sct"
CONSULT_CODE: Final = "11429006"
CONSULT_CATEGORY: Final = {
    "coding": [{"system": CONSULT_SYSTEM, "code": CONSULT_CODE, "display": "Consultation"}],
    "text": "Hội chẩn từ xa / teleconsultation",
}
CONSULT_TASK_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/telehealth-consult"
CONSULT_TASK_CODE: Final = "consult"
MESSAGE_CATEGORY_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/communication-category"
MESSAGE_CATEGORY: Final = "telehealth-consult-message"
REQUESTING_FACILITY_URL: Final = "https://senhealth.vn/fhir/StructureDefinition/consult-requesting-facility"
LOINC: Final = "http://loinc.org"
#: LOINC 11488-4 Consult note: the conclusion's Composition and its copies' DocumentReference type.
CONSULT_NOTE: Final = {
    "coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}],
    "text": "Biên bản hội chẩn từ xa / teleconsultation conclusion",
}
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: Task statuses in which the consult is still open (messages may be exchanged).
OPEN_STATUSES: Final = frozenset({"requested", "accepted", "in-progress"})


def now_utc(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def fhir_time(when: datetime) -> str:
    """A FHIR ``dateTime`` / ``instant`` with its offset, to the second."""
    if when.tzinfo is None:
        raise ValueError("a time must be timezone-aware")
    return when.isoformat(timespec="seconds")


def concept(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def ref_id(value: Any, res_type: str) -> str | None:
    """The id of a ``Type/id`` reference (a Reference or its text), None when it is not one of ``res_type``."""
    text = value.get("reference") if isinstance(value, dict) else value
    if isinstance(text, str) and text.startswith(f"{res_type}/"):
        rest = text[len(res_type) + 1 :].split("/")[0]
        return rest or None
    return None


def output(name: str, reference: str) -> dict[str, Any]:
    """A ``Task.output`` naming what the consult produced."""
    return {"type": concept(CONSULT_TASK_SYSTEM, name), "valueReference": {"reference": reference}}


def is_consult_task(task: dict[str, Any]) -> bool:
    codings = (task.get("code") or {}).get("coding") or []
    return any(c.get("system") == CONSULT_TASK_SYSTEM and c.get("code") == CONSULT_TASK_CODE for c in codings)


@dataclass(frozen=True, slots=True)
class Consult:
    """A consult Task and its ServiceRequest, as read in one transaction."""

    task: dict[str, Any]
    task_version: int
    request: dict[str, Any]
    request_version: int

    @property
    def id(self) -> str:
        return str(self.task["id"])

    @property
    def request_id(self) -> str:
        return str(self.request["id"])

    @property
    def status(self) -> str:
        return str(self.task.get("status", ""))

    @property
    def patient(self) -> str:
        pid = ref_id(self.request.get("subject"), "Patient")
        assert pid is not None
        return pid

    @property
    def requesting_facility(self) -> str | None:
        for ext in self.task.get("extension") or []:
            if ext.get("url") == REQUESTING_FACILITY_URL:
                return ref_id(ext.get("valueReference"), "Organization")
        return None

    @property
    def consulted_facility(self) -> str | None:
        for performer in self.request.get("performer") or []:
            org = ref_id(performer, "Organization")
            if org:
                return org
        return None

    @property
    def requester(self) -> str | None:
        """The requesting practitioner's id."""
        return ref_id(self.task.get("requester"), "Practitioner")

    @property
    def named_specialist(self) -> str | None:
        """The practitioner the request names, if it names one (only they may accept)."""
        for performer in self.request.get("performer") or []:
            pid = ref_id(performer, "Practitioner")
            if pid:
                return pid
        return None

    @property
    def owner(self) -> str | None:
        """The accepting specialist's practitioner id (None before acceptance)."""
        return ref_id(self.task.get("owner"), "Practitioner")

    def output(self, name: str) -> list[str]:
        """The references of ``Task.output`` of type ``name``."""
        out = []
        for item in self.task.get("output") or []:
            codings = (item.get("type") or {}).get("coding") or []
            if any(c.get("system") == CONSULT_TASK_SYSTEM and c.get("code") == name for c in codings):
                ref = (item.get("valueReference") or {}).get("reference")
                if isinstance(ref, str):
                    out.append(ref)
        return out
