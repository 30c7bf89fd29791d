"""The WHO 2019 CVD risk (:mod:`.who_cvd`) over arrays of people, for recomputing a population.

Same model, same constants (:data:`.who_cvd.COMPILED`), same order of operations as the scalar
:func:`.who_cvd.who_cvd_risk`; results agree to the last bits of ``exp``/``expm1`` (numpy's against the C
library's), which the tests hold to a relative 1e-12. Written with numpy because a province's million
people recomputed one Python call at a time take seconds, and numpy does it in a fraction of one.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from senhealth.checkup.risk import ranges
from senhealth.checkup.risk.who_cvd import (
    AGE_LIMIT,
    AGE_MIN,
    COMPILED,
    ChartNotApplicable,
    Model,
    check_inputs,
    check_model,
    check_region,
)

FloatArray = npt.NDArray[np.float64]


def _floats(name: str, value: Any) -> FloatArray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers, got an array of {array.dtype}")
    return array.astype(np.float64, copy=False)


def _flags(name: str, value: Any) -> FloatArray:
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array.astype(np.float64)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be booleans or 0/1, got an array of {array.dtype}")
    out = array.astype(np.float64)
    bad = (out != 0.0) & (out != 1.0)
    if bad.any():
        raise ValueError(f"{name} must be booleans or 0/1, got {out[bad].flat[0]!r}")
    return out


def _within(values: FloatArray, bounds: tuple[float, float]) -> npt.NDArray[np.bool_]:
    return np.isfinite(values) & (values >= bounds[0]) & (values <= bounds[1])


def who_cvd_risk_many(
    *,
    model: Model,
    sex: Any,
    age: Any,
    sbp: Any,
    smoker: Any,
    total_cholesterol: Any = None,
    diabetes: Any = None,
    bmi: Any = None,
    region: str = "SEA",
    invalid: Literal["raise", "nan"] = "raise",
) -> FloatArray:
    """:func:`.who_cvd.who_cvd_risk` over arrays (broadcast together): percent, unrounded, float64.

    ``sex`` is ``"male"``/``"female"`` or an array of them; ``smoker`` and ``diabetes`` are booleans or
    0/1. A person whose inputs the scalar function refuses (age outside 40–74, a value out of range)
    raises that same ``ValueError``, prefixed with their index, or with ``invalid="nan"`` gets NaN.
    """
    checked_model = check_model(model)
    checked_region = check_region(region)
    if invalid not in ("raise", "nan"):
        raise ValueError(f"invalid must be 'raise' or 'nan', got {invalid!r}")
    sexes = np.asarray(sex)
    if sexes.dtype.kind not in "UO":
        raise ValueError(f"sex must be 'male'/'female' or an array of them, got an array of {sexes.dtype}")
    male = sexes == "male"
    bad_sex = ~male & (sexes != "female")
    if bad_sex.any():
        ranges.sex(sexes[bad_sex].flat[0])
    named: dict[str, Any] = {"age": age, "sbp": sbp, "smoker": smoker, "male": male}
    if checked_model == "lab":
        if total_cholesterol is None:
            raise ValueError("the laboratory model needs total_cholesterol (mmol/L)")
        if diabetes is None:
            raise ValueError("the laboratory model needs diabetes (True or False)")
        named |= {"tc": total_cholesterol, "diabetes": diabetes}
    else:
        if bmi is None:
            raise ValueError("the non-laboratory model needs bmi (kg/m²)")
        named["bmi"] = bmi
    arrays = dict(zip(named, np.broadcast_arrays(*(np.asarray(v) for v in named.values())), strict=True))
    male = arrays["male"]
    ages = _floats("age", arrays["age"])
    sbps = _floats("systolic blood pressure", arrays["sbp"])
    smk = _flags("smoker", arrays["smoker"])
    ok = np.isfinite(ages) & (ages >= AGE_MIN) & (ages < AGE_LIMIT) & _within(sbps, ranges.SBP_RANGE)
    features: tuple[FloatArray, ...]
    with np.errstate(all="ignore"):
        cage = ages - 60.0
        csbp = sbps - 120.0
        if checked_model == "lab":
            tc = _floats("total cholesterol", arrays["tc"])
            dm = _flags("diabetes", arrays["diabetes"])
            ok &= _within(tc, ranges.CHOLESTEROL_RANGE)
            ctc = tc - 6.0
            features = (cage, ctc, csbp, dm, smk, cage * ctc, cage * csbp, cage * dm, cage * smk)
        else:
            body = _floats("BMI", arrays["bmi"])
            ok &= _within(body, ranges.BMI_RANGE)
            cbmi = body - 25.0
            features = (cage, cbmi, csbp, smk, cage * cbmi, cage * csbp, cage * smk)
        if invalid == "raise" and not ok.all():
            _raise_for_first(checked_model, checked_region, arrays, ok)
        men = COMPILED[(checked_model, "male", checked_region)]
        women = COMPILED[(checked_model, "female", checked_region)]
        chd = _endpoint_hazard(
            male, features, (men.chd, men.chd_k, men.chd_slope), (women.chd, women.chd_k, women.chd_slope)
        )
        stroke = _endpoint_hazard(
            male,
            features,
            (men.stroke, men.stroke_k, men.stroke_slope),
            (women.stroke, women.stroke_k, women.stroke_slope),
        )
        out: FloatArray = -100.0 * np.expm1(-(chd + stroke))
    if not ok.all():
        out = np.where(ok, out, np.nan)
    return out


Constants = tuple[tuple[float, ...], float, float]


def _endpoint_hazard(
    male: npt.NDArray[np.bool_], features: tuple[FloatArray, ...], men: Constants, women: Constants
) -> FloatArray:
    """``exp(k + slope · LP)`` per person, LP summed left to right as the scalar path does."""
    (coef_m, k_m, slope_m), (coef_f, k_f, slope_f) = men, women
    lp = np.where(male, coef_m[0], coef_f[0]) * features[0]
    for i in range(1, len(coef_m)):
        lp = lp + np.where(male, coef_m[i], coef_f[i]) * features[i]
    hazard: FloatArray = np.exp(np.where(male, k_m, k_f) + np.where(male, slope_m, slope_f) * lp)
    return hazard


def _raise_for_first(model: Model, region: str, arrays: dict[str, Any], ok: npt.NDArray[np.bool_]) -> None:
    """Raise the scalar function's own error for the first person it refuses."""
    index = np.unravel_index(int(np.argmin(ok)), ok.shape)
    person = {name: array[index].item() for name, array in arrays.items()}
    position = ",".join(str(int(i)) for i in index)
    try:
        check_inputs(
            model=model,
            sex="male" if person["male"] else "female",
            age=person["age"],
            sbp=person["sbp"],
            smoker=person["smoker"],
            total_cholesterol=person.get("tc"),
            diabetes=person.get("diabetes"),
            bmi=person.get("bmi"),
            region=region,
        )
    except ChartNotApplicable as error:
        raise ChartNotApplicable(error.age, who=f"person {position}") from error
    except ValueError as error:
        raise ValueError(f"person {position}: {error}") from error
    raise ValueError(f"person {position}: inputs refused")
