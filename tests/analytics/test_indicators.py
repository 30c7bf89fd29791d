"""The indicator library on a demo province with known additions: every indicator's numbers are checked
against counts made here from the resources themselves (Python over the loaded JSON, not the views).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from senhealth.analytics.indicators import (
    CATALOGUE,
    IndicatorResult,
    compute_indicators,
    get_indicator,
    load_view,
    month,
    parse_period,
)
from senhealth.analytics.indicators.period import ZONE
from senhealth.analytics.viewdef import validate_view
from senhealth.api.reports import checkup_providers
from senhealth.emr.signatures.immutability import signature_writes
from senhealth.fhir.store import FhirStore

from .province_support import PROVINCE, Province, loaded_province


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"senhealth-test/indicators/{name}"))


def _local_day(text: str) -> Any:
    return datetime.fromisoformat(text).astimezone(ZONE).date()


def _facilities(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in resources if r["resourceType"] == "Organization" and r.get("identifier")}


def _code(org: dict[str, Any]) -> str:
    return str(org["identifier"][0]["value"])


def _province_of(org: dict[str, Any]) -> str:
    ext = org["address"][0]["extension"][0]["extension"]
    return str(next(e["valueCoding"]["code"] for e in ext if e["url"] == "province"))


def _month_encounters(p: Province) -> list[dict[str, Any]]:
    orgs = _facilities(p.resources)
    per = month(p.year, p.month)
    return [
        e
        for e in p.resources
        if e["resourceType"] == "Encounter"
        and e["status"] not in ("planned", "cancelled", "entered-in-error")
        and per.start <= _local_day(e["period"]["start"]) < per.end
        and (org := orgs.get(e["serviceProvider"]["reference"].split("/")[1])) is not None
        and _province_of(org) == PROVINCE
    ]


def _additions(p: Province) -> None:
    """A signed document, a referral, telehealth, a patient without CCCD (all in the report's month)."""
    encounters = _month_encounters(p)
    signed = encounters[0]
    orgs = _facilities(p.resources)
    home = orgs[signed["serviceProvider"]["reference"].split("/")[1]]
    hospital = next(o for o in orgs.values() if _code(o) == "24001")
    location = next(
        r
        for r in p.resources
        if r["resourceType"] == "Location"
        and r["managingOrganization"]["reference"] == f"Organization/{home['id']}"
    )
    day = datetime.fromisoformat(signed["period"]["start"])
    patient = signed["subject"]
    practitioner = signed["participant"][0]["individual"]
    composition = {
        "resourceType": "Composition",
        "id": _id("composition"),
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "subject": patient,
        "encounter": {"reference": f"Encounter/{signed['id']}"},
        "date": signed["period"]["start"],
        "author": [practitioner],
        "title": "Phiếu khám bệnh",
        "custodian": {"reference": f"Organization/{home['id']}"},
    }
    provenance = {
        "resourceType": "Provenance",
        "id": _id("provenance"),
        "meta": {
            "tag": [{"system": "https://senhealth.vn/fhir/CodeSystem/signature-record", "code": "signature"}]
        },
        "target": [{"reference": f"Composition/{composition['id']}/_history/1"}],
        "recorded": day.isoformat(),
        "agent": [{"who": practitioner}],
    }
    unsigned = {
        **composition,
        "id": _id("composition-2"),
        "encounter": {"reference": f"Encounter/{encounters[1]['id']}"},
    }
    referral = {
        "resourceType": "ServiceRequest",
        "id": _id("referral"),
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "subject": patient,
        "authoredOn": signed["period"]["start"],
        "requester": {"reference": f"Organization/{home['id']}"},
        "performer": [{"reference": f"Organization/{hospital['id']}"}],
    }
    virtual = {
        **signed,
        "id": _id("virtual"),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
    }
    virtual.pop("diagnosis", None)
    start = day + timedelta(hours=1)
    appointment = {
        "resourceType": "Appointment",
        "id": _id("appointment"),
        "status": "fulfilled",
        "serviceType": [
            {"coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/telehealth", "code": "telehealth"}]}
        ],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [
            {"actor": patient, "status": "accepted"},
            {"actor": {"reference": f"Location/{location['id']}"}, "status": "accepted"},
        ],
    }
    p.resources.extend([composition, provenance, unsigned, referral, virtual, appointment])
    # the patient of the second encounter loses their personal ID
    pid = encounters[1]["subject"]["reference"].split("/")[1]
    person = next(r for r in p.resources if r["resourceType"] == "Patient" and r["id"] == pid)
    person["identifier"] = [i for i in person["identifier"] if not i["system"].endswith("/cccd")]


