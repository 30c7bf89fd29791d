"""Store-and-forward consults: messages both ways with attachments, threaded, size-limited; each side told
through topic-based subscriptions (rest-hook to a loopback receiver, delivered by the job worker)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from consult_support import HOSPITAL, PATIENT, Live, live_platform, out, params
from subscriptions_support import subscription, wait_for

from senhealth.core.migrate import migrate
from senhealth.telehealth.consults import configure, get_config


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved = get_config().model_dump()
    configure(max_attachment_bytes=4096)
    try:
        yield schema_url
    finally:
        configure(**saved)


def attachment(size: int, title: str = "ECG") -> dict[str, Any]:
    return {
        "contentType": "application/pdf",
        "data": base64.b64encode(b"%PDF" + b"7" * (size - 4)).decode(),
        "title": title,
    }


async def subscribe(live: Live, user: str, topic: str, criteria: str) -> str:
    r = await live.client.post(
        "/fhir/Subscription",
        json=subscription(topic, endpoint=live.receiver.url, filters=(criteria,)),
        headers=live.auth(user),
    )
    assert r.status_code == 201, r.text
    sub_id = str(r.json()["id"])

    async def active() -> bool:
        s = await live.get(user, f"Subscription/{sub_id}")
        return bool(s.json().get("status") == "active")

    await wait_for(active, 20, f"Subscription/{sub_id} active")
    return sub_id


def focus_of(live: Live, sub_id: str) -> list[str]:
    """The focus references of the event notifications received for ``sub_id``."""
    found = []
    for n in live.receiver.of_kind("event-notification"):
        if str(n.param("subscription").get("reference", "")).endswith(f"Subscription/{sub_id}"):
            found += [str(e["focus"]["reference"]) for e in n.events]
    return found


def test_messages_both_ways_threaded_and_notified(url: str, tmp_path: Path) -> None:
    async def body(live: Live) -> None:
        r = await live.op(
            "bs.an",
            "ServiceRequest/$consult-request",
            params(patient={"reference": f"Patient/{PATIENT}"}, performer={"reference": f"Organization/{HOSPITAL}"},
                   question="Tổn thương da lan rộng?", summary="Ban đỏ, ngứa 2 tuần", priority="routine"),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        tid = out(r.json(), "task")[0]["id"]
        target = {"reference": f"Task/{tid}"}

        # the station hears about its consult's changes; the specialist, once accepted, about new messages
        station_sub = await subscribe(live, "bs.an", "consult-task", "Task?requester=Practitioner/bs-an")
        r = await live.op("bs.binh", "Task/$consult-accept", params(task=target))
        assert r.status_code == 200, r.text
        await wait_for(
            lambda: any(f.startswith(f"Task/{tid}") for f in focus_of(live, station_sub)), 20, "accepted"
        )
        hospital_sub = await subscribe(
            live, "bs.binh", "consult-message", "Communication?recipient=Practitioner/bs-binh"
        )

        r = await live.op(
            "bs.an", "Task/$consult-message", params(task=target, attachment=attachment(5000, "ảnh lớn"))
        )
        assert r.status_code == 413, r.text
        assert "5000 bytes, the limit is 4096 bytes" in r.text and "ảnh lớn" in r.text
        r = await live.op(
            "bs.an", "Task/$consult-message",
            params(task=target, text="Ảnh tổn thương chụp lại sáng nay", attachment=attachment(3000, "ảnh da")),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        first = out(r.json(), "communication")[0]
        assert first["recipient"] == [
            {"reference": "Practitioner/bs-binh", "display": "BS CKII. Trần Thị Bình"}
        ]
        assert first["payload"][1]["contentAttachment"]["size"] == 3000
        seconds = await wait_for(
            lambda: f"Communication/{first['id']}" in [f.split("/_history")[0] for f in focus_of(live, hospital_sub)],
            20, "the specialist is notified of the new message",
        )  # fmt: skip
        assert seconds < 10

        r = await live.op(
            "bs.binh", f"Task/{tid}/$consult-message",
            params(text="Nghĩ chàm tiếp xúc; bôi corticoid 7 ngày", inResponseTo={"reference": f"Communication/{first['id']}"}),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        reply = out(r.json(), "communication")[0]
        assert reply["inResponseTo"] == [{"reference": f"Communication/{first['id']}"}]
        assert reply["recipient"][0]["reference"] == "Practitioner/bs-an"
        r = await live.op(
            "bs.binh",
            f"Task/{tid}/$consult-message",
            params(text="x", inResponseTo={"reference": "Communication/nope"}),
        )
        assert r.status_code == 422
        r = await live.op("bs.dung", "Task/$consult-message", params(task=target, text="xin chào"))
        assert r.status_code == 403

        r = await live.get("bs.an", "Task/$consult-case", task=tid)
        assert r.status_code == 200, r.text
        thread = [
            e["resource"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "Communication"
        ]
        assert [m["id"] for m in thread] == [first["id"], reply["id"]]
        assert f"Communication/{reply['id']}" not in [
            f.split("/_history")[0] for f in focus_of(live, hospital_sub)
        ]

        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT query, outcome, patients FROM audit_event WHERE res_id = %s AND query = 'consult-message'",
                (tid,),
            ).fetchall()
        assert sorted(o for _, o, _ in rows) == ["denied", "success", "success"]
        assert all(PATIENT in p for _, o, p in rows if o == "success")

    async def main() -> None:
        async with live_platform(url, tmp_path) as live:
            await body(live)

    asyncio.run(main())
