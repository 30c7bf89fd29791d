"""Who may enter a video room: a participant of its Appointment, while the Appointment is on.

Spec: R4 Appointment https://hl7.org/fhir/R4/appointment.html (``status``, ``start``, ``end``,
``participant.actor``, ``participant.status``) and PractitionerRole
https://hl7.org/fhir/R4/practitionerrole.html (``practitioner``).

The room of an Appointment is its id. :func:`admit` decides for the caller (a
:class:`~senhealth.fhir.access.Principal`):

- the caller must be one of the Appointment's ``participant.actor`` (a ``declined`` participant is not):
  a citizen (``kind`` ``patient``) as ``Patient/<their patient id>``; a health worker as
  ``Practitioner/<their practitioner id>``, or as a ``PractitionerRole`` whose ``practitioner`` is them;
  anything else, a backend service included, is refused (403);
- the Appointment must be ``booked``, ``arrived`` or ``checked-in`` (409 otherwise), and now must fall
  in its window: from ``open_before_min`` before ``start`` to ``close_after_min`` after ``end`` (``start``
  plus ``default_duration_min`` when it has no ``end``), 409 outside;
- an unknown or deleted Appointment: 404.

Being a participant is the permission itself (a stronger rule than the access policy's facility
restriction, and one the access policy cannot express), so the Appointment is read from the store
directly; :func:`record` leaves the audit event of every decision, granted or refused, in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.core.request_context import client_address
from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.telehealth.rooms.config import VideoConfig

__all__ = [
    "OPEN_STATUSES",
    "Admission",
    "RoomRefused",
    "admit",
    "normalise_reference",
    "patients_of",
    "record",
]

#: Appointment statuses whose room may be entered.
OPEN_STATUSES: Final = frozenset({"booked", "arrived", "checked-in"})
_PARTICIPANT_TYPES: Final = frozenset({"Patient", "Practitioner", "PractitionerRole"})


class RoomRefused(SenHealthError):
    """The caller may not enter the room (now); ``status`` is the HTTP status."""

    code = "forbidden"

    def __init__(self, status: int, message: str, *, patients: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.patients = patients
        self.code = {401: "login", 404: "not-found", 409: "conflict"}.get(status, "forbidden")


@dataclass(frozen=True, slots=True)
class Admission:
    """A caller admitted to a room: who they are in it, and the Appointment's patients (for the audit)."""

    room: str
    participant: str
    name: str
    patients: tuple[str, ...]
    opens: dt.datetime
    closes: dt.datetime


def normalise_reference(reference: str | None) -> str | None:
    """``Type/id`` of a literal reference (relative, absolute or versioned), None when it is not one."""
    if not reference or reference.startswith("#"):
        return None
    parts = reference.split("?", 1)[0].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or not parts[-1] or not parts[-2][:1].isupper():
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _bare(value: str | None, kind: str) -> str | None:
    if not value:
        return None
    return normalise_reference(value) if "/" in value else f"{kind}/{value}"


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _name_of(resource: dict[str, Any]) -> str | None:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        given = " ".join(str(g) for g in name.get("given") or [])
        text = " ".join(p for p in (str(name.get("family") or ""), given) if p)
        if text:
            return text
    return None


async def _read(store: FhirStore, reference: str) -> dict[str, Any] | None:
    kind, _, res_id = reference.partition("/")
    try:
        return (await store.read(kind, res_id)).content
    except (NotFound, Gone):
        return None


def patients_of(appointment: dict[str, Any]) -> tuple[str, ...]:
    """The Patient ids among an Appointment's participants."""
    out: list[str] = []
    for participant in appointment.get("participant") or []:
        ref = normalise_reference(((participant or {}).get("actor") or {}).get("reference"))
        if ref and ref.startswith("Patient/") and ref[8:] not in out:
            out.append(ref[8:])
    return tuple(out)


