"""Remote visits through the REST API on PostgreSQL: a citizen books a telehealth Slot for a condition of
Circular 30/2023 (outside the list: a warning, or a refusal when configured to block), two bookings of one
Slot cannot both succeed, the booked Appointment admits both participants to its video room, the doctor
starts and finishes the visit (Encounter class VR with start, end, channel, practitioner, diagnoses) and
prescribes (MedicationRequests, prescription document, e-prescription message); every step is audited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from referral_support import FHIR, outcome, param, params, run_api

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.fhir.terminology import icd10_vn
from senhealth.telehealth.rooms.admission import RoomRefused, admit
from senhealth.telehealth.rooms.config import VideoConfig
from senhealth.telehealth.visits import condition_list, configure, get_config, match_condition


@pytest.fixture
def settings(schema_url: str, tmp_path: Path) -> Iterator[Settings]:
    migrate(schema_url)
    saved = get_config().model_dump()
    try:
        yield Settings(database_url=schema_url, data_dir=tmp_path, public_url="https://sen.example.vn")
    finally:
        configure(**saved)


def test_the_list_of_circular_30() -> None:
    data = condition_list()
    assert data.declared_count == 50 and 30 <= len(data.conditions) <= 50
    first = [(r.stt, r.icd10) for r in data.conditions if r.verified]
    assert first == [(1, ("E66",)), (2, ("J00",)), (3, ("J31.1",)), (4, ("K12.0",)), (5, ("K14.1",)),
                     (6, ("K06.9",)), (7, ("M25.5",)), (8, ("M53.1",))]  # fmt: skip
    assert all(r.note for r in data.conditions if not r.verified)  # what is unsure says why
    for row in data.conditions:  # every code and range end is a code of the Ministry's ICD-10 list
        for item in row.icd10:
            for code in item.split("-"):
                assert icd10_vn.lookup(code) is not None, (row.name_vi, code)
    hypertension = match_condition("I10")
    assert hypertension is not None and hypertension.name_vi == "Tăng huyết áp"
    diabetes = match_condition("E11.9")
    assert diabetes is not None and diabetes.name_vi == "Đái tháo đường"
    assert match_condition("J31.1") is not None and match_condition("J31.0") is None
    assert match_condition("E660") is not None and match_condition("e66.0") is not None
    assert match_condition("E15") is None and match_condition("S52.5") is None and match_condition("") is None


def test_booking_inside_and_outside_the_list(settings: Settings) -> None:
    tokens: dict[str, Principal] = {}

    async def scenario(c: httpx.AsyncClient, store: FhirStore) -> None:
        def book(who: str, **values: Any) -> Any:
            return c.post("/fhir/Appointment/$book-remote-visit", json=params(**values),
                          headers={**FHIR, "Authorization": f"Bearer {who}"})  # fmt: skip

        configure(outside_list="warn")
        # a citizen books for themselves only
        outcome(await book("nam", slot="Slot/slot-0", condition="I10", patient="Patient/p-hoa"), 403)
        outcome(await book("hoa", slot="Slot/slot-0", condition="X99.99"), 400)  # not an ICD-10 code
        outcome(await book("hoa", slot="Slot/slot-clinic", condition="I10"), 422)  # not a telehealth Slot
        r = await book("hoa", slot="Slot/slot-0", condition="I10", reason="Tái khám tăng huyết áp")
        assert r.status_code == 201, r.text
        body = r.json()
        appointment = param(body, "appointment")
        assert param(body, "listed") is True
        assert {p["name"]: p.get("valueString") for p in param(body, "condition")}["name"] == "Tăng huyết áp"
        assert appointment["status"] == "booked" and appointment["slot"] == [{"reference": "Slot/slot-0"}]
        actors = {p["actor"]["reference"] for p in appointment["participant"]}
        assert {"Patient/p-hoa", "Practitioner/bs-binh"} <= actors
        assert appointment["serviceType"][0]["coding"][0]["code"] == "remote-visit"
        assert param(body, "slot")["status"] == "busy"
        outcome(await book("hoa", slot="Slot/slot-0", condition="I10"), 409)  # taken

        # outside the list: booked with a warning (warn) ...
        r = await book("binh", slot="Slot/slot-1", condition="S52.5", patient="Patient/p-nam")
        assert r.status_code == 201, r.text
        assert param(r.json(), "listed") is False
        warning = param(r.json(), "warning")
        assert (
            warning["issue"][0]["severity"] == "warning"
            and "Circular 30/2023" in warning["issue"][0]["diagnostics"]
        )
        marked = param(r.json(), "appointment")["extension"][1]["extension"][0]
        assert marked == {"url": "listed", "valueBoolean": False}
        # ... or refused (block), the Slot left free
        configure(outside_list="block")
        text = outcome(
            await book("binh", slot="Slot/slot-2", condition="S52.5", patient="Patient/p-nam"), 422
        )
        assert "Circular 30/2023" in text
        assert (await store.read("Slot", "slot-2")).content["status"] == "free"  # type: ignore[index]
        r = await book("binh", slot="Slot/slot-2", condition="E11.9", patient="Patient/p-nam")
        assert r.status_code == 201, r.text

        # two bookings of one Slot at once: one wins
        first, second = await asyncio.gather(
            book("hoa", slot="Slot/slot-3", condition="J45.9"),
            book("nam", slot="Slot/slot-3", condition="E78.5"),
        )
        assert sorted([first.status_code, second.status_code]) == [201, 409], (first.text, second.text)

        # the video room is bound to the Appointment: both participants enter, others do not
        start = datetime.fromisoformat(appointment["start"].replace("Z", "+00:00"))
        config = VideoConfig()
        for who, expected in (("hoa", "Patient/p-hoa"), ("binh", "Practitioner/bs-binh")):
            admission = await admit(store, tokens[who], appointment["id"], config=config, now=start)
            assert admission.participant == expected
        with pytest.raises(RoomRefused) as refused:
            await admit(store, tokens["nam"], appointment["id"], config=config, now=start)
        assert refused.value.status == 403
        with pytest.raises(RoomRefused):  # not yet open a day before
            await admit(store, tokens["hoa"], appointment["id"], config=config, now=start - timedelta(days=1))

        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM audit_event WHERE query = 'remote-visit-book' AND res_type = 'Appointment'"
            )
            row = await cur.fetchone()
        assert row is not None and row[0] == 4  # slot-0, slot-1, slot-2 (E11.9), slot-3 (one of two)

    run_api(settings, scenario, tokens)


def test_visit_encounter_and_e_prescription(settings: Settings) -> None:
    tokens: dict[str, Principal] = {}

    async def scenario(c: httpx.AsyncClient, store: FhirStore) -> None:
        def post(who: str, path: str, body: dict[str, Any]) -> Any:
            return c.post(f"/fhir/{path}", json=body, headers={**FHIR, "Authorization": f"Bearer {who}"})

        r = await post(
            "hoa",
            "Appointment/$book-remote-visit",
            params(slot="Slot/slot-0", condition="I10", channel="phone"),
        )
        assert r.status_code == 201, r.text
        aid = param(r.json(), "appointment")["id"]

        outcome(await post("tam", f"Appointment/{aid}/$start-remote-visit", params()), 403)  # not her doctor
        outcome(await post("hoa", f"Appointment/{aid}/$start-remote-visit", params()), 403)
        r = await post("binh", f"Appointment/{aid}/$start-remote-visit", params())
        assert r.status_code == 201, r.text
        enc = param(r.json(), "encounter")
        assert enc["class"]["code"] == "VR" and enc["status"] == "in-progress" and enc["period"]["start"]
        assert enc["type"][0]["coding"][0]["code"] == "phone"  # the channel booked
        assert enc["participant"][0]["individual"] == {"reference": "Practitioner/bs-binh"}
        assert enc["serviceProvider"] == {"reference": "Organization/bv-tinh"}
        assert enc["appointment"] == [{"reference": f"Appointment/{aid}"}]
        outcome(await post("binh", f"Appointment/{aid}/$start-remote-visit", params()), 409)  # once
        eid = enc["id"]

        drug = {"part": [{"name": "name", "valueString": "Amlodipin 5 mg"}, {"name": "quantity", "valueDecimal": 30},
                         {"name": "unit", "valueString": "viên"}, {"name": "dosage", "valueString": "Uống 1 viên buổi sáng"},
                         {"name": "days", "valueInteger": 30}, {"name": "code", "valueString": "40.17"}]}  # fmt: skip
        outcome(
            await post("binh", f"Encounter/{eid}/$remote-prescription", params(medication=drug)), 409
        )  # no diagnosis yet
        outcome(await post("binh", f"Encounter/{eid}/$finish-remote-visit", params()), 400)
        r = await post("binh", f"Encounter/{eid}/$finish-remote-visit",
                       params(diagnosis=[{"valueCode": "I10"}, {"valueCode": "E78.5"}],
                              findings="HA đo tại nhà 150/90 mmHg, không đau ngực"))  # fmt: skip
        assert r.status_code == 200, r.text
        done = param(r.json(), "encounter")
        assert done["status"] == "finished" and done["period"]["end"] >= done["period"]["start"]
        assert [d["rank"] for d in done["diagnosis"]] == [1, 2]
        impression = param(r.json(), "impression")
        assert "150/90" in impression["description"]
        appointment = (await store.read("Appointment", aid)).content
        assert appointment is not None and appointment["status"] == "fulfilled"

        r = await post("binh", f"Encounter/{eid}/$remote-prescription",
                       params(medication=drug, advice="Ăn nhạt, tập thể dục", revisitDate="2027-01-15"))  # fmt: skip
        assert r.status_code == 201, r.text
        request = param(r.json(), "medicationRequest")
        assert request["encounter"] == {"reference": f"Encounter/{eid}"} and request["intent"] == "order"
        assert request["requester"] == {"reference": "Practitioner/bs-binh"}
        composition = param(r.json(), "composition")
        assert composition["type"]["coding"][0]["code"] == "57833-6"
        message = json.loads(param(r.json(), "ePrescription"))
        payload = message["don_thuoc"]
        assert payload["ma_dinh_danh_cong_dan"] == "036185001234"
        assert [d["ma_chan_doan"] for d in payload["chan_doan"]] == ["I10", "E78.5"]
        assert payload["thong_tin_don_thuoc"][0]["ten_thuoc"].startswith("Amlodipin")
        assert (
            payload["thong_tin_don_thuoc"][0]["so_luong"] == "30"
            and payload["loi_dan"] == "Ăn nhạt, tập thể dục"
        )
        assert message["nguoi_gui"]["ma_lien_thong_bac_si"] == "004567/BYT-CCHN"
        # the existing exchange operation gives the same message for the stored prescription
        r = await c.get(f"/fhir/Composition/{composition['id']}/$e-prescription",
                        headers={"Authorization": "Bearer binh"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["don_thuoc"]["ma_don_thuoc"] == payload["ma_don_thuoc"]

        # a patient without a personal ID gets no e-prescription (nothing written)
        r = await post(
            "binh",
            "Appointment/$book-remote-visit",
            params(slot="Slot/slot-1", condition="J00", patient="Patient/p-nam"),
        )
        nam = param(r.json(), "appointment")["id"]
        eid2 = param(
            (await post("binh", f"Appointment/{nam}/$start-remote-visit", params())).json(), "encounter"
        )["id"]
        assert (
            await post("binh", f"Encounter/{eid2}/$finish-remote-visit", params(diagnosis="J00"))
        ).status_code == 200
        outcome(await post("binh", f"Encounter/{eid2}/$remote-prescription", params(medication=drug)), 422)
        found = await c.get(
            f"/fhir/MedicationRequest?encounter=Encounter/{eid2}", headers={"Authorization": "Bearer binh"}
        )
        assert found.json().get("total", len(found.json().get("entry", []))) == 0

        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT query, principal_subject FROM audit_event WHERE query LIKE 'remote-visit-%%' "
                "AND patients @> ARRAY['p-hoa'] ORDER BY recorded, pos"
            )
            rows = await cur.fetchall()
        assert [q for q, _ in rows] == [
            "remote-visit-book", "remote-visit-start", "remote-visit-finish", "remote-visit-prescribe",
        ]  # fmt: skip
        assert rows[0][1] == tokens["hoa"].subject and rows[1][1] == tokens["binh"].subject

    run_api(settings, scenario, tokens)
