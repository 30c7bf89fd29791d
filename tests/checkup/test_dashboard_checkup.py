"""The province's check-up dashboard numbers on a real PostgreSQL: two communes of synthetic patients whose
coverage and control rates are worked out by hand below, a registry left (not counted), readings and
visits after the as-of instant (not counted), the per-station worklist agreeing with the counts."""

from __future__ import annotations

from typing import Any

import pytest
from checkup_record_support import NOW, bp, condition, encounter, patient, quantity, run, when

from senhealth.checkup.dashboard import INDICATORS, Ratio, checkup_dashboard
from senhealth.checkup.registries import enrol, worklist
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore

ADMIN_UNIT = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"
COMMUNE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
ENCOUNTER_TYPE = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
EAST, WEST = "07210", "07228"  # two communes of Bắc Ninh (codes of the 2025 units)


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def station(name: str, commune: str) -> dict[str, Any]:
    coding = {"system": COMMUNE_SYSTEM, "code": commune, "display": f"Xã {name}"}
    return {
        "resourceType": "Organization",
        "active": True,
        "name": f"Trạm Y tế xã {name}",
        "address": [
            {"extension": [{"url": ADMIN_UNIT, "extension": [{"url": "commune", "valueCoding": coding}]}]}
        ],
    }


def checkup(pid: str, days_ago: float, org: str) -> dict[str, Any]:
    out = encounter(pid, days_ago, org)
    out["type"] = [{"coding": [{"system": ENCOUNTER_TYPE, "code": "checkup"}]}]
    return out


async def province(store: FhirStore) -> dict[str, str]:
    """Commune EAST: P1..P4, commune WEST: P5..P7 (see each person's comment); enrolled at NOW."""
    east = (await store.create(station("Đông", EAST))).res_id
    west = (await store.create(station("Tây", WEST))).res_id
    people: list[tuple[str, str, int, str, list[tuple[Any, ...]]]] = []

    def add(key: str, org: str, age: int, sex: str, items: list[tuple[Any, ...]]) -> None:
        people.append((key, org, age, sex, items))

    # EAST
    # P1: hypertension, 130/80 (controlled), a check-up 10 days ago (covered, seen)
    add("P1", east, 60, "male", [("I10",), ("bp", 130, 80, 12), ("checkup", 10)])
    # P2: hypertension, 150/95 (uncontrolled), last visit 120 days ago (not seen)
    add("P2", east, 62, "female", [("I10",), ("bp", 150, 95, 120), ("visit", 120)])
    # P3: hypertension and diabetes, no BP on record (unmeasured), HbA1c 6.5 % then a fasting glucose 9.0
    #     (the HbA1c decides: controlled), seen 30 days ago
    add(
        "P3",
        east,
        58,
        "male",
        [
            ("I10",),
            ("E11.9",),
            ("obs", "4548-4", 6.5, "%", 60),
            ("obs", "1558-6", 9.0, "mmol/L", 20),
            ("visit", 30),
        ],
    )
    # P4: hypertension, but the registry was left (EpisodeOfCare finished): counted for coverage only
    add("P4", east, 65, "female", [("I10",), ("bp", 170, 100, 5), ("visit", 5), ("leave",)])
    # WEST
    # P5: diabetes, no HbA1c, fasting glucose 8.0 (uncontrolled), check-up 5 days ago (covered, seen)
    add("P5", west, 50, "female", [("E11.9",), ("obs", "1558-6", 8.0, "mmol/L", 5), ("checkup", 5)])
    # P6: diabetes, HbA1c 8 % then 42 mmol/mol (= 5.99 %: controlled), never seen
    add(
        "P6",
        west,
        70,
        "male",
        [("E11.9",), ("obs", "4548-4", 8.0, "%", 90), ("obs", "4548-4", 42, "mmol/mol", 40)],
    )
    # P7: hypertension, 160/100 20 days ago (uncontrolled); 120/70 and a visit dated after NOW are left
    #     out; last visit before NOW 100 days ago (not seen)
    add(
        "P7",
        west,
        66,
        "male",
        [("I10",), ("bp", 160, 100, 20), ("bp", 120, 70, -5), ("visit", 100), ("visit", -3)],
    )
    ids = {"east": east, "west": west}
    for key, org, age, sex, items in people:
        pid = (await store.create(patient(age, sex, org=org, name=f"Nguyễn Văn {key}"))).res_id
        ids[key] = pid
        leave = False
        for item in items:
            kind = item[0]
            if kind == "bp":
                await store.create(bp(pid, item[1], item[2], item[3]))
            elif kind == "obs":
                await store.create(quantity(pid, item[1], item[2], item[3], item[4]))
            elif kind == "checkup":
                await store.create(checkup(pid, item[1], org))
            elif kind == "visit":
                await store.create(encounter(pid, item[1], org))
            elif kind == "leave":
                leave = True
            else:
                await store.create(condition(pid, kind))
        done = await enrol(store, pid, now=NOW)
        assert done.created, key
        if leave:
            for episode in done.created:
                await store.update(
                    {**episode, "status": "finished", "period": {"start": "2026-01-01", "end": when(1)}}
                )
    return ids


