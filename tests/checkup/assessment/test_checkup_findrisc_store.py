"""FINDRISC kept as a RiskAssessment from the check-up form's answers: the points of the guideline's worked
combinations, the basis, the 12-month freshness rule, the reason when answers are missing, and R4 validity."""

from __future__ import annotations

from typing import Any

import pytest
from checkup_record_support import NOW, create_all, patient, quantity, run

from senhealth.checkup.assessment import assess
from senhealth.checkup.assessment.codes import CHECKUP_ANSWER_SYSTEM, CHECKUP_ITEM_SYSTEM
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.fhir.validation import validation_issues


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def answer(pid: str, item: str, value: bool | str, days_ago: float = 1) -> dict[str, Any]:
    from checkup_record_support import when

    value_field: dict[str, Any] = (
        {"valueBoolean": value}
        if isinstance(value, bool)
        else {"valueCodeableConcept": {"coding": [{"system": CHECKUP_ANSWER_SYSTEM, "code": value}]}}
    )
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": CHECKUP_ITEM_SYSTEM, "code": item}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when(days_ago),
        **value_field,
    }


def full_form(pid: str, *, days_ago: float = 1, **overrides: Any) -> list[dict[str, Any]]:
    values: dict[str, Any] = {
        "physical-activity-daily": False,  # 2 points
        "vegetables-fruit-daily": False,  # 1
        "bp-medication-ever": True,  # 2
        "high-glucose-history": False,  # 0
        "family-history-diabetes": "first-degree",  # 5
        **overrides,
    }
    return [
        quantity(pid, "39156-5", 27.0, "kg/m2", days_ago=days_ago),  # BMI 25–30: 1
        quantity(pid, "8280-0", 95.0, "cm", days_ago=days_ago),  # man, waist 94–102: 3
        *(answer(pid, item, value, days_ago) for item, value in values.items()),
    ]


def findrisc_of(assessment: Any) -> dict[str, Any] | None:
    return next(
        (r for r in assessment.risk_assessments if r["code"]["coding"][0]["code"] == "findrisc"),
        None,
    )


def test_findrisc_stored_with_points_band_and_basis(url: str) -> None:
    """Man aged 58 (3) + BMI 27 (1) + waist 95 (3) + inactive (2) + no daily vegetables (1) + BP medication (2)
    + no high glucose (0) + first-degree family history (5) = 17: band "high", about 1 in 3 (33 %)."""

    async def body(store: FhirStore) -> None:
        pid = (await store.create(patient(58, "male"))).res_id
        refs = await create_all(store, full_form(pid))
        out = await assess(store, pid, now=NOW)
        ra = findrisc_of(out)
        assert ra is not None, out.not_assessed
        prediction = ra["prediction"][0]
        assert prediction["qualitativeRisk"]["coding"][0]["code"] == "high"
        assert prediction["qualitativeRisk"]["text"].startswith("17/26")
        assert prediction["probabilityDecimal"] == 0.33
        assert {b["reference"] for b in ra["basis"]} == {f"Observation/{r}" for r in refs}
        assert not [i for i in validation_issues(ra) if i[0] in ("error", "fatal")]
        again = await assess(store, pid, now=NOW)
        assert again.written == 0  # nothing changed: nothing written

        # A new answer changes the score in place: no high glucose → yes adds 5 (22: very high).
        await store.create(answer(pid, "high-glucose-history", True, days_ago=0.5))
        updated = findrisc_of(await assess(store, pid, now=NOW))
        assert updated is not None and updated["id"] == ra["id"]
        assert updated["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "very-high"
        assert updated["prediction"][0]["qualitativeRisk"]["text"].startswith("22/26")

    run(url, body)


def test_findrisc_not_computed_from_stale_or_missing_answers(url: str) -> None:
    async def body(store: FhirStore) -> None:
        stale = (await store.create(patient(50, "female"))).res_id
        await create_all(store, full_form(stale, days_ago=400))
        out = await assess(store, stale, now=NOW)
        assert findrisc_of(out) is None
        (reason,) = [n for n in out.not_assessed if n.code == "findrisc"]
        assert reason.reason == "missing" and "waist" in reason.missing and "bmi" in reason.missing
        assert "12 tháng" in reason.message_vi

        partial = (await store.create(patient(50, "female"))).res_id
        form = [r for r in full_form(partial) if r["code"]["coding"][0]["code"] != "vegetables-fruit-daily"]
        await create_all(store, form)
        out = await assess(store, partial, now=NOW)
        (reason,) = [n for n in out.not_assessed if n.code == "findrisc"]
        assert reason.missing == ("vegetables-fruit-daily",)
        assert "rau quả" in reason.message_vi

        child = (await store.create(patient(15, "male"))).res_id
        await create_all(store, full_form(child))
        (reason,) = [n for n in (await assess(store, child, now=NOW)).not_assessed if n.code == "findrisc"]
        assert reason.reason == "age"

    run(url, body)
