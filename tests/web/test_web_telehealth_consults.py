"""The teleconsultation pages over HTTP (in-process, the assembled platform, real PostgreSQL, a test PKI).

The commune station's health worker asks the provincial hospital through the request form (a photo
attached, the ECG cited); both inboxes list it (numbers equal to the store's); a decline without a
reason is shown refused; the cardiologist accepts, books the video meeting (the room link appears on both
sides), the two sides exchange a message with a file, another doctor of the hospital is refused the
conclusion, and the cardiologist signs the conclusion, which both sides then read with a valid signature
and filed in both records. Then an overdue request comes first in the inbox, flagged and counted; a CDC
officer and a citizen are kept out.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from telehealth_web_support import login, tele_environment, text_of
from web_dataset import system_token
from web_support import csrf_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
BASE = "/app/telehealth/consults"


async def _store(client: httpx.AsyncClient, settings: Any, path: str, **params: str) -> dict[str, Any]:
    r = await client.get(
        f"/fhir/{path}", params=params, headers={"Authorization": f"Bearer {system_token(settings)}"}
    )
    assert r.status_code == 200, r.text[:300]
    body: dict[str, Any] = r.json()
    return body


def _consult_rows(html: str, direction: str) -> list[str]:
    block = html.split(f'id="section-{direction}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-task="([^"]+)"', block)


async def _overdue_and_roles(c: httpx.AsyncClient, settings: Any, concluded: str) -> None:
    """Two more requests, one past its deadline: first in the hospital's inbox, flagged and counted; then
    the roles kept out."""
    headers = {"Authorization": f"Bearer {system_token(settings)}", "Content-Type": "application/fhir+json"}
    await login(c, "bs.an")
    form = await c.get(f"{BASE}/new", params={"patient": "p-hoa"})
    for priority in ("routine", "stat"):
        r = await c.post(
            f"{BASE}/new",
            data={"csrf_token": csrf_of(form.text), "patient": "p-hoa", "performer": "bv-tinh",
                  "question": f"Câu hỏi {priority}", "summary": "Tóm tắt", "priority": priority},
        )  # fmt: skip
        assert r.status_code == 303
    # one request's deadline has passed (as if sent yesterday)
    tasks = await _store(
        c, settings, "Task", code="https://senhealth.vn/fhir/CodeSystem/telehealth-consult|consult"
    )
    task = next(e["resource"] for e in tasks["entry"] if e["resource"]["description"] == "Câu hỏi stat")
    yesterday = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    task["restriction"]["period"] = {
        "start": yesterday.isoformat(),
        "end": (yesterday + dt.timedelta(hours=1)).isoformat(),
    }
    assert (await c.put(f"/fhir/Task/{task['id']}", json=task, headers=headers)).status_code == 200
    await login(c, "bs.binh")
    inbox = await c.get(BASE)
    rows = _consult_rows(inbox.text, "received")
    assert len(rows) == 3 and rows[0] == task["id"] and rows[-1] == concluded, "overdue first, concluded last"
    assert inbox.text.count("overdue-flag") == 1
    assert re.search(r'data-status="overdue">[^<]*<b>1</b>', inbox.text)
    assert re.search(r'data-status="requested">[^<]*<b>2</b>', inbox.text)
    assert re.search(r'data-status="completed">[^<]*<b>1</b>', inbox.text)
    # a CDC officer and a citizen are kept out; without a session, the sign-in
    await login(c, "cdc.ha")
    assert (await c.get(BASE)).status_code == 403
    assert (await c.get("/app/telehealth/referrals")).status_code == 403
    await login(c, "nt.hoa")
    assert (await c.get(BASE)).status_code == 403
    async with httpx.AsyncClient(transport=c._transport, base_url="http://test") as signed_out:
        r = await signed_out.get(BASE)
        assert r.status_code == 303 and "/app/login" in r.headers["location"]


def test_consult_from_request_to_signed_conclusion(schema_url: str, tmp_path: Path) -> None:
    with tele_environment(schema_url, tmp_path) as env:

        async def scenario(c: httpx.AsyncClient, app: FastAPI) -> None:
            settings = env.settings
            await login(c, "bs.an")
            inbox = await c.get(BASE)
            assert inbox.status_code == 200
            assert _consult_rows(inbox.text, "sent") == []
            found = await c.get(f"{BASE}/new", params={"q": "nguyen thi hoa"})
            assert 'data-patient="p-hoa"' in found.text
            form = await c.get(f"{BASE}/new", params={"patient": "p-hoa"})
            assert form.status_code == 200
            assert 'value="Observation/ecg-hoa"' in form.text and 'value="ImagingStudy/xq-hoa"' in form.text
            assert '<option value="bv-tinh"' in form.text and '<option value="tyt-hoa-binh"' not in form.text
            # a request without a question: the operation refuses it, the form says why, nothing written
            bad = await c.post(
                f"{BASE}/new",
                data={"csrf_token": csrf_of(form.text), "patient": "p-hoa", "performer": "bv-tinh",
                      "question": "", "summary": "x", "priority": "urgent"},
            )  # fmt: skip
            assert bad.status_code == 400 and 'id="errors"' in bad.text
            assert (
                await _store(
                    c,
                    settings,
                    "Task",
                    code="https://senhealth.vn/fhir/CodeSystem/telehealth-consult|consult",
                )
            )["total"] == 0
            sent = await c.post(
                f"{BASE}/new",
                data={"csrf_token": csrf_of(form.text), "patient": "p-hoa", "performer": "bv-tinh",
                      "question": "Rung nhĩ mới phát hiện: có cần chống đông?", "summary": "Nữ 67 tuổi, hồi hộp 2 ngày.",
                      "reason": "Rung nhĩ", "priority": "urgent", "cite": ["Observation/ecg-hoa"]},
                files={"files": ("anh-ecg.png", PNG, "image/png")},
            )  # fmt: skip
            assert sent.status_code == 303, sent.text[:500]
            task_id = sent.headers["location"].split("/")[-1].split("?")[0]
            page = await c.get(sent.headers["location"])
            assert "Rung nhĩ mới phát hiện" in page.text and "Rung nhĩ, tần số thất 110" in page.text
            media = re.search(rf"{BASE}/{task_id}/files/Media/([^/]+)/0", page.text)
            assert media, "the photo is shown"
            photo = await c.get(media.group(0))
            assert photo.status_code == 200 and photo.content == PNG
            tasks = await _store(
                c, settings, "Task", code="https://senhealth.vn/fhir/CodeSystem/telehealth-consult|consult"
            )
            assert tasks["total"] == 1
            assert _consult_rows((await c.get(BASE)).text, "sent") == [task_id]

            # the hospital: received, waiting, not overdue yet
            await login(c, "bs.binh")
            inbox = await c.get(BASE)
            assert _consult_rows(inbox.text, "received") == [task_id]
            assert _consult_rows(inbox.text, "sent") == []
            assert "overdue-flag" not in inbox.text
            case = await c.get(f"{BASE}/{task_id}")
            assert 'id="accept-form"' in case.text and 'id="conclude-form"' not in case.text
            refused = await c.post(
                f"{BASE}/{task_id}/decline", data={"csrf_token": csrf_of(case.text), "reason": ""}
            )
            assert refused.status_code == 400 and 'id="errors"' in refused.text
            done = await c.post(
                f"{BASE}/{task_id}/accept", data={"csrf_token": csrf_of(case.text), "note": "Nhận"}
            )
            assert done.status_code == 303
            case = await c.get(f"{BASE}/{task_id}")
            assert 'data-status="accepted"' in case.text and 'id="schedule-form"' in case.text
            assert 'id="conclude-form"' in case.text and 'id="conclude"' in case.text
            start = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).replace(microsecond=0).isoformat()
            booked = await c.post(
                f"{BASE}/{task_id}/schedule",
                data={"csrf_token": csrf_of(case.text), "start": start, "minutes": "30"},
            )
            assert booked.status_code == 303, booked.text[:800]
            case = await c.get(f"{BASE}/{task_id}")
            room = re.search(r'href="/app/telehealth/rooms/([^"]+)"', case.text)
            assert room and 'data-status="in-progress"' in case.text
            appointment = await _store(c, settings, f"Appointment/{room.group(1)}")
            assert appointment["status"] == "booked"

            # the station sees the room link, and writes with a file
            await login(c, "bs.an")
            inbox = await c.get(BASE)
            assert f"/app/telehealth/rooms/{room.group(1)}" in inbox.text
            case = await c.get(f"{BASE}/{task_id}")
            msg = await c.post(
                f"{BASE}/{task_id}/message",
                data={"csrf_token": csrf_of(case.text), "text": "Gửi thêm ảnh điện tim sáng nay."},
                files={"files": ("ecg-sang.png", PNG, "image/png")},
            )
            assert msg.status_code == 303

            # another hospital doctor may read the case but not conclude it
            await login(c, "bs.tam")
            case = await c.get(f"{BASE}/{task_id}")
            assert case.status_code == 200 and 'id="conclude-form"' not in case.text
            denied = await c.post(
                f"{BASE}/{task_id}/conclude", data={"csrf_token": csrf_of(case.text), "conclusion": "x"}
            )
            assert denied.status_code == 403 and 'id="errors"' in denied.text

            # the cardiologist reads the message, opens its file and signs the conclusion
            await login(c, "bs.binh")
            case = await c.get(f"{BASE}/{task_id}")
            assert "Gửi thêm ảnh điện tim sáng nay." in case.text
            link = re.search(rf"{BASE}/{task_id}/files/Communication/([^/]+)/0", case.text)
            assert link and (await c.get(link.group(0))).content == PNG
            concluded = await c.post(
                f"{BASE}/{task_id}/conclude",
                data={"csrf_token": csrf_of(case.text), "conclusion": "Rung nhĩ, CHA2DS2-VASc 3: nên chống đông.",
                      "recommendation": "Chuyển khám tim mạch trong tuần.", "diagnosis": "I48.9 Rung nhĩ"},
            )  # fmt: skip
            assert concluded.status_code == 303, concluded.text[:1500]
            for user in ("bs.binh", "bs.an"):
                await login(c, user)
                case = await c.get(f"{BASE}/{task_id}")
                text = text_of(case.text)
                assert 'data-status="completed"' in case.text
                assert "Chữ ký hợp lệ" in text, (user, text[:2000])
                assert "nên chống đông" in text
                copies = re.findall(r'class="badge record-copy"', case.text)
                assert len(copies) == 2
            task = await _store(c, settings, f"Task/{task_id}")
            assert task["status"] == "completed"
            docs = await _store(c, settings, "DocumentReference", type="http://loinc.org|11488-4")
            assert docs["total"] == 2
            inbox = await c.get(BASE + "?lang=en")
            assert "Requests sent" in inbox.text and 'data-status="completed"' in inbox.text
            await _overdue_and_roles(c, settings, task_id)

        env.run(scenario)
