"""A referral round trip through the REST API, PostgreSQL and the test PKI: the commune station refers a
patient to the provincial hospital, the hospital accepts, the station drafts, signs (``$sign``) and sends
the referral paper with its claim table XML13, the patient arrives, the hospital drafts, signs and returns
the letter; every step is in the Task's history and in the audit log, each by the person who took it.
The XML13 is checked against the field table of Decision 3176 (types, sizes, required fields)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from referral_support import (
    FHIR,
    HOSPITAL_CODE,
    STATION_CODE,
    TestPki,
    b64,
    make_test_pki,
    outcome,
    param,
    params,
    run_api,
)

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.emr.claims.tables import table
from senhealth.emr.claims.validate import validate_table
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.telehealth.referrals.papers import RETURN_TITLE

#: Required in XML13 (docs/claims.md: the keys and what every explanation asks for).
XML13_REQUIRED = ["MA_LK", "SO_HOSO", "MA_CSKCB", "MA_CSKCB_DEN", "HO_TEN", "NGAY_SINH", "GIOI_TINH", "NGAY_VAO", "NGAY_RA", "CHAN_DOAN_RV", "MA_BENH_CHINH", "MA_LOAI_RV", "MA_LYDO_CT"]  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[TestPki]:
    with make_test_pki(tmp_path) as running:
        for user in ("bs.an", "bs.binh", "bs.tam"):
            running.issue_user(user)
        yield running


@pytest.fixture
def settings(schema_url: str, tmp_path: Path) -> Settings:
    migrate(schema_url)
    return Settings(database_url=schema_url, data_dir=tmp_path, public_url="https://sen.example.vn")


def _check_against_field_table(xml: bytes) -> dict[str, str]:
    """Every field of the record: known, in the table's order, of the table's type and size; the required
    ones present. Returns the record."""
    spec = table("XML13")
    root = etree.fromstring(xml)
    assert root.tag == "CHI_TIEU_GIAYCHUYENTUYEN"
    record = {child.tag: child.text or "" for child in root}
    names = [f.name for f in spec.fields]
    assert list(record) == [n for n in names if n in record], "fields out of the table's order"
    for name, value in record.items():
        field = spec.field(name)
        assert field is not None, f"XML13 has no field {name}"
        if value and field.max_size is not None:
            assert len(value.replace(".", "")) <= field.max_size, (name, value, field.max_size)
        if value and field.kind == "number":
            assert value.replace(".", "", 1).isdigit(), (name, value)
    for name in XML13_REQUIRED:
        assert record.get(name), f"required XML13 field {name} is empty"
    return record


def test_referral_round_trip(settings: Settings, pki: TestPki) -> None:
    tokens: dict[str, Principal] = {}

    async def scenario(c: httpx.AsyncClient, store: FhirStore) -> None:
        def post(who: str, path: str, body: dict[str, Any]) -> Any:
            return c.post(f"/fhir/{path}", json=body, headers={**FHIR, "Authorization": f"Bearer {who}"})

        # 1. request (the station's doctor); a hospital doctor may not refer the station's patient
        request = params(destination="Organization/bv-tinh", reasonCode="2", plan="Chụp CT sọ não, điều trị tiêu sợi huyết",
                         state="Tỉnh, liệt nửa người phải, HA 170/100 mmHg", transport="Xe cứu thương của trạm",
                         escortName="Đỗ Thị Lan", escortTitle="Điều dưỡng", clinicalSigns="Yếu nửa người phải, nói khó",
                         course="Khởi phát 2 giờ trước khi đến trạm", results="Đường máu mao mạch 7,2 mmol/L",
                         treatment="Thở oxy, theo dõi huyết áp")  # fmt: skip
        outcome(await post("binh", "Encounter/enc-tyt-1/$referral-request", request), 403)
        r = await post("an", "Encounter/enc-tyt-1/$referral-request", request)
        assert r.status_code == 201, r.text
        task = param(r.json(), "task")
        tid = task["id"]
        assert param(r.json(), "step") == "requested" and task["owner"]["reference"] == "Organization/bv-tinh"
        sr = param(r.json(), "serviceRequest")
        assert sr["category"][0]["coding"][0]["code"] == "3457005"
        assert [c["coding"][0]["code"] for c in sr["reasonCode"]] == ["I63.9", "I10"]  # the visit's diagnoses

        # 2. acceptance: only the destination's staff
        outcome(await post("an", f"Task/{tid}/$referral-accept", params(decision="accept")), 403)
        outcome(
            await post("binh", f"Task/{tid}/$referral-send-summary", params(summary="Composition/x")), 409
        )
        r = await post(
            "binh", f"Task/{tid}/$referral-accept", params(decision="accept", note="Đã báo khoa Thần kinh")
        )
        assert r.status_code == 200 and param(r.json(), "step") == "accepted", r.text
        outcome(await post("binh", f"Task/{tid}/$referral-accept", params(decision="accept")), 409)

        # 3. the summary: drafted from the encounter (which the referral ends), signed, sent with XML13
        outcome(await post("binh", f"Task/{tid}/$referral-draft-summary", params()), 403)
        r = await post("an", f"Task/{tid}/$referral-draft-summary", params())
        assert r.status_code == 200, r.text
        paper = param(r.json(), "composition")
        assert paper["type"]["coding"][0]["code"] == "57133-1" and paper["status"] == "preliminary"
        sections = {s["id"]: s["text"]["div"] for s in paper["section"]}
        assert (
            "liệt nửa người phải" in sections["transfer-state"] and "Xe cứu thương" in sections["transport"]
        )
        assert "Bệnh viện Đa khoa tỉnh Sen Hồng" in sections["referral-reason"]
        enc = (await c.get("/fhir/Encounter/enc-tyt-1", headers={"Authorization": "Bearer an"})).json()
        assert enc["status"] == "finished" and enc["period"].get("end")
        text = outcome(
            await post(
                "an", f"Task/{tid}/$referral-send-summary", params(summary=f"Composition/{paper['id']}")
            ),
            409,
        )
        assert "$sign" in text  # not signed yet
        r = await post("an", f"Composition/{paper['id']}/$sign", params())
        assert r.status_code == 201, r.text
        r = await post(
            "an", f"Task/{tid}/$referral-send-summary", params(summary=f"Composition/{paper['id']}")
        )
        assert r.status_code == 200, r.text
        assert param(r.json(), "step") == "summary-sent"
        reference = param(r.json(), "xml13")
        xml = b64(reference["content"][0]["attachment"]["data"])
        assert validate_table("XML13", xml) == []
        record = _check_against_field_table(xml)
        assert record["MA_CSKCB"] == STATION_CODE and record["MA_CSKCB_DEN"] == HOSPITAL_CODE
        assert record["MA_BENH_CHINH"] == "I63.9" and record["MA_BENH_KT"] == "I10"
        assert record["MA_LYDO_CT"] == "2" and record["MA_LOAI_RV"] == "2"
        assert record["HO_TEN"] == "Nguyễn Thị Hoa" and record["NGAY_SINH"].startswith("19580412")
        assert record["GIOI_TINH"] == "2" and record["TINH_TRANG_CT"].startswith("Tỉnh, liệt")
        assert (
            record["PHUONGTIEN_VC"] == "Xe cứu thương của trạm" and record["HOTEN_NGUOI_HT"] == "Đỗ Thị Lan"
        )
        assert record["GIAY_CHUYEN_TUYEN"] == record["SO_HOSO"] and record["SO_HOSO"].startswith(STATION_CODE)
        verify = await c.get(
            f"/fhir/Composition/{paper['id']}/$verify", headers={"Authorization": "Bearer an"}
        )
        assert verify.status_code == 200 and param(verify.json(), "valid") is True, verify.text

        # 4. arrival at the hospital (an encounter there, based on the referral)
        outcome(await post("an", f"Task/{tid}/$referral-arrive", params()), 403)
        r = await post("binh", f"Task/{tid}/$referral-arrive", params(**{"class": "IMP"}))
        assert r.status_code == 200, r.text
        arrived = param(r.json(), "encounter")
        assert arrived["serviceProvider"]["reference"] == "Organization/bv-tinh"
        assert arrived["hospitalization"]["origin"]["reference"] == "Organization/tyt-hoa-binh"
        assert arrived["basedOn"] == [{"reference": f"ServiceRequest/{sr['id']}"}]

        # 5. the return letter: drafted, signed by the hospital's doctor, sent back to the station
        r = await post("binh", f"Task/{tid}/$referral-draft-return",
                       params(course="Tiêu sợi huyết trong 4,5 giờ; hồi phục vận động một phần",
                              advice="Tái khám tại trạm mỗi tháng, kiểm soát huyết áp"))  # fmt: skip
        assert r.status_code == 200, r.text
        letter = param(r.json(), "composition")
        assert (
            letter["title"] == RETURN_TITLE
            and letter["encounter"]["reference"] == f"Encounter/{arrived['id']}"
        )
        outcome(
            await post("binh", f"Task/{tid}/$referral-return", params(letter=f"Composition/{letter['id']}")),
            409,
        )
        outcome(
            await post("binh", f"Task/{tid}/$referral-return", params(letter=f"Composition/{paper['id']}")),
            422,
        )
        r = await post("binh", f"Composition/{letter['id']}/$sign", params())
        assert r.status_code == 201, r.text
        r = await post("binh", f"Task/{tid}/$referral-return", params(letter=f"Composition/{letter['id']}"))
        assert r.status_code == 200, r.text
        done = param(r.json(), "task")
        assert param(r.json(), "step") == "completed" and done["status"] == "completed"
        assert param(r.json(), "serviceRequest")["status"] == "completed"
        sent = param(r.json(), "communication")
        assert {"reference": "Organization/tyt-hoa-binh"} in sent["recipient"]
        # the station reads the letter in its own record
        r = await c.get(f"/fhir/Composition/{letter['id']}", headers={"Authorization": "Bearer an"})
        assert r.status_code == 200 and "Tiêu sợi huyết" in str(r.json()["section"])
        outcome(
            await post("binh", f"Task/{tid}/$referral-return", params(letter=f"Composition/{letter['id']}")),
            409,
        )

        # every step: a version of the Task and an audit event by the person who took it
        history = (await c.get(f"/fhir/Task/{tid}/_history", headers={"Authorization": "Bearer binh"})).json()
        assert len(history["entry"]) == 7, history
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT query, principal_subject, details->>'after' FROM audit_event "
                "WHERE res_type = 'Task' AND res_id = %s AND query LIKE 'referral-%%' ORDER BY recorded, pos",
                (tid,),
            )
            rows = await cur.fetchall()
        who = {p.subject: name for name, p in tokens.items()}
        assert [(q, who[s]) for q, s, _ in rows] == [
            ("referral-request", "an"),
            ("referral-accept", "binh"),
            ("referral-draft-summary", "an"),
            ("referral-send-summary", "an"),
            ("referral-arrive", "binh"),
            ("referral-draft-return", "binh"),
            ("referral-return", "binh"),
        ]
        assert rows[-1][2] == "completed"

    run_api(settings, scenario, tokens)


def test_a_declined_referral_goes_no_further(settings: Settings) -> None:
    tokens: dict[str, Principal] = {}

    async def scenario(c: httpx.AsyncClient, store: FhirStore) -> None:
        def post(who: str, path: str, body: dict[str, Any]) -> Any:
            return c.post(f"/fhir/{path}", json=body, headers={**FHIR, "Authorization": f"Bearer {who}"})

        outcome(await post("an", "Encounter/enc-tyt-1/$referral-request",
                           params(destination="Organization/bv-tinh", reasonCode="7")), 400)  # fmt: skip
        outcome(await post("an", "Encounter/enc-tyt-1/$referral-request",
                           params(destination="Organization/bv-tinh", reason="X99.99")), 400)  # fmt: skip
        outcome(await post("an", "Encounter/enc-tyt-1/$referral-request",
                           params(destination="Organization/tyt-hoa-binh")), 400)  # fmt: skip
        r = await post("an", "Encounter/enc-tyt-1/$referral-request",
                       params(destination="Organization/bv-tinh", reason="I10", reasonCode="3"))  # fmt: skip
        assert r.status_code == 201, r.text
        tid = param(r.json(), "task")["id"]
        outcome(
            await post("binh", f"Task/{tid}/$referral-accept", params(decision="decline")), 400
        )  # needs a note
        r = await post("binh", f"Task/{tid}/$referral-accept", params(decision="decline", note="Hết giường"))
        assert r.status_code == 200 and param(r.json(), "step") == "declined", r.text
        assert param(r.json(), "task")["status"] == "rejected"
        assert param(r.json(), "serviceRequest")["status"] == "revoked"
        for op, who in (
            ("referral-draft-summary", "an"),
            ("referral-arrive", "binh"),
            ("referral-accept", "binh"),
        ):
            body = params(decision="accept") if op == "referral-accept" else params()
            outcome(await post(who, f"Task/{tid}/${op}", body), 409)
        outcome(await post("an", "Task/unknown-task/$referral-accept", params(decision="accept")), 404)
        r = await c.post(f"/fhir/Task/{tid}/$referral-accept", json=params(decision="accept"), headers=FHIR)
        assert r.status_code == 401

    run_api(settings, scenario, tokens)
