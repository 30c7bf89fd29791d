"""Body-mass index and its classes for Asian adults.

Sources: WHO Western Pacific Region, IASO, IOTF. The Asia-Pacific perspective: redefining obesity and its
treatment. Sydney: Health Communications Australia, 2000;
WHO expert consultation. Appropriate body-mass index for Asian populations and its implications for
policy and intervention strategies. Lancet 2004;363:157–163,
https://doi.org/10.1016/S0140-6736(03)15268-3. The Ministry of Health applies the same cut-offs in its
obesity guideline (Decision 2892/QĐ-BYT of 22 October 2022, "Hướng dẫn chẩn đoán và điều trị bệnh béo
phì", which replaced the obesity chapter of Decision 3879/QĐ-BYT of 2014; table "Đánh giá tình trạng thừa
cân, béo phì theo tiêu chuẩn của WHO áp dụng cho người châu Á"):

| BMI (kg/m²) | class |
|---|---|
| < 18.5 | underweight (thiếu cân) |
| 18.5–22.9 | normal (bình thường) |
| 23–24.9 | overweight, at risk (thừa cân) |
| 25–29.9 | obese I (béo phì độ I) |
| ≥ 30 | obese II (béo phì độ II) |

The table's "18.5–22.9" is read as ``18.5 <= BMI < 23`` (its figures have one decimal): an unrounded
22.95 is "normal", 23.0 "overweight". Classify the number you show, or show it unrounded enough to
agree. For adults (18 and over); children use BMI-for-age z-scores, not these classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from senhealth.checkup.risk import ranges


class BmiClass(StrEnum):
    UNDERWEIGHT = "underweight"
    NORMAL = "normal"
    OVERWEIGHT = "overweight"
    OBESE_I = "obese-i"
    OBESE_II = "obese-ii"

    @property
    def label_vi(self) -> str:
        return BMI_CLASSES[self].label_vi

    @property
    def label_en(self) -> str:
        return BMI_CLASSES[self].label_en


@dataclass(frozen=True, slots=True)
class BmiClassInfo:
    bmi_class: BmiClass
    low: float | None
    """Inclusive lower edge (kg/m²); ``None`` for the bottom class."""
    high: float | None
    """Exclusive upper edge (kg/m²); ``None`` for the top class."""
    label_vi: str
    label_en: str


BMI_CLASSES: Final[dict[BmiClass, BmiClassInfo]] = {
    info.bmi_class: info
    for info in (
        BmiClassInfo(BmiClass.UNDERWEIGHT, None, 18.5, "Thiếu cân", "Underweight"),
        BmiClassInfo(BmiClass.NORMAL, 18.5, 23.0, "Bình thường", "Normal"),
        BmiClassInfo(BmiClass.OVERWEIGHT, 23.0, 25.0, "Thừa cân", "Overweight (at risk)"),
        BmiClassInfo(BmiClass.OBESE_I, 25.0, 30.0, "Béo phì độ I", "Obese I"),
        BmiClassInfo(BmiClass.OBESE_II, 30.0, None, "Béo phì độ II", "Obese II"),
    )
}


def bmi(*, weight_kg: float, height_cm: float) -> float:
    """Body-mass index in kg/m², unrounded: weight (kg) / height (m)²."""
    weight = ranges.in_range("weight", weight_kg, ranges.WEIGHT_RANGE, "kg")
    height = ranges.in_range("height", height_cm, ranges.HEIGHT_RANGE, "cm") / 100.0
    return weight / (height * height)


def bmi_class(value: float) -> BmiClass:
    """The Asian adult class of a BMI (kg/m², 10–80)."""
    body = ranges.in_range("BMI", value, ranges.BMI_RANGE, "kg/m²")
    for info in BMI_CLASSES.values():
        if info.high is None or body < info.high:
            return info.bmi_class
    raise AssertionError("unreachable: the top class is open")
