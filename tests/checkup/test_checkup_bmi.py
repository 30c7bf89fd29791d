"""BMI and its classes for Asian adults (WHO WPRO 2000, WHO expert consultation 2004, Decision 2892/QĐ-BYT)."""

from __future__ import annotations

import pytest

from senhealth.checkup.risk import BmiClass, bmi, bmi_class

U, N, OW, O1, O2 = (
    BmiClass.UNDERWEIGHT,
    BmiClass.NORMAL,
    BmiClass.OVERWEIGHT,
    BmiClass.OBESE_I,
    BmiClass.OBESE_II,
)


@pytest.mark.parametrize(
    ("value", "expected", "row"),
    [
        (10.0, U, "< 18.5 underweight"),
        (18.49, U, "< 18.5 underweight"),
        (18.5, N, "18.5–22.9 normal"),
        (22.9, N, "18.5–22.9 normal"),
        (22.99, N, "18.5–22.9 normal (up to 23)"),
        (23.0, OW, "23–24.9 overweight"),
        (24.9, OW, "23–24.9 overweight"),
        (24.99, OW, "23–24.9 overweight (up to 25)"),
        (25.0, O1, "25–29.9 obese I"),
        (29.9, O1, "25–29.9 obese I"),
        (29.99, O1, "25–29.9 obese I (up to 30)"),
        (30.0, O2, ">= 30 obese II"),
        (45.0, O2, ">= 30 obese II"),
        (80.0, O2, ">= 30 obese II"),
    ],
)
def test_classes_at_the_cut_offs(value: float, expected: BmiClass, row: str) -> None:
    assert bmi_class(value) == expected, row


def test_labels() -> None:
    assert [c.label_vi for c in BmiClass] == [
        "Thiếu cân",
        "Bình thường",
        "Thừa cân",
        "Béo phì độ I",
        "Béo phì độ II",
    ]
    assert BmiClass.OVERWEIGHT.label_en == "Overweight (at risk)"


def test_bmi_from_weight_and_height() -> None:
    # the Ministry's worked example: 58 kg, 1.58 m -> 23.2, overweight
    value = bmi(weight_kg=58, height_cm=158)
    assert round(value, 1) == 23.2
    assert bmi_class(value) == OW
    assert bmi(weight_kg=64, height_cm=160) == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(weight_kg=58, height_cm=1.58), "height 1.58 cm is outside the accepted range 40–250"),
        (dict(weight_kg=58000, height_cm=158), "weight 58000 kg is outside"),
        (dict(weight_kg=-1, height_cm=158), "weight -1 kg is outside"),
        (dict(weight_kg="58", height_cm=158), "weight must be a number"),
    ],
)
def test_bmi_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bmi(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [9.99, 80.01, float("nan"), None, "22"])
def test_class_refusals(bad: object) -> None:
    with pytest.raises(ValueError, match="BMI"):
        bmi_class(bad)  # type: ignore[arg-type]
