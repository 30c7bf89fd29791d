"""WHO 2019 cardiovascular disease risk charts: the 10-year risk of a fatal or non-fatal myocardial
infarction or stroke, laboratory and non-laboratory models, recalibrated to a region.

Source: WHO CVD Risk Chart Working Group. World Health Organization cardiovascular disease risk charts:
revised models to estimate risk in 21 global regions. Lancet Glob Health 2019;7:e1332–45,
https://doi.org/10.1016/S2214-109X(19)30318-3 (coefficients, baseline survival and the regional
recalibration: its supplementary appendix), as transcribed in the project's reference page
``risk-and-surveillance.md`` §1. The printed charts for Southeast Asia (2,100 cells) are
reproduced exactly by this module (``tests/checkup/test_checkup_who_cvd_charts.py``).

The model, per endpoint (coronary heart disease, CHD, and stroke) and sex:

- centred inputs ``cage = age − 60``, ``csbp = SBP − 120``, ``ctc = total cholesterol − 6`` (mmol/L),
  ``cbmi = BMI − 25``, smoking and diabetes 0/1;
- the linear predictor ``LP`` over the terms of :data:`LAB_TERMS` or :data:`NONLAB_TERMS`;
- uncalibrated risk ``p = 1 − S0 ^ exp(LP)``;
- recalibrated ``p_cal = 1 − exp(−exp(cons + slope · ln(−ln(1 − p))))``;
- 10-year CVD risk ``1 − (1 − p_cal_CHD) · (1 − p_cal_stroke)``.

It is computed here in an algebraically identical form that loses no precision at small risks:
``ln(−ln(1 − p)) = LP + ln(−ln S0)``, so ``p_cal = 1 − exp(−H)`` with the cumulative hazard
``H = exp(cons + slope · (LP + ln(−ln S0)))``, and the 10-year risk is ``1 − exp(−(H_CHD + H_stroke))``
(``-expm1``). The tests hold it to the three-step form above.

Inputs outside the charts' ages (40–74) raise :class:`ChartNotApplicable`, a ``ValueError``; other
inputs are checked against :mod:`.ranges`. Only the Southeast Asia recalibration (Viet Nam's GBD region)
is loaded; another region is one more :class:`Region` in :data:`REGIONS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from senhealth.checkup.risk import ranges
from senhealth.checkup.risk.ranges import Sex

Model = Literal["lab", "nonlab"]
Endpoint = Literal["chd", "stroke"]

MODELS: Final[tuple[Model, ...]] = ("lab", "nonlab")
ENDPOINTS: Final[tuple[Endpoint, ...]] = ("chd", "stroke")

AGE_MIN: Final = 40.0
AGE_LIMIT: Final = 75.0
"""The charts cover ages 40 to 74 (completed years): ``AGE_MIN <= age < AGE_LIMIT``."""

LAB_TERMS: Final = (
    "age",
    "tc",
    "sbp",
    "diabetes",
    "smoking",
    "age_tc",
    "age_sbp",
    "age_diabetes",
    "age_smoking",
)
"""Terms of the laboratory model, in the order of :func:`lab_features`."""

NONLAB_TERMS: Final = ("age", "bmi", "sbp", "smoking", "age_bmi", "age_sbp", "age_smoking")
"""Terms of the non-laboratory model, in the order of :func:`nonlab_features`."""

# The paper's tables, column by column as printed: CHD men, CHD women, stroke men, stroke women.
_TABLE_COLUMNS: Final[tuple[tuple[Endpoint, Sex], ...]] = (
    ("chd", "male"),
    ("chd", "female"),
    ("stroke", "male"),
    ("stroke", "female"),
)

# fmt: off
_LAB_TABLE: Final[Mapping[str, tuple[float, float, float, float]]] = {
    #                 CHD men      CHD women    stroke men   stroke women
    "age":          ( 0.0719227,   0.1020713,   0.0986578,   0.1056632),
    "tc":           ( 0.2284944,   0.2050377,   0.029526,    0.0257782),
    "sbp":          ( 0.0132183,   0.015823,    0.0222629,   0.0206278),
    "diabetes":     ( 0.6410114,   1.070358,    0.6268712,   0.8581998),
    "smoking":      ( 0.5638109,   1.053223,    0.4981217,   0.7443627),
    "age_tc":       (-0.0045806,  -0.0051932,   0.00142,    -0.0021387),
    "age_sbp":      (-0.0001576,  -0.0001378,  -0.0004147,  -0.0004897),
    "age_diabetes": (-0.0124966,  -0.0234174,  -0.026302,   -0.0209826),
    "age_smoking":  (-0.0182545,  -0.0332666,  -0.0150561,  -0.0200822),
    "s0":           ( 0.9540108,   0.9894159,   0.9849257,   0.9890569),
}

_NONLAB_TABLE: Final[Mapping[str, tuple[float, float, float, float]]] = {
    #                 CHD men      CHD women    stroke men   stroke women
    "age":          ( 0.073593,    0.1049418,   0.097674,    0.1046105),
    "bmi":          ( 0.0337219,   0.0257616,   0.0159518,   0.0036406),
    "sbp":          ( 0.0133937,   0.016726,    0.0227294,   0.0216741),
    "smoking":      ( 0.5954767,   1.093132,    0.4999862,   0.7399405),
    "age_bmi":      (-0.0010432,  -0.0006537,  -0.0003516,  -0.0000129),
    "age_sbp":      (-0.0001837,  -0.0001966,  -0.0004374,  -0.0005311),
    "age_smoking":  (-0.0200831,  -0.0343739,  -0.0153895,  -0.0203997),
    "s0":           ( 0.9544258,   0.9887124,   0.9848260,   0.9885706),
}

# Regional recalibration (cons, slope), Southeast Asia, 2017 risk-factor and incidence estimates.
_SEA_RECALIBRATION: Final[Mapping[tuple[Model, Endpoint], tuple[tuple[float, float], tuple[float, float]]]] = {
    #                      men                       women
    ("lab", "chd"):        ((-0.164317, 1.092762),   (-0.444916, 0.784497)),
    ("lab", "stroke"):     ((-0.614515, 0.665658),   (-0.802251, 0.595501)),
    ("nonlab", "chd"):     ((-0.15274,  1.161634),   (-0.405802, 0.814679)),
    ("nonlab", "stroke"):  ((-0.651293, 0.644235),   (-0.714891, 0.609435)),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class CoxEquation:
    """One sex-specific Cox model for one endpoint: coefficients in term order, baseline survival."""

    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    s0: float
    """Baseline 10-year survival at the centring values."""


@dataclass(frozen=True, slots=True)
class Recalibration:
    """``p_cal = 1 − exp(−exp(cons + slope · ln(−ln(1 − p))))``."""

    cons: float
    slope: float


@dataclass(frozen=True, slots=True)
class Region:
    """A GBD region whose recalibration is loaded."""

    code: str
    name: str
    description: str
    recalibration: Mapping[tuple[Model, Endpoint, Sex], Recalibration]


def _equations(
    model: Model, table: Mapping[str, tuple[float, ...]]
) -> dict[tuple[Model, Endpoint, Sex], CoxEquation]:
    terms = LAB_TERMS if model == "lab" else NONLAB_TERMS
    out: dict[tuple[Model, Endpoint, Sex], CoxEquation] = {}
    for column, (endpoint, sex) in enumerate(_TABLE_COLUMNS):
        coefficients = tuple(table[term][column] for term in terms)
        out[(model, endpoint, sex)] = CoxEquation(terms, coefficients, table["s0"][column])
    return out


EQUATIONS: Final[Mapping[tuple[Model, Endpoint, Sex], CoxEquation]] = {
    **_equations("lab", _LAB_TABLE),
    **_equations("nonlab", _NONLAB_TABLE),
}
"""Every Cox equation, by (model, endpoint, sex)."""

REGIONS: Final[Mapping[str, Region]] = {
    "SEA": Region(
        code="SEA",
        name="Southeast Asia",
        description="GBD region Southeast Asia (Viet Nam's region); the paper's 2017 recalibration",
        recalibration={
            (model, endpoint, sex): Recalibration(*pair)
            for (model, endpoint), by_sex in _SEA_RECALIBRATION.items()
            for sex, pair in zip(ranges.SEXES, by_sex, strict=True)
        },
    ),
}
"""Loaded regions by code. Add a region by adding its recalibration table (the paper's appendix)."""


class ChartNotApplicable(ValueError):
    """The person is outside the charts' ages (40–74): the WHO chart does not apply to them."""

    def __init__(self, age: float, *, who: str = "") -> None:
        self.age = age
        self.message_vi = (
            f"Biểu đồ nguy cơ tim mạch của WHO không áp dụng cho tuổi {age:g}: "
            "biểu đồ chỉ dùng cho người từ 40 đến 74 tuổi."
        )
        prefix = f"{who}: " if who else ""
        super().__init__(
            f"{prefix}the WHO CVD risk chart does not apply at age {age:g}: the charts cover ages 40 to 74."
        )


@dataclass(frozen=True, slots=True)
class Compiled:
    """The two endpoints of one (model, sex, region), ready for the hot path.

    ``H_e = exp(k_e + slope_e · LP_e)`` with ``k_e = cons_e + slope_e · ln(−ln S0_e)``. Both the scalar
    and the vectorised path (:mod:`.who_cvd_many`) read these, so that they use the very same constants.
    """

    chd: tuple[float, ...]
    chd_k: float
    chd_slope: float
    stroke: tuple[float, ...]
    stroke_k: float
    stroke_slope: float


def _compile(model: Model, sex: Sex, region: Region) -> Compiled:
    parts: list[tuple[tuple[float, ...], float, float]] = []
    for endpoint in ENDPOINTS:
        eq = EQUATIONS[(model, endpoint, sex)]
        cal = region.recalibration[(model, endpoint, sex)]
        parts.append((eq.coefficients, cal.cons + cal.slope * math.log(-math.log(eq.s0)), cal.slope))
    (chd, chd_k, chd_slope), (stroke, stroke_k, stroke_slope) = parts
    return Compiled(chd, chd_k, chd_slope, stroke, stroke_k, stroke_slope)


COMPILED: Final[Mapping[tuple[Model, Sex, str], Compiled]] = {
    (model, sex, code): _compile(model, sex, region)
    for code, region in REGIONS.items()
    for model in MODELS
    for sex in ranges.SEXES
}
"""The hot path's constants by (model, sex, region code)."""


def lab_features(age: float, sbp: float, tc: float, diabetes: float, smoker: float) -> tuple[float, ...]:
    """The laboratory model's centred terms, in :data:`LAB_TERMS` order."""
    cage = age - 60.0
    ctc = tc - 6.0
    return (
        cage,
        ctc,
        sbp - 120.0,
        diabetes,
        smoker,
        cage * ctc,
        cage * (sbp - 120.0),
        cage * diabetes,
        cage * smoker,
    )


def nonlab_features(age: float, sbp: float, bmi: float, smoker: float) -> tuple[float, ...]:
    """The non-laboratory model's centred terms, in :data:`NONLAB_TERMS` order."""
    cage = age - 60.0
    cbmi = bmi - 25.0
    return (cage, cbmi, sbp - 120.0, smoker, cage * cbmi, cage * (sbp - 120.0), cage * smoker)


def _linear_predictor(coefficients: tuple[float, ...], features: tuple[float, ...]) -> float:
    # Left to right from the first term (never sum(): its summation order differs between Pythons),
    # the same order as the vectorised path.
    lp = coefficients[0] * features[0]
    for i in range(1, len(coefficients)):
        lp += coefficients[i] * features[i]
    return lp


def check_model(model: object) -> Model:
    if model == "lab":
        return "lab"
    if model == "nonlab":
        return "nonlab"
    raise ValueError(f"model must be 'lab' or 'nonlab', got {model!r}")


def check_region(region: object) -> str:
    if isinstance(region, str) and region in REGIONS:
        return region
    raise ValueError(f"region {region!r} is not loaded; loaded regions: {', '.join(sorted(REGIONS))}")


def check_age(age: object) -> float:
    value = ranges.number("age", age)
    if not AGE_MIN <= value < AGE_LIMIT:
        raise ChartNotApplicable(value)
    return value


@dataclass(frozen=True, slots=True)
class CheckedInputs:
    """The inputs of one person after :func:`check_inputs`: floats and 0/1, in their units."""

    model: Model
    sex: Sex
    region: str
    age: float
    sbp: float
    smoker: bool
    total_cholesterol: float | None
    diabetes: bool | None
    bmi: float | None


def check_inputs(
    *,
    model: object,
    sex: object,
    age: object,
    sbp: object,
    smoker: object,
    total_cholesterol: object = None,
    diabetes: object = None,
    bmi: object = None,
    region: object = "SEA",
) -> CheckedInputs:
    """Check one person's inputs for the chosen model (see :func:`who_cvd_risk`)."""
    checked_model = check_model(model)
    checked_sex = ranges.sex(sex)
    checked_region = check_region(region)
    checked_age = check_age(age)
    checked_sbp = ranges.in_range("systolic blood pressure", sbp, ranges.SBP_RANGE, "mmHg")
    checked_smoker = ranges.flag("smoker", smoker)
    tc: float | None = None
    dm: bool | None = None
    body: float | None = None
    if checked_model == "lab":
        if total_cholesterol is None:
            raise ValueError("the laboratory model needs total_cholesterol (mmol/L)")
        if diabetes is None:
            raise ValueError("the laboratory model needs diabetes (True or False)")
        tc = ranges.in_range("total cholesterol", total_cholesterol, ranges.CHOLESTEROL_RANGE, "mmol/L")
        dm = ranges.flag("diabetes", diabetes)
    else:
        if bmi is None:
            raise ValueError("the non-laboratory model needs bmi (kg/m²)")
        body = ranges.in_range("BMI", bmi, ranges.BMI_RANGE, "kg/m²")
    return CheckedInputs(
        checked_model, checked_sex, checked_region, checked_age, checked_sbp, checked_smoker, tc, dm, body
    )


def risk_of(inputs: CheckedInputs) -> float:
    """10-year CVD risk in percent of checked inputs."""
    c = COMPILED[(inputs.model, inputs.sex, inputs.region)]
    smk = 1.0 if inputs.smoker else 0.0
    if inputs.model == "lab":
        assert inputs.total_cholesterol is not None
        dm = 1.0 if inputs.diabetes else 0.0
        features = lab_features(inputs.age, inputs.sbp, inputs.total_cholesterol, dm, smk)
    else:
        assert inputs.bmi is not None
        features = nonlab_features(inputs.age, inputs.sbp, inputs.bmi, smk)
    hazard = math.exp(c.chd_k + c.chd_slope * _linear_predictor(c.chd, features)) + math.exp(
        c.stroke_k + c.stroke_slope * _linear_predictor(c.stroke, features)
    )
    return -100.0 * math.expm1(-hazard)


def who_cvd_risk(
    *,
    model: Model,
    sex: Sex,
    age: float,
    sbp: float,
    smoker: bool,
    total_cholesterol: float | None = None,
    diabetes: bool | None = None,
    bmi: float | None = None,
    region: str = "SEA",
) -> float:
    """10-year risk of a cardiovascular event in percent (unrounded), WHO 2019 charts.

    ``model``: ``"lab"`` (needs ``total_cholesterol`` in mmol/L and ``diabetes``) or ``"nonlab"``
    (needs ``bmi`` in kg/m²); an input of the other model is ignored. ``sex``: ``"male"`` or ``"female"``.
    ``age`` in years, 40 ≤ age < 75 (the charts' 40–74), else :class:`ChartNotApplicable`.
    ``sbp`` in mmHg. ``smoker`` and ``diabetes``: ``True``/``False`` (or 0/1). ``region``: a code of
    :data:`REGIONS` (``"SEA"``, Southeast Asia). Ranges: :mod:`.ranges`. Every refusal is a
    ``ValueError`` naming the input.
    """
    return risk_of(
        check_inputs(
            model=model,
            sex=sex,
            age=age,
            sbp=sbp,
            smoker=smoker,
            total_cholesterol=total_cholesterol,
            diabetes=diabetes,
            bmi=bmi,
            region=region,
        )
    )
