"""SDC extraction of check-up responses: each answer becomes the right Observation or Condition, with its
LOINC code, UCUM unit, category and links; everything extracted is valid FHIR R4; bad answers name the item."""

from __future__ import annotations

from typing import Any

import pytest
from checkup_forms_support import (
    AUTHORED,
    ENCOUNTER,
    ICD,
    LOINC,
    PATIENT,
    SNOMED,
    UCUM,
    answer,
    coding,
    full_adult_answers,
    response,
)

from senhealth.checkup.forms import ExtractionError, extract, extracted_id, form_for
from senhealth.fhir.validation import is_valid, validate


def _run(age: int, sex: str, groups: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    form = form_for(age, sex)
    return extract(form, response(form, groups, age=age), patient=PATIENT, encounter=ENCOUNTER)


def _by_code(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["code"]["coding"][0]["code"]: r for r in resources}


@pytest.mark.parametrize(
    ("link", "section", "value", "code", "unit", "category", "expected"),
    [
        ("height", "vitals", {"valueDecimal": 155}, "8302-2", "cm", "vital-signs", 155),
        ("weight", "vitals", {"valueDecimal": 62.5}, "29463-7", "kg", "vital-signs", 62.5),
        ("waist", "vitals", {"valueInteger": 86}, "8280-0", "cm", "vital-signs", 86),
        ("pulse", "vitals", {"valueInteger": 78}, "8867-4", "/min", "vital-signs", 78),
        ("cholesterol", "labs", {"valueDecimal": 5.8}, "2093-3", "mmol/L", "laboratory", 5.8),
        ("glucose", "labs", {"valueDecimal": 6.4}, "1558-6", "mmol/L", "laboratory", 6.4),
        ("hba1c", "labs", {"valueDecimal": 6.1}, "4548-4", "%", "laboratory", 6.1),
    ],
)
def test_quantities_become_observations_with_loinc_and_ucum(
    link: str, section: str, value: dict[str, Any], code: str, unit: str, category: str, expected: float
) -> None:
    (obs,) = _run(45, "male", {section: [{"linkId": link, "answer": [value]}]})
    assert obs["resourceType"] == "Observation" and obs["status"] == "final"
    assert obs["code"]["coding"][0]["system"] == LOINC and obs["code"]["coding"][0]["code"] == code
    assert obs["valueQuantity"] == {"value": expected, "unit": unit, "system": UCUM, "code": unit}
    assert obs["category"][0]["coding"][0]["code"] == category
    assert obs["subject"] == {"reference": PATIENT} and obs["encounter"] == {"reference": ENCOUNTER}
    assert obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/qr-1"}]
    assert obs["effectiveDateTime"] == AUTHORED and obs["performer"] == [
        {"reference": "Practitioner/prac-q1"}
    ]
    assert obs["id"] == extracted_id("qr-1", link)
    assert is_valid(validate(obs))


def test_blood_pressure_is_one_panel_with_two_components() -> None:
    (bp,) = _run(
        45,
        "female",
        {
            "vitals": [
                {
                    "linkId": "bp",
                    "item": [
                        answer("bp-systolic", valueInteger=150),
                        answer("bp-diastolic", valueInteger=95),
                    ],
                }
            ]
        },
    )
    assert bp["code"]["coding"][0]["code"] == "85354-9" and "valueQuantity" not in bp
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert parts == {
        "8480-6": {"value": 150, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        "8462-4": {"value": 95, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
    }
    assert is_valid(validate(bp))


@pytest.mark.parametrize(
    ("height", "weight", "bmi"), [(155, 62.5, 26.0), (170, 70, 24.2), (160.5, 48.2, 18.7)]
)
def test_bmi_is_computed_from_height_and_weight(height: float, weight: float, bmi: float) -> None:
    found = _by_code(
        _run(
            30,
            "male",
            {
                "vitals": [
                    answer("height", valueDecimal=height),
                    answer("weight", valueDecimal=weight),
                    answer("bmi", valueDecimal=99),
                ]
            },
        )
    )
    assert found["39156-5"]["valueQuantity"]["value"] == bmi  # the client's 99 is not trusted
    assert found["39156-5"]["valueQuantity"]["code"] == "kg/m2"
    only_height = _by_code(_run(30, "male", {"vitals": [answer("height", valueDecimal=height)]}))
    assert "39156-5" not in only_height


@pytest.mark.parametrize(
    ("link", "code", "expected"),
    [
        ("smoking", "77176002", "77176002"),
        ("smoking", "8517006", "8517006"),
        ("smoking", "266919005", "266919005"),
    ],
)
def test_smoking_status_is_coded_with_snomed(link: str, code: str, expected: str) -> None:
    (obs,) = _run(50, "male", {"history": [{"linkId": link, "answer": [coding(SNOMED, code)]}]})
    assert obs["code"]["coding"][0] == {
        "system": LOINC,
        "code": "72166-2",
        "display": "Tobacco smoking status",
    }
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == expected
    assert obs["category"][0]["coding"][0]["code"] == "social-history"


@pytest.mark.parametrize(
    ("link", "icd"),
    [
        ("known-hypertension", "I10"),
        ("known-diabetes", "E14"),
        ("known-copd", "J44.9"),
        ("known-asthma", "J45.9"),
    ],
)
def test_known_conditions_answered_yes_become_confirmed_problems(link: str, icd: str) -> None:
    (cond,) = _run(50, "female", {"history": [answer(link, valueBoolean=True)]})
    assert cond["resourceType"] == "Condition"
    assert cond["code"]["coding"][0]["system"] == ICD and cond["code"]["coding"][0]["code"] == icd
    assert cond["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert cond["clinicalStatus"]["coding"][0]["code"] == "active"
    assert cond["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert cond["evidence"] == [{"detail": [{"reference": "QuestionnaireResponse/qr-1"}]}]
    assert cond["encounter"] == {"reference": ENCOUNTER} and cond["recordedDate"] == AUTHORED
    assert is_valid(validate(cond))
    assert _run(50, "female", {"history": [answer(link, valueBoolean=False)]}) == []


def test_a_full_check_up_extracts_everything_valid() -> None:
    resources = _run(45, "female", full_adult_answers())
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["I10"]  # diabetes answered "no"
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    # 7 history answers minus 2 condition questions, bp, pulse, height, weight, waist, bmi, 3 labs,
    # 3 screening answers, the health class (advice text is not extracted)
    assert len(observations) == 5 + 6 + 3 + 3 + 1
    assert len({r["id"] for r in resources}) == len(resources)
    for resource in resources:
        outcome = validate(resource)
        assert is_valid(outcome), (resource["code"], outcome["issue"][:2])
    klass = next(o for o in observations if o["code"]["coding"][0]["code"] == "health-classification")
    assert klass["valueCodeableConcept"]["coding"][0]["code"] == "class-II"
    assert klass["valueCodeableConcept"]["coding"][0]["display"] == "Loại II: khỏe"


@pytest.mark.parametrize(
    ("groups", "link", "expression"),
    [
        (
            {"vitals": [answer("weight", valueDecimal=900)]},
            "weight",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {"vitals": [answer("weight", valueString="sáu mươi")]},
            "weight",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {"vitals": [answer("pulse", valueDecimal=72.5)]},
            "pulse",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {
                "labs": [
                    answer(
                        "glucose",
                        valueQuantity={"value": 110, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
                    )
                ]
            },
            "glucose",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {"history": [{"linkId": "smoking", "answer": [coding(SNOMED, "12345")]}]},
            "smoking",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {"history": [answer("known-hypertension", valueString="có")]},
            "known-hypertension",
            "QuestionnaireResponse.item[1].item[0].answer[0]",
        ),
        (
            {"history": [answer("no-such-item", valueBoolean=True)]},
            "no-such-item",
            "QuestionnaireResponse.item[1].item[0].linkId",
        ),
        (
            {"vitals": [{"linkId": "bp", "item": [answer("bp-systolic", valueInteger=150)]}]},
            "bp-diastolic",
            "QuestionnaireResponse.item[1].item[0].item[0].answer[0]",
        ),
    ],
)
def test_bad_answers_name_the_item(
    groups: dict[str, list[dict[str, Any]]], link: str, expression: str
) -> None:
    with pytest.raises(ExtractionError) as caught:
        _run(45, "male", groups)
    assert caught.value.link_id == link
    assert caught.value.expression == expression
    assert link in str(caught.value)


def test_response_without_id_or_time_is_refused() -> None:
    form = form_for(45, "male")
    no_id = response(form, {}, rid=None)
    with pytest.raises(ExtractionError, match="id"):
        extract(form, no_id, patient=PATIENT, encounter=ENCOUNTER)
    no_time = response(form, {})
    del no_time["authored"]
    with pytest.raises(ExtractionError) as caught:
        extract(form, no_time, patient=PATIENT, encounter=ENCOUNTER)
    assert caught.value.expression == "QuestionnaireResponse.authored"
    with pytest.raises(ExtractionError):
        extract(form, response(form, {}), patient="Encounter/x", encounter=ENCOUNTER)
