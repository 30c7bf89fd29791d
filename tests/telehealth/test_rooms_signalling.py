"""The video rooms' signalling server on loopback: real HTTP for the room tokens, real WebSockets, and two
real WebRTC peers (aiortc) that connect through it and exchange video and data-channel messages.

One uvicorn server (its own process, ``rooms_support.build_rooms_app``) for the module; TURN is configured
with a shared secret so that the credentials handed out can be checked against coturn's formula.

aiortc: https://aiortc.readthedocs.io/en/latest/api.html; websockets:
https://websockets.readthedocs.io/en/stable/reference/asyncio/client.html
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from rooms_support import Live, live_server, room_tokens
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TURN_SECRET = "coturn-static-auth-secret-for-tests"
ENV = {
    "SENHEALTH_TELEHEALTH_VIDEO_TOKEN_TTL_S": "300",
    "SENHEALTH_TELEHEALTH_VIDEO_STUN_URLS": '["stun:turn.example.vn:3478"]',
    "SENHEALTH_TELEHEALTH_VIDEO_TURN_URLS": '["turn:turn.example.vn:3478?transport=udp"]',
    "SENHEALTH_TELEHEALTH_VIDEO_TURN_SECRET": TURN_SECRET,
}
DOCTOR = "Practitioner/bs-binh"
PATIENT = "Patient/p-an"


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(database_url, tmp_path_factory.mktemp("rooms"), ENV) as server:
        yield server


def _ticket(live: Live, username: str, appointment: str = "appt-now") -> dict[str, Any]:
    r = live.token(username, appointment)
    assert r.status_code == 200, r.text[:300]
    body: dict[str, Any] = r.json()
    return body


async def _recv(ws: ClientConnection, kind: str | None = None, timeout: float = 10) -> dict[str, Any]:
    """The next message (of type ``kind``, skipping others)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if kind is None or message["type"] == kind:
            return message


async def _join(url: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url)
    await ws.send(json.dumps({"type": "join"}))
    return ws, await _recv(ws, "join")


async def _closed_with(url: str) -> tuple[int, str]:
    """The close code (and reason) the server ends a connection with."""
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(json.dumps({"type": "join"}))
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason


# --- the token route ----------------------------------------------------------------------------------


def test_participant_gets_a_short_lived_token_bound_to_room_and_participant(live: Live) -> None:
    before = int(time.time())
    ticket = _ticket(live, "nv.an")
    assert ticket["participant"] == PATIENT and ticket["name"] == "Nguyễn Văn An"
    ws_url = ticket["ws_url"]
    assert ws_url.startswith(
        live.url.replace("http://", "ws://") + "/api/telehealth/rooms/appt-now/ws?token="
    )
    claims = room_tokens(live.settings).verify(ticket["token"], room="appt-now")
    assert claims.participant == PATIENT and claims.room == "appt-now" and claims.kind == "patient"
    assert before + 300 - 5 <= claims.expires <= int(time.time()) + 300  # the configured 5 minutes

    stun, turn = ticket["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.vn:3478"]}
    assert turn["urls"] == ["turn:turn.example.vn:3478?transport=udp"]
    expiry, _, user = turn["username"].partition(":")
    assert int(expiry) >= before + 3600 - 5 and user and "p-an" not in user  # no name in coturn's logs
    expected = base64.b64encode(
        hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    )
    assert turn["credential"] == expected.decode()  # coturn's use-auth-secret check

    # the doctor through PractitionerRole/pr-binh (the room opens 30 minutes before the start)
    role = _ticket(live, "bs.binh", "appt-role")
    assert role["participant"] == "PractitionerRole/pr-binh" and role["name"] == "BS. Trần Thị Bình"


@pytest.mark.parametrize(
    ("username", "appointment", "status"),
    [
        ("bs.tam", "appt-now", 403),  # a doctor, but not in this appointment
        ("nv.hoa", "appt-now", 403),  # another citizen
        ("bs.tam", "appt-role", 403),  # not the practitioner of the PractitionerRole
        ("nv.an", "appt-cancelled", 409),
        ("nv.an", "appt-later", 409),  # the room is not open yet
        ("nv.an", "appt-missing", 404),
    ],
)
def test_token_refused(live: Live, username: str, appointment: str, status: int) -> None:
    r = live.token(username, appointment)
    assert r.status_code == status, r.text[:300]
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "token" not in r.json()


