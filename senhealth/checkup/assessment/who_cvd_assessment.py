"""A patient's WHO 2019 CVD risk as a FHIR RiskAssessment, from what the store holds.

Spec: https://hl7.org/fhir/R4/riskassessment.html; the model: :mod:`senhealth.checkup.risk.who_cvd`
(WHO CVD Risk Chart Working Group, Lancet Glob Health 2019;7:e1332–45, Southeast Asia recalibration).

Inputs, each the latest on record (docs/checkup-registries.md "Risk"):

- age in completed years from ``Patient.birthDate`` on the day of the assessment, sex from ``gender``;
- systolic pressure of the latest blood-pressure panel (85354-9, component 8480-6);
- smoking from the latest tobacco smoking status (72166-2): a current smoker counts, an ex-smoker does
  not (as the charts' "smoker"); no status on record: no assessment (the reason says so);
- the laboratory model when a total cholesterol (2093-3) is on record, with diabetes = an active
  Condition E10–E14, or a fasting glucose (1558-6) ≥ 7.0 mmol/L, or an HbA1c (4548-4) ≥ 6.5 %;
  otherwise the non-laboratory model with the BMI (39156-5, or weight 29463-7 and height 8302-2,
  whichever is more recent);
- outside ages 40–74 the charts do not apply: no RiskAssessment, and :class:`NotAssessed` says why.

The resource: ``code`` risk|who-cvd-2019, ``method`` risk-method|lab or |nonlab, ``basis`` the
Observations and Conditions used, ``prediction[0]``: ``probabilityDecimal`` the risk as a fraction
0–1 (rounded to 4 places; see the docs page for the R4 text on percentages), ``qualitativeRisk`` the
chart band (who-cvd-risk-band|<5 … |>=30) with the percent and the band in words as its ``text``,
``whenPeriod`` the next 10 years, ``rationale`` the inputs in words; the chart cell (panel, age, SBP,
cholesterol or BMI band, printed value) in the extension :data:`codes.CHART_CELL_EXTENSION` and in
``note`` as text, for the UI to highlight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import PatientRecord, Reading
from senhealth.checkup.risk import ChartCell, chart_cell, risk_band, who_cvd_risk
from senhealth.checkup.risk.who_cvd import AGE_LIMIT, AGE_MIN

__all__ = ["CvdInputs", "NotAssessed", "cvd_inputs", "cvd_resource", "latest_bmi"]

_MODEL_LABEL: Final = {
    "lab": (
        "Mô hình có xét nghiệm (WHO 2019, Đông Nam Á)",
        "WHO 2019 laboratory-based model, Southeast Asia",
    ),
    "nonlab": (
        "Mô hình không xét nghiệm (WHO 2019, Đông Nam Á)",
        "WHO 2019 non-laboratory-based model, Southeast Asia",
    ),
}
_OUTCOME_VI: Final = "Nhồi máu cơ tim hoặc đột quỵ (tử vong hoặc không tử vong) trong 10 năm"
_OUTCOME_EN: Final = "Fatal or non-fatal myocardial infarction or stroke within 10 years"


@dataclass(frozen=True, slots=True)
class NotAssessed:
    """Why a score was not computed for a patient: shown instead of a number."""

    code: str
    """The score: ``who-cvd-2019`` or ``findrisc``."""
    reason: str
    """``age`` (outside the charts' 40–74), ``sex``, ``missing`` (inputs not on record), ``no-patient``."""
    message_vi: str
    message_en: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CvdInputs:
    model: str
    sex: str
    age: int
    sbp: float
    smoker: bool
    total_cholesterol: float | None
    diabetes: bool | None
    bmi: float | None
    basis: tuple[str, ...] = field(default=())


def _not(reason: str, vi: str, en: str, missing: tuple[str, ...] = ()) -> NotAssessed:
    return NotAssessed(codes.WHO_CVD, reason, vi, en, missing)


def latest_bmi(record: PatientRecord) -> tuple[float, tuple[str, ...]] | None:
    measured = record.latest(codes.BMI)
    weight, height = record.latest(codes.BODY_WEIGHT), record.latest(codes.BODY_HEIGHT)
    computed: tuple[float, tuple[str, ...], datetime] | None = None
    if weight is not None and height is not None and height.value > 0:
        value = weight.value / (height.value / 100.0) ** 2
        computed = (value, (weight.ref, height.ref), weight.effective)
    if measured is not None and (computed is None or measured.effective >= computed[2]):
        return measured.value, (measured.ref,)
    if computed is not None:
        return computed[0], computed[1]
    return None


def _diabetes(record: PatientRecord) -> tuple[bool, tuple[str, ...]]:
    conditions = record.has_condition(codes.DIABETES)
    if conditions:
        return True, (conditions[-1].ref,)
    used: list[Reading] = []
    glucose, a1c = record.latest(codes.FASTING_GLUCOSE), record.latest(codes.HBA1C)
    high = False
    if glucose is not None:
        used.append(glucose)
        high = high or glucose.value >= 7.0
    if a1c is not None:
        used.append(a1c)
        high = high or a1c.value >= 6.5
    return high, tuple(r.ref for r in used)


def cvd_inputs(record: PatientRecord, today: date) -> CvdInputs | NotAssessed:
    """The model's inputs from ``record`` on ``today``, or why there are none."""
    if not record.exists:
        return _not("no-patient", "Không tìm thấy người bệnh", "Patient not found")
    age = record.age_on(today)
    if age is not None and not AGE_MIN <= age < AGE_LIMIT:
        return _not(
            "age",
            f"Biểu đồ nguy cơ tim mạch của WHO chỉ áp dụng cho tuổi 40–74 (người bệnh {age} tuổi)",
            f"The WHO cardiovascular risk charts apply to ages 40–74 only (the patient is {age})",
        )
    if record.sex not in ("male", "female"):
        return _not(
            "sex",
            "Biểu đồ WHO tính riêng cho nam và nữ: cần giới tính nam hoặc nữ",
            "The WHO charts are sex-specific: the patient's sex must be male or female",
        )
    missing: list[str] = []
    if age is None:
        missing.append("birthDate")
    bp = record.blood_pressure[-1] if record.blood_pressure else None
    if bp is None:
        missing.append("blood-pressure")
    smoking = record.smoking[-1] if record.smoking else None
    if smoking is None:
        missing.append("smoking-status")
    cholesterol = record.latest(codes.TOTAL_CHOLESTEROL)
    bmi = None if cholesterol is not None else latest_bmi(record)
    if cholesterol is None and bmi is None:
        missing.append("cholesterol-or-bmi")
    if missing or age is None or bp is None or smoking is None:
        names_vi = {
            "birthDate": "ngày sinh",
            "blood-pressure": "huyết áp",
            "smoking-status": "tình trạng hút thuốc",
            "cholesterol-or-bmi": "cholesterol toàn phần hoặc BMI (cân nặng và chiều cao)",
        }
        return _not(
            "missing",
            "Chưa đủ dữ liệu để tính nguy cơ tim mạch: thiếu " + ", ".join(names_vi[m] for m in missing),
            "Not enough data for the cardiovascular risk: missing " + ", ".join(missing),
            tuple(missing),
        )
    basis = [bp.ref, smoking.ref]
    if cholesterol is not None:
        diabetes, diabetes_basis = _diabetes(record)
        basis += [cholesterol.ref, *diabetes_basis]
        return CvdInputs(
            "lab", record.sex, age, bp.sbp, smoking.smoker, cholesterol.value, diabetes, None, tuple(basis)
        )
    assert bmi is not None
    basis += list(bmi[1])
    return CvdInputs("nonlab", record.sex, age, bp.sbp, smoking.smoker, None, None, bmi[0], tuple(basis))


def _cell_text(cell: ChartCell) -> str:
    sex_vi = "nam" if cell.sex == "male" else "nữ"
    smoke_vi = "hút thuốc" if cell.smoker else "không hút thuốc"
    parts_vi = [sex_vi, smoke_vi]
    parts_en = [cell.sex, "smoker" if cell.smoker else "non-smoker"]
    if cell.diabetes is not None:
        parts_vi.append("có đái tháo đường" if cell.diabetes else "không đái tháo đường")
        parts_en.append("diabetes" if cell.diabetes else "no diabetes")
    column = (
        f"cholesterol {cell.cholesterol.label} mmol/L"
        if cell.cholesterol is not None
        else f"BMI {cell.bmi.label if cell.bmi else '?'} kg/m²"
    )
    return (
        f"Ô trên biểu đồ WHO (Đông Nam Á): {', '.join(parts_vi)}; tuổi {cell.age.label}, "
        f"HA tâm thu {cell.sbp.label} mmHg, {column}: {cell.percent} % ({cell.band.label_vi}). "
        f"Chart cell (Southeast Asia): {', '.join(parts_en)}; age {cell.age.label}, SBP {cell.sbp.label} mmHg, "
        f"{column}: {cell.percent}% ({cell.band.label_en})."
    )


def _cell_extension(cell: ChartCell) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "model", "valueCode": cell.model},
        {"url": "region", "valueCode": cell.region},
        {"url": "sex", "valueCode": cell.sex},
        {"url": "smoker", "valueBoolean": cell.smoker},
    ]
    if cell.diabetes is not None:
        parts.append({"url": "diabetes", "valueBoolean": cell.diabetes})
    parts += [
        {"url": "age", "valueString": cell.age.label},
        {"url": "sbp", "valueString": cell.sbp.label},
    ]
    if cell.cholesterol is not None:
        parts.append({"url": "cholesterol", "valueString": cell.cholesterol.label})
    if cell.bmi is not None:
        parts.append({"url": "bmi", "valueString": cell.bmi.label})
    parts += [
        {"url": "printed", "valueInteger": cell.percent},
        {"url": "band", "valueCode": cell.band.code},
    ]
    return {"url": codes.CHART_CELL_EXTENSION, "extension": parts}