async def _match(
    store: FhirStore, principal: Principal, participants: Iterable[dict[str, Any]]
) -> tuple[str, str | None] | None:
    """The reference (and display) under which ``principal`` takes part, or None."""
    patient = _bare(principal.patient, "Patient") if principal.kind == "patient" else None
    practitioner = _bare(principal.practitioner, "Practitioner") if principal.kind == "user" else None
    if patient is None and practitioner is None:
        return None
    roles: list[tuple[str, str | None]] = []
    for participant in participants:
        if not isinstance(participant, dict) or participant.get("status") == "declined":
            continue
        actor = participant.get("actor") or {}
        ref = normalise_reference(actor.get("reference"))
        if ref is None or ref.split("/", 1)[0] not in _PARTICIPANT_TYPES:
            continue
        display = actor.get("display")
        if ref in (patient, practitioner):
            return ref, display
        if practitioner is not None and ref.startswith("PractitionerRole/"):
            roles.append((ref, display))
    for ref, display in roles:  # read only when the direct references did not match
        role = await _read(store, ref)
        who = normalise_reference(((role or {}).get("practitioner") or {}).get("reference"))
        if role is not None and role.get("active", True) and who == practitioner:
            return ref, display or ((role.get("practitioner") or {}).get("display"))
    return None


async def admit(
    store: FhirStore,
    principal: Principal | None,
    appointment_id: str,
    *,
    config: VideoConfig,
    now: dt.datetime | None = None,
) -> Admission:
    """Admit ``principal`` to the room of Appointment ``appointment_id`` (see the module docstring);
    raises :class:`RoomRefused`."""
    if principal is None:
        raise RoomRefused(401, "Sign in first: a room token needs an access token (Authorization: Bearer)")
    appointment = await _read(store, f"Appointment/{appointment_id}")
    if appointment is None:
        raise RoomRefused(404, f"Appointment/{appointment_id[:64]} is not known")
    patients = patients_of(appointment)
    found = await _match(store, principal, appointment.get("participant") or [])
    if found is None:
        raise RoomRefused(
            403, "Only the participants of this appointment may enter its video room", patients=patients
        )
    reference, display = found
    status = appointment.get("status")
    if status not in OPEN_STATUSES:
        raise RoomRefused(409, f"The appointment is {status}: its video room is closed", patients=patients)
    start = _when(appointment.get("start"))
    if start is None:
        raise RoomRefused(
            409, "The appointment has no start time: its video room cannot open", patients=patients
        )
    end = _when(appointment.get("end")) or start + dt.timedelta(minutes=config.default_duration_min)
    opens = start - dt.timedelta(minutes=config.open_before_min)
    closes = max(end, start) + dt.timedelta(minutes=config.close_after_min)
    current = now or dt.datetime.now(dt.UTC)
    if current < opens:
        raise RoomRefused(409, f"The video room opens at {opens.isoformat()}", patients=patients)
    if current > closes:
        raise RoomRefused(409, f"The video room closed at {closes.isoformat()}", patients=patients)
    name = display
    if not name:
        target = reference
        if reference.startswith("PractitionerRole/") and principal.practitioner:
            target = _bare(principal.practitioner, "Practitioner") or reference
        name = _name_of(await _read(store, target) or {}) or reference
    return Admission(
        room=appointment_id,
        participant=reference,
        name=str(name),
        patients=patients,
        opens=opens,
        closes=closes,
    )


async def record(
    conn: AsyncConnection[TupleRow],
    principal: Principal | None,
    appointment_id: str,
    *,
    what: str,
    patients: Iterable[str] = (),
    status: int = 200,
    details: dict[str, Any] | None = None,
) -> None:
    """Leave the audit event of a room decision or act (``what``: ``room-token``, ``room-chat``...)."""
    event = AccessEvent(
        when=dt.datetime.now(dt.UTC),
        principal=principal,
        action="operation",
        res_type="Appointment",
        res_id=appointment_id[:64],
        query=what,
        patients=sorted(set(patients)),
        outcome="success" if status < 400 else "denied",
        status=status,
        source_ip=client_address.get(),
        details=details or {},
    )
    await audit_sink().record(conn, event)