def test_rates_per_commune_and_province_computed_by_hand(url: str) -> None:
    async def body(store: FhirStore) -> None:
        ids = await province(store)
        board = await checkup_dashboard(store, 2026, now=NOW)
        assert board.as_of == NOW
        east, west = board.communes
        assert (east.commune_code, east.commune_name) == (EAST, "Xã Đông")
        assert west.commune_code == WEST
        # coverage: EAST P1 of P1..P4; WEST P5 of P5..P7
        assert east.coverage == Ratio(1, 4) and west.coverage == Ratio(1, 3)
        # hypertension: EAST P1 of P1, P2, P3 (P3 unmeasured; P4 left the registry); WEST none of P7
        assert east.htn_control == Ratio(1, 3) and east.htn_unmeasured == 1
        assert west.htn_control == Ratio(0, 1) and west.htn_unmeasured == 0
        # diabetes: EAST P3 of P3; WEST P6 of P5, P6
        assert east.dm_control == Ratio(1, 1) and west.dm_control == Ratio(1, 2)
        assert east.dm_unmeasured == west.dm_unmeasured == 0
        # seen within 90 days: EAST P1, P3 of P1, P2, P3; WEST P5 of P5, P6, P7
        assert east.seen == Ratio(2, 3) and west.seen == Ratio(1, 3)
        total = board.total
        assert (total.coverage, total.htn_control, total.dm_control, total.seen) == (
            Ratio(2, 7),
            Ratio(1, 4),
            Ratio(2, 3),
            Ratio(3, 6),
        )
        assert total.htn_unmeasured == 1
        assert [east.ratio(i) for i in INDICATORS] == [
            east.coverage,
            east.htn_control,
            east.dm_control,
            east.seen,
        ]
        assert east.ratio("coverage").rate == 0.25 and Ratio(0, 0).rate is None

        # the station's uncontrolled worklist is the same people as the counts say (EAST: P2 only)
        listed = await worklist(store, ids["east"], "uncontrolled", now=NOW)
        assert [(i.patient_id, i.registry) for i in listed] == [(ids["P2"], "hypertension")]
        assert east.htn_control.denominator - east.htn_control.numerator - east.htn_unmeasured == 1

        # one commune asked for (by station id): its numbers only, the total equal to it
        (only,) = (await checkup_dashboard(store, 2026, communes=[ids["west"]], now=NOW)).communes
        assert only == west

        # a past year: nobody enrolled yet on 31 December 2025, no check-ups in 2025
        before = await checkup_dashboard(store, 2025, now=NOW)
        assert before.as_of < NOW
        assert before.total.coverage == Ratio(0, 7)
        assert before.total.htn_control == Ratio(0, 0) and before.total.seen == Ratio(0, 0)

        with pytest.raises(ValueError):
            await checkup_dashboard(store, 2026, communes=["99999"], now=NOW)

    run(url, body)


def test_no_station_no_rows(url: str) -> None:
    async def body(store: FhirStore) -> None:
        board = await checkup_dashboard(store, 2026, now=NOW)
        assert board.communes == [] and board.total.coverage == Ratio(0, 0)

    run(url, body)
