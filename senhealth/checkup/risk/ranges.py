"""Plausible ranges of the risk scores' inputs, and the checks every score runs on its inputs.

A value outside its range is a typing or unit error (SBP 1400 for 140, cholesterol in mg/dL where mmol/L is
expected, height in metres where centimetres are), not a patient: the scores refuse it with a
``ValueError`` that names the input, the value and the accepted range, instead of returning a number.

| input | accepted (inclusive) | unit |
|---|---|---|
| systolic blood pressure | 60–300 | mmHg |
| diastolic blood pressure | 30–200 | mmHg |
| total cholesterol | 1–20 | mmol/L (mg/dL ÷ 38.67) |
| body-mass index | 10–80 | kg/m² |
| waist circumference | 40–250 | cm |
| weight | 2–400 | kg |
| height | 40–250 | cm |

Age ranges belong to each score (the WHO charts 40–74, FINDRISC adults), so they are checked there.
"""

from __future__ import annotations

import math
import numbers
from typing import Final, Literal

Sex = Literal["male", "female"]

SBP_RANGE: Final = (60.0, 300.0)
DBP_RANGE: Final = (30.0, 200.0)
CHOLESTEROL_RANGE: Final = (1.0, 20.0)
BMI_RANGE: Final = (10.0, 80.0)
WAIST_RANGE: Final = (40.0, 250.0)
WEIGHT_RANGE: Final = (2.0, 400.0)
HEIGHT_RANGE: Final = (40.0, 250.0)

SEXES: Final[tuple[Sex, ...]] = ("male", "female")


def number(name: str, value: object) -> float:
    """``value`` as a finite float; ``ValueError`` for anything else (booleans and strings included)."""
    if (
        type(value) is float
        or type(value) is int
        or (isinstance(value, numbers.Real) and not isinstance(value, bool))
    ):
        out = float(value)
    else:
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def in_range(name: str, value: object, bounds: tuple[float, float], unit: str) -> float:
    """``value`` as a float when ``bounds[0] <= value <= bounds[1]``, else ``ValueError``."""
    out = number(name, value)
    low, high = bounds
    if not low <= out <= high:
        raise ValueError(f"{name} {out:g} {unit} is outside the accepted range {low:g}–{high:g} {unit}")
    return out


def flag(name: str, value: object) -> bool:
    """A yes/no input: ``True``/``False`` (numpy's too) or the integers 0/1; ``ValueError`` otherwise."""
    if value is True or value is False:
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if getattr(getattr(value, "dtype", None), "kind", None) == "b" and getattr(value, "ndim", None) == 0:
        return bool(value)  # a numpy boolean scalar
    raise ValueError(f"{name} must be True or False, got {value!r}")


def sex(value: object) -> Sex:
    """``"male"`` or ``"female"`` (FHIR AdministrativeGender codes); the scores are sex-specific."""
    if value == "male":
        return "male"
    if value == "female":
        return "female"
    raise ValueError(f"sex must be 'male' or 'female' (the score is sex-specific), got {value!r}")
