"""Registries on a real PostgreSQL: enrolment as EpisodeOfCare + CarePlan (once), a station's worklists
computed in SQL agreeing with the per-patient indicators, and enrolment over a demo province."""

from __future__ import annotations

from typing import Any

import pytest
from checkup_record_support import (
    NOW,
    bp,
    condition,
    create_all,
    encounter,
    organization,
    patient,
    quantity,
    run,
)

from senhealth.checkup.assessment import load_record
from senhealth.checkup.registries import WorklistError, control_status, enrol, worklist
from senhealth.core.migrate import migrate
from senhealth.demo.generator import generate_resources
from senhealth.fhir.store import FhirStore
from senhealth.fhir.validation import validation_issues


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def errors(resource: dict[str, object]) -> list[tuple[str, ...]]:
    return [i for i in validation_issues(resource) if i[0] in ("error", "fatal")]


def test_enrolment_writes_an_episode_and_a_care_plan_once(url: str) -> None:
    async def body(store: FhirStore) -> None:
        org = (await store.create(organization())).res_id
        pid = (await store.create(patient(52, "male", org=org))).res_id
        (cond,) = await create_all(store, [condition(pid, "I10")])
        first = await enrol(store, pid, now=NOW)
        (episode,) = first.created
        (plan,) = first.care_plans
        assert episode["status"] == "active" and episode["period"] == {"start": "2026-03-15"}
        assert episode["type"][0]["coding"][0] == {
            "system": "https://senhealth.vn/fhir/CodeSystem/registry",
            "code": "hypertension",
            "display": "Hypertension registry",
        }
        assert episode["managingOrganization"] == {"reference": f"Organization/{org}"}
        assert episode["diagnosis"] == [{"condition": {"reference": f"Condition/{cond}"}, "rank": 1}]
        assert plan["supportingInfo"] == [{"reference": f"EpisodeOfCare/{episode['id']}"}]
        (activity,) = plan["activity"]
        assert activity["detail"]["scheduledTiming"]["repeat"] == {
            "frequency": 1,
            "period": 30,
            "periodUnit": "d",
        }
        assert activity["detail"]["performer"] == [{"reference": f"Organization/{org}"}]
        assert errors(episode) == [] and errors(plan) == []
        again = await enrol(store, pid, now=NOW)
        assert again.created == [] and [e.rule.registry for e in again.eligible] == ["hypertension"]
        await store.create(quantity(pid, "4548-4", 6.8, "%"))
        third = await enrol(store, pid, now=NOW)
        assert [e["type"][0]["coding"][0]["code"] for e in third.created] == ["diabetes"]
        assert [a["detail"]["code"]["text"] for a in third.care_plans[0]["activity"]] == [
            "Khám lại tại trạm y tế xã",
            "Xét nghiệm HbA1c",
        ]

    run(url, body)


def test_screening_cohorts_are_episodes_with_the_cohort_code(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(45, "female", name="Lê Thị Hoa"))).res_id
        done = await enrol(store, pid, now=NOW)
        cohorts = [e["type"][1]["coding"][0]["code"] for e in done.created]
        assert cohorts == ["cervical", "breast"]
        assert all(e["type"][0]["coding"][0]["code"] == "cancer-screening" for e in done.created)
        assert [
            p["activity"][0]["detail"]["scheduledTiming"]["repeat"]["period"] for p in done.care_plans
        ] == [
            1825,
            730,
        ]

    run(url, body)


Station = dict[str, str]


async def station(store: FhirStore) -> Station:
    """A station with six registered patients (and one of another station), enrolled at NOW."""
    org = (await store.create(organization("Trạm Y tế xã Đông"))).res_id
    other_org = (await store.create(organization("Trạm Y tế xã Tây"))).res_id
    people: dict[str, tuple[dict[str, Any], list[Any]]] = {
        # hypertension, seen 10 days ago, 150/95: uncontrolled, not overdue
        "A": (
            patient(60, "male", org=org, phone="0912000001", name="Phạm Văn A"),
            [("I10",), (150, 95, 10), 10],
        ),
        # hypertension, seen 45 days ago, 130/80: overdue, controlled
        "B": (
            patient(66, "male", org=org, phone="0912000002", name="Hoàng Văn B"),
            [("I10",), (130, 80, 45), 45],
        ),
        # diabetes, HbA1c 8.1 200 days ago, seen 5 days ago: uncontrolled and tests missing
        "C": (patient(55, "female", org=org, name="Đỗ Thị C"), [("E11.9",), ("4548-4", 8.1, "%", 200), 5]),
        # diabetes, no HbA1c, fasting glucose 6.0: controlled, tests missing
        "D": (patient(48, "male", org=org, name="Vũ Văn D"), [("E11.9",), ("1558-6", 6.0, "mmol/L", 3), 3]),
        # diabetes, HbA1c 6.8 30 days ago: controlled, nothing missing
        "F": (patient(70, "female", org=org, name="Bùi Thị F"), [("E11.9",), ("4548-4", 6.8, "%", 30), 30]),
        # hypertension at another station, never seen: overdue there, not here
        "E": (patient(61, "male", org=other_org, name="Ngô Văn E"), [("I10",), (170, 100, 100)]),
    }
    ids = {"org": org, "other": other_org}
    for key, (pat, items) in people.items():
        pid = (await store.create(pat)).res_id
        ids[key] = pid
        for item in items:
            if isinstance(item, int):
                await store.create(encounter(pid, item, org))
            elif len(item) == 1:
                await store.create(condition(pid, item[0]))
            elif len(item) == 3:
                await store.create(bp(pid, *item))
            else:
                await store.create(quantity(pid, *item))
        enrolled = await enrol(store, pid, now=NOW.replace(year=2025, month=12))  # enrolled in December
        assert enrolled.created
    return ids


