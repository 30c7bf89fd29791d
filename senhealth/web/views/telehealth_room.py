"""The video room page of an Appointment, for the health worker (``/app``) and the citizen (``/portal``).

Spec: WebRTC https://www.w3.org/TR/webrtc/ (``getUserMedia``, ``RTCPeerConnection``,
``RTCRtpSender.setParameters`` for the adaptive bitrate); Permissions Policy
https://www.w3.org/TR/permissions-policy/ (camera and microphone allowed on this page only); the room
itself: :mod:`senhealth.telehealth.rooms`, docs/telehealth-video.md.

- ``GET /app/telehealth/rooms/{appointment_id}`` (staff) and ``GET /portal/telehealth/rooms/{appointment_id}``
  (the citizen): the page. Everything live is ``static/telehealth-room.js``: the camera and microphone
  (audio first: a small video at a low bitrate, audio only on a 2G connection or without a camera), the
  mesh of peer connections, the adaptation of the video bitrate to the link, the chat, and the
  reconnection with a fresh room token after a drop.
- ``POST .../{appointment_id}/token`` (CSRF token in ``X-CSRF-Token``): the room token, asked of the
  platform's ``POST /api/telehealth/rooms/{appointment_id}/token`` in-process with the session's access
  token, so the API's rules (participant, status, window) and audit apply unchanged; its JSON is passed
  on (errors as ``{"status", "error"}``).

The page's texts are its own table (:data:`TEXT`, Vietnamese first, ``?lang=en`` English). Pages send
``Permissions-Policy: camera=(), microphone=()``; this one allows both to itself.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from senhealth.telehealth.rooms import get_config
from senhealth.web.context import (
    PageError,
    checked_form,
    client_ip,
    fhir,
    lang_of,
    render,
    require_patient,
    require_staff,
    session_token,
    state,
)
from senhealth.web.fhir_client import FhirError
from senhealth.web.security_headers import CSP
from senhealth.web.sessions import Session
from senhealth.web.views.telehealth_common import room_texts
from senhealth.web.views.telehealth_recording import MAX_FILE_BYTES

__all__ = ["ROUTES", "TEXT"]

log = logging.getLogger(__name__)

_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
PERMISSIONS: Final = (
    "camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), display-capture=()"
)

TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "page": "Phòng khám trực tuyến",
        "appointment": "Lịch hẹn",
        "you": "Bạn",
        "mic": "Micrô",
        "camera": "Camera",
        "audio_only": "Chỉ âm thanh",
        "leave": "Rời phòng",
        "chat": "Trò chuyện",
        "send": "Gửi",
        "message": "Tin nhắn",
        "participants": "Người trong phòng",
        "connecting": "Đang kết nối…",
        "in-room": "Đã vào phòng.",
        "waiting": "Đang chờ người khác vào phòng.",
        "reconnecting": "Mất kết nối, đang kết nối lại…",
        "refused": "Không vào được phòng:",
        "full": "Phòng đã đủ người.",
        "replaced": "Bạn đã vào phòng này từ một cửa sổ khác.",
        "left": "Bạn đã rời phòng.",
        "joined": "{name} đã vào phòng.",
        "gone": "{name} đã rời phòng.",
        "weak": "Đường truyền yếu: giảm chất lượng hình để giữ tiếng.",
        "no_media": "Không dùng được camera hoặc micrô: bạn vẫn nghe và xem được.",
        "not_kept": "Tin nhắn đã gửi nhưng chưa lưu được vào hồ sơ.",
        "play": "Bấm để bật tiếng",
        "reason.401": "phiên đăng nhập đã hết hạn.",
        "reason.403": "bạn không tham gia lịch hẹn này.",
        "reason.404": "không có lịch hẹn này.",
        "reason.409": "lịch hẹn chưa đến giờ, đã qua hoặc đã hủy.",
    },
    "en": {
        "page": "Video consultation",
        "appointment": "Appointment",
        "you": "You",
        "mic": "Microphone",
        "camera": "Camera",
        "audio_only": "Audio only",
        "leave": "Leave the room",
        "chat": "Chat",
        "send": "Send",
        "message": "Message",
        "participants": "In the room",
        "connecting": "Connecting…",
        "in-room": "You are in the room.",
        "waiting": "Waiting for the others to join.",
        "reconnecting": "Connection lost, reconnecting…",
        "refused": "You cannot enter the room:",
        "full": "The room is full.",
        "replaced": "You joined this room from another window.",
        "left": "You left the room.",
        "joined": "{name} joined.",
        "gone": "{name} left.",
        "weak": "Weak connection: lower picture quality to keep the sound.",
        "no_media": "The camera or microphone cannot be used: you can still hear and see the others.",
        "not_kept": "The message was sent but could not be kept in the record.",
        "play": "Click to turn the sound on",
        "reason.401": "your session has expired.",
        "reason.403": "you are not a participant of this appointment.",
        "reason.404": "there is no such appointment.",
        "reason.409": "the appointment is not open now (too early, over or cancelled).",
    },
}


def _appointment_id(request: Request) -> str:
    value = str(request.path_params["appointment_id"])
    if not _ID.match(value):
        raise PageError(404, "This page does not exist.")
    return value


async def _session(request: Request) -> Session:
    if request.url.path.startswith("/portal/"):
        return await require_patient(request)
    return await require_staff(request)


def _csp() -> str | None:
    """The page's CSP when the WebSocket is on another origin (``public_ws_url``); None: the default."""
    public = get_config().public_ws_url
    if not public:
        return None
    parts = urlsplit(public)
    return CSP.replace("connect-src 'self'", f"connect-src 'self' {parts.scheme}://{parts.netloc}")