def _fmt(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


def cvd_resource(patient_id: str, inputs: CvdInputs, when: datetime) -> dict[str, Any]:
    """The RiskAssessment for ``inputs``, made at ``when`` (aware)."""
    common: dict[str, Any] = {
        "model": inputs.model,
        "sex": inputs.sex,
        "age": inputs.age,
        "sbp": inputs.sbp,
        "smoker": inputs.smoker,
    }
    if inputs.model == "lab":
        common |= {"total_cholesterol": inputs.total_cholesterol, "diabetes": inputs.diabetes}
    else:
        common["bmi"] = inputs.bmi
    percent = who_cvd_risk(**common)
    cell = chart_cell(**common)
    band = risk_band(min(100.0, float(round(percent))))
    label_vi, label_en = _MODEL_LABEL[inputs.model]
    if inputs.model == "lab":
        assert inputs.total_cholesterol is not None
        column_vi = f"cholesterol toàn phần {inputs.total_cholesterol:.2f} mmol/L, " + (
            "có đái tháo đường" if inputs.diabetes else "không đái tháo đường"
        )
    else:
        assert inputs.bmi is not None
        column_vi = f"BMI {inputs.bmi:.1f} kg/m²"
    rationale = (
        f"{'Nam' if inputs.sex == 'male' else 'Nữ'}, {inputs.age} tuổi, HA tâm thu {inputs.sbp:.0f} mmHg, "
        f"{'hút thuốc' if inputs.smoker else 'không hút thuốc'}, {column_vi}. {label_vi}."
    )
    end = (
        when.replace(year=when.year + 10)
        if not (when.month == 2 and when.day == 29)
        else when.replace(year=when.year + 10, day=28)
    )
    return {
        "resourceType": "RiskAssessment",
        "extension": [_cell_extension(cell)],
        "status": "final",
        "method": {
            "coding": [{"system": codes.RISK_METHOD_SYSTEM, "code": inputs.model, "display": label_en}],
            "text": label_vi,
        },
        "code": {
            "coding": [
                {
                    "system": codes.RISK_SYSTEM,
                    "code": codes.WHO_CVD,
                    "display": "WHO 2019 cardiovascular disease risk",
                }
            ],
            "text": "Nguy cơ tim mạch 10 năm (WHO 2019)",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": when.isoformat(timespec="seconds"),
        "basis": [{"reference": ref} for ref in dict.fromkeys(inputs.basis)],
        "prediction": [
            {
                "outcome": {"text": f"{_OUTCOME_VI} / {_OUTCOME_EN}"},
                "probabilityDecimal": round(percent / 100.0, 4),
                "qualitativeRisk": {
                    "coding": [
                        {"system": codes.RISK_BAND_SYSTEM, "code": band.code, "display": band.label_en}
                    ],
                    "text": f"{_fmt(percent)} % ({band.label_vi} / {band.label_en})",
                },
                "whenPeriod": {
                    "start": when.isoformat(timespec="seconds"),
                    "end": end.isoformat(timespec="seconds"),
                },
                "rationale": rationale,
            }
        ],
        "note": [{"text": _cell_text(cell)}],
    }
