"""Blood-pressure grading of the Ministry of Health's hypertension guideline (Decision 3192/QĐ-BYT of
31 August 2010, "Hướng dẫn chẩn đoán và điều trị tăng huyết áp"), office measurements in adults.

Source: the decision's table "Phân độ huyết áp" (text:
http://thuvienphapluat.vn/archive/Quyet-dinh/Quyet-dinh-3192-QD-BYT-Huong-dan-chan-doan-dieu-tri-tang-huyet-ap-vb112471t17.aspx),
as the project's reference page ``risk-and-surveillance.md`` §3 sets out:

| grade | systolic (mmHg) | | diastolic (mmHg) |
|---|---|---|---|
| optimal (tối ưu) | < 120 | and | < 80 |
| normal (bình thường) | 120–129 | and/or | 80–84 |
| high-normal (bình thường cao) | 130–139 | and/or | 85–89 |
| grade 1 (tăng huyết áp độ 1) | 140–159 | and/or | 90–99 |
| grade 2 (tăng huyết áp độ 2) | 160–179 | and/or | 100–109 |
| grade 3 (tăng huyết áp độ 3) | ≥ 180 | and/or | ≥ 110 |
| isolated systolic hypertension (tăng huyết áp tâm thu đơn độc) | ≥ 140 | and | < 90 |

When the systolic and diastolic pressures fall in different grades, the higher grade applies. Isolated
systolic hypertension is graded 1, 2 or 3 by its systolic pressure, so it is reported here as a grade
plus :attr:`BloodPressureClass.isolated_systolic`. Pressures are whole mmHg on the table; a fractional
reading belongs to the band whose lower edge it has reached (129.5 is "normal", 130 "high-normal").

Control target for treated patients: below 140/90 mmHg, both pressures (:func:`is_controlled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from senhealth.checkup.risk import ranges


class BpGrade(StrEnum):
    OPTIMAL = "optimal"
    NORMAL = "normal"
    HIGH_NORMAL = "high-normal"
    GRADE_1 = "grade-1"
    GRADE_2 = "grade-2"
    GRADE_3 = "grade-3"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    @property
    def label_vi(self) -> str:
        return _LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LABELS[self][1]

    @property
    def hypertensive(self) -> bool:
        return self.rank >= _ORDER.index(BpGrade.GRADE_1)


_ORDER: Final[tuple[BpGrade, ...]] = tuple(BpGrade)

_LABELS: Final[dict[BpGrade, tuple[str, str]]] = {
    BpGrade.OPTIMAL: ("Huyết áp tối ưu", "Optimal"),
    BpGrade.NORMAL: ("Huyết áp bình thường", "Normal"),
    BpGrade.HIGH_NORMAL: ("Huyết áp bình thường cao", "High-normal"),
    BpGrade.GRADE_1: ("Tăng huyết áp độ 1", "Grade 1 hypertension"),
    BpGrade.GRADE_2: ("Tăng huyết áp độ 2", "Grade 2 hypertension"),
    BpGrade.GRADE_3: ("Tăng huyết áp độ 3", "Grade 3 hypertension"),
}

# Lower edges of each grade (mmHg), systolic and diastolic, from the top grade down.
_SYSTOLIC: Final[tuple[tuple[float, BpGrade], ...]] = (
    (180.0, BpGrade.GRADE_3),
    (160.0, BpGrade.GRADE_2),
    (140.0, BpGrade.GRADE_1),
    (130.0, BpGrade.HIGH_NORMAL),
    (120.0, BpGrade.NORMAL),
)
_DIASTOLIC: Final[tuple[tuple[float, BpGrade], ...]] = (
    (110.0, BpGrade.GRADE_3),
    (100.0, BpGrade.GRADE_2),
    (90.0, BpGrade.GRADE_1),
    (85.0, BpGrade.HIGH_NORMAL),
    (80.0, BpGrade.NORMAL),
)

TARGET_SYSTOLIC: Final = 140.0
TARGET_DIASTOLIC: Final = 90.0


def _grade(value: float, edges: tuple[tuple[float, BpGrade], ...]) -> BpGrade:
    for edge, grade in edges:
        if value >= edge:
            return grade
    return BpGrade.OPTIMAL


@dataclass(frozen=True, slots=True)
class BloodPressureClass:
    sbp: float
    dbp: float
    grade: BpGrade
    """The higher of the systolic and the diastolic grade."""
    systolic_grade: BpGrade
    diastolic_grade: BpGrade
    isolated_systolic: bool
    """Systolic ≥ 140 with diastolic < 90: isolated systolic hypertension (graded by its systolic)."""

    @property
    def hypertensive(self) -> bool:
        return self.grade.hypertensive

    @property
    def label_vi(self) -> str:
        if self.isolated_systolic:
            return f"Tăng huyết áp tâm thu đơn độc (độ {self.grade.value[-1]})"
        return self.grade.label_vi

    @property
    def label_en(self) -> str:
        if self.isolated_systolic:
            return f"Isolated systolic hypertension (grade {self.grade.value[-1]})"
        return self.grade.label_en


def _pressures(sbp: object, dbp: object) -> tuple[float, float]:
    systolic = ranges.in_range("systolic blood pressure", sbp, ranges.SBP_RANGE, "mmHg")
    diastolic = ranges.in_range("diastolic blood pressure", dbp, ranges.DBP_RANGE, "mmHg")
    if diastolic >= systolic:
        raise ValueError(
            f"diastolic blood pressure {diastolic:g} mmHg is not below systolic {systolic:g} mmHg: "
            "the two are swapped or mistyped"
        )
    return systolic, diastolic


def classify_blood_pressure(sbp: float, dbp: float) -> BloodPressureClass:
    """The grade of an office reading (mmHg) per Decision 3192/QĐ-BYT."""
    systolic, diastolic = _pressures(sbp, dbp)
    s_grade = _grade(systolic, _SYSTOLIC)
    d_grade = _grade(diastolic, _DIASTOLIC)
    grade = s_grade if s_grade.rank >= d_grade.rank else d_grade
    return BloodPressureClass(
        sbp=systolic,
        dbp=diastolic,
        grade=grade,
        systolic_grade=s_grade,
        diastolic_grade=d_grade,
        isolated_systolic=systolic >= 140.0 and diastolic < 90.0,
    )


def is_controlled(sbp: float, dbp: float) -> bool:
    """A treated patient's reading is at target: systolic < 140 and diastolic < 90 mmHg."""
    systolic, diastolic = _pressures(sbp, dbp)
    return systolic < TARGET_SYSTOLIC and diastolic < TARGET_DIASTOLIC
