"""The vectorised WHO CVD risk gives the scalar function's numbers, and refuses what it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from senhealth.checkup.risk import ChartNotApplicable, who_cvd_risk, who_cvd_risk_many

N = 4000


def _people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "sex": rng.choice(np.array(["male", "female"]), n),
        "age": rng.uniform(40, 74.999, n),
        "sbp": rng.uniform(60, 300, n),
        "smoker": rng.random(n) < 0.3,
        "total_cholesterol": rng.uniform(1, 20, n),
        "diabetes": rng.random(n) < 0.1,
        "bmi": rng.uniform(10, 80, n),
    }


@pytest.mark.parametrize("model", ["lab", "nonlab"])
def test_many_equals_the_scalar_function_person_by_person(model: str) -> None:
    p = _people(np.random.default_rng(7), N)
    many = who_cvd_risk_many(model=model, **p)  # type: ignore[arg-type]
    assert many.shape == (N,) and many.dtype == np.float64
    scalar = np.array(
        [
            who_cvd_risk(
                model=model,  # type: ignore[arg-type]
                sex=str(p["sex"][i]),  # type: ignore[arg-type]
                age=float(p["age"][i]),
                sbp=float(p["sbp"][i]),
                smoker=bool(p["smoker"][i]),
                total_cholesterol=float(p["total_cholesterol"][i]),
                diabetes=bool(p["diabetes"][i]),
                bmi=float(p["bmi"][i]),
            )
            for i in range(N)
        ]
    )
    np.testing.assert_allclose(many, scalar, rtol=1e-12, atol=0)
    assert np.array_equal(np.round(many, 9), np.round(scalar, 9))


def test_many_broadcasts_scalars_and_takes_zero_one_flags() -> None:
    ages = np.array([42.5, 57.5, 72.5])
    many = who_cvd_risk_many(
        model="lab", sex="female", age=ages, sbp=150, smoker=[0, 1, 0], total_cholesterol=5.5, diabetes=1
    )
    for i, age in enumerate(ages):
        one = who_cvd_risk(
            model="lab",
            sex="female",
            age=float(age),
            sbp=150,
            smoker=bool([0, 1, 0][i]),
            total_cholesterol=5.5,
            diabetes=True,
        )
        assert math.isclose(many[i], one, rel_tol=1e-12)


def test_many_raises_the_scalar_error_with_the_person_index() -> None:
    p = _people(np.random.default_rng(1), 10)
    p["age"][6] = 39.0
    with pytest.raises(
        ChartNotApplicable, match=r"^person 6: the WHO CVD risk chart does not apply at age 39"
    ):
        who_cvd_risk_many(model="nonlab", **p)  # type: ignore[arg-type]
    p["age"][6] = 50.0
    p["bmi"][3] = 95.0
    with pytest.raises(ValueError, match=r"^person 3: BMI 95 kg/m² is outside the accepted range 10–80"):
        who_cvd_risk_many(model="nonlab", **p)  # type: ignore[arg-type]
    # the laboratory model does not look at BMI
    assert np.isfinite(who_cvd_risk_many(model="lab", **p)).all()  # type: ignore[arg-type]


def test_many_gives_nan_for_refused_people_when_asked() -> None:
    p = _people(np.random.default_rng(2), 8)
    p["age"][[1, 5]] = [30.0, 75.0]
    p["sbp"][2] = np.nan
    p["total_cholesterol"][7] = 0.5
    out = who_cvd_risk_many(model="lab", invalid="nan", **p)  # type: ignore[arg-type]
    assert np.isnan(out).tolist() == [False, True, True, False, False, True, False, True]
    assert out[0] == pytest.approx(
        who_cvd_risk(
            model="lab", sex=str(p["sex"][0]), age=float(p["age"][0]), sbp=float(p["sbp"][0]),  # type: ignore[arg-type]
            smoker=bool(p["smoker"][0]), total_cholesterol=float(p["total_cholesterol"][0]),
            diabetes=bool(p["diabetes"][0]),
        ),
        rel=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            dict(model="lab", sex="male", age=50, sbp=140, smoker=False, diabetes=False),
            "needs total_cholesterol",
        ),
        (dict(model="lab", sex="male", age=50, sbp=140, smoker=False, total_cholesterol=5), "needs diabetes"),
        (dict(model="nonlab", sex="male", age=50, sbp=140, smoker=False), "needs bmi"),
        (dict(model="other", sex="male", age=50, sbp=140, smoker=False, bmi=22), "model must be"),
        (dict(model="nonlab", sex=["male", "other"], age=50, sbp=140, smoker=False, bmi=22), "sex must be"),
        (dict(model="nonlab", sex=[1, 0], age=50, sbp=140, smoker=False, bmi=22), "sex must be"),
        (dict(model="nonlab", sex="male", age=50, sbp=140, smoker=[0, 2], bmi=22), "smoker must be"),
        (dict(model="nonlab", sex="male", age=["50"], sbp=140, smoker=False, bmi=22), "age must be numbers"),
        (dict(model="nonlab", sex="male", age=50, sbp=140, smoker=False, bmi=22, region="EUR"), "region"),
        (
            dict(model="nonlab", sex="male", age=[50, 60], sbp=[140, 150, 160], smoker=False, bmi=22),
            "broadcast",
        ),
    ],
)
def test_many_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        who_cvd_risk_many(**kwargs)  # type: ignore[arg-type]
