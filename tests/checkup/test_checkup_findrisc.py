"""FINDRISC from the questionnaire's own table (Lindström & Tuomilehto 2003; the FINDRISC form).

Each row quotes the form's band and tests a value on each side of every cut-off.
"""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.checkup.risk import FamilyHistory, findrisc, findrisc_band
from senhealth.checkup.risk.findrisc import FINDRISC_BANDS, ITEMS, age_points, bmi_points, waist_points

# (value, points, the form's wording)
AGE_TABLE = [
    (18, 0, "under 45 years"),
    (44, 0, "under 45 years"),
    (44.99, 0, "under 45 years (completed years)"),
    (45, 2, "45–54 years"),
    (54, 2, "45–54 years"),
    (54.9, 2, "45–54 years (completed years)"),
    (55, 3, "55–64 years"),
    (64, 3, "55–64 years"),
    (64.99, 3, "55–64 years (completed years)"),
    (65, 4, "over 64 years"),
    (90, 4, "over 64 years"),
]
BMI_TABLE = [
    (18.0, 0, "lower than 25 kg/m²"),
    (24.99, 0, "lower than 25 kg/m²"),
    (25.0, 1, "25–30 kg/m²"),
    (27.5, 1, "25–30 kg/m²"),
    (30.0, 1, "25–30 kg/m²"),
    (30.01, 3, "higher than 30 kg/m²"),
    (45.0, 3, "higher than 30 kg/m²"),
]
WAIST_TABLE = [
    ("male", 80, 0, "less than 94 cm"),
    ("male", 93.9, 0, "less than 94 cm"),
    ("male", 94, 3, "94–102 cm"),
    ("male", 102, 3, "94–102 cm"),
    ("male", 102.1, 4, "more than 102 cm"),
    ("female", 79.9, 0, "less than 80 cm"),
    ("female", 80, 3, "80–88 cm"),
    ("female", 88, 3, "80–88 cm"),
    ("female", 88.1, 4, "more than 88 cm"),
    # the same waist scores by sex: 90 cm is 0 for a man and 4 for a woman
    ("male", 90, 0, "less than 94 cm"),
    ("female", 90, 4, "more than 88 cm"),
]
BAND_TABLE = [
    (0, "low", 1, 100),
    (6, "low", 1, 100),
    (7, "slightly-elevated", 4, 25),
    (11, "slightly-elevated", 4, 25),
    (12, "moderate", 17, 6),
    (14, "moderate", 17, 6),
    (15, "high", 33, 3),
    (20, "high", 33, 3),
    (21, "very-high", 50, 2),
    (26, "very-high", 50, 2),
]


@pytest.mark.parametrize(("age", "points", "wording"), AGE_TABLE)
def test_age_points(age: float, points: int, wording: str) -> None:
    assert age_points(age) == points, wording


@pytest.mark.parametrize(("bmi", "points", "wording"), BMI_TABLE)
def test_bmi_points(bmi: float, points: int, wording: str) -> None:
    assert bmi_points(bmi) == points, wording


@pytest.mark.parametrize(("sex", "waist", "points", "wording"), WAIST_TABLE)
def test_waist_points(sex: str, waist: float, points: int, wording: str) -> None:
    assert waist_points(waist, sex) == points, wording  # type: ignore[arg-type]


@pytest.mark.parametrize(("total", "code", "percent", "one_in"), BAND_TABLE)
def test_bands(total: int, code: str, percent: int, one_in: int) -> None:
    band = findrisc_band(total)
    assert (band.code, band.risk_percent, band.risk_one_in) == (code, percent, one_in)
    assert band.low <= total <= band.high
    assert round(100 / band.risk_one_in) == band.risk_percent


