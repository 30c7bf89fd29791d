"""Video rooms of teleconsultations and remote visits: the platform as the WebRTC signalling server.

Spec: WebRTC https://www.w3.org/TR/webrtc/ (the peers' media and data channels), the WebSocket protocol
RFC 6455 (signalling), R4 Appointment https://hl7.org/fhir/R4/appointment.html (the room). docs/telehealth-video.md.

- :mod:`.config`: the ``SENHEALTH_TELEHEALTH_VIDEO_*`` settings;
- :mod:`.admission`: who may enter the room of an Appointment, and when;
- :mod:`.tokens`: short-lived room tokens bound to the room and the participant;
- :mod:`.ice`: STUN / TURN servers, with coturn's time-limited REST credentials;
- :mod:`.hub`: the in-memory rooms and the relay of the signalling messages;
- :mod:`.chat`: the room's chat kept as Communication resources.

:func:`room_ticket` is the answer of ``POST /api/telehealth/rooms/{appointment_id}/token``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from senhealth.telehealth.rooms.admission import Admission, RoomRefused, admit, record
from senhealth.telehealth.rooms.config import VideoConfig, configure, get_config
from senhealth.telehealth.rooms.hub import (
    CLOSE_REPLACED,
    CLOSE_ROOM_FULL,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    RoomHub,
)
from senhealth.telehealth.rooms.ice import ice_servers
from senhealth.telehealth.rooms.tokens import RoomClaims, RoomTokenError, RoomTokens

__all__ = [
    "CLOSE_REPLACED",
    "CLOSE_ROOM_FULL",
    "CLOSE_TOO_SLOW",
    "CLOSE_UNAUTHORIZED",
    "Admission",
    "RoomClaims",
    "RoomHub",
    "RoomRefused",
    "RoomTokenError",
    "RoomTokens",
    "VideoConfig",
    "admit",
    "configure",
    "get_config",
    "record",
    "room_ticket",
]


def room_ticket(
    tokens: RoomTokens,
    config: VideoConfig,
    admission: Admission,
    *,
    ws_url: str,
    account: str,
    kind: str,
    facility: str | None,
) -> dict[str, Any]:
    """``{"token", "ws_url", "ice_servers", ...}`` for an admitted participant: ``ws_url`` is the room's
    WebSocket URL (without query), to which the token is added as ``?token=``."""
    token, claims = tokens.mint(
        room=admission.room,
        participant=admission.participant,
        name=admission.name,
        account=account,
        kind=kind,
        facility=facility,
        ttl_s=config.token_ttl_s,
    )
    return {
        "token": token,
        "ws_url": f"{ws_url}?token={quote(token, safe='')}",
        "ice_servers": ice_servers(config, room=admission.room, participant=admission.participant),
        "expires_in": config.token_ttl_s,
        "expires_at": claims.expires,
        "room": admission.room,
        "participant": admission.participant,
        "name": admission.name,
        "opens": admission.opens.isoformat(),
        "closes": admission.closes.isoformat(),
    }