def test_token_needs_a_bearer_token(live: Live) -> None:
    import httpx

    r = httpx.post(f"{live.url}/api/telehealth/rooms/appt-now/token", timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    bad = {"Authorization": "Bearer " + _ticket(live, "nv.an")["token"]}  # a room token is no access token
    assert (
        httpx.post(f"{live.url}/api/telehealth/rooms/appt-now/token", headers=bad, timeout=30).status_code
        == 401
    )


def test_token_requests_are_audited(live: Live) -> None:
    _ticket(live, "nv.an")
    live.token("bs.tam", "appt-now")
    with psycopg.connect(live.settings.database_url or "") as conn:
        rows = conn.execute(
            "SELECT principal_subject, outcome, status, patients, source_ip, details FROM audit_event "
            "WHERE query = 'room-token' AND res_type = 'Appointment' AND res_id = 'appt-now' ORDER BY seq"
        ).fetchall()
    by_outcome = {
        (outcome, status): (patients, ip, details) for _, outcome, status, patients, ip, details in rows
    }
    patients, ip, details = by_outcome[("success", 200)]
    assert patients == ["p-an"] and ip == "127.0.0.1" and details["participant"] == PATIENT
    patients, _, details = by_outcome[("denied", 403)]
    assert patients == ["p-an"] and "participants" in details["reason"]


# --- the WebSocket: refusals --------------------------------------------------------------------------


def test_connections_without_a_valid_room_token_are_closed_with_4401(live: Live) -> None:
    ws_base = live.url.replace("http://", "ws://") + "/api/telehealth/rooms/appt-now/ws"
    good = _ticket(live, "nv.an")["token"]
    other_room = _ticket(live, "bs.binh", "appt-other")["token"]
    expired, _ = room_tokens(live.settings).mint(
        room="appt-now", participant=PATIENT, name="An", account="x", kind="patient", facility=None,
        ttl_s=60, now=time.time() - 600,
    )  # fmt: skip
    head, payload, signature = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["sub"] = "Practitioner/bs-tam"
    tampered = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("="), signature]
    )
    access_token = live.seeded.access["nv.an"]

    async def main() -> None:
        for url in (
            ws_base,
            ws_base + "?token=",
            ws_base + "?token=not-a-jwt",
            ws_base + "?token=" + expired,
            ws_base + "?token=" + other_room,
            ws_base + "?token=" + tampered,
            ws_base + "?token=" + access_token,
        ):
            code, _ = await _closed_with(url)
            assert code == 4401, url[-40:]
        ws, welcome = await _join(ws_base + "?token=" + good)  # and the good one is let in
        assert welcome["you"] == PATIENT
        await ws.close()

    asyncio.run(main())


# --- the relay ----------------------------------------------------------------------------------------


def _mint(live: Live, participant: str, room: str = "appt-now") -> str:
    token, _ = room_tokens(live.settings).mint(
        room=room, participant=participant, name=participant.split("/")[1], account=participant,
        kind="user", facility=None, ttl_s=120,
    )  # fmt: skip
    return live.url.replace("http://", "ws://") + f"/api/telehealth/rooms/{room}/ws?token={token}"


