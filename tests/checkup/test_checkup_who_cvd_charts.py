"""The WHO 2019 CVD risk model reproduces the printed Southeast Asia charts, cell by cell.

The 2,100 cells (1,400 laboratory, 700 non-laboratory) are read from the published cell tables in
``../shared/data/who-cvd-charts/``; each is evaluated at its mid-point and rounded half to even.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from senhealth.checkup.risk import chart_cell, risk_band, who_cvd_risk
from senhealth.checkup.risk.ranges import SEXES, Sex
from senhealth.checkup.risk.who_cvd import EQUATIONS, REGIONS, lab_features, nonlab_features

CHARTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "who-cvd-charts"

# The charts' bands and mid-points (reference §1), written out here independently of the module.
AGE_MID = {
    "40-44": 42.5,
    "45-49": 47.5,
    "50-54": 52.5,
    "55-59": 57.5,
    "60-64": 62.5,
    "65-69": 67.5,
    "70-74": 72.5,
}
SBP_MID = {"<120": 110.0, "120-139": 130.0, "140-159": 150.0, "160-179": 170.0, ">=180": 190.0}
TC_MID = {"<4": 3.5, "4-4.9": 4.5, "5-5.9": 5.5, "6-6.9": 6.5, ">=7": 7.5}
BMI_MID = {"<20": 17.5, "20-24": 22.5, "25-29": 27.5, "30-35": 32.5, ">=35": 37.5}
SEX = {"M": "male", "F": "female"}
SMOKER = {"Smoker": True, "Non-smoker": False}
DIABETES = {"Yes": True, "No": False}


def _rows(name: str) -> list[dict[str, str]]:
    with (CHARTS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


LAB_ROWS = _rows("CVDRiskwithlab-southeast-asia.csv")
NONLAB_ROWS = _rows("CVDRisk-southeast-asia.csv")


def test_the_tables_hold_every_cell_once() -> None:
    assert len(LAB_ROWS) == 1400 and len(NONLAB_ROWS) == 700
    assert {r["Region"] for r in LAB_ROWS + NONLAB_ROWS} == {"Southeast Asia"}
    lab_keys = {(r["Age"], r["DM"], r["Gender"], r["Smoke"], r["CHOL"], r["SBP"]) for r in LAB_ROWS}
    nonlab_keys = {(r["Age"], r["Gender"], r["Smoke"], r["BMI"], r["SBP"]) for r in NONLAB_ROWS}
    assert len(lab_keys) == 7 * 2 * 2 * 2 * 5 * 5 == 1400
    assert len(nonlab_keys) == 7 * 2 * 2 * 5 * 5 == 700


def test_every_laboratory_cell_matches_the_printed_chart() -> None:
    wrong = []
    for r in LAB_ROWS:
        risk = who_cvd_risk(
            model="lab",
            sex=SEX[r["Gender"]],  # type: ignore[arg-type]
            age=AGE_MID[r["Age"]],
            sbp=SBP_MID[r["SBP"]],
            smoker=SMOKER[r["Smoke"]],
            total_cholesterol=TC_MID[r["CHOL"]],
            diabetes=DIABETES[r["DM"]],
        )
        if round(risk) != int(r["Risk"]):
            wrong.append((r, risk))
    assert wrong == [], f"{len(wrong)} of 1,400 cells differ, first: {wrong[:3]}"


def test_every_non_laboratory_cell_matches_the_printed_chart() -> None:
    wrong = []
    for r in NONLAB_ROWS:
        risk = who_cvd_risk(
            model="nonlab",
            sex=SEX[r["Gender"]],  # type: ignore[arg-type]
            age=AGE_MID[r["Age"]],
            sbp=SBP_MID[r["SBP"]],
            smoker=SMOKER[r["Smoke"]],
            bmi=BMI_MID[r["BMI"]],
        )
        if round(risk) != int(r["Risk"]):
            wrong.append((r, risk))
    assert wrong == [], f"{len(wrong)} of 700 cells differ, first: {wrong[:3]}"


def test_chart_cell_names_the_printed_cell_for_a_person_anywhere_inside_it() -> None:
    # A person at the low edge of every band and one just under the high edge fall in the same cell
    # (the chart's labels), and the cell carries the chart's printed value.
    low_age = {
        "40-44": 40.0,
        "45-49": 45.0,
        "50-54": 50.0,
        "55-59": 55.0,
        "60-64": 60.0,
        "65-69": 65.0,
        "70-74": 70.0,
    }
    low_sbp = {"<120": 60.0, "120-139": 120.0, "140-159": 140.0, "160-179": 160.0, ">=180": 180.0}
    high_sbp = {"<120": 119.9, "120-139": 139.9, "140-159": 159.9, "160-179": 179.9, ">=180": 300.0}
    low_tc = {"<4": 1.0, "4-4.9": 4.0, "5-5.9": 5.0, "6-6.9": 6.0, ">=7": 7.0}
    high_tc = {"<4": 3.99, "4-4.9": 4.99, "5-5.9": 5.99, "6-6.9": 6.99, ">=7": 20.0}
    for r in LAB_ROWS:
        for age, sbp, tc in (
            (low_age[r["Age"]], low_sbp[r["SBP"]], low_tc[r["CHOL"]]),
            (low_age[r["Age"]] + 4.99, high_sbp[r["SBP"]], high_tc[r["CHOL"]]),
        ):
            cell = chart_cell(
                model="lab",
                sex=SEX[r["Gender"]],  # type: ignore[arg-type]
                age=age,
                sbp=sbp,
                smoker=SMOKER[r["Smoke"]],
                total_cholesterol=tc,
                diabetes=DIABETES[r["DM"]],
            )
            assert cell.cholesterol is not None and cell.bmi is None
            assert (cell.age.label, cell.sbp.label, cell.cholesterol.label) == (r["Age"], r["SBP"], r["CHOL"])
            assert cell.diabetes is DIABETES[r["DM"]] and cell.smoker is SMOKER[r["Smoke"]]
            assert cell.percent == int(r["Risk"]), (r, age, sbp, tc)
            assert cell.band == risk_band(int(r["Risk"]))
    low_bmi = {"<20": 10.0, "20-24": 20.0, "25-29": 25.0, "30-35": 30.0, ">=35": 35.0}
    high_bmi = {"<20": 19.99, "20-24": 24.99, "25-29": 29.99, "30-35": 34.99, ">=35": 80.0}
    for r in NONLAB_ROWS:
        for age, sbp, bmi in (
            (low_age[r["Age"]], low_sbp[r["SBP"]], low_bmi[r["BMI"]]),
            (low_age[r["Age"]] + 4.99, high_sbp[r["SBP"]], high_bmi[r["BMI"]]),
        ):
            cell = chart_cell(
                model="nonlab",
                sex=SEX[r["Gender"]],  # type: ignore[arg-type]
                age=age,
                sbp=sbp,
                smoker=SMOKER[r["Smoke"]],
                bmi=bmi,
            )
            assert cell.bmi is not None and cell.cholesterol is None and cell.diabetes is None
            assert (cell.age.label, cell.sbp.label, cell.bmi.label) == (r["Age"], r["SBP"], r["BMI"])
            assert cell.percent == int(r["Risk"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            dict(
                model="lab", sex="male", age=40, sbp=120, total_cholesterol=4.0, diabetes=False, smoker=False
            ),
            1.198,
        ),
        (
            dict(
                model="lab", sex="male", age=55, sbp=160, total_cholesterol=6.2, diabetes=True, smoker=False
            ),
            14.920,
        ),
        (dict(model="nonlab", sex="female", age=70, sbp=135, bmi=31, smoker=True), 17.970),
    ],
)
def test_the_reference_worked_values(kwargs: dict[str, object], expected: float) -> None:
    risk = who_cvd_risk(**kwargs)  # type: ignore[arg-type]
    assert round(risk, 3) == expected
    assert abs(risk - expected) < 0.0005


def _three_step(model: str, sex: str, features: tuple[float, ...]) -> float:
    """The reference's own formulas, step by step: p, p_cal per endpoint, then the combination."""
    survive = 1.0
    for endpoint in ("chd", "stroke"):
        eq = EQUATIONS[(model, endpoint, sex)]  # type: ignore[index]
        lp = sum(b * x for b, x in zip(eq.coefficients, features, strict=True))
        p = 1 - eq.s0 ** math.exp(lp)
        cal = REGIONS["SEA"].recalibration[(model, endpoint, sex)]  # type: ignore[index]
        p_cal = 1 - math.exp(-math.exp(cal.cons + cal.slope * math.log(-math.log(1 - p))))
        survive *= 1 - p_cal
    return 100 * (1 - survive)