@pytest.fixture(scope="module")
def province(database_url: str) -> Iterator[Province]:
    with loaded_province(database_url, _additions) as p:
        patients = sorted(r["id"] for r in p.resources if r["resourceType"] == "Patient")[:2]
        per = month(p.year, p.month)
        with psycopg.connect(p.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO mpi_review (patient_a, patient_b, score) VALUES (%s, %s, 0.8)", patients
            )
            conn.execute(
                "INSERT INTO surveillance_count_day (disease, province, commune, day, cases, confirmed, deaths)"
                " VALUES ('dengue', %s, '07210', %s, 3, 1, 0), ('dengue', '01', '00004', %s, 9, 0, 0)",
                (PROVINCE, per.start, per.start),
            )
            conn.execute(
                "INSERT INTO surveillance_population (area, level, province, year, population)"
                " VALUES (%s, 'province', %s, %s, 150000)",
                (PROVINCE, PROVINCE, p.year),
            )
            for n, late in enumerate((True, False)):
                diagnosed = datetime(p.year, p.month, 2, 8, tzinfo=UTC)
                conn.execute(
                    "INSERT INTO surveillance_case (case_id, disease, list_id, disease_group, patient_id, patients,"
                    " province, commune, case_date, first_evidence, last_evidence, diagnosed_at, detected_at,"
                    " deadline, deadline_at, reported_at, classification)"
                    " VALUES (%s, 'dengue', 'tt54', 'B', %s, ARRAY[%s], %s, '07210', %s, %s, %s, %s, %s, '24h', %s, %s,"
                    " 'suspected')",
                    (
                        f"case-{n}",
                        patients[n],
                        patients[n],
                        PROVINCE,
                        per.start,
                        per.start,
                        per.start,
                        diagnosed,
                        diagnosed,
                        diagnosed + timedelta(hours=24),
                        diagnosed + timedelta(hours=30 if late else 2),
                    ),
                )
        yield p


def _compute(p: Province, only: list[str] | None = None) -> dict[str, IndicatorResult]:
    async def work(store: FhirStore) -> list[IndicatorResult]:
        return await compute_indicators(
            store.pool,
            month(p.year, p.month),
            PROVINCE,
            param_ids=await store.param_ids(),
            schema=p.schema,
            providers=checkup_providers(store),
            only=only,
        )

    return {r.indicator.id: r for r in p.run(work)}


def test_views_and_catalogue_are_well_formed() -> None:
    ids = [i.id for i in CATALOGUE]
    assert len(ids) == len(set(ids)) == 11
    for indicator in CATALOGUE:
        assert indicator.version.count(".") == 2 and indicator.title_vi and indicator.title_en
        for name in indicator.views:
            view = load_view(name)
            assert validate_view(view) == [], name
            assert view["name"] == name and view["version"]
    with pytest.raises(KeyError, match="one of"):
        get_indicator("nope")
    assert parse_period("2025Q2").start.month == 4 and parse_period("2025Q2").end.month == 7
    assert parse_period("2025").id == "2025"
    with pytest.raises(ValueError, match="YYYYMM"):
        parse_period("2025-13")


