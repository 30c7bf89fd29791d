"""The consult inbox of a facility: the consults it sent and the consults it received, with their deadlines.

Spec: the "Task + request" pattern of https://hl7.org/fhir/R4/workflow-communications.html#optionh (the
consult Task and its ServiceRequest, :mod:`.model`); R4 Task ``restriction.period.end`` as the answer
deadline (docs/telehealth-consults.md).

Why a list of its own rather than a FHIR search as the user: before acceptance the consulted facility may
not read the patient's Task under the access policy (that is the point of the consult's access rules), yet
its clinicians must see that a request waits for them. So, as ``$consult-case`` does for one consult, the
inbox decides from the consults themselves: a clinician of a facility (:func:`.access.caller_of`) sees the
consults whose requesting facility (the ``consult-requesting-facility`` extension) or consulted facility
(``ServiceRequest.performer``) is theirs, and nothing else. One listing is one audit event (``search`` on
Task, ``query`` ``consult-inbox``, the patients listed).

The consults are read newest first, at most ``limit`` (500) of them: the Task's requesting facility has no
search parameter, so the list is filtered here (a facility-scoped search parameter is the next step when a
province's consults grow past that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from senhealth.fhir.access import AccessEvent, audit_sink
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.telehealth.consults.access import Caller
from senhealth.telehealth.consults.model import (
    CONSULT_TASK_CODE,
    CONSULT_TASK_SYSTEM,
    OPEN_STATUSES,
    REQUESTING_FACILITY_URL,
    Consult,
    now_utc,
    ref_id,
)

__all__ = ["Inbox", "InboxItem", "consult_inbox"]

#: Most urgent first when statuses are equal.
_PRIORITY_RANK: Final = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
#: Statuses listed first: what waits for someone.
_STATUS_RANK: Final = {"requested": 0, "accepted": 1, "in-progress": 2, "completed": 3, "rejected": 4}


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One consult as the inbox shows it."""

    task_id: str
    direction: Literal["sent", "received"]
    status: str
    priority: str
    question: str
    patient: str
    patient_name: str
    requester: str
    requesting_facility: str
    consulted_facility: str
    specialist: str
    authored: datetime | None
    deadline: datetime | None
    overdue: bool
    appointment: str | None
    concluded: bool


@dataclass
class Inbox:
    """The consults of one facility, sent and received, each list by status then deadline."""

    facility: str
    sent: list[InboxItem] = field(default_factory=list)
    received: list[InboxItem] = field(default_factory=list)

    def counts(self, direction: Literal["sent", "received"]) -> dict[str, int]:
        """How many consults of each status (and ``overdue``) in one direction."""
        out: dict[str, int] = {}
        for item in self.sent if direction == "sent" else self.received:
            out[item.status] = out.get(item.status, 0) + 1
            if item.overdue:
                out["overdue"] = out.get("overdue", 0) + 1
        return out


def _display(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("display") or value.get("reference") or "")
    return ""


def _item(consult: Consult, direction: Literal["sent", "received"], now: datetime) -> InboxItem:
    task, request = consult.task, consult.request
    deadline = _when(((task.get("restriction") or {}).get("period") or {}).get("end"))
    performers = request.get("performer") or []
    org: dict[str, Any] = next((p for p in performers if ref_id(p, "Organization")), {})
    owner = task.get("owner") or {}
    specialist = _display(owner) if ref_id(owner, "Practitioner") else ""
    if not specialist:
        specialist = next((_display(p) for p in performers if ref_id(p, "Practitioner")), "")
    facility: dict[str, Any] = next(
        (
            e.get("valueReference")
            for e in task.get("extension") or []
            if e.get("url") == REQUESTING_FACILITY_URL
        ),
        {},
    )
    appointments = consult.output("appointment")
    return InboxItem(
        task_id=consult.id,
        direction=direction,
        status=consult.status,
        priority=str(task.get("priority") or request.get("priority") or "routine"),
        question=str(task.get("description") or (request.get("code") or {}).get("text") or ""),
        patient=consult.patient,
        patient_name=_display(request.get("subject")) or consult.patient,
        requester=_display(task.get("requester")),
        requesting_facility=_display(facility),
        consulted_facility=_display(org),
        specialist=specialist,
        authored=_when(task.get("authoredOn")),
        deadline=deadline,
        overdue=consult.status in OPEN_STATUSES and deadline is not None and deadline < now,
        appointment=appointments[-1].removeprefix("Appointment/") if appointments else None,
        concluded=bool(consult.output("conclusion")),
    )


def _order(item: InboxItem) -> tuple[int, int, float, int]:
    deadline = item.deadline.timestamp() if item.deadline else float("inf")
    return (
        0 if item.overdue else 1,
        _STATUS_RANK.get(item.status, 9),
        deadline,
        _PRIORITY_RANK.get(item.priority, 9),
    )


async def consult_inbox(
    store: FhirStore, caller: Caller, *, now: datetime | None = None, limit: int = 500
) -> Inbox:
    """The consults of ``caller``'s facility (see the module docstring); audited."""
    when = now_utc(now)
    inbox = Inbox(facility=caller.facility)
    async with store.transaction() as tx:
        found = await search(
            tx.conn,
            parse_search(
                "Task",
                [
                    ("code", f"{CONSULT_TASK_SYSTEM}|{CONSULT_TASK_CODE}"),
                    ("_sort", "-_lastUpdated"),
                    ("_count", str(limit)),
                    ("_include", "Task:focus"),
                ],
            ),
            await store.param_ids(),
        )
        requests = {
            str(row.content["id"]): row
            for row in found.included
            if row.content is not None and row.content.get("resourceType") == "ServiceRequest"
        }
        patients: list[str] = []
        for row in found.matches:
            task = row.content
            if task is None:
                continue
            sr_id = ref_id(task.get("focus"), "ServiceRequest")
            sr = requests.get(sr_id or "")
            if sr is None or sr.content is None:
                continue
            consult = Consult(task, int(row.version), sr.content, int(sr.version))
            if consult.requesting_facility == caller.facility:
                inbox.sent.append(_item(consult, "sent", when))
            elif consult.consulted_facility == caller.facility:
                inbox.received.append(_item(consult, "received", when))
            else:
                continue
            if consult.patient not in patients:
                patients.append(consult.patient)
        inbox.sent.sort(key=_order)
        inbox.received.sort(key=_order)
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=when,
                principal=caller.principal,
                action="search",
                res_type="Task",
                res_id=None,
                query="consult-inbox",
                patients=tuple(patients),
                details={
                    "facility": f"Organization/{caller.facility}",
                    "sent": len(inbox.sent),
                    "received": len(inbox.received),
                },
            ),
        )
    return inbox
