"""HTTP and WebSocket routes of the video rooms: room tokens and the signalling server.

Spec: WebSocket RFC 6455 (close codes 4000-4999 are the application's, §7.4.2); RFC 6750 bearer tokens for
the token route; the rooms themselves: :mod:`senhealth.telehealth.rooms`, docs/telehealth-video.md.

- ``POST /api/telehealth/rooms/{appointment_id}/token``: for a signed-in participant of the Appointment
  (the bearer token of the platform's other API routes, :mod:`senhealth.api.authn`), while the room is
  open, ``{"token", "ws_url", "ice_servers", "expires_in", "expires_at", "room", "participant", "name", "opens",
  "closes"}``; refused with an OperationOutcome: 401 without a token, 404 unknown Appointment, 403 not a
  participant, 409 not booked / outside the room's window. Every answer but 401 is audited.
- ``WS /api/telehealth/rooms/{appointment_id}/ws?token=<room token>``: the signalling channel. Browsers
  cannot send an ``Authorization`` header on a WebSocket, so the room token in the URL is the
  authentication (short-lived, bound to this room and one participant); a connection without a valid
  token for this room is accepted and closed at once with 4401. Messages: :mod:`senhealth.telehealth.rooms.hub`.

The room tokens are signed with the platform's signing key (the OAuth server's, ``app.state.auth``).
"""

from __future__ import annotations

import logging
import re
from typing import Final

from fastapi import APIRouter, FastAPI, Request, WebSocket
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocketState

from senhealth.core.db import transaction
from senhealth.fhir.access import current_principal
from senhealth.fhir.store import FhirStore
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService
from senhealth.telehealth.rooms import (
    CLOSE_UNAUTHORIZED,
    RoomHub,
    RoomRefused,
    RoomTokenError,
    RoomTokens,
    VideoConfig,
    admit,
    get_config,
    record,
    room_ticket,
)
from senhealth.telehealth.rooms.chat import chat_keeper

__all__ = ["TOKEN_PATH", "WS_PATH", "room_hub", "telehealth_rooms_router"]

log = logging.getLogger(__name__)

TOKEN_PATH: Final = "/api/telehealth/rooms/{appointment_id}/token"
WS_PATH: Final = "/api/telehealth/rooms/{appointment_id}/ws"
_FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _room_tokens(app: FastAPI) -> RoomTokens:
    tokens: RoomTokens | None = getattr(app.state, "telehealth_room_tokens", None)
    if tokens is None:
        auth = getattr(app.state, "auth", None)
        service: TokenService = (
            auth.tokens
            if auth is not None
            else TokenService.from_config(OAuthConfig.from_settings(app.state.settings))
        )
        tokens = app.state.telehealth_room_tokens = RoomTokens(service.key, service.config.issuer)
    return tokens


def room_hub(app: FastAPI, config: VideoConfig | None = None) -> RoomHub:
    """The application's rooms (made at first use)."""
    hub: RoomHub | None = getattr(app.state, "telehealth_room_hub", None)
    if hub is None:
        cfg = config or get_config()
        store: FhirStore = app.state.fhir_store
        hub = app.state.telehealth_room_hub = RoomHub(
            cfg, on_chat=chat_keeper(store) if cfg.keep_chat else None
        )
    return hub


def _ws_url(request: Request, config: VideoConfig, appointment_id: str) -> str:
    path = WS_PATH.format(appointment_id=appointment_id)
    if config.public_ws_url:
        return config.public_ws_url.rstrip("/") + path
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}{path}"


def telehealth_rooms_router(config: VideoConfig | None = None) -> APIRouter:
    """The room-token route and the signalling WebSocket (see the module docstring)."""
    router = APIRouter(tags=["telehealth"])

    @router.post(TOKEN_PATH, summary="A room token for the video room of an Appointment")
    async def room_token(appointment_id: str, request: Request) -> Response:
        cfg = config or get_config()
        principal = current_principal().get()
        if not _FHIR_ID.match(appointment_id):
            raise RoomRefused(404, "Not an Appointment id")
        try:
            admission = await admit(request.app.state.fhir_store, principal, appointment_id, config=cfg)
        except RoomRefused as refused:
            if principal is not None:
                async with transaction() as conn:
                    await record(
                        conn,
                        principal,
                        appointment_id,
                        what="room-token",
                        patients=refused.patients,
                        status=refused.status,
                        details={"reason": refused.message},
                    )
            raise
        assert principal is not None  # admit refuses the anonymous
        ticket = room_ticket(
            _room_tokens(request.app),
            cfg,
            admission,
            ws_url=_ws_url(request, cfg, appointment_id),
            account=principal.subject,
            kind=principal.kind,
            facility=principal.facility,
        )
        async with transaction() as conn:
            await record(
                conn,
                principal,
                appointment_id,
                what="room-token",
                patients=admission.patients,
                details={"participant": admission.participant},
            )
        return JSONResponse(ticket, headers={"Cache-Control": "no-store"})

    @router.websocket(WS_PATH)
    async def room_socket(websocket: WebSocket, appointment_id: str) -> None:
        await websocket.accept()
        try:
            claims = _room_tokens(websocket.app).verify(
                websocket.query_params.get("token", ""), room=appointment_id
            )
        except RoomTokenError as exc:
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason=str(exc)[:120])
            return

        async def close(code: int, reason: str) -> None:
            await websocket.close(code=code, reason=reason[:120])

        hub = room_hub(websocket.app, config)
        async with hub.connect(claims, websocket.send_text, close) as session:
            while not session.closing:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                await session.receive(text)
        if websocket.application_state == WebSocketState.CONNECTED:
            try:
                await websocket.close(code=1000)
            except RuntimeError:  # the client went away meanwhile
                log.debug("room %s: closing an already closed socket", appointment_id)

    return router
