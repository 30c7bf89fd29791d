"""FINDRISC, the Finnish Diabetes Risk Score: points for eight questions, total 0–26, and the 10-year
risk of type 2 diabetes by band.

Sources: Lindström J, Tuomilehto J. The Diabetes Risk Score: a practical tool to predict type 2 diabetes
risk. Diabetes Care 2003;26:725–731, https://doi.org/10.2337/diacare.26.3.725 (the seven items age, BMI,
waist, physical activity, vegetables and fruit, blood-pressure medication, high blood glucose, scored
0–20); the FINDRISC questionnaire built on it (Finnish Diabetes Association) adds the family-history
item (total 0–26) and gives the five bands with their estimated risks ("1 in 100" … "1 in 2"), as the
project's reference page ``risk-and-surveillance.md`` §2 sets out.

Boundary conventions, as the form prints its bands ("45–54 years", "25–30 kg/m²", "94–102 cm") and read
with both ends inclusive:

- age counts completed years (a fractional age is rounded down): under 45 → 0, 45–54 → 2, 55–64 → 3,
  over 64 (65 and more) → 4;
- BMI: < 25 → 0, 25 ≤ BMI ≤ 30 → 1, > 30 → 3 (so 30.0 scores 1 and 30.01 scores 3);
- waist: men < 94 → 0, 94 ≤ waist ≤ 102 → 3, > 102 → 4; women < 80 → 0, 80–88 → 3, > 88 → 4;
- totals: < 7 low, 7–11 slightly elevated, 12–14 moderate, 15–20 high, > 20 very high.

The score is for adults: ages under 18 are refused. BMI and waist use the paper's (European) cut-offs,
not the Asian BMI classes of :mod:`.bmi`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from senhealth.checkup.risk import ranges
from senhealth.checkup.risk.ranges import Sex

AGE_RANGE: Final = (18.0, 120.0)


class FamilyHistory(StrEnum):
    """Question 8: members of the family diagnosed with diabetes (type 1 or type 2)."""

    NONE = "none"
    SECOND_DEGREE = "second-degree"
    """Grandparent, aunt, uncle or first cousin (but no own parent, sibling or child): 3 points."""
    FIRST_DEGREE = "first-degree"
    """Parent, brother, sister or own child: 5 points."""


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    label_vi: str
    label_en: str


ITEMS: Final[tuple[Item, ...]] = (
    Item("age", "Tuổi", "Age"),
    Item("bmi", "Chỉ số khối cơ thể (BMI)", "Body-mass index"),
    Item("waist", "Vòng eo", "Waist circumference"),
    Item(
        "physical_activity",
        "Không hoạt động thể lực ít nhất 30 phút mỗi ngày",
        "Less than 30 minutes of physical activity daily",
    ),
    Item("vegetables_fruit", "Không ăn rau, quả hằng ngày", "Vegetables, fruit or berries not every day"),
    Item(
        "bp_medication",
        "Đã từng dùng thuốc điều trị tăng huyết áp thường xuyên",
        "Has taken blood-pressure medication regularly",
    ),
    Item("high_glucose", "Đã từng phát hiện đường huyết cao", "Has been found to have high blood glucose"),
    Item("family_history", "Gia đình có người mắc đái tháo đường", "Family history of diabetes"),
)
"""The questionnaire's items in its order (labels say what earns the points)."""


@dataclass(frozen=True, slots=True)
class FindriscBand:
    code: str
    low: int
    """Lowest total in the band (inclusive)."""
    high: int
    """Highest total in the band (inclusive)."""
    label_vi: str
    label_en: str
    risk_percent: int
    """Estimated 10-year risk of type 2 diabetes, percent (the form's "1 in N", rounded)."""
    risk_one_in: int
    """The form's own figure: an estimated 1 in ``risk_one_in`` people will develop diabetes."""


FINDRISC_BANDS: Final[tuple[FindriscBand, ...]] = (
    FindriscBand("low", 0, 6, "Thấp", "Low", 1, 100),
    FindriscBand("slightly-elevated", 7, 11, "Hơi tăng", "Slightly elevated", 4, 25),
    FindriscBand("moderate", 12, 14, "Trung bình", "Moderate", 17, 6),
    FindriscBand("high", 15, 20, "Cao", "High", 33, 3),
    FindriscBand("very-high", 21, 26, "Rất cao", "Very high", 50, 2),
)