def test_bands_have_vietnamese_labels_and_cover_0_to_26_without_gaps() -> None:
    assert [b.label_vi for b in FINDRISC_BANDS] == ["Thấp", "Hơi tăng", "Trung bình", "Cao", "Rất cao"]
    assert [b.label_en for b in FINDRISC_BANDS] == [
        "Low",
        "Slightly elevated",
        "Moderate",
        "High",
        "Very high",
    ]
    edges = [(b.low, b.high) for b in FINDRISC_BANDS]
    assert edges[0][0] == 0 and edges[-1][1] == 26
    assert all(edges[i][1] + 1 == edges[i + 1][0] for i in range(len(edges) - 1))


LOWEST: dict[str, Any] = dict(
    age=30,
    sex="female",
    bmi=21.0,
    waist_cm=70,
    physically_active=True,
    vegetables_fruit_daily=True,
    bp_medication=False,
    high_glucose_history=False,
    family_history="none",
)
HIGHEST: dict[str, Any] = dict(
    age=70,
    sex="male",
    bmi=33.0,
    waist_cm=110,
    physically_active=False,
    vegetables_fruit_daily=False,
    bp_medication=True,
    high_glucose_history=True,
    family_history=FamilyHistory.FIRST_DEGREE,
)


def test_the_lowest_and_the_highest_answers_give_0_and_26() -> None:
    low = findrisc(**LOWEST)
    assert low.total == 0 and low.band.code == "low"
    assert list(low.points) == [item.code for item in ITEMS]
    high = findrisc(**HIGHEST)
    assert high.total == 26 and high.band.code == "very-high"
    assert dict(high.points) == {
        "age": 4,
        "bmi": 3,
        "waist": 4,
        "physical_activity": 2,
        "vegetables_fruit": 1,
        "bp_medication": 2,
        "high_glucose": 5,
        "family_history": 5,
    }


@pytest.mark.parametrize(
    ("change", "item", "points"),
    [
        ({"physically_active": False}, "physical_activity", 2),
        ({"vegetables_fruit_daily": False}, "vegetables_fruit", 1),
        ({"bp_medication": True}, "bp_medication", 2),
        ({"high_glucose_history": True}, "high_glucose", 5),
        ({"family_history": "second-degree"}, "family_history", 3),
        ({"family_history": FamilyHistory.SECOND_DEGREE}, "family_history", 3),
        ({"family_history": "first-degree"}, "family_history", 5),
    ],
)
def test_each_yes_no_item_scores_what_the_form_says(change: dict[str, Any], item: str, points: int) -> None:
    score = findrisc(**{**LOWEST, **change})
    assert score.points[item] == points
    assert score.total == points


def test_a_typical_commune_patient() -> None:
    # 58-year-old woman, BMI 26.1, waist 84 cm, active, vegetables daily, on BP medication, mother diabetic
    score = findrisc(
        age=58,
        sex="female",
        bmi=26.1,
        waist_cm=84,
        physically_active=True,
        vegetables_fruit_daily=True,
        bp_medication=True,
        high_glucose_history=False,
        family_history="first-degree",
    )
    assert score.total == 3 + 1 + 3 + 2 + 5 == 14
    assert score.band.code == "moderate" and score.band.label_vi == "Trung bình"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"age": 17}, "age 17 years is outside the accepted range 18–120"),
        ({"age": "58"}, "age must be a number"),
        ({"bmi": 5}, "BMI 5 kg/m² is outside"),
        ({"waist_cm": 0.9}, "waist circumference 0.9 cm is outside"),  # metres by mistake
        ({"sex": "unknown"}, "sex must be"),
        (
            {"family_history": "mother"},
            "family_history must be one of 'none', 'second-degree', 'first-degree'",
        ),
        ({"physically_active": None}, "physically_active must be True or False"),
        ({"high_glucose_history": "no"}, "high_glucose_history must be True or False"),
    ],
)
def test_refusals(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        findrisc(**{**LOWEST, **change})


@pytest.mark.parametrize("total", [-1, 27, 7.5, True, "7"])
def test_band_refuses_what_is_not_a_total(total: object) -> None:
    with pytest.raises(ValueError, match="whole number 0–26"):
        findrisc_band(total)  # type: ignore[arg-type]
