"""The telehealth calendar and the citizen's remote-visit booking over HTTP (in-process, the assembled
platform, real PostgreSQL).

Dr Bình's week shows her five free slots of tomorrow (four remote, one at the clinic: equal to the store); she opens fourteen more on a
weekly pattern two weeks ahead (the same pattern again opens none; a pattern ending before it starts is
refused). Mrs Hoa books a listed condition (hypertension) and a condition outside Circular 30's list (a
warning shown, the Appointment marked); with the setting ``block`` the outside condition is refused. Her
portal lists the visits with "join the video call"; Dr Bình's calendar shows them as booked visits with
their room links, the free count down by two. Roles: the citizen is kept out of the calendar, staff out
of the portal page.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from telehealth_web_support import login, tele_environment, text_of
from web_dataset import system_token
from web_support import csrf_of

from senhealth.telehealth import visits

CAL = "/app/telehealth/calendar"
PORTAL = "/portal/telehealth"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def _count(html: str, kind: str) -> int:
    return len(re.findall(rf'data-kind="{kind}"', html))


async def _free_slots(c: httpx.AsyncClient, token: str, start: dt.date, end: dt.date) -> int:
    r = await c.get(
        "/fhir/Slot",
        params=[("schedule", "Schedule/sch-binh-tele,Schedule/sch-binh-clinic"), ("status", "free"),
                ("start", f"ge{dt.datetime.combine(start, dt.time(), ZONE).isoformat()}"),
                ("start", f"lt{dt.datetime.combine(end, dt.time(), ZONE).isoformat()}"), ("_summary", "count")],
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    total: int = r.json()["total"]
    return total


def test_calendar_slots_and_portal_booking(schema_url: str, tmp_path: Path) -> None:
    with tele_environment(schema_url, tmp_path) as env:

        async def scenario(c: httpx.AsyncClient, app: FastAPI) -> None:
            system = system_token(env.settings)
            tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).astimezone(ZONE).date()
            monday = tomorrow - dt.timedelta(days=tomorrow.weekday())
            await login(c, "bs.binh")
            week = await c.get(CAL, params={"week": tomorrow.isoformat()})
            assert week.status_code == 200
            in_store = await _free_slots(c, system, monday, monday + dt.timedelta(days=7))
            assert in_store == 5  # four remote-visit slots and one clinic slot
            assert _count(week.text, "free") == in_store
            assert re.search(rf'id="free-count">{in_store}<', week.text)

            later = monday + dt.timedelta(days=14)
            form = {"csrf_token": csrf_of(week.text), "from": later.isoformat(), "weeks": "1",
                    "days": [str(d) for d in range(7)], "start": "09:00", "end": "10:00", "length": "30"}  # fmt: skip
            made = await c.post(f"{CAL}/slots", data=form)
            assert made.status_code == 303 and "made=14" in made.headers["location"], text_of(made.text)[
                -1500:
            ]
            assert await _free_slots(c, system, later, later + dt.timedelta(days=7)) == 14
            page = await c.get(made.headers["location"])
            assert _count(page.text, "free") == 14 and "Đã tạo 14 khung giờ." in page.text
            again = await c.post(f"{CAL}/slots", data=form)
            assert "made=0" in again.headers["location"]
            assert await _free_slots(c, system, later, later + dt.timedelta(days=7)) == 14
            bad = await c.post(f"{CAL}/slots", data={**form, "start": "11:00", "end": "10:00"})
            assert bad.status_code == 400 and 'id="errors"' in bad.text

            # the citizen books
            await login(c, "nt.hoa")
            assert (await c.get(CAL)).status_code == 403
            portal = await c.get(PORTAL)
            assert portal.status_code == 200 and 'id="no-visits"' in portal.text
            assert '<option value="slot-0"' in portal.text and '<option value="I10"' in portal.text
            booked = await c.post(
                f"{PORTAL}/book",
                data={"csrf_token": csrf_of(portal.text), "slot": "slot-0", "condition": "I10", "channel": "video",
                      "reason": "Huyết áp 150/95 sáng nay"},
            )  # fmt: skip
            assert booked.status_code == 303 and "warning" not in booked.headers["location"], booked.text[
                :500
            ]
            outside = await c.post(
                f"{PORTAL}/book",
                data={"csrf_token": csrf_of(portal.text), "slot": "slot-1", "condition": "I10", "other": "S52.5",
                      "channel": "phone"},
            )  # fmt: skip
            assert outside.status_code == 303 and "warning=1" in outside.headers["location"]
            page = await c.get(outside.headers["location"])
            assert 'id="outside-warning"' in page.text
            visits.configure(outside_list="block")
            try:
                blocked = await c.post(
                    f"{PORTAL}/book",
                    data={
                        "csrf_token": csrf_of(portal.text),
                        "slot": "slot-2",
                        "other": "S52.5",
                        "channel": "video",
                    },
                )
                assert blocked.status_code == 422 and 'id="errors"' in blocked.text
                assert "Thông tư 30" in text_of(blocked.text)
            finally:
                visits.configure(outside_list="warn")
            page = await c.get(PORTAL)
            assert len(re.findall(r'class="result visit"', page.text)) == 2
            joins = re.findall(r'href="/portal/telehealth/rooms/([^"]+)"', page.text)
            assert len(joins) == 2
            r = await c.get(
                "/fhir/Appointment",
                params={"patient": "Patient/p-hoa"},
                headers={"Authorization": f"Bearer {system}"},
            )
            appointments: list[dict[str, Any]] = [e["resource"] for e in r.json()["entry"]]
            assert sorted(a["id"] for a in appointments) == sorted(joins)
            listed = {
                a["slot"][0]["reference"]: next(
                    x["valueBoolean"] for e in a["extension"] if e["url"].endswith("remote-visit-eligibility")
                    for x in e["extension"] if x["url"] == "listed"
                )
                for a in appointments
            }  # fmt: skip
            assert listed == {"Slot/slot-0": True, "Slot/slot-1": False}

            # the doctor's week: two booked visits with their rooms, two slots fewer
            await login(c, "bs.binh")
            assert (await c.get(PORTAL)).status_code == 403
            week = await c.get(CAL, params={"week": tomorrow.isoformat()})
            assert _count(week.text, "visit") == 2 and _count(week.text, "free") == 3
            assert await _free_slots(c, system, monday, monday + dt.timedelta(days=7)) == 3
            for appointment_id in joins:
                assert f'href="/app/telehealth/rooms/{appointment_id}"' in week.text
            english = await c.get(CAL, params={"week": tomorrow.isoformat(), "lang": "en"})
            assert "Remote visit" in english.text and "Free slots" in english.text

        env.run(scenario)
