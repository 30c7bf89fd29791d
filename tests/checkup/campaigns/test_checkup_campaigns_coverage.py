"""Coverage per commune and province equals a count made here, independently, from the generated resources;
a person checked up elsewhere (same personal ID, or a record linked by the patient index) counts once."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from campaign_support import Province, checkup_encounter, load_province, run_async

from senhealth.checkup.campaigns import coverage, plan_campaign
from senhealth.fhir.store import FhirStore
from senhealth.mpi.link import link

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CHRONIC = {"I10", "I11", "I12", "I13", "I14", "I15", "E10", "E11", "E12", "E13", "E14", "J44", "J45"}


def _independent(p: Province, year: int) -> dict[str, dict[str, list[int]]]:
    """{commune: {group: [target, covered]}} counted in Python from the resources."""
    commune_of_org = {}
    for org in p.of_type("Organization"):
        for ext in org["address"][0].get("extension", []):
            for sub in ext["extension"]:
                if sub["url"] == "commune":
                    commune_of_org[org["id"]] = sub["valueCoding"]["code"]
    start, end = datetime(year, 1, 1, tzinfo=ZONE), datetime(year + 1, 1, 1, tzinfo=ZONE)
    covered_pids = set()
    for enc in p.of_type("Encounter"):
        reasons = {c["code"] for rc in enc.get("reasonCode", []) for c in rc["coding"]}
        when = datetime.fromisoformat(enc["period"]["start"])
        if enc["status"] == "finished" and "Z00.0" in reasons and start <= when < end:
            covered_pids.add(enc["subject"]["reference"].split("/")[1])
    chronic_pids = {
        c["subject"]["reference"].split("/")[1]
        for c in p.of_type("Condition")
        if c["clinicalStatus"]["coding"][0]["code"] == "active"
        and c["code"]["coding"][0]["code"][:3] in CHRONIC
    }
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for pat in p.of_type("Patient"):
        groups = ["all"]
        if date.fromisoformat(pat["birthDate"]) <= date(year - 60, 12, 31):
            groups.append("elderly")
        if pat["id"] in chronic_pids:
            groups.append("chronic")
        if any(i["value"].startswith("HN") for i in pat["identifier"] if i["system"].endswith("/bhyt")):
            groups.append("poor")
        commune = commune_of_org[p.station_of(pat)]
        for g in groups:
            out[commune][g][0] += 1
            out[commune][g][1] += pat["id"] in covered_pids
    return out


def test_coverage_equals_an_independent_count(schema_url: str) -> None:
    province = load_province(schema_url)
    expected = _independent(province, 2025)
    assert sum(c["all"][1] for c in expected.values()) > 5  # the demo has check-ups in 2025

    async def scenario(store: FhirStore) -> tuple[Any, Any]:
        return await coverage(store, 2025), await coverage(store, 2025, level="province")

    communes, (whole,) = run_async(schema_url, scenario)
    assert {c.commune_code for c in communes} == set(expected)
    for row in communes:
        want = expected[row.commune_code]
        assert [row.target, row.covered] == want["all"], row.commune_code
        for g in ("elderly", "chronic", "poor"):
            assert [row.groups[g].target, row.groups[g].covered] == want.get(g, [0, 0]), (row.commune_code, g)
    assert whole.target == len(province.of_type("Patient")) == sum(c.target for c in communes)
    assert whole.covered == sum(c["all"][1] for c in expected.values())
    for g in ("elderly", "chronic", "poor"):
        assert whole.groups[g].covered == sum(c.groups[g].covered for c in communes)


def test_a_person_checked_up_elsewhere_is_excluded_and_counted_covered(schema_url: str) -> None:
    province = load_province(schema_url)
    station = province.busiest_station()
    hospital = province.hospital()
    registered = [p for p in province.of_type("Patient") if province.station_of(p) == station]
    same_id, linked, other = registered[0], registered[1], registered[2]

    async def scenario(store: FhirStore) -> tuple[Any, Any, Any]:
        before = (await coverage(store, 2026, communes=[station]))[0]
        # a record at the hospital with the same personal ID, not linked: matched by the personal ID
        twin = {
            "resourceType": "Patient",
            "id": "twin-at-hospital",
            "identifier": [{"system": "https://senhealth.vn/fhir/sid/cccd", "value": province.cccd(same_id)}],
            "name": same_id["name"],
            "gender": same_id["gender"],
            "birthDate": same_id["birthDate"],
            "managingOrganization": {"reference": f"Organization/{hospital}"},
        }
        # a record with no personal ID, merged by the patient index into a registered citizen's record
        dup = {
            "resourceType": "Patient",
            "id": "dup-no-id",
            "name": linked["name"],
            "gender": linked["gender"],
            "birthDate": linked["birthDate"],
        }
        await store.update(twin)
        await store.update(dup)
        await link(store, linked["id"], "dup-no-id", by="reviewer")
        await store.update(
            checkup_encounter("enc-twin", "twin-at-hospital", hospital, "2026-03-10T08:00:00+07:00")
        )
        await store.update(checkup_encounter("enc-dup", "dup-no-id", hospital, "2026-04-02T09:00:00+07:00"))
        # not valid: unfinished, or in another year
        await store.update(
            checkup_encounter(
                "enc-open", other["id"], hospital, "2026-05-01T08:00:00+07:00", status="in-progress"
            )
        )
        await store.update(checkup_encounter("enc-old", other["id"], hospital, "2025-12-31T23:30:00+07:00"))
        after = (await coverage(store, 2026, communes=[station]))[0]
        plan = await plan_campaign(store, 2026, communes=[station], capacity_per_day=10)
        return before, after, plan

    before, after, plan = run_async(schema_url, scenario)
    assert before.covered == 0 and before.target == len(registered)
    assert after.target == before.target  # the hospital's twin and the merged duplicate add no one
    assert after.covered == 2
    (commune,) = plan.communes
    invited = {i.patient_id for i in commune.invitations + commune.unscheduled}
    assert same_id["id"] not in invited and linked["id"] not in invited
    assert "twin-at-hospital" not in invited and "dup-no-id" not in invited
    assert other["id"] in invited
    assert commune.covered == 2 and len(invited) == len(registered) - 2
