"""The plan: priority order, the station's capacity a day on working days, re-planning keeps booked ones,
and the operations through the REST API (``create_app``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import Any

import httpx
from campaign_support import load_province, run_async, social_status

from senhealth.api import create_app
from senhealth.checkup.campaigns import (
    plan_campaign,
    register_campaign_operations,
    unregister_campaign_operations,
)
from senhealth.checkup.campaigns.schedule import priority_key, working_days
from senhealth.core.config import Settings
from senhealth.fhir.store import FhirStore


def test_working_days_skip_weekends_and_holidays() -> None:
    days = working_days(2026, holidays=[date(2026, 2, 17)])
    assert days[0] == date(2026, 1, 2)  # 1 January is a holiday
    assert all(d.weekday() < 5 for d in days)
    assert date(2026, 2, 17) not in days and date(2026, 9, 2) not in days and date(2026, 4, 30) not in days
    assert priority_key(("elderly",), None, "b") < priority_key(("disabled", "chronic"), None, "a")
    assert priority_key(("chronic",), None, "z") < priority_key((), None, "a")


def test_priority_order_and_capacity(schema_url: str) -> None:
    province = load_province(schema_url)
    station = province.busiest_station()
    registered = [p for p in province.of_type("Patient") if province.station_of(p) == station]
    youngest = max(registered, key=lambda p: p["birthDate"])

    async def scenario(store: FhirStore) -> Any:
        await store.update(social_status("dis-1", youngest["id"], "disability", "2020-01-01", "2030-12-31"))
        whole = await plan_campaign(store, 2026, capacity_per_day=3)
        return whole, await plan_campaign(store, 2026, communes=[station], capacity_per_day=3, persist=True)

    whole, plan = run_async(schema_url, scenario)
    ranks = []
    for c in whole.communes:  # every station's list is in priority order
        firsts = [priority_key(i.groups, None, "")[0] for i in c.invitations]
        assert firsts == sorted(firsts), c.station.commune_code
        ranks += firsts[:1]
    assert 0 in ranks and 5 in [
        priority_key(i.groups, None, "")[0] for c in whole.communes for i in c.invitations
    ]
    (commune,) = plan.communes
    invitations = commune.invitations
    assert len(invitations) == len(registered) and not commune.unscheduled
    # the disabled child: after the elderly, before the poor, chronic patients and everyone else
    by_id = {i.patient_id: i for i in invitations}
    assert by_id[youngest["id"]].groups == ("disabled",)
    order = [priority_key(i.groups, None, "")[0] for i in invitations]
    assert order == sorted(order) and order[0] == 1  # the disabled child first here
    assert [i.rank for i in invitations] == list(range(1, len(invitations) + 1))
    per_day = Counter(i.slot.day for i in invitations if i.slot)
    assert max(per_day.values()) == 3 and all(d.weekday() < 5 for d in per_day)
    days = [i.slot.start for i in invitations if i.slot]
    assert days == sorted(days)
    assert commune.months and sum(commune.months.values()) == len(invitations)

    async def replan(store: FhirStore) -> Any:
        first = invitations[0]
        stored = await store.read("Appointment", first.appointment_id)
        booked = dict(stored.content or {})
        booked["status"] = "booked"
        await store.update(booked)
        again = await plan_campaign(store, 2026, communes=[station], capacity_per_day=3, persist=True)
        kept = await store.read("Appointment", first.appointment_id)
        plan_row = await store.read("CarePlan", commune.care_plan_id)
        return again, kept.content, plan_row.content

    again, kept, care_plan = run_async(schema_url, replan)
    (commune2,) = again.communes
    assert kept is not None and kept["status"] == "booked"
    assert commune2.kept == 1 and len(commune2.invitations) == len(registered) - 1
    assert invitations[0].patient_id not in {i.patient_id for i in commune2.invitations}
    per_day2 = Counter(i.slot.day for i in commune2.invitations if i.slot)
    assert per_day2[invitations[0].slot.day if invitations[0].slot else date.min] == 2  # one place is taken
    assert care_plan is not None and care_plan["subject"]["reference"].startswith("Group/")
    assert (
        sum(a["detail"]["extension"][0]["valueInteger"] for a in care_plan["activity"]) == len(registered) - 1
    )


def test_operations_through_the_api(schema_url: str) -> None:
    province = load_province(schema_url)
    station = province.busiest_station()
    registered = [p for p in province.of_type("Patient") if province.station_of(p) == station]
    unregister_campaign_operations()
    register_campaign_operations()
    fhir = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}

    async def main() -> None:
        app = create_app(Settings(database_url=schema_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                body = {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "year", "valueInteger": 2026},
                        {"name": "capacityPerDay", "valueInteger": 4},
                    ],
                }
                r = await client.post(f"/fhir/Organization/{station}/$plan-checkups", json=body, headers=fhir)
                assert r.status_code == 200, r.text[:400]
                params = {p["name"]: p for p in r.json()["parameter"]}
                assert params["target"]["valueInteger"] == len(registered)
                assert params["invited"]["valueInteger"] == len(registered)
                commune = {p["name"]: p for p in params["commune"]["part"]}
                care_plan = commune["carePlan"]["valueReference"]["reference"]
                r = await client.get(
                    f"/fhir/Appointment?supporting-info={care_plan}&_count=500", headers=fhir
                )
                assert r.status_code == 200, r.text[:300]
                appointments = [e["resource"] for e in r.json()["entry"]]
                assert len(appointments) == len(registered)
                assert {a["status"] for a in appointments} == {"proposed"}
                r = await client.get("/fhir/$checkup-coverage?year=2025", headers=fhir)
                assert r.status_code == 200, r.text[:300]
                report = r.json()
                assert report["resourceType"] == "MeasureReport" and report["type"] == "summary"
                whole = report["group"][0]["population"]
                assert whole[0]["count"] == len(province.of_type("Patient"))
                r = await client.post(
                    "/fhir/$plan-checkups", json={"resourceType": "Parameters"}, headers=fhir
                )
                assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
                r = await client.get("/fhir/$checkup-coverage?year=2025&commune=99999", headers=fhir)
                assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
                r = await client.post(
                    "/fhir/$plan-checkups",
                    json={
                        "resourceType": "Parameters",
                        "parameter": [
                            {"name": "year", "valueInteger": 2026},
                            {"name": "capacityPerDay", "valueInteger": 0},
                        ],
                    },
                    headers=fhir,
                )
                assert r.status_code == 400, r.text[:300]

    try:
        asyncio.run(main())
    finally:
        unregister_campaign_operations()
