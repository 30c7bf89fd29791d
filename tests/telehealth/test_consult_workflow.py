"""Teleconsultation between facilities through the platform's REST API on loopback (real HTTP, real
PostgreSQL, the assembled app with its role policy, audit log and ``$sign``; a test PKI).

Must show (issue 9): the workflow from request to a signed conclusion present in both records, every step
audited; also: the decline path, a clinician of a third facility refused (and the refusal audited).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
from consult_support import (
    DISTRICT,
    HOSPITAL,
    PATIENT,
    PATIENT_AT_HOSPITAL,
    STATION,
    Live,
    live_platform,
    out,
    params,
)

from senhealth.core.migrate import migrate
from senhealth.emr.signatures import canonical_document

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()  # a synthetic "photo"


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    yield schema_url


def run(url: str, tmp_path: Path, body: Callable[[Live], Awaitable[None]]) -> None:
    async def main() -> None:
        async with live_platform(url, tmp_path) as live:
            await body(live)

    asyncio.run(main())


async def request(live: Live, **extra: object) -> dict[str, object]:
    r = await live.op(
        "bs.an",
        "ServiceRequest/$consult-request",
        params(
            patient={"reference": f"Patient/{PATIENT}"},
            performer={"reference": f"Organization/{HOSPITAL}"},
            question="Đau ngực, ST chênh lên: có cần chuyển tuyến can thiệp? / chest pain with ST elevation",
            summary="Nữ 67 tuổi, đau ngực 2 giờ, HA 150/90, mạch 98. Điện tim và troponin đính kèm.",
            priority="urgent",
            reason={
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I20.0"}],
                "text": "Đau thắt ngực",
            },
            encounter={"reference": "Encounter/enc-lan-1"},
            supportingInfo=[{"reference": "Observation/ecg-lan-1"}, {"reference": "Observation/trop-lan-1"}],
            attachment={"contentType": "image/png", "data": PNG, "title": "Ảnh điện tim / ECG photo"},
            **extra,
        ),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def audit_rows(url: str, task_id: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT query, outcome, coalesce(principal_subject, '') FROM audit_event "
            "WHERE res_id = %s AND query LIKE 'consult-%%' ORDER BY seq",
            (task_id,),
        ).fetchall()
    return [(str(q), str(o), str(s)) for q, o, s in rows]


def test_request_to_a_signed_conclusion_in_both_records(url: str, tmp_path: Path) -> None:
    async def body(live: Live) -> None:
        answer = await request(live)
        task, sr = out(answer, "task")[0], out(answer, "serviceRequest")[0]
        media = out(answer, "media")
        tid = task["id"]
        assert task["status"] == "requested" and task["intent"] == "order"
        assert task["focus"] == {"reference": f"ServiceRequest/{sr['id']}"}
        assert task["owner"]["reference"] == f"Organization/{HOSPITAL}"
        authored = datetime.fromisoformat(task["authoredOn"])
        due = datetime.fromisoformat(task["restriction"]["period"]["end"])
        assert due - authored == timedelta(hours=24)  # urgent
        assert (
            sr["category"][0]["coding"][0]["code"] == "11429006"
            and sr["requester"]["reference"] == "Practitioner/bs-an"
        )
        assert {s["reference"] for s in sr["supportingInfo"]} == {
            "Observation/ecg-lan-1", "Observation/trop-lan-1", f"Media/{media[0]['id']}",
        }  # fmt: skip
        assert media[0]["content"]["size"] == 8 + 1024 and media[0]["subject"] == {
            "reference": f"Patient/{PATIENT}"
        }

        # before accepting, the hospital cannot read the station's patient: the consult shows it the case
        r = await live.get("bs.binh", f"Task/{tid}")
        assert r.status_code == 404
        r = await live.get("bs.binh", "Task/$consult-case", task=tid)
        assert r.status_code == 200, r.text
        kinds = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in r.json()["entry"]}
        assert {
            f"Task/{tid}",
            f"Patient/{PATIENT}",
            "Observation/ecg-lan-1",
            f"Media/{media[0]['id']}",
        } <= kinds

        # a clinician of a third facility is refused at every step
        for op in ("case", "accept", "message"):
            r = await live.op(
                "bs.dung", f"Task/$consult-{op}", params(task={"reference": f"Task/{tid}"}, text="?")
            )
            assert r.status_code == 403, (op, r.text)
        r = await live.op("bs.an", "Task/$consult-accept", params(task={"reference": f"Task/{tid}"}))
        assert r.status_code == 403  # the requesting side does not accept its own request

        r = await live.op(
            "bs.binh", "Task/$consult-accept", params(task={"reference": f"Task/{tid}"}, note="Nhận")
        )
        assert r.status_code == 200, r.text
        accepted = out(r.json(), "task")[0]
        assert accepted["status"] == "accepted" and accepted["owner"]["reference"] == "Practitioner/bs-binh"
        r = await live.op("bs.cuong", f"Task/{tid}/$consult-accept", params())
        assert r.status_code == 409, (
            r.text
        )  # taken: the instance level works now that the hospital cares for her

        start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        r = await live.op("bs.cuong", f"Task/{tid}/$consult-schedule", params(start=start.isoformat()))
        assert r.status_code == 403  # only the specialist who accepted
        r = await live.op(
            "bs.binh", f"Task/{tid}/$consult-schedule", params(start=start.isoformat(), minutes=20)
        )
        assert r.status_code == 201, r.text
        appt, slot = out(r.json(), "appointment")[0], out(r.json(), "slot")[0]
        assert appt["status"] == "booked" and slot["status"] == "busy"
        actors = {p["actor"]["reference"] for p in appt["participant"]}
        assert {"Practitioner/bs-binh", "Practitioner/bs-an", f"Patient/{PATIENT}"} == actors
        assert out(r.json(), "roomTokenPath") == [f"/api/telehealth/rooms/{appt['id']}/token"]
        r = await live.op(
            "bs.binh",
            f"Task/{tid}/$consult-schedule",
            params(start=(start + timedelta(minutes=10)).isoformat()),
        )
        assert r.status_code == 409 and "already booked" in r.text

        r = await live.op("bs.cuong", f"Task/{tid}/$consult-conclude", params(conclusion="x"))
        assert r.status_code == 403
        r = await live.op(
            "bs.binh",
            f"Task/{tid}/$consult-conclude",
            params(
                conclusion="Hội chứng vành cấp có ST chênh lên: chuyển ngay lên Bệnh viện tỉnh để can thiệp.",
                recommendation="Aspirin 300 mg nhai, clopidogrel 300 mg; gọi 115.",
                diagnosis={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.0"}]},
            ),
        )
        assert r.status_code == 201, r.text
        done = r.json()
        assert out(done, "task")[0]["status"] == "completed"
        document = out(done, "document")[0]
        assert document["type"] == "document" and document["signature"]["sigFormat"] == "application/jose"
        copies = out(done, "documentReference")
        assert {c["custodian"]["reference"] for c in copies} == {
            f"Organization/{STATION}",
            f"Organization/{HOSPITAL}",
        }
        comp_id = out(done, "composition")[0]["id"]

        # each facility's clinicians find the signed conclusion in their own record of the patient
        for user, subject, custodian in (
            ("bs.an", PATIENT, STATION),
            ("bs.binh", PATIENT_AT_HOSPITAL, HOSPITAL),
        ):
            r = await live.get(
                user, "DocumentReference", subject=f"Patient/{subject}", type="http://loinc.org|11488-4"
            )
            assert r.status_code == 200, r.text
            entries = [e["resource"] for e in r.json().get("entry", [])]
            assert len(entries) == 1, (user, entries)
            attachment = entries[0]["content"][0]["attachment"]
            raw = base64.b64decode(attachment["data"])
            assert entries[0]["custodian"]["reference"] == f"Organization/{custodian}"
            assert attachment["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()
            kept = orjson.loads(raw)
            assert kept["signature"] == document["signature"]
            assert canonical_document(kept) == canonical_document(document)  # the signed bytes, intact
            r = await live.get(user, f"Composition/{comp_id}/$verify")
            assert r.status_code == 200, r.text
            valid = out(r.json(), "valid")
            assert valid == [True], r.text[:600]
        for copy in copies:  # and nobody else does
            r = await live.get("bs.dung", f"DocumentReference/{copy['id']}")
            assert r.status_code == 404

        r = await live.get("bs.an", f"ServiceRequest/{sr['id']}")
        assert r.json()["status"] == "completed"
        r = await live.op("bs.binh", f"Task/{tid}/$consult-conclude", params(conclusion="lần nữa"))
        assert r.status_code == 409

        rows = audit_rows(url, tid)
        steps = [q for q, outcome, _ in rows if outcome == "success"]
        for step in (
            "consult-request",
            "consult-case",
            "consult-accept",
            "consult-schedule",
            "consult-conclude",
        ):
            assert step in steps, (step, rows)
        denied = [q for q, outcome, _ in rows if outcome == "denied"]
        assert {
            "consult-case",
            "consult-accept",
            "consult-message",
            "consult-schedule",
            "consult-conclude",
        } <= set(denied), rows

    run(url, tmp_path, body)


def test_decline_needs_a_reason_and_closes_the_consult(url: str, tmp_path: Path) -> None:
    async def body(live: Live) -> None:
        answer = await request(live, specialist={"reference": "Practitioner/bs-binh"})
        tid = out(answer, "task")[0]["id"]
        target = {"reference": f"Task/{tid}"}
        r = await live.op("bs.cuong", "Task/$consult-decline", params(task=target, reason="bận"))
        assert r.status_code == 403 and "names another specialist" in r.text  # the request named Dr Bình
        r = await live.op("bs.binh", "Task/$consult-decline", params(task=target))
        assert r.status_code == 400
        r = await live.op(
            "bs.binh", "Task/$consult-decline", params(task=target, reason="Ngoài chuyên khoa tim mạch")
        )
        assert r.status_code == 200, r.text
        task = out(r.json(), "task")[0]
        assert task["status"] == "rejected" and task["statusReason"]["text"] == "Ngoài chuyên khoa tim mạch"
        for op in ("accept", "message"):
            r = await live.op("bs.binh", f"Task/$consult-{op}", params(task=target, text="?"))
            assert r.status_code == 409, (op, r.text)
        r = await live.get("bs.binh", f"Patient/{PATIENT}")
        assert r.status_code == 404  # declined: the hospital never got access to her record
        r = await live.op(
            "bs.an",
            "ServiceRequest/$consult-request",
            params(patient={"reference": "Patient/p-khac"}, performer={"reference": f"Organization/{DISTRICT}"},
                   question="?", summary="?"),
        )  # fmt: skip
        assert r.status_code == 422  # not a patient of the station
        assert [q for q, o, _ in audit_rows(url, tid) if o == "success"] == [
            "consult-request",
            "consult-decline",
        ]

    run(url, tmp_path, body)
