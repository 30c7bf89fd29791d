"""Blood-pressure grading from the table of Decision 3192/QĐ-BYT (2010), both sides of every cut-off."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from senhealth.checkup.risk import BpGrade, classify_blood_pressure, is_controlled

OPT, N, HN, G1, G2, G3 = (
    BpGrade.OPTIMAL,
    BpGrade.NORMAL,
    BpGrade.HIGH_NORMAL,
    BpGrade.GRADE_1,
    BpGrade.GRADE_2,
    BpGrade.GRADE_3,
)

# Systolic cut-offs with a low diastolic (< 80): the systolic decides.
SYSTOLIC_TABLE = [
    (119, OPT, "optimal < 120"),
    (120, N, "normal 120–129"),
    (129, N, "normal 120–129"),
    (130, HN, "high-normal 130–139"),
    (139, HN, "high-normal 130–139"),
    (140, G1, "grade 1 140–159"),
    (159, G1, "grade 1 140–159"),
    (160, G2, "grade 2 160–179"),
    (179, G2, "grade 2 160–179"),
    (180, G3, "grade 3 >= 180"),
    (250, G3, "grade 3 >= 180"),
]
# Diastolic cut-offs with a low systolic (< 120): the diastolic decides.
DIASTOLIC_TABLE = [
    (79, OPT, "optimal < 80"),
    (80, N, "normal 80–84"),
    (84, N, "normal 80–84"),
    (85, HN, "high-normal 85–89"),
    (89, HN, "high-normal 85–89"),
    (90, G1, "grade 1 90–99"),
    (99, G1, "grade 1 90–99"),
    (100, G2, "grade 2 100–109"),
    (109, G2, "grade 2 100–109"),
    (110, G3, "grade 3 >= 110"),
    (115, G3, "grade 3 >= 110"),
]


@pytest.mark.parametrize(("sbp", "grade", "row"), SYSTOLIC_TABLE)
def test_systolic_cut_offs(sbp: float, grade: BpGrade, row: str) -> None:
    result = classify_blood_pressure(sbp, 70)
    assert result.grade == grade, row
    assert result.systolic_grade == grade and result.diastolic_grade == OPT
    assert result.isolated_systolic == (sbp >= 140)
    assert result.hypertensive == (sbp >= 140)


@pytest.mark.parametrize(("dbp", "grade", "row"), DIASTOLIC_TABLE)
def test_diastolic_cut_offs(dbp: float, grade: BpGrade, row: str) -> None:
    result = classify_blood_pressure(118, dbp)
    assert result.grade == grade, row
    assert result.diastolic_grade == grade and result.systolic_grade == OPT
    assert not result.isolated_systolic


@pytest.mark.parametrize(
    ("sbp", "dbp", "grade"),
    [
        (125, 88, HN),  # normal systolic, high-normal diastolic: the higher
        (135, 82, HN),
        (150, 105, G2),  # grade 1 systolic, grade 2 diastolic
        (185, 95, G3),
        (142, 112, G3),
        (119, 80, N),  # "and/or": one pressure is enough
        (120, 79, N),
        (119, 79, OPT),  # optimal needs both
        (139, 89, HN),
        (140, 89, G1),
        (139, 90, G1),
    ],
)
def test_the_higher_grade_applies(sbp: float, dbp: float, grade: BpGrade) -> None:
    assert classify_blood_pressure(sbp, dbp).grade == grade


@pytest.mark.parametrize(
    ("sbp", "dbp", "isolated", "grade", "label_vi"),
    [
        (140, 89, True, G1, "Tăng huyết áp tâm thu đơn độc (độ 1)"),
        (165, 70, True, G2, "Tăng huyết áp tâm thu đơn độc (độ 2)"),
        (190, 85, True, G3, "Tăng huyết áp tâm thu đơn độc (độ 3)"),
        (140, 90, False, G1, "Tăng huyết áp độ 1"),  # diastolic 90: not isolated
        (139, 60, False, HN, "Huyết áp bình thường cao"),  # systolic under 140: not hypertension
    ],
)
def test_isolated_systolic_hypertension_is_graded_by_its_systolic(
    sbp: float, dbp: float, isolated: bool, grade: BpGrade, label_vi: str
) -> None:
    result = classify_blood_pressure(sbp, dbp)
    assert (result.isolated_systolic, result.grade, result.label_vi) == (isolated, grade, label_vi)
    assert result.label_en.startswith("Isolated systolic hypertension") == isolated


def test_labels() -> None:
    assert [g.label_vi for g in BpGrade] == [
        "Huyết áp tối ưu",
        "Huyết áp bình thường",
        "Huyết áp bình thường cao",
        "Tăng huyết áp độ 1",
        "Tăng huyết áp độ 2",
        "Tăng huyết áp độ 3",
    ]
    assert [g.label_en for g in BpGrade][3:] == [
        "Grade 1 hypertension",
        "Grade 2 hypertension",
        "Grade 3 hypertension",
    ]


def test_fractional_readings_belong_to_the_band_whose_edge_they_reached() -> None:
    assert classify_blood_pressure(129.5, 70).grade == N
    assert classify_blood_pressure(130.0, 70).grade == HN
    assert classify_blood_pressure(110, 89.9).grade == HN


@pytest.mark.parametrize(
    ("sbp", "dbp", "controlled"),
    [
        (139, 89, True),
        (140, 89, False),
        (139, 90, False),
        (120, 70, True),
        (160, 100, False),
        (139.9, 89.9, True),
    ],
)
def test_control_target_below_140_over_90(sbp: float, dbp: float, controlled: bool) -> None:
    assert is_controlled(sbp, dbp) is controlled


@pytest.mark.parametrize(
    ("sbp", "dbp", "message"),
    [
        (59, 40, "systolic blood pressure 59 mmHg is outside the accepted range 60–300"),
        (1400, 90, "outside the accepted range 60–300"),
        (140, 29, "diastolic blood pressure 29 mmHg is outside the accepted range 30–200"),
        (90, 140, "diastolic blood pressure 140 mmHg is not below systolic 90 mmHg"),
        (120, 120, "not below systolic"),
        ("140", 90, "systolic blood pressure must be a number"),
        (140, None, "diastolic blood pressure must be a number"),
        (float("nan"), 90, "finite"),
    ],
)
def test_refusals(sbp: object, dbp: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classify_blood_pressure(sbp, dbp)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        is_controlled(sbp, dbp)  # type: ignore[arg-type]


@given(sbp=st.integers(60, 300), dbp=st.integers(30, 200), more=st.integers(0, 40))
def test_grade_never_falls_when_a_pressure_rises(sbp: int, dbp: int, more: int) -> None:
    assume(dbp < sbp and dbp + more <= 200 and sbp + more <= 300)
    base = classify_blood_pressure(sbp, dbp).grade.rank
    assert classify_blood_pressure(sbp + more, dbp).grade.rank >= base
    assert classify_blood_pressure(sbp + more, dbp + more).grade.rank >= base
    assert classify_blood_pressure(sbp, dbp).hypertensive == (not is_controlled(sbp, dbp))
