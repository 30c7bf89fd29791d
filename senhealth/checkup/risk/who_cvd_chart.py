"""The WHO 2019 risk charts as printed: risk bands (the cells' colours) and the cell a person falls in.

Source: WHO CVD Risk Chart Working Group, Lancet Glob Health 2019;7:e1332–45, and the printed regional
charts (HEARTS technical package, module "Risk-based CVD management", WHO 2020). Each chart panel is one
sex, smoking status and (laboratory charts) diabetes status; its rows are age bands 40–44 … 70–74, inside
each a grid of systolic blood pressure (rows, < 120 … ≥ 180 mmHg) by total cholesterol (< 4 … ≥ 7 mmol/L)
or BMI (< 20 … ≥ 35 kg/m²). A cell prints the model's risk at the cell's mid-point (age 42.5 … 72.5,
SBP 110 … 190, cholesterol 3.5 … 7.5, BMI 17.5 … 37.5) rounded to a whole percent (half to even), and
is coloured by that printed value's band: < 5 %, 5 to < 10 %, 10 to < 20 %, 20 to < 30 %, ≥ 30 %.

Band edges: each band holds its lower edge and not its upper one (``low <= x < high``): a cholesterol of
4.95 mmol/L is in "4-4.9" and 5.0 in "5-5.9", BMI 24.9 in "20-24" and 25.0 in "25-29", BMI 35.0 in
">=35", SBP 139.5 in "120-139" and 140 in "140-159", age 74.9 in "70-74". Labels are the charts' own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from senhealth.checkup.risk import ranges
from senhealth.checkup.risk.ranges import Sex
from senhealth.checkup.risk.who_cvd import Model, check_inputs, risk_of


@dataclass(frozen=True, slots=True)
class RiskBand:
    """One of the charts' five risk levels (the cell colours)."""

    code: str
    """``"<5"``, ``"5-<10"``, ``"10-<20"``, ``"20-<30"``, ``">=30"``."""
    level: int
    """1 (lowest) to 5."""
    low: float
    """Lower edge in percent, inclusive."""
    high: float | None
    """Upper edge in percent, exclusive; ``None`` for the top band."""
    label_vi: str
    label_en: str


RISK_BANDS: Final[tuple[RiskBand, ...]] = (
    RiskBand("<5", 1, 0.0, 5.0, "Dưới 5 %", "Less than 5%"),
    RiskBand("5-<10", 2, 5.0, 10.0, "Từ 5 % đến dưới 10 %", "5% to less than 10%"),
    RiskBand("10-<20", 3, 10.0, 20.0, "Từ 10 % đến dưới 20 %", "10% to less than 20%"),
    RiskBand("20-<30", 4, 20.0, 30.0, "Từ 20 % đến dưới 30 %", "20% to less than 30%"),
    RiskBand(">=30", 5, 30.0, None, "Từ 30 % trở lên", "30% or more"),
)


def risk_band(percent: float) -> RiskBand:
    """The band of a 10-year risk in percent (0–100). Pass the rounded value to colour as the charts do."""
    value = ranges.in_range("risk", percent, (0.0, 100.0), "%")
    for band in RISK_BANDS:
        if band.high is None or value < band.high:
            return band
    raise AssertionError("unreachable: the top band is open")


@dataclass(frozen=True, slots=True)
class ChartBand:
    """One row or column band of the charts."""

    label: str
    """As printed on the chart (and in the published cell tables): ``"40-44"``, ``"<120"``, ``"4-4.9"``."""
    index: int
    """0 for the lowest band."""
    low: float | None
    """Inclusive lower edge; ``None`` for the open bottom band."""
    high: float | None
    """Exclusive upper edge; ``None`` for the open top band."""
    midpoint: float
    """Where the chart evaluates the model."""

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


def _bands(rows: tuple[tuple[str, float | None, float | None, float], ...]) -> tuple[ChartBand, ...]:
    return tuple(ChartBand(label, i, low, high, mid) for i, (label, low, high, mid) in enumerate(rows))