def test_every_indicator_on_the_demo_province(province: Province) -> None:
    results = _compute(province)
    assert set(results) == {i.id for i in CATALOGUE}
    assert all(r.available for r in results.values())
    encounters = _month_encounters(province)  # the additions' virtual encounter included
    orgs = _facilities(province.resources)
    by_facility = Counter(_code(orgs[e["serviceProvider"]["reference"].split("/")[1]]) for e in encounters)
    signed = next(e for e in province.resources if e["resourceType"] == "Composition")
    signed_org = _code(orgs[signed["custodian"]["reference"].split("/")[1]])

    emr = results["emr-adoption"]
    assert emr.indicator.version == "1.0.0"
    row = next(r for r in emr.rows if r.key == signed_org)
    assert (row.numerator, row.denominator) == (1, by_facility[signed_org])  # the unsigned one does not count
    assert emr.total.numerator == 1 and emr.total.denominator == len(encounters)

    visits = results["visits-by-level"]
    assert visits.total.numerator == len(encounters)
    assert {r.key for r in visits.rows} <= {"commune", "regional", "provincial", "other"}
    assert sum(int(r.extra["virtual"]) for r in visits.rows) == 1
    assert sum(int(r.extra["inpatient"]) for r in visits.rows) == sum(
        1 for e in encounters if e["class"]["code"] == "IMP"
    )

    flows = results["referral-flows"]
    assert [(r.extra["from_facility"], r.extra["to_facility"], r.numerator) for r in flows.rows] == [
        (signed_org, "24001", 1)
    ]

    tele = results["telemedicine-volume"]
    assert [(r.key, r.extra["virtual_encounters"], r.extra["appointments"]) for r in tele.rows] == [
        (signed_org, 1, 1)
    ]

    missing = results["dq-missing-personal-id"]
    assert missing.total.numerator == 1
    assert missing.total.denominator == len(
        {(e["serviceProvider"]["reference"], e["subject"]["reference"]) for e in encounters}
    )

    duplicates = results["dq-pending-duplicates"]
    patients = {r["id"]: r for r in province.resources if r["resourceType"] == "Patient"}

    def commune(patient: dict[str, Any]) -> str:
        ext = patient["address"][0]["extension"][0]["extension"]
        return str(next(e["valueCoding"]["code"] for e in ext if e["url"] == "commune"))

    first = commune(patients[sorted(patients)[0]])
    assert [(r.key, r.numerator) for r in duplicates.rows] == [(first, 1)]
    assert duplicates.total.denominator == sum(1 for x in patients.values() if commune(x) == first)

    incidence = results["notifiable-incidence"]
    assert [(r.key, r.numerator, r.denominator, r.value) for r in incidence.rows] == [
        ("dengue", 3, 150000, 2.0)
    ]

    late = results["dq-late-reports"]
    assert (late.total.numerator, late.total.denominator) == (1, 2)

    coverage = results["checkup-coverage"]
    assert coverage.rows and all(len(r.key) == 5 for r in coverage.rows)
    assert coverage.total.denominator and 0 <= (coverage.total.value or 0) <= 1
    htn = results["htn-control"]  # the demo keeps no registry (EpisodeOfCare): nobody enrolled
    assert [r.key for r in htn.rows] == [r.key for r in coverage.rows] and htn.total.denominator == 0


def test_indicators_follow_changes_incrementally(province: Province) -> None:
    before = _compute(province, ["emr-adoption"])["emr-adoption"]
    unsigned = next(
        r
        for r in province.resources
        if r["resourceType"] == "Composition" and r["id"] == _id("composition-2")
    )
    provenance = next(r for r in province.resources if r["resourceType"] == "Provenance")

    async def sign(store: FhirStore) -> None:
        # the signature record as the signing code writes it (allowed even where the platform's immutability
        # guard is installed in this process by another test)
        with signature_writes():
            await store.update(
                {
                    **provenance,
                    "id": _id("provenance-2"),
                    "target": [{"reference": f"Composition/{unsigned['id']}/_history/1"}],
                }
            )

    province.run(sign)
    after = _compute(province, ["emr-adoption"])["emr-adoption"]
    assert after.total.numerator == before.total.numerator + 1
    assert after.total.denominator == before.total.denominator
    body = after.to_json()
    assert (
        body["id"] == "emr-adoption"
        and body["version"] == "1.0.0"
        and body["period"] == f"{province.year}{province.month:02d}"
    )