def test_worklists_of_a_station(url: str) -> None:
    async def body(store: FhirStore) -> None:
        ids = await station(store)
        name = {v: k for k, v in ids.items()}
        overdue = await worklist(store, ids["org"], "overdue", now=NOW)
        assert [(name[i.patient_id], i.registry) for i in overdue] == [("B", "hypertension")]
        (b,) = overdue
        assert b.phone == "0912000002" and b.name == "Hoàng Văn B" and b.due is not None
        assert b.due.isoformat() == "2026-02-28" and "quá hạn khám lại 15 ngày" in b.reason_vi
        uncontrolled = await worklist(store, f"Organization/{ids['org']}", "uncontrolled", now=NOW)
        assert sorted((name[i.patient_id], i.registry) for i in uncontrolled) == [
            ("A", "hypertension"),
            ("C", "diabetes"),
        ]
        a = next(i for i in uncontrolled if name[i.patient_id] == "A")
        assert a.values == {"sbp": 150.0, "dbp": 95.0} and "150/95" in a.reason_vi
        missing = await worklist(store, ids["org"], "tests-missing", now=NOW)
        assert [name[i.patient_id] for i in missing] == ["D", "C"]  # never tested first
        assert "không có kết quả HbA1c" in missing[0].reason_vi
        there = await worklist(store, ids["other"], "overdue", now=NOW)
        assert [name[i.patient_id] for i in there] == ["E"] and there[0].last_visit is None
        # the per-patient indicators agree with the lists
        async with store.pool.connection() as conn:
            for key in ("A", "B", "C", "D", "F"):
                status = control_status(await load_record(conn, ids[key]), NOW)
                listed = any(i.patient_id == ids[key] for i in uncontrolled)
                judged = status.bp_controlled if key in "AB" else status.glycaemia_controlled
                assert judged is (not listed), key
        # a visit today takes B off the overdue list; a good reading takes A off the uncontrolled one
        await store.create(encounter(ids["B"], 0.1, ids["org"]))
        await store.create(bp(ids["A"], 128, 82, 0.1))
        assert await worklist(store, ids["org"], "overdue", now=NOW) == []
        assert [name[i.patient_id] for i in await worklist(store, ids["org"], "uncontrolled", now=NOW)] == [
            "C"
        ]

    run(url, body)


def test_bad_worklist_requests_are_refused(url: str) -> None:
    async def body(store: FhirStore) -> None:
        with pytest.raises(WorklistError, match="unknown worklist"):
            await worklist(store, "x", "late")
        with pytest.raises(WorklistError, match="invalid organization"):
            await worklist(store, "Patient/x", "overdue")

    run(url, body)


def test_enrolment_over_a_demo_province(url: str) -> None:
    """Demo citizens with I10 or E11.9 on record enter those registries at their own commune station."""

    async def body(store: FhirStore) -> None:
        resources = list(generate_resources(60, 7))
        report = await store.load(resources)
        assert report.rejected == []
        patients = [r for r in resources if r["resourceType"] == "Patient"]
        expected: dict[str, set[str]] = {}
        for r in resources:
            if (
                r["resourceType"] == "Condition"
                and r.get("clinicalStatus", {}).get("coding", [{}])[0].get("code") == "active"
            ):
                code = r["code"]["coding"][0]["code"][:3]
                pid = r["subject"]["reference"].removeprefix("Patient/")
                if code == "I10":
                    expected.setdefault(pid, set()).add("hypertension")
                elif code == "E11":
                    expected.setdefault(pid, set()).add("diabetes")
        assert expected, "the demo province has chronic patients"
        seen = {
            r["subject"]["reference"].removeprefix("Patient/")
            for r in resources
            if r["resourceType"] == "Encounter" and r.get("status") not in ("planned", "cancelled")
        }
        want_overdue: set[tuple[str, str]] = set()
        for p in patients:
            done = await enrol(store, p["id"], now=NOW)
            got = {e["type"][0]["coding"][0]["code"] for e in done.created}
            assert got >= expected.get(p["id"], set()), p["id"]
            for e in done.created:
                assert e["managingOrganization"] == p["managingOrganization"]
            if p["id"] in seen:  # the demo's care ends on 2025-12-31: more than 30 days before NOW
                want_overdue |= {
                    (p["id"], g) for g in got if g in ("hypertension", "diabetes", "copd-asthma")
                }
        stations = {p["managingOrganization"]["reference"] for p in patients}
        got_overdue: set[tuple[str, str]] = set()
        for org in stations:
            got_overdue |= {
                (i.patient_id, i.registry) for i in await worklist(store, org, "overdue", now=NOW)
            }
        assert got_overdue == want_overdue and want_overdue

    run(url, body)