def test_the_closed_form_equals_the_reference_three_steps() -> None:
    # Over realistic inputs; at the far ends of the accepted ranges (TC 20 mmol/L with SBP 300 mmHg)
    # the three-step form's 1 − p rounds to 0 and ln(0) fails, where the closed form still answers.
    import random

    rng = random.Random(2019)
    for _ in range(3000):
        sex: Sex = rng.choice(SEXES)
        age = rng.uniform(40, 74.99)
        sbp = rng.uniform(80, 240)
        smoker = rng.random() < 0.5
        if rng.random() < 0.5:
            tc = rng.uniform(2, 12)
            dm = rng.random() < 0.5
            got = who_cvd_risk(
                model="lab", sex=sex, age=age, sbp=sbp, smoker=smoker, total_cholesterol=tc, diabetes=dm
            )
            want = _three_step("lab", sex, lab_features(age, sbp, tc, float(dm), float(smoker)))
        else:
            bmi = rng.uniform(12, 50)
            got = who_cvd_risk(model="nonlab", sex=sex, age=age, sbp=sbp, smoker=smoker, bmi=bmi)
            want = _three_step("nonlab", sex, nonlab_features(age, sbp, bmi, float(smoker)))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_the_coefficient_table_is_the_reference_table() -> None:
    # Spot checks of the transcription, one per column of each table (the charts check the rest).
    assert EQUATIONS[("lab", "chd", "male")].coefficients[0] == 0.0719227
    assert EQUATIONS[("lab", "chd", "female")].s0 == 0.9894159
    assert EQUATIONS[("lab", "stroke", "male")].coefficients[5] == 0.00142
    assert EQUATIONS[("nonlab", "stroke", "female")].coefficients[4] == -0.0000129
    assert EQUATIONS[("nonlab", "chd", "male")].s0 == 0.9544258
    sea = REGIONS["SEA"].recalibration
    assert (sea[("lab", "chd", "male")].cons, sea[("lab", "chd", "male")].slope) == (-0.164317, 1.092762)
    assert (sea[("nonlab", "stroke", "female")].cons, sea[("nonlab", "stroke", "female")].slope) == (
        -0.714891,
        0.609435,
    )
    assert len(sea) == 8 and len(EQUATIONS) == 8


@pytest.mark.parametrize(
    ("percent", "code"),
    [(0, "<5"), (4.999, "<5"), (5, "5-<10"), (9.99, "5-<10"), (10, "10-<20"), (19.999, "10-<20"),
     (20, "20-<30"), (29.9, "20-<30"), (30, ">=30"), (100, ">=30")],
)  # fmt: skip
def test_risk_bands_at_their_edges(percent: float, code: str) -> None:
    band = risk_band(percent)
    assert band.code == code
    assert band.label_vi and band.label_en


@pytest.mark.parametrize("bad", [-0.1, 100.1, float("nan"), "5", None])
def test_risk_band_refuses_what_is_not_a_percentage(bad: object) -> None:
    with pytest.raises(ValueError):
        risk_band(bad)  # type: ignore[arg-type]