async def room_page(request: Request) -> Response:
    found = await _session(request)
    appointment_id = _appointment_id(request)
    lang = lang_of(request)
    text = {**TEXT["vi" if lang == "vi" else "en"], **room_texts(lang)}
    appointment: dict[str, Any] = {}
    try:
        async with fhir(request, found) as client:
            appointment = await client.read("Appointment", appointment_id)
    except FhirError as e:  # not readable under the access policy: the token route decides entry
        log.debug("room page: Appointment/%s not readable (%s)", appointment_id, e.status)
    prefix = "/portal" if request.url.path.startswith("/portal/") else "/app"
    context = {
        "text": text,
        "appointment_id": appointment_id,
        "appointment": appointment,
        "token_url": f"{prefix}/telehealth/rooms/{quote(appointment_id)}/token",
        # files shared in the chat and recording with consent: senhealth.web.views.telehealth_recording
        "files_url": f"{prefix}/telehealth/rooms/{quote(appointment_id)}/files",
        "recording_url": f"{prefix}/telehealth/rooms/{quote(appointment_id)}/recording",
        "max_file": MAX_FILE_BYTES,
        "css": "/static/web/telehealth-room.css",
    }
    headers = {"Permissions-Policy": PERMISSIONS}
    csp = _csp()
    if csp:
        headers["Content-Security-Policy"] = csp
    return render(request, "telehealth/room.html", context, headers=headers)


async def room_token(request: Request) -> Response:
    found = await _session(request)
    appointment_id = _appointment_id(request)
    await checked_form(request)
    token = await session_token(request, found)
    transport = httpx.ASGITransport(app=state(request).platform, client=(client_ip(request), 0))
    base = (
        f"{request.url.scheme}://{request.url.netloc}"  # the browser's host: the WebSocket URL is built on it
    )
    async with httpx.AsyncClient(transport=transport, base_url=base, timeout=30) as client:
        r = await client.post(
            f"/api/telehealth/rooms/{quote(appointment_id)}/token",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200:
        issues = body.get("issue") if isinstance(body, dict) else None
        message = str((issues or [{}])[0].get("diagnostics") or r.reason_phrase)
        return JSONResponse({"status": r.status_code, "error": message}, status_code=r.status_code)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/app/telehealth/rooms/{appointment_id:str}", room_page, methods=["GET"]),
    Route("/app/telehealth/rooms/{appointment_id:str}/token", room_token, methods=["POST"]),
    Route("/portal/telehealth/rooms/{appointment_id:str}", room_page, methods=["GET"]),
    Route("/portal/telehealth/rooms/{appointment_id:str}/token", room_token, methods=["POST"]),
]