MAX_TOTAL: Final = 26


@dataclass(frozen=True, slots=True)
class FindriscScore:
    points: Mapping[str, int]
    """Points per item code of :data:`ITEMS`, in the questionnaire's order."""
    total: int
    band: FindriscBand


def age_points(age: float) -> int:
    """Completed years: < 45 → 0, 45–54 → 2, 55–64 → 3, ≥ 65 → 4."""
    years = math.floor(ranges.in_range("age", age, AGE_RANGE, "years"))
    if years < 45:
        return 0
    if years <= 54:
        return 2
    if years <= 64:
        return 3
    return 4


def bmi_points(bmi: float) -> int:
    """< 25 → 0, 25–30 (inclusive) → 1, > 30 → 3."""
    value = ranges.in_range("BMI", bmi, ranges.BMI_RANGE, "kg/m²")
    if value < 25.0:
        return 0
    if value <= 30.0:
        return 1
    return 3


_WAIST_CUTS: Final[Mapping[Sex, tuple[float, float]]] = {"male": (94.0, 102.0), "female": (80.0, 88.0)}


def waist_points(waist_cm: float, sex: Sex) -> int:
    """Men < 94 → 0, 94–102 → 3, > 102 → 4; women < 80 → 0, 80–88 → 3, > 88 → 4 (centimetres)."""
    value = ranges.in_range("waist circumference", waist_cm, ranges.WAIST_RANGE, "cm")
    low, high = _WAIST_CUTS[ranges.sex(sex)]
    if value < low:
        return 0
    if value <= high:
        return 3
    return 4


_FAMILY_POINTS: Final[Mapping[FamilyHistory, int]] = {
    FamilyHistory.NONE: 0,
    FamilyHistory.SECOND_DEGREE: 3,
    FamilyHistory.FIRST_DEGREE: 5,
}


def family_history_points(family_history: FamilyHistory | str) -> int:
    try:
        return _FAMILY_POINTS[FamilyHistory(family_history)]
    except ValueError:
        choices = ", ".join(repr(f.value) for f in FamilyHistory)
        raise ValueError(f"family_history must be one of {choices}, got {family_history!r}") from None


def findrisc_band(total: int) -> FindriscBand:
    """The band of a total score 0–26."""
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= MAX_TOTAL:
        raise ValueError(f"a FINDRISC total is a whole number 0–{MAX_TOTAL}, got {total!r}")
    for band in FINDRISC_BANDS:
        if total <= band.high:
            return band
    raise AssertionError("unreachable: the bands cover 0–26")


def findrisc(
    *,
    age: float,
    sex: Sex,
    bmi: float,
    waist_cm: float,
    physically_active: bool,
    vegetables_fruit_daily: bool,
    bp_medication: bool,
    high_glucose_history: bool,
    family_history: FamilyHistory | str,
) -> FindriscScore:
    """FINDRISC from the eight answers.

    ``physically_active``: at least 30 minutes of physical activity daily (at work or in leisure time);
    ``vegetables_fruit_daily``: eats vegetables, fruit or berries every day; ``bp_medication``: has ever
    taken blood-pressure medication regularly; ``high_glucose_history``: has ever been found to have
    high blood glucose (health examination, illness, pregnancy); ``family_history``: :class:`FamilyHistory`
    or its value. Refusals are ``ValueError`` naming the input.
    """
    points = {
        "age": age_points(age),
        "bmi": bmi_points(bmi),
        "waist": waist_points(waist_cm, sex),
        "physical_activity": 0 if ranges.flag("physically_active", physically_active) else 2,
        "vegetables_fruit": 0 if ranges.flag("vegetables_fruit_daily", vegetables_fruit_daily) else 1,
        "bp_medication": 2 if ranges.flag("bp_medication", bp_medication) else 0,
        "high_glucose": 5 if ranges.flag("high_glucose_history", high_glucose_history) else 0,
        "family_history": family_history_points(family_history),
    }
    total = sum(points.values())
    return FindriscScore(points=MappingProxyType(points), total=total, band=findrisc_band(total))
