"""Files and recording consent in the video room, over HTTP (in-process, the assembled platform).

Dr Bình and Mrs Hoa are in the room of a remote visit that is on now (joined to the platform's own
signalling hub, as their pages would be). Mrs Hoa shares a photo: kept as a Communication with the file,
opened by Dr Bình, refused to a doctor who is not a participant, too large a file refused. Recording:
the server refuses the upload without every participant's consent (asked and not answered; refused), and
accepts it once both consented (a Media linked to the Appointment, naming both Consents), once per round.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from telehealth_web_support import login, tele_environment
from web_dataset import system_token
from web_support import csrf_of

from senhealth.api.telehealth_rooms import room_hub
from senhealth.telehealth.rooms import RoomClaims
from senhealth.web.views.telehealth_recording import MAX_FILE_BYTES

ROOM = "appt-phong"
WEBM = b"\x1aE\xdf\xa3" + b"\x00" * 2048  # a synthetic WebM header and padding


def _appointment() -> dict[str, Any]:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    return {
        "resourceType": "Appointment", "id": ROOM, "status": "booked", "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=30)).isoformat(), "description": "Khám từ xa: tăng huyết áp",
        "participant": [{"actor": {"reference": "Practitioner/bs-binh", "display": "BS. Trần Thị Bình"}, "status": "accepted"},
                        {"actor": {"reference": "Patient/p-hoa", "display": "Nguyễn Thị Hoa"}, "status": "accepted"}],
    }  # fmt: skip


async def _join(app: FastAPI, participant: str, name: str) -> Any:
    async def send(text: str) -> None:
        return None

    async def close(code: int, reason: str) -> None:
        return None

    claims = RoomClaims(ROOM, participant, name, "", "user", None, int(time.time()) + 600, participant)
    session = room_hub(app).connect(claims, send, close)
    await session.__aenter__()
    await session.receive('{"type": "join"}')
    return session


async def _csrf(c: httpx.AsyncClient, prefix: str) -> str:
    page = await c.get(f"{prefix}/telehealth/rooms/{ROOM}")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_room_files_and_recording_consent_gate(schema_url: str, tmp_path: Path) -> None:
    with tele_environment(schema_url, tmp_path) as env:

        async def scenario(c: httpx.AsyncClient, app: FastAPI) -> None:
            system = {"Authorization": f"Bearer {system_token(env.settings)}"}
            r = await c.put(f"/fhir/Appointment/{ROOM}", json=_appointment(), headers=system)
            assert r.status_code in (200, 201), r.text
            doctor = await _join(app, "Practitioner/bs-binh", "BS. Trần Thị Bình")
            patient = await _join(app, "Patient/p-hoa", "Nguyễn Thị Hoa")
            assert room_hub(app).participants(ROOM) == ["Practitioner/bs-binh", "Patient/p-hoa"]
            transport = c._transport
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as hoa:
                await login(hoa, "nt.hoa")
                await login(c, "bs.binh")
                token_hoa = await _csrf(hoa, "/portal")
                token_binh = await _csrf(c, "/app")
                page = await hoa.get(f"/portal/telehealth/rooms/{ROOM}")
                assert 'id="room-file"' in page.text and 'id="record"' in page.text

                # a file shared by the patient
                shared = await hoa.post(
                    f"/portal/telehealth/rooms/{ROOM}/files", headers={"X-CSRF-Token": token_hoa},
                    files={"file": ("don-thuoc-cu.png", b"\x89PNG-synthetic", "image/png")},
                )  # fmt: skip
                assert shared.status_code == 201, shared.text
                comm_id = shared.json()["id"]
                comm = (await c.get(f"/fhir/Communication/{comm_id}", headers=system)).json()
                assert comm["about"] == [{"reference": f"Appointment/{ROOM}"}]
                assert comm["subject"] == {"reference": "Patient/p-hoa"}
                assert comm["recipient"] == [{"reference": "Practitioner/bs-binh"}]
                assert comm["payload"][0]["contentAttachment"]["size"] == len(b"\x89PNG-synthetic")
                got = await c.get(f"/app/telehealth/rooms/{ROOM}/files/{comm_id}")
                assert got.status_code == 200 and got.content == b"\x89PNG-synthetic"
                no_csrf = await hoa.post(
                    f"/portal/telehealth/rooms/{ROOM}/files", files={"file": ("a.txt", b"a", "text/plain")}
                )
                assert no_csrf.status_code == 403
                big = await hoa.post(
                    f"/portal/telehealth/rooms/{ROOM}/files", headers={"X-CSRF-Token": token_hoa},
                    files={"file": ("big.bin", b"x" * (MAX_FILE_BYTES + 1), "application/octet-stream")},
                )  # fmt: skip
                assert big.status_code == 413

                # recording: asked, not answered -> refused; refused -> refused
                asked = await c.post(
                    f"/app/telehealth/rooms/{ROOM}/recording", headers={"X-CSRF-Token": token_binh}
                )
                assert asked.status_code == 201, asked.text
                first = asked.json()
                states = {p["id"]: p["state"] for p in first["participants"]}
                assert states == {"Practitioner/bs-binh": "agreed", "Patient/p-hoa": "waiting"}
                assert first["all_consented"] is False
                upload = f"/app/telehealth/rooms/{ROOM}/recording/{first['recording']}/upload"
                refused = await c.post(upload, headers={"X-CSRF-Token": token_binh},
                                       files={"file": ("ghi-hinh.webm", WEBM, "video/webm")})  # fmt: skip
                assert refused.status_code == 403 and refused.json()["code"] == "no-consent"
                deny = await hoa.post(
                    f"/portal/telehealth/rooms/{ROOM}/recording/{first['recording']}/consent",
                    headers={"X-CSRF-Token": token_hoa}, data={"decision": "deny"},
                )  # fmt: skip
                assert deny.status_code == 200 and deny.json()["refused"] is True
                refused = await c.post(upload, headers={"X-CSRF-Token": token_binh},
                                       files={"file": ("ghi-hinh.webm", WEBM, "video/webm")})  # fmt: skip
                assert refused.status_code == 403
                media = (
                    await c.get("/fhir/Media", params={"subject": "Patient/p-hoa"}, headers=system)
                ).json()
                assert media["total"] == 0

                # a new round: both agree -> the recording is kept, once
                asked = await c.post(
                    f"/app/telehealth/rooms/{ROOM}/recording", headers={"X-CSRF-Token": token_binh}
                )
                second = asked.json()["recording"]
                agree = await hoa.post(
                    f"/portal/telehealth/rooms/{ROOM}/recording/{second}/consent",
                    headers={"X-CSRF-Token": token_hoa}, data={"decision": "permit"},
                )  # fmt: skip
                assert agree.json()["all_consented"] is True
                status = await c.get(f"/app/telehealth/rooms/{ROOM}/recording/{second}")
                assert status.json()["all_consented"] is True
                upload = f"/app/telehealth/rooms/{ROOM}/recording/{second}/upload"
                kept = await c.post(upload, headers={"X-CSRF-Token": token_binh},
                                    files={"file": ("ghi-hinh.webm", WEBM, "video/webm")})  # fmt: skip
                assert kept.status_code == 201, kept.text
                media_id = kept.json()["media"].split("/")[1]
                stored = (await c.get(f"/fhir/Media/{media_id}", headers=system)).json()
                assert stored["partOf"] == [{"reference": f"Appointment/{ROOM}"}]
                assert stored["subject"] == {"reference": "Patient/p-hoa"}
                assert stored["content"]["size"] == len(WEBM)
                consents = [e["valueReference"]["reference"] for e in stored["extension"]]
                assert len(consents) == 2
                for ref in consents:
                    consent = (await c.get(f"/fhir/{ref}", headers=system)).json()
                    assert consent["status"] == "active" and consent["provision"]["type"] == "permit"
                    assert consent["patient"] == {"reference": "Patient/p-hoa"}
                again = await c.post(upload, headers={"X-CSRF-Token": token_binh},
                                     files={"file": ("ghi-hinh.webm", WEBM, "video/webm")})  # fmt: skip
                assert again.status_code == 409
                rejected = (
                    await c.get("/fhir/Consent", params={"status": "rejected"}, headers=system)
                ).json()
                assert rejected["total"] == 1

                # a doctor who is not a participant: refused everywhere
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as tam:
                    await login(tam, "bs.tam")
                    page = await tam.get("/app/patients")
                    token = csrf_of(page.text)
                    assert (await tam.get(f"/app/telehealth/rooms/{ROOM}/files/{comm_id}")).status_code == 403
                    r = await tam.post(
                        f"/app/telehealth/rooms/{ROOM}/recording", headers={"X-CSRF-Token": token}
                    )
                    assert r.status_code == 403
                    r = await tam.post(f"/app/telehealth/rooms/{ROOM}/recording/{second}/upload",
                                       headers={"X-CSRF-Token": token}, files={"file": ("x.webm", WEBM, "video/webm")})  # fmt: skip
                    assert r.status_code == 403

                # asking while not in the room
                await patient.__aexit__(None, None, None)
                await doctor.__aexit__(None, None, None)
                r = await c.post(
                    f"/app/telehealth/rooms/{ROOM}/recording", headers={"X-CSRF-Token": token_binh}
                )
                assert r.status_code == 409

        env.run(scenario)
