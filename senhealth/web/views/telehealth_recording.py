"""In the video room: files shared in the chat, and recording only with every participant's recorded consent.

Spec: R4 Communication https://hl7.org/fhir/R4/communication.html (a shared file: ``payload.contentAttachment``),
R4 Consent https://hl7.org/fhir/R4/consent.html (``scope`` patient-privacy, ``provision.action``
consentaction ``collect``, ``provision.data`` the Appointment), R4 Media https://hl7.org/fhir/R4/media.html
(the recording: ``partOf`` the Appointment); MediaRecorder https://www.w3.org/TR/mediastream-recording/
(the browser records). docs/web-telehealth.md.

Being a participant of the Appointment while its room is open is the permission for everything here, as
for the room token itself (:func:`senhealth.telehealth.rooms.admit`: the Appointment's participants only,
within its window): a citizen may not write a Communication or a Media through the FHIR API, yet what they
share in their own call must be kept. So, as the room's chat is kept (:mod:`senhealth.telehealth.rooms.chat`),
each write goes to the store in one transaction with its audit event (``operation`` on the Appointment,
``query`` ``room-file``, ``room-file-read``, ``room-recording-request``, ``room-recording-consent``,
``room-recording-upload``; refusals audited with ``outcome`` denied).

Files (``POST {prefix}/telehealth/rooms/{id}/files``, multipart ``file``): at most :data:`MAX_FILE_BYTES`
(5 MiB); kept as a Communication (category ``communication-category|telehealth-room-file``, ``about`` the
Appointment, ``subject`` its patient, ``sender`` the participant, ``recipient`` the others in the room now,
the file inline in ``payload.contentAttachment`` with ``size`` and SHA-1 ``hash``): inline, not a Binary,
because a Binary belongs to no patient's compartment and the access policy would not keep it to the
patient's carers. The page then announces it over the signalling relay as a chat message
``📎 <title> [file:<Communication id>]`` (the relay carries 64 KiB messages, so the bytes travel by HTTP);
the others' pages turn the marker into a link to ``GET .../files/{communication}`` (participants only).

Recording: ``POST .../recording`` (a participant in the room now) starts a consent round: one Consent per
participant present in the room (the hub's list), identified by the round (``identifier``
``https://senhealth.vn/fhir/sid/telehealth-recording``), the asker's ``active`` (asking is consenting) and
the others' ``proposed``; the page announces it in the chat (``[rec-ask:<round>]``), each participant's
page asks them, and ``POST .../recording/{round}/consent`` (``decision`` permit | deny) makes their
Consent ``active`` with ``provision.type`` permit, or ``rejected`` with deny. ``GET .../recording/{round}``
tells who agreed. ``POST .../recording/{round}/upload`` (multipart ``file``, the recording, at most
:data:`MAX_RECORDING_BYTES`) is **refused (403) unless every Consent of the round is active and permits**
(the server decides, whatever the page did), and once per round (409); accepted, it is a Media (``video``
or ``audio``, ``partOf`` the Appointment, ``subject`` the patient, ``operator`` the recorder, the Consents
named in the extension ``…/StructureDefinition/recording-consent``, the recording inline). A participant
who joins during a recording is not in its round: the page stops the recording (and uploads what was
recorded while everyone present had agreed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any, Final

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.fhir.access import Principal
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth.rooms import Admission, RoomRefused, admit, get_config, record
from senhealth.web.context import PageError, checked_form, require_patient, require_staff, state
from senhealth.web.sessions import Session
from senhealth.web.views.telehealth_common import fhir_id, principal_of

__all__ = [
    "CATEGORY_SYSTEM",
    "CONSENT_EXTENSION",
    "MAX_FILE_BYTES",
    "MAX_RECORDING_BYTES",
    "RECORDING_SYSTEM",
    "ROUTES",
    "consent_resource",
]

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_RECORDING_BYTES: Final = 25 * 1024 * 1024
CATEGORY_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/communication-category"
RECORDING_SYSTEM: Final = "https://senhealth.vn/fhir/sid/telehealth-recording"
CONSENT_CATEGORY: Final = "https://senhealth.vn/fhir/CodeSystem/consent-category"
CONSENT_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/recording-consent"
_RECORDING_TYPES: Final = frozenset({"video/webm", "audio/webm", "video/mp4", "audio/ogg", "audio/mp4"})
_INLINE: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _error(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"status": status, "error": text, "code": code}, status_code=status)


async def _session(request: Request) -> Session:
    if request.url.path.startswith("/portal/"):
        return await require_patient(request)
    return await require_staff(request)


async def _audit(
    tx_conn: Any, principal: Principal, room: str, what: str, admission: Admission | None, status: int = 200,
    **details: Any,
) -> None:  # fmt: skip
    await record(
        tx_conn, principal, room, what=what, patients=admission.patients if admission else (), status=status,
        details=details,
    )  # fmt: skip


async def _admitted(request: Request, what: str) -> tuple[Principal, Admission, FhirStore] | JSONResponse:
    """The participant (admitted now) or the refusal as JSON, audited."""
    found = await _session(request)
    room = fhir_id(request.path_params["appointment_id"])
    principal = await principal_of(found)
    store: FhirStore = state(request).fhir_store
    try:
        admission = await admit(store, principal, room, config=get_config())
    except RoomRefused as refused:
        async with transaction() as conn:
            await record(conn, principal, room, what=what, patients=refused.patients, status=refused.status,
                         details={"reason": refused.message})  # fmt: skip
        return _error(refused.status, refused.code, refused.message)
    return principal, admission, store


def _present(request: Request, room: str) -> list[str]:
    """The participants in the room now (the signalling hub of this process)."""
    hub = getattr(state(request).platform.state, "telehealth_room_hub", None)  # type: ignore[attr-defined]
    return list(hub.participants(room)) if hub is not None else []


def _attachment(raw: bytes, content_type: str, title: str) -> dict[str, Any]:
    return {
        "contentType": content_type,
        "data": base64.b64encode(raw).decode("ascii"),
        "size": len(raw),
        "hash": base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii"),  # FHIR: SHA-1
        "title": title,
        "creation": _now().isoformat(),
    }


async def _upload(request: Request, limit: int) -> tuple[bytes, str, str] | JSONResponse:
    form = await checked_form(request)
    item = form.get("file")
    if not isinstance(item, UploadFile) or not item.filename:
        return _error(400, "bad-request", "file is required / cần chọn tệp")
    raw = await item.read(limit + 1)
    if len(raw) > limit:
        return _error(
            413, "too-large", f"Tệp quá lớn: tối đa {limit} byte / the file is larger than {limit} bytes"
        )
    if not raw:
        return _error(400, "bad-request", "the file is empty / tệp rỗng")
    title = "".join(ch for ch in item.filename if ch.isprintable())[:200]
    return raw, (item.content_type or "application/octet-stream").split(";")[0].strip(), title


# --- files -------------------------------------------------------------------------------------------------


async def share_file(request: Request) -> Response:
    admitted = await _admitted(request, "room-file")
    if isinstance(admitted, JSONResponse):
        return admitted
    principal, admission, store = admitted
    upload = await _upload(request, MAX_FILE_BYTES)
    if isinstance(upload, JSONResponse):
        return upload
    raw, content_type, title = upload
    others = [p for p in _present(request, admission.room) if p != admission.participant]
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": "telehealth-room-file", "display": "Video room file"}
                ]
            }
        ],
        "about": [{"reference": f"Appointment/{admission.room}"}],
        "sent": _now().isoformat(),
        "sender": {"reference": admission.participant, "display": admission.name},
        "payload": [{"contentAttachment": _attachment(raw, content_type, title)}],
    }
    if admission.patients:
        resource["subject"] = {"reference": f"Patient/{admission.patients[0]}"}
    if others:
        resource["recipient"] = [{"reference": r} for r in others]
    async with store.transaction() as tx:
        stored = await tx.create(resource)
        await _audit(tx.conn, principal, admission.room, "room-file", admission,
                     communication=f"Communication/{stored.res_id}", size=len(raw))  # fmt: skip
    prefix = "/portal" if request.url.path.startswith("/portal/") else "/app"
    return JSONResponse(
        {"id": stored.res_id, "title": title, "size": len(raw), "contentType": content_type,
         "url": f"{prefix}/telehealth/rooms/{admission.room}/files/{stored.res_id}"},
        status_code=201,
    )  # fmt: skip


async def file_download(request: Request) -> Response:
    admitted = await _admitted(request, "room-file-read")
    if isinstance(admitted, JSONResponse):
        return admitted
    principal, admission, store = admitted
    comm_id = fhir_id(request.path_params["communication_id"])
    try:
        comm = (await store.read("Communication", comm_id)).content or {}
    except (NotFound, Gone):
        raise PageError(404, "This page does not exist.") from None
    about = [str(a.get("reference") or "") for a in comm.get("about") or []]
    files = [p["contentAttachment"] for p in comm.get("payload") or [] if "contentAttachment" in p]
    if f"Appointment/{admission.room}" not in about or not files:
        raise PageError(404, "This page does not exist.")
    async with transaction() as conn:
        await _audit(
            conn,
            principal,
            admission.room,
            "room-file-read",
            admission,
            communication=f"Communication/{comm_id}",
        )
    attachment = files[0]
    content_type = str(attachment.get("contentType") or "")
    safe = (
        "".join(ch for ch in str(attachment.get("title") or "file") if ch.isalnum() or ch in "._- ")[:100]
        or "file"
    )
    return Response(
        base64.b64decode(str(attachment.get("data") or "")),
        media_type=content_type if content_type in _INLINE else "application/octet-stream",
        headers={
            "Content-Disposition": f'{"inline" if content_type in _INLINE else "attachment"}; filename="{safe}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",
        },
    )


# --- recording consent -------------------------------------------------------------------------------------


def consent_resource(
    round_id: str, appointment: str, patient: str | None, participant: str, name: str, *, status: str,
    when: dt.datetime,
) -> dict[str, Any]:  # fmt: skip
    """The Consent of one participant to the recording of round ``round_id`` (see the module docstring)."""
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "identifier": [{"system": RECORDING_SYSTEM, "value": round_id}],
        "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]},
            {"coding": [{"system": CONSENT_CATEGORY, "code": "telehealth-recording"}],
             "text": "Đồng ý ghi hình cuộc gọi khám từ xa / consent to record the video call"},
        ],
        "dateTime": when.isoformat(),
        "performer": [{"reference": participant, "display": name}],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "period": {"start": when.isoformat()},
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "collect"}]}],
            "data": [{"meaning": "related", "reference": {"reference": f"Appointment/{appointment}"}}],
        },
    }  # fmt: skip
    if status == "active":
        resource["provision"]["type"] = "permit"
    elif status == "rejected":
        resource["provision"]["type"] = "deny"
    if patient:
        resource["patient"] = {"reference": f"Patient/{patient}"}
    return resource


async def _round(tx: StoreTx, round_id: str) -> list[tuple[dict[str, Any], int]]:
    found = await search(
        tx.conn,
        parse_search("Consent", [("identifier", f"{RECORDING_SYSTEM}|{round_id}"), ("_count", "20")]),
        await tx.store.param_ids(),
    )
    return [(row.content, row.version) for row in found.matches]


def _performer(consent: dict[str, Any]) -> str:
    return str(((consent.get("performer") or [{}])[0]).get("reference") or "")


def _state(consent: dict[str, Any]) -> str:
    if consent.get("status") == "active" and (consent.get("provision") or {}).get("type") == "permit":
        return "agreed"
    if consent.get("status") == "rejected":
        return "refused"
    return "waiting"


def _summary(round_id: str, room: str, consents: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    people = [
        {"id": _performer(c), "name": str(((c.get("performer") or [{}])[0]).get("display") or ""), "state": _state(c),
         "consent": f"Consent/{c.get('id')}"}
        for c, _ in consents
    ]  # fmt: skip
    return {
        "recording": round_id,
        "room": room,
        "participants": people,
        "all_consented": bool(people) and all(p["state"] == "agreed" for p in people),
        "refused": any(p["state"] == "refused" for p in people),
    }


def _round_id(request: Request) -> str:
    value = str(request.path_params["round_id"])
    try:
        return uuid.UUID(value).hex
    except ValueError:
        raise PageError(404, "This page does not exist.") from None


async def ask_recording(request: Request) -> Response:
    admitted = await _admitted(request, "room-recording-request")
    if isinstance(admitted, JSONResponse):
        return admitted
    principal, admission, store = admitted
    await checked_form(request)
    present = _present(request, admission.room)
    if admission.participant not in present:
        return _error(409, "join-first", "Vào phòng trước khi ghi hình / join the room before recording")
    round_id = uuid.uuid4().hex
    when = _now()
    patient = admission.patients[0] if admission.patients else None
    names = await _names(store, admission, present)
    async with store.transaction() as tx:
        for participant in present:
            mine = participant == admission.participant
            await tx.create(
                consent_resource(round_id, admission.room, patient, participant, names.get(participant, participant),
                                 status="active" if mine else "proposed", when=when)
            )  # fmt: skip
        await _audit(tx.conn, principal, admission.room, "room-recording-request", admission, recording=round_id,
                     participants=present)  # fmt: skip
        consents = await _round(tx, round_id)
    return JSONResponse(_summary(round_id, admission.room, consents), status_code=201)


async def _names(store: FhirStore, admission: Admission, present: list[str]) -> dict[str, str]:
    """Display names of the participants, from the Appointment."""
    try:
        appointment = (await store.read("Appointment", admission.room)).content or {}
    except (NotFound, Gone):
        appointment = {}
    out = {admission.participant: admission.name}
    for p in appointment.get("participant") or []:
        actor = p.get("actor") or {}
        ref = str(actor.get("reference") or "")
        if ref in present and actor.get("display") and ref not in out:
            out[ref] = str(actor["display"])
    return out


async def answer_consent(request: Request) -> Response:
    admitted = await _admitted(request, "room-recording-consent")
    if isinstance(admitted, JSONResponse):
        return admitted
    principal, admission, store = admitted
    round_id = _round_id(request)
    form = await checked_form(request)
    decision = str(form.get("decision") or "")
    if decision not in ("permit", "deny"):
        return _error(400, "bad-request", "decision: permit | deny")
    async with store.transaction() as tx:
        consents = await _round(tx, round_id)
        mine = [(c, v) for c, v in consents if _performer(c) == admission.participant]
        if not consents or not any(_room_of(c) == admission.room for c, _ in consents):
            return _error(404, "not-found", "Không có yêu cầu ghi hình này / no such recording request")
        if not mine:
            await _audit(tx.conn, principal, admission.room, "room-recording-consent", admission, status=403,
                         recording=round_id, reason="not in the round")  # fmt: skip
            return _error(
                403, "forbidden", "Bạn không có trong phòng khi yêu cầu được gửi / you were not in the room"
            )
        consent, version = mine[0]
        when = _now()
        updated = consent_resource(
            round_id, admission.room, admission.patients[0] if admission.patients else None, admission.participant,
            admission.name, status="active" if decision == "permit" else "rejected", when=when,
        )  # fmt: skip
        updated["id"] = consent["id"]
        await tx.update(updated, if_match=version)
        await _audit(tx.conn, principal, admission.room, "room-recording-consent", admission, recording=round_id,
                     decision=decision, consent=f"Consent/{consent['id']}")  # fmt: skip
        consents = await _round(tx, round_id)
    return JSONResponse(_summary(round_id, admission.room, consents))


def _room_of(consent: dict[str, Any]) -> str:
    for data in (consent.get("provision") or {}).get("data") or []:
        ref = str((data.get("reference") or {}).get("reference") or "")
        if ref.startswith("Appointment/"):
            return ref.removeprefix("Appointment/")
    return ""


async def recording_status(request: Request) -> Response:
    admitted = await _admitted(request, "room-recording-status")
    if isinstance(admitted, JSONResponse):
        return admitted
    _, admission, store = admitted
    round_id = _round_id(request)
    async with store.transaction() as tx:
        consents = [(c, v) for c, v in await _round(tx, round_id) if _room_of(c) == admission.room]
    if not consents:
        return _error(404, "not-found", "Không có yêu cầu ghi hình này / no such recording request")
    return JSONResponse(_summary(round_id, admission.room, consents), headers={"Cache-Control": "no-store"})


async def upload_recording(request: Request) -> Response:
    admitted = await _admitted(request, "room-recording-upload")
    if isinstance(admitted, JSONResponse):
        return admitted
    principal, admission, store = admitted
    round_id = _round_id(request)
    upload = await _upload(request, MAX_RECORDING_BYTES)
    if isinstance(upload, JSONResponse):
        return upload
    raw, content_type, title = upload
    if content_type not in _RECORDING_TYPES:
        return _error(415, "bad-type", f"a recording is one of {', '.join(sorted(_RECORDING_TYPES))}")
    async with store.transaction() as tx:
        consents = [(c, v) for c, v in await _round(tx, round_id) if _room_of(c) == admission.room]
        summary = _summary(round_id, admission.room, consents)
        mine = any(p["id"] == admission.participant for p in summary["participants"])
        if not consents or not mine or not summary["all_consented"]:
            missing = [p["name"] or p["id"] for p in summary["participants"] if p["state"] != "agreed"]
            await _audit(tx.conn, principal, admission.room, "room-recording-upload", admission, status=403,
                         recording=round_id, reason="consent missing", missing=missing)  # fmt: skip
            return _error(
                403, "no-consent",
                "Không lưu bản ghi: chưa đủ sự đồng ý của mọi người trong phòng / the recording is refused: not "
                "every participant consented" + (f" ({', '.join(missing)})" if missing else ""),
            )  # fmt: skip
        already = await search(
            tx.conn, parse_search("Media", [("identifier", f"{RECORDING_SYSTEM}|{round_id}"), ("_count", "1")]),
            await store.param_ids(),
        )  # fmt: skip
        if already.matches:
            return _error(
                409, "conflict", "Bản ghi của lần đồng ý này đã được lưu / this recording was already saved"
            )
        when = _now()
        media: dict[str, Any] = {
            "resourceType": "Media",
            "extension": [{"url": CONSENT_EXTENSION, "valueReference": {"reference": p["consent"]}} for p in summary["participants"]],
            "identifier": [{"system": RECORDING_SYSTEM, "value": round_id}],
            "status": "completed",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/media-type",
                                 "code": "audio" if content_type.startswith("audio/") else "video"}]},
            "partOf": [{"reference": f"Appointment/{admission.room}"}],
            "issued": when.isoformat(),
            "operator": {"reference": admission.participant, "display": admission.name},
            "content": _attachment(raw, content_type, title or f"recording-{admission.room}.webm"),
            "note": [{"text": "Ghi hình cuộc gọi với sự đồng ý của mọi người trong phòng / recorded with every participant's consent"}],
        }  # fmt: skip
        if admission.patients:
            media["subject"] = {"reference": f"Patient/{admission.patients[0]}"}
        stored = await tx.create(media)
        await _audit(tx.conn, principal, admission.room, "room-recording-upload", admission, recording=round_id,
                     media=f"Media/{stored.res_id}", size=len(raw))  # fmt: skip
    return JSONResponse({"media": f"Media/{stored.res_id}", "size": len(raw)}, status_code=201)


ROUTES = [
    route
    for prefix in ("/app", "/portal")
    for route in (
        Route(prefix + "/telehealth/rooms/{appointment_id:str}/files", share_file, methods=["POST"]),
        Route(
            prefix + "/telehealth/rooms/{appointment_id:str}/files/{communication_id:str}",
            file_download,
            methods=["GET"],
        ),
        Route(prefix + "/telehealth/rooms/{appointment_id:str}/recording", ask_recording, methods=["POST"]),
        Route(
            prefix + "/telehealth/rooms/{appointment_id:str}/recording/{round_id:str}",
            recording_status,
            methods=["GET"],
        ),
        Route(
            prefix + "/telehealth/rooms/{appointment_id:str}/recording/{round_id:str}/consent",
            answer_consent,
            methods=["POST"],
        ),
        Route(
            prefix + "/telehealth/rooms/{appointment_id:str}/recording/{round_id:str}/upload",
            upload_recording,
            methods=["POST"],
        ),
    )
]
