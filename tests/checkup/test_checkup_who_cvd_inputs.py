"""What the WHO CVD risk refuses, and properties of the model over the charts' ranges."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from senhealth.checkup.risk import ChartNotApplicable, chart_cell, who_cvd_risk
from senhealth.checkup.risk.ranges import Sex
from senhealth.checkup.risk.who_cvd import Model

LAB: dict[str, Any] = dict(
    model="lab", sex="male", age=55, sbp=140, smoker=False, total_cholesterol=5.0, diabetes=False
)
NONLAB: dict[str, Any] = dict(model="nonlab", sex="female", age=55, sbp=140, smoker=True, bmi=24.0)


@pytest.mark.parametrize("age", [39, 39.99, 75, 75.0, 80, 18, 0])
@pytest.mark.parametrize("base", [LAB, NONLAB])
def test_outside_ages_40_to_74_the_chart_does_not_apply(base: dict[str, Any], age: float) -> None:
    with pytest.raises(ChartNotApplicable, match="does not apply") as caught:
        who_cvd_risk(**{**base, "age": age})
    assert isinstance(caught.value, ValueError)
    assert caught.value.age == age
    assert "40 đến 74" in caught.value.message_vi
    with pytest.raises(ChartNotApplicable):
        chart_cell(**{**base, "age": age})


@pytest.mark.parametrize("age", [40, 40.0, 74, 74.99])
def test_the_edges_of_the_age_range_are_inside(age: float) -> None:
    assert 0 < who_cvd_risk(**{**LAB, "age": age}) < 100
    assert chart_cell(**{**LAB, "age": age}).age.label == ("40-44" if age < 45 else "70-74")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total_cholesterol": None}, "needs total_cholesterol"),
        ({"diabetes": None}, "needs diabetes"),
        ({"model": "LAB"}, "model must be 'lab' or 'nonlab'"),
        ({"model": None}, "model must be"),
        ({"sex": "other"}, "sex must be 'male' or 'female'"),
        ({"sex": "M"}, "sex must be"),
        ({"region": "EUR"}, "region 'EUR' is not loaded; loaded regions: SEA"),
        ({"sbp": 59.9}, "systolic blood pressure 59.9 mmHg is outside the accepted range 60–300"),
        ({"sbp": 1400}, "outside the accepted range 60–300 mmHg"),
        ({"sbp": float("nan")}, "systolic blood pressure must be a finite number"),
        ({"sbp": "140"}, "systolic blood pressure must be a number"),
        ({"sbp": True}, "must be a number"),
        ({"total_cholesterol": 0.9}, "total cholesterol 0.9 mmol/L is outside the accepted range 1–20"),
        ({"total_cholesterol": 200}, "outside the accepted range 1–20 mmol/L"),  # mg/dL by mistake
        ({"total_cholesterol": float("inf")}, "finite"),
        ({"smoker": "no"}, "smoker must be True or False"),
        ({"smoker": 2}, "smoker must be True or False"),
        ({"diabetes": "yes"}, "diabetes must be True or False"),
        ({"age": "55"}, "age must be a number"),
        ({"age": float("nan")}, "age must be a finite number"),
    ],
)
def test_laboratory_refusals(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        who_cvd_risk(**{**LAB, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bmi": None}, "needs bmi"),
        ({"bmi": 9.9}, "BMI 9.9 kg/m² is outside the accepted range 10–80"),
        ({"bmi": 80.5}, "outside the accepted range 10–80"),
        ({"bmi": "24"}, "BMI must be a number"),
        ({"sbp": 301}, "outside the accepted range 60–300"),
    ],
)
def test_non_laboratory_refusals(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        who_cvd_risk(**{**NONLAB, **change})


def test_inputs_of_the_other_model_are_ignored() -> None:
    assert who_cvd_risk(**{**LAB, "bmi": 999}) == who_cvd_risk(**LAB)
    assert who_cvd_risk(**{**NONLAB, "total_cholesterol": -1, "diabetes": "x"}) == who_cvd_risk(**NONLAB)


def test_zero_one_flags_and_integers_are_accepted() -> None:
    assert who_cvd_risk(**{**LAB, "smoker": 1, "diabetes": 0}) == who_cvd_risk(**{**LAB, "smoker": True})
    assert who_cvd_risk(**{**LAB, "smoker": np.True_, "sbp": np.int64(140), "age": np.float32(55)}) == (
        who_cvd_risk(**{**LAB, "smoker": True})
    )
    with pytest.raises(ValueError, match="smoker must be True or False"):
        who_cvd_risk(**{**LAB, "smoker": np.array([True, False])})
    assert who_cvd_risk(**{**LAB, "sbp": 140}) == who_cvd_risk(**{**LAB, "sbp": 140.0})


# Properties over the charts' ranges of inputs. (At the far ends of the accepted ranges the negative
# age interactions can win: a smoking diabetic man with SBP 300 mmHg and cholesterol 3 mmol/L has a
# lower 10-year risk at 50 than at 40; the charts' top bands stop at SBP >= 180 and TC >= 7.)
ages = st.floats(40, 74.99)
sbps = st.floats(90, 200)
sexes = st.sampled_from(["male", "female"])
flags = st.booleans()
tcs = st.floats(2.5, 8.5)
bmis = st.floats(15, 40)


@settings(max_examples=300, deadline=None)
@given(sex=sexes, age=ages, sbp=sbps, smoker=flags, tc=tcs, dm=flags, delta=st.floats(0.5, 40))
def test_lab_risk_grows_with_sbp_and_age(
    sex: str, age: float, sbp: float, smoker: bool, tc: float, dm: bool, delta: float
) -> None:
    base = dict(model="lab", sex=sex, age=age, sbp=sbp, smoker=smoker, total_cholesterol=tc, diabetes=dm)
    risk = who_cvd_risk(**base)  # type: ignore[arg-type]
    assert 0 < risk < 100
    if sbp + delta <= 200:
        assert who_cvd_risk(**{**base, "sbp": sbp + delta}) > risk  # type: ignore[arg-type]
    if age + delta / 10 < 75:
        assert who_cvd_risk(**{**base, "age": age + delta / 10}) > risk  # type: ignore[arg-type]
    # smoking and diabetes never lower the risk
    assert who_cvd_risk(**{**base, "smoker": True}) >= risk  # type: ignore[arg-type]
    assert who_cvd_risk(**{**base, "diabetes": True}) >= risk  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(sex=sexes, age=ages, sbp=sbps, smoker=flags, bmi=bmis, delta=st.floats(0.5, 40))
def test_nonlab_risk_grows_with_sbp_and_age(
    sex: str, age: float, sbp: float, smoker: bool, bmi: float, delta: float
) -> None:
    base = dict(model="nonlab", sex=sex, age=age, sbp=sbp, smoker=smoker, bmi=bmi)
    risk = who_cvd_risk(**base)  # type: ignore[arg-type]
    assert 0 < risk < 100
    if sbp + delta <= 200:
        assert who_cvd_risk(**{**base, "sbp": sbp + delta}) > risk  # type: ignore[arg-type]
    if age + delta / 10 < 75:
        assert who_cvd_risk(**{**base, "age": age + delta / 10}) > risk  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(["lab", "nonlab"]),
    sex=sexes,
    age=ages,
    sbp=st.floats(60, 300),
    smoker=flags,
    tc=st.floats(1, 20),
    dm=flags,
    bmi=st.floats(10, 80),
)
def test_risk_is_a_percentage_over_every_accepted_input(
    model: Model, sex: Sex, age: float, sbp: float, smoker: bool, tc: float, dm: bool, bmi: float
) -> None:
    risk = who_cvd_risk(
        model=model, sex=sex, age=age, sbp=sbp, smoker=smoker, total_cholesterol=tc, diabetes=dm, bmi=bmi
    )
    assert math.isfinite(risk) and 0 <= risk <= 100
    cell = chart_cell(
        model=model, sex=sex, age=age, sbp=sbp, smoker=smoker, total_cholesterol=tc, diabetes=dm, bmi=bmi
    )
    assert cell.age.contains(age) and cell.sbp.contains(sbp)
    assert 0 <= cell.percent <= 100


def test_outside_the_charts_ranges_the_model_is_not_monotone_in_age() -> None:
    # Documented in docs/checkup.md: the reason the properties above keep to the charts' ranges.
    extreme = dict(model="lab", sex="male", sbp=300, smoker=True, total_cholesterol=3.0, diabetes=True)
    assert who_cvd_risk(age=50, **extreme) < who_cvd_risk(age=40, **extreme)  # type: ignore[arg-type]
