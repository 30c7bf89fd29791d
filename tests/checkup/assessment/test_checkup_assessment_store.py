"""RiskAssessments computed from the store: inputs and basis, the chart cell, replaced in place on new data,
none outside ages 40–74 (with the reason), units converted, and the resource valid against R4."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from checkup_record_support import (
    NOW,
    bp,
    condition,
    create_all,
    patient,
    quantity,
    run,
    smoking,
)

from senhealth.checkup.assessment import assess, assess_patient
from senhealth.checkup.assessment.patient_record import record_from_resources
from senhealth.checkup.risk import who_cvd_risk
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.fhir.validation import validation_issues

NON_SMOKER = "266919005"
SMOKER = "77176002"
EX_SMOKER = "8517006"


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def errors(resource: dict[str, object]) -> list[tuple[str, ...]]:
    return [i for i in validation_issues(resource) if i[0] in ("error", "fatal")]


def cell_parts(ra: dict[str, Any]) -> dict[str, Any]:
    (ext,) = ra["extension"]
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}


def test_lab_risk_stored_with_its_basis_band_and_chart_cell(url: str) -> None:
    """The reference's worked value: lab, man 55, SBP 160, TC 6.2, diabetes, non-smoker → 14.920 %."""

    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(55, "male"))).res_id
        _old_bp, new_bp, smoke, chol, dm = await create_all(
            store,
            [
                bp(pid, 120, 70, days_ago=200),
                bp(pid, 160, 95, days_ago=3),
                smoking(pid, NON_SMOKER),
                quantity(pid, "2093-3", 6.2, "mmol/L"),
                condition(pid, "E11.9"),
            ],
        )
        done = await assess(store, pid, now=NOW)
        assert [n for n in done.not_assessed if n.code == "who-cvd-2019"] == [] and done.written == 1
        (ra,) = done.risk_assessments
        assert ra["status"] == "final" and ra["subject"] == {"reference": f"Patient/{pid}"}
        assert ra["code"]["coding"][0] == {
            "system": "https://senhealth.vn/fhir/CodeSystem/risk",
            "code": "who-cvd-2019",
            "display": "WHO 2019 cardiovascular disease risk",
        }
        assert ra["method"]["coding"][0]["code"] == "lab"
        assert {b["reference"] for b in ra["basis"]} == {
            f"Observation/{new_bp}",
            f"Observation/{smoke}",
            f"Observation/{chol}",
            f"Condition/{dm}",
        }
        (prediction,) = ra["prediction"]
        assert prediction["probabilityDecimal"] == pytest.approx(0.1492, abs=1e-4)
        assert prediction["qualitativeRisk"]["coding"][0]["code"] == "10-<20"
        assert prediction["qualitativeRisk"]["text"].startswith("14,9 %")
        assert ra["occurrenceDateTime"] == NOW.isoformat(timespec="seconds")
        assert prediction["whenPeriod"]["end"].startswith("2036-03-15")
        cell = cell_parts(ra)
        assert cell == {
            "model": "lab",
            "region": "SEA",
            "sex": "male",
            "smoker": False,
            "diabetes": True,
            "age": "55-59",
            "sbp": "160-179",
            "cholesterol": "6-6.9",
            "printed": cell["printed"],
            "band": cell["band"],
        }
        assert "55-59" in ra["note"][0]["text"] and "Ô trên biểu đồ WHO" in ra["note"][0]["text"]
        assert errors(ra) == []
        stored = await store.read("RiskAssessment", ra["id"])
        assert stored.content is not None and stored.content["basis"] == ra["basis"]

    run(url, body)


def test_replaced_in_place_on_new_data_and_history_keeps_the_old(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(62, "female"))).res_id
        await create_all(
            store,
            [bp(pid, 170, 100, days_ago=30), smoking(pid, SMOKER), quantity(pid, "2093-3", 7.1, "mmol/L")],
        )
        (first,) = (await assess(store, pid, now=NOW)).risk_assessments
        again = await assess(store, pid, now=NOW + timedelta(hours=1))
        assert again.written == 0  # nothing changed but the time: no new version
        assert again.risk_assessments[0]["meta"]["versionId"] == first["meta"]["versionId"]
        await store.create(bp(pid, 118, 76, days_ago=0.5))
        (second,) = (await assess(store, pid, now=NOW)).risk_assessments
        assert second["id"] == first["id"] and second["meta"]["versionId"] == "2"
        assert second["prediction"][0]["probabilityDecimal"] < first["prediction"][0]["probabilityDecimal"]
        history = await store.history("RiskAssessment", first["id"])
        assert [e.version for e in history.entries] == [2, 1]
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM fhir_resource WHERE res_type = 'RiskAssessment'")
            assert await cur.fetchone() == (1,)

    run(url, body)