def test_join_relay_room_limit_reconnection_and_leave(live: Live) -> None:
    """A room made only for the relay: five identities with tokens minted with the server's key."""
    room = "relay-room"
    a, b, c, d, e = (f"Practitioner/relay-{n}" for n in "abcde")

    async def main() -> None:
        ws_a, welcome = await _join(_mint(live, a, room))
        assert welcome == {
            "type": "join", "from": a, "you": a, "room": room, "participants": [{"id": a, "name": "relay-a"}],
        }  # fmt: skip
        ws_b = await connect(_mint(live, b, room))
        await ws_b.send(json.dumps({"type": "offer", "sdp": "v=0"}))
        assert (await _recv(ws_b))["code"] == "join-first"
        await ws_b.send(json.dumps({"type": "join", "from": "Practitioner/forged"}))
        welcome_b = await _recv(ws_b, "join")
        assert [p["id"] for p in welcome_b["participants"]] == [a, b] and welcome_b["you"] == b
        told = await _recv(ws_a, "join")
        assert told["from"] == b and told["name"] == "relay-b"

        # relayed to `to` only, `from` set by the server
        ws_c, _ = await _join(_mint(live, c, room))
        await _recv(ws_a, "join")
        await _recv(ws_b, "join")
        await ws_c.send(json.dumps({"type": "offer", "to": a, "from": b, "sdp": "v=0 c->a"}))
        await ws_c.send(
            json.dumps({"type": "candidate", "to": b, "candidate": {"candidate": "x", "sdpMid": "0"}})
        )
        got_a = await _recv(ws_a)
        assert got_a == {"type": "offer", "from": c, "to": a, "sdp": "v=0 c->a"}
        got_b = await _recv(ws_b)
        assert got_b["type"] == "candidate" and got_b["from"] == c and got_b["candidate"]["candidate"] == "x"
        # without `to`: everyone else
        await ws_a.send(json.dumps({"type": "chat", "text": "Xin chào cả phòng"}))
        for ws in (ws_b, ws_c):
            chat = await _recv(ws, "chat")
            assert chat["from"] == a and chat["text"] == "Xin chào cả phòng" and "to" not in chat
        # bad messages: answered, the connection stays
        for bad, code in (
            ("not json", "bad-message"),
            (json.dumps({"type": "dance"}), "bad-type"),
            (json.dumps({"type": "offer", "to": "Practitioner/nobody", "sdp": "v=0"}), "unknown-participant"),
            (json.dumps({"type": "chat", "text": ""}), "bad-chat"),
        ):
            await ws_a.send(bad)
            assert (await _recv(ws_a, "error"))["code"] == code

        # four is the limit: a fifth is told and closed with 4429
        ws_d, _ = await _join(_mint(live, d, room))
        for ws in (ws_a, ws_b, ws_c):
            await _recv(ws, "join")
        ws_e = await connect(_mint(live, e, room))
        await ws_e.send(json.dumps({"type": "join"}))
        full = await _recv(ws_e)
        assert full["type"] == "error" and full["code"] == "room-full" and "4" in full["text"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws_e.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

        # b reconnects (a dropped network): the old connection is closed with 4409, the others told again
        ws_b2, welcome_b2 = await _join(_mint(live, b, room))
        assert [p["id"] for p in welcome_b2["participants"]] == [a, c, d, b]
        replaced = await _recv(ws_b)
        assert replaced["code"] == "replaced"
        with pytest.raises(ConnectionClosed) as closed:
            await ws_b.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
        assert (await _recv(ws_a, "join"))["from"] == b
        await ws_a.send(json.dumps({"type": "answer", "to": b, "sdp": "v=0 a->b"}))
        assert (await _recv(ws_b2, "answer"))["sdp"] == "v=0 a->b"  # the new connection gets it

        # leave, and a dropped connection, are announced
        await ws_c.send(json.dumps({"type": "leave"}))
        left = await _recv(ws_a, "leave")
        assert (
            left["from"] == c
            and left["reason"] == "left"
            and c not in [p["id"] for p in left["participants"]]
        )
        await ws_d.close()
        dropped = await _recv(ws_a, "leave")
        assert dropped["from"] == d and dropped["reason"] == "disconnected"
        assert [p["id"] for p in dropped["participants"]] == [a, b]
        for ws in (ws_a, ws_b2, ws_c):
            await ws.close()

    asyncio.run(main())


# --- two real WebRTC peers ----------------------------------------------------------------------------


def test_two_aiortc_peers_exchange_video_and_data_through_the_server(live: Live) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
    from aiortc.mediastreams import MediaStreamTrack

    doctor_ticket = _ticket(live, "bs.binh")
    patient_ticket = _ticket(live, "nv.an")

    async def frames(track: MediaStreamTrack, n: int) -> list[tuple[int, int]]:
        sizes = []
        for _ in range(n):
            frame = await asyncio.wait_for(track.recv(), 10)
            sizes.append((frame.width, frame.height))  # type: ignore[union-attr]
        return sizes

    async def main() -> None:
        doctor_ws, doctor_welcome = await _join(doctor_ticket["ws_url"])
        assert doctor_welcome["you"] == DOCTOR
        patient_ws, patient_welcome = await _join(patient_ticket["ws_url"])
        assert [p["id"] for p in patient_welcome["participants"]] == [DOCTOR, PATIENT]
        assert (await _recv(doctor_ws, "join"))["from"] == PATIENT

        doctor_pc, patient_pc = RTCPeerConnection(), RTCPeerConnection()
        received: dict[str, asyncio.Future[list[tuple[int, int]]]] = {}
        data: dict[str, asyncio.Future[str]] = {
            "doctor": asyncio.get_running_loop().create_future(),
            "patient": asyncio.get_running_loop().create_future(),
        }
        try:
            for who, pc in (("doctor", doctor_pc), ("patient", patient_pc)):
                pc.addTrack(VideoStreamTrack())

                def on_track(track: MediaStreamTrack, who: str = who) -> None:
                    if track.kind == "video":
                        received[who] = asyncio.ensure_future(frames(track, 5))

                pc.on("track", on_track)

            channel = patient_pc.createDataChannel("room")

            @channel.on("open")
            def _open() -> None:
                channel.send("Chào bác sĩ")

            @channel.on("message")
            def _patient_message(message: str) -> None:
                if not data["patient"].done():
                    data["patient"].set_result(message)

            @doctor_pc.on("datachannel")
            def _doctor_channel(incoming: Any) -> None:
                @incoming.on("message")
                def _message(message: str) -> None:
                    if not data["doctor"].done():
                        data["doctor"].set_result(message)
                        incoming.send("Chào anh An")

            # the newcomer (the patient) offers to the one already there, through the server
            await patient_pc.setLocalDescription(await patient_pc.createOffer())
            await patient_ws.send(json.dumps(
                {"type": "offer", "to": DOCTOR, "from": "Practitioner/forged", "sdp": patient_pc.localDescription.sdp}
            ))  # fmt: skip
            offer = await _recv(doctor_ws, "offer")
            assert (
                offer["from"] == PATIENT and offer["to"] == DOCTOR
            )  # `from` is the server's, not the client's
            await doctor_pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await doctor_pc.setLocalDescription(await doctor_pc.createAnswer())
            await doctor_ws.send(
                json.dumps({"type": "answer", "to": PATIENT, "sdp": doctor_pc.localDescription.sdp})
            )
            answer = await _recv(patient_ws, "answer")
            assert answer["from"] == DOCTOR
            await patient_pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

            assert await asyncio.wait_for(data["doctor"], 20) == "Chào bác sĩ"
            assert await asyncio.wait_for(data["patient"], 20) == "Chào anh An"
            for who in ("doctor", "patient"):
                for _ in range(100):
                    if who in received:
                        break
                    await asyncio.sleep(0.1)
                sizes = await asyncio.wait_for(received[who], 20)
                assert len(sizes) == 5 and all(w == 640 and h == 480 for w, h in sizes), (who, sizes)
            assert doctor_pc.connectionState == patient_pc.connectionState == "connected"

            # the chat in the room, kept as a Communication about the Appointment
            await doctor_ws.send(json.dumps({"type": "chat", "text": "Anh đo huyết áp lại giúp tôi"}))
            chat = await _recv(patient_ws, "chat")
            assert chat["from"] == DOCTOR and chat["name"] == "BS. Trần Thị Bình"
            await patient_ws.send(json.dumps({"type": "leave"}))
            left = await _recv(doctor_ws, "leave")
            assert left["from"] == PATIENT
        finally:
            await doctor_pc.close()
            await patient_pc.close()
            await doctor_ws.close()
            await patient_ws.close()

    asyncio.run(main())
    # the server relays a chat message first and stores it right after: wait (a bounded time) for the record
    deadline = time.monotonic() + 10
    while True:
        bundle = live.fhir("Communication", sender=DOCTOR, subject="Patient/p-an")
        texts = [e["resource"]["payload"][0]["contentString"] for e in bundle.get("entry") or []]
        if "Anh đo huyết áp lại giúp tôi" in texts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "Anh đo huyết áp lại giúp tôi" in texts
    kept = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["payload"][0]["contentString"] == texts[0]
    )
    assert kept["about"] == [{"reference": "Appointment/appt-now"}] and kept["recipient"] == [
        {"reference": PATIENT}
    ]