AGE_BANDS: Final = _bands(
    (
        ("40-44", 40.0, 45.0, 42.5),
        ("45-49", 45.0, 50.0, 47.5),
        ("50-54", 50.0, 55.0, 52.5),
        ("55-59", 55.0, 60.0, 57.5),
        ("60-64", 60.0, 65.0, 62.5),
        ("65-69", 65.0, 70.0, 67.5),
        ("70-74", 70.0, 75.0, 72.5),
    )
)
SBP_BANDS: Final = _bands(
    (
        ("<120", None, 120.0, 110.0),
        ("120-139", 120.0, 140.0, 130.0),
        ("140-159", 140.0, 160.0, 150.0),
        ("160-179", 160.0, 180.0, 170.0),
        (">=180", 180.0, None, 190.0),
    )
)
CHOLESTEROL_BANDS: Final = _bands(
    (
        ("<4", None, 4.0, 3.5),
        ("4-4.9", 4.0, 5.0, 4.5),
        ("5-5.9", 5.0, 6.0, 5.5),
        ("6-6.9", 6.0, 7.0, 6.5),
        (">=7", 7.0, None, 7.5),
    )
)
BMI_BANDS: Final = _bands(
    (
        ("<20", None, 20.0, 17.5),
        ("20-24", 20.0, 25.0, 22.5),
        ("25-29", 25.0, 30.0, 27.5),
        ("30-35", 30.0, 35.0, 32.5),
        (">=35", 35.0, None, 37.5),
    )
)


def band_of(bands: tuple[ChartBand, ...], value: float) -> ChartBand:
    for band in bands:
        if band.contains(value):
            return band
    raise ValueError(f"{value:g} is in none of the bands {', '.join(b.label for b in bands)}")


@dataclass(frozen=True, slots=True)
class ChartCell:
    """The chart cell a person falls in: the panel (sex, smoking, diabetes), the bands, the printed value."""

    model: Model
    sex: Sex
    smoker: bool
    diabetes: bool | None
    """The panel's diabetes status (laboratory charts); ``None`` on non-laboratory charts."""
    region: str
    age: ChartBand
    sbp: ChartBand
    cholesterol: ChartBand | None
    """Laboratory charts' column; ``None`` on non-laboratory charts."""
    bmi: ChartBand | None
    """Non-laboratory charts' column; ``None`` on laboratory charts."""
    percent: int
    """What the chart prints in the cell: the risk at the cell's mid-point, rounded half to even."""
    band: RiskBand
    """The cell's colour: the band of :attr:`percent`."""


def chart_cell(
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
) -> ChartCell:
    """The chart cell of a person, with the same inputs and refusals as :func:`.who_cvd.who_cvd_risk`."""
    inputs = check_inputs(
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
    age_band = band_of(AGE_BANDS, inputs.age)
    sbp_band = band_of(SBP_BANDS, inputs.sbp)
    tc_band = bmi_band = None
    if inputs.total_cholesterol is not None:
        tc_band = band_of(CHOLESTEROL_BANDS, inputs.total_cholesterol)
        midpoint = replace(
            inputs, age=age_band.midpoint, sbp=sbp_band.midpoint, total_cholesterol=tc_band.midpoint
        )
    else:
        assert inputs.bmi is not None
        bmi_band = band_of(BMI_BANDS, inputs.bmi)
        midpoint = replace(inputs, age=age_band.midpoint, sbp=sbp_band.midpoint, bmi=bmi_band.midpoint)
    percent = round(risk_of(midpoint))
    return ChartCell(
        model=inputs.model,
        sex=inputs.sex,
        smoker=inputs.smoker,
        diabetes=inputs.diabetes,
        region=inputs.region,
        age=age_band,
        sbp=sbp_band,
        cholesterol=tc_band,
        bmi=bmi_band,
        percent=percent,
        band=risk_band(percent),
    )