def test_non_laboratory_model_with_bmi_from_weight_and_height(url: str) -> None:
    """The reference's worked value: non-lab, woman 70, SBP 135, BMI 31, smoker → 17.970 %."""

    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(70, "female"))).res_id
        _, smoke, weight, height = await create_all(
            store,
            [
                bp(pid, 135, 85),
                smoking(pid, SMOKER),
                quantity(pid, "29463-7", 69.75, "kg"),
                quantity(pid, "8302-2", 150, "cm", days_ago=400),
            ],
        )
        (ra,) = (await assess(store, pid, now=NOW)).risk_assessments
        assert ra["method"]["coding"][0]["code"] == "nonlab"
        assert ra["prediction"][0]["probabilityDecimal"] == pytest.approx(0.1797, abs=1e-4)
        assert {f"Observation/{weight}", f"Observation/{height}", f"Observation/{smoke}"} <= {
            b["reference"] for b in ra["basis"]
        }
        assert cell_parts(ra)["bmi"] == "30-35" and "diabetes" not in cell_parts(ra)
        assert errors(ra) == []

    run(url, body)


@pytest.mark.parametrize("age", [39, 75, 80])
def test_no_cvd_assessment_outside_ages_40_to_74(url: str, age: int) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(age, "male"))).res_id
        await create_all(
            store, [bp(pid, 150, 90), smoking(pid, SMOKER), quantity(pid, "2093-3", 5.0, "mmol/L")]
        )
        done = await assess(store, pid, now=NOW)
        assert done.risk_assessments == [] and done.written == 0
        (why,) = [n for n in done.not_assessed if n.code == "who-cvd-2019"]
        assert why.reason == "age" and "40–74" in why.message_vi and f"{age}" in why.message_en

    run(url, body)


def test_a_patient_who_leaves_the_charts_range_loses_the_current_assessment(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(74, "male"))).res_id
        await create_all(
            store, [bp(pid, 150, 90), smoking(pid, EX_SMOKER), quantity(pid, "2093-3", 5.0, "mmol/L")]
        )
        (ra,) = (await assess(store, pid, now=NOW)).risk_assessments
        assert cell_parts(ra)["smoker"] is False  # an ex-smoker is not a smoker on the charts
        later = await assess(store, pid, now=NOW + timedelta(days=365))
        assert later.risk_assessments == [] and later.not_assessed[0].reason == "age"
        history = await store.history("RiskAssessment", ra["id"])
        assert [e.deleted for e in history.entries] == [True, False]

    run(url, body)


def test_missing_inputs_are_named(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(50, "female"))).res_id
        await store.create(bp(pid, 130, 80))
        done = await assess(store, pid, now=NOW)
        (why,) = [n for n in done.not_assessed if n.code == "who-cvd-2019"]
        assert why.reason == "missing"
        assert why.missing == ("smoking-status", "cholesterol-or-bmi")
        assert "tình trạng hút thuốc" in why.message_vi
        other = await assess(store, "no-such-patient", now=NOW)
        assert other.risk_assessments == [] and other.not_assessed[0].reason == "no-patient"

    run(url, body)


def test_units_are_converted_and_unknown_units_left_out() -> None:
    pid = "p1"
    resources = [
        ("Observation", "c1", quantity(pid, "2093-3", 239.754, "mg/dL", days_ago=5)),
        ("Observation", "g1", quantity(pid, "1558-6", 126.0, "mg/dL")),
        ("Observation", "a1", quantity(pid, "4548-4", 53.0, "mmol/mol")),
        ("Observation", "x1", quantity(pid, "2093-3", 6.0, "g/L", days_ago=0.1)),  # not understood
        ("Observation", "p1", {**bp(pid, 140, 90), "status": "preliminary"}),  # not final
    ]
    record = record_from_resources(pid, resources)
    chol = record.latest("2093-3")
    assert chol is not None and chol.ref == "Observation/c1" and chol.value == pytest.approx(6.2, abs=1e-3)
    glucose = record.latest("1558-6")
    assert glucose is not None and glucose.value == pytest.approx(6.994, abs=1e-3)
    a1c = record.latest("4548-4")
    assert a1c is not None and a1c.value == pytest.approx(7.0, abs=0.01)
    assert record.blood_pressure == []


def test_the_risk_matches_the_pure_function_for_the_recorded_inputs(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(47, "female"))).res_id
        await create_all(
            store,
            [
                bp(pid, 142, 88),
                smoking(pid, SMOKER),
                quantity(pid, "2093-3", 197.2, "mg/dL"),  # 5.1 mmol/L
                quantity(pid, "4548-4", 6.6, "%"),  # diabetes by HbA1c
            ],
        )
        (ra,) = (await assess(store, pid, now=NOW)).risk_assessments
        expected = who_cvd_risk(
            model="lab",
            sex="female",
            age=47,
            sbp=142,
            smoker=True,
            total_cholesterol=197.2 / 38.67,
            diabetes=True,
        )
        assert ra["prediction"][0]["probabilityDecimal"] == round(expected / 100, 4)
        assert cell_parts(ra)["diabetes"] is True and cell_parts(ra)["cholesterol"] == "5-5.9"

    run(url, body)


def test_assess_patient_returns_the_stored_assessments(url: str) -> None:
    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(57, "male"))).res_id
        await create_all(
            store, [bp(pid, 150, 90), smoking(pid, SMOKER), quantity(pid, "39156-5", 24.0, "kg/m2")]
        )
        (ra,) = await assess_patient(store, pid)
        stored = await store.read("RiskAssessment", ra["id"])
        assert stored.content == ra and ra["method"]["coding"][0]["code"] == "nonlab"
        assert await assess_patient(store, pid) == [ra]

    run(url, body)
