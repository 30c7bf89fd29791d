"""The room's chat kept in the record: one Communication per message, about the Appointment.

Spec: R4 Communication https://hl7.org/fhir/R4/communication.html (``status`` completed, ``subject`` the
patient, ``about`` the Appointment, ``sent``, ``sender``, ``recipient``, ``payload.contentString``,
``medium`` from v3 ParticipationMode https://terminology.hl7.org/CodeSystem-v3-ParticipationMode.html:
``ONLINEWRIT``, online written).

:func:`chat_keeper` gives the :class:`~senhealth.telehealth.rooms.hub.RoomHub` its ``on_chat``: the
Communication is written in one transaction with its audit event (action ``create``, the participant's
account as the principal), so a kept message always has its audit row. A room that is no Appointment (none is, through the token
route) keeps nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final, Literal

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.telehealth.rooms.admission import patients_of
from senhealth.telehealth.rooms.hub import ChatMessage, ChatSink
from senhealth.telehealth.rooms.tokens import RoomClaims

__all__ = ["CATEGORY_SYSTEM", "chat_keeper", "communication_of", "principal_of"]

log = logging.getLogger(__name__)

CATEGORY_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/communication-category"
_MODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"


def principal_of(claims: RoomClaims) -> Principal:
    """The principal the audit names for what a participant does in the room."""
    kind: Literal["user", "patient"] = "patient" if claims.kind == "patient" else "user"
    ref_type, _, ref_id = claims.participant.partition("/")
    return Principal(
        kind=kind,
        subject=claims.account or claims.participant,
        facility=claims.facility,
        patient=ref_id if ref_type == "Patient" else None,
        practitioner=ref_id if ref_type == "Practitioner" else None,
    )


def communication_of(message: ChatMessage, patient: str | None) -> dict[str, Any]:
    """The Communication of one chat message."""
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": "telehealth-room-chat", "display": "Video room chat"}
                ]
            }
        ],
        "medium": [{"coding": [{"system": _MODE, "code": "ONLINEWRIT", "display": "online written"}]}],
        "about": [{"reference": f"Appointment/{message.room}"}],
        "sent": message.sent.isoformat(),
        "sender": {"reference": message.sender, "display": message.name},
        "recipient": [{"reference": r} for r in message.to],
        "payload": [{"contentString": message.text}],
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(message.id)}"}],
    }
    if patient:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    if not message.to:
        del resource["recipient"]
    return resource


def _uuid(hex_id: str) -> str:
    h = hex_id.ljust(32, "0")[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def chat_keeper(store: FhirStore) -> ChatSink:
    """The hub's ``on_chat``: each message stored as a Communication, audited (see the module docstring)."""

    async def keep(claims: RoomClaims, message: ChatMessage) -> None:
        try:
            appointment = (await store.read("Appointment", message.room)).content or {}
        except (NotFound, Gone):
            log.warning("room %s: no such Appointment, the chat message is not kept", message.room)
            return
        patients = patients_of(appointment)
        resource = communication_of(message, patients[0] if patients else None)
        async with store.transaction() as tx:
            stored = await tx.create(resource)
            event = AccessEvent(
                when=dt.datetime.now(dt.UTC),
                principal=principal_of(claims),
                action="create",
                res_type="Communication",
                res_id=stored.res_id,
                query="room-chat",
                patients=list(patients),
                details={"appointment": f"Appointment/{message.room}"},
            )
            await audit_sink().record(tx.conn, event)

    return keep
