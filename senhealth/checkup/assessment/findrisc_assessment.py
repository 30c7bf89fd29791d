"""A patient's FINDRISC (type 2 diabetes risk) as a FHIR RiskAssessment, from the check-up form's answers.

Spec: https://hl7.org/fhir/R4/riskassessment.html; the score: :mod:`senhealth.checkup.risk.findrisc`
(Lindström & Tuomilehto, Diabetes Care 2003;26:725–731).

Inputs, each the latest on record and each taken within the last :data:`FRESH_DAYS` days (the yearly check-up
cycle: an older answer no longer describes the person, so the score is not computed and the reason names it):

- age in completed years (18 or over) from ``Patient.birthDate``, sex from ``gender``;
- BMI (39156-5, or weight and height, whichever is more recent) and waist circumference (8280-0);
- the form's answers, Observations coded ``checkup-item``: ``physical-activity-daily``,
  ``vegetables-fruit-daily``, ``bp-medication-ever``, ``high-glucose-history`` (yes/no) and
  ``family-history-diabetes`` (``checkup-answer`` none / second-degree / first-degree).

The resource: ``code`` risk|findrisc, ``basis`` the Observations used, ``prediction[0]``: the band's estimated
10-year risk as ``probabilityDecimal`` (1 %, 4 %, 17 %, 33 %, 50 %), ``qualitativeRisk`` the band
(findrisc-band|low … |very-high) with the total and the band in words as its ``text``, ``whenPeriod`` the
next 10 years, ``rationale`` the points per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import PatientRecord
from senhealth.checkup.assessment.who_cvd_assessment import NotAssessed, latest_bmi
from senhealth.checkup.risk import findrisc
from senhealth.checkup.risk.findrisc import FamilyHistory
from senhealth.checkup.risk.ranges import sex

__all__ = ["FINDRISC_BAND_SYSTEM", "FRESH_DAYS", "FindriscInputs", "findrisc_inputs", "findrisc_resource"]

FRESH_DAYS: Final = 365
FINDRISC_BAND_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/findrisc-band"

_NAMES: Final = {
    "birthDate": ("ngày sinh", "birth date"),
    "bmi": ("BMI (cân nặng và chiều cao)", "BMI (weight and height)"),
    "waist": ("vòng bụng", "waist circumference"),
    codes.PHYSICAL_ACTIVITY: ("hoạt động thể lực hằng ngày", "daily physical activity"),
    codes.VEGETABLES_FRUIT: ("ăn rau quả hằng ngày", "vegetables and fruit every day"),
    codes.BP_MEDICATION: ("từng dùng thuốc hạ huyết áp", "ever taken blood-pressure medication"),
    codes.HIGH_GLUCOSE_HISTORY: ("từng có đường huyết cao", "ever had high blood glucose"),
    codes.FAMILY_HISTORY_DIABETES: ("tiền sử gia đình đái tháo đường", "family history of diabetes"),
}
_POINTS_VI: Final = {
    "age": "tuổi",
    "bmi": "BMI",
    "waist": "vòng bụng",
    "physical_activity": "hoạt động thể lực",
    "vegetables_fruit": "rau quả",
    "bp_medication": "thuốc hạ huyết áp",
    "high_glucose": "đường huyết cao",
    "family_history": "gia đình",
}


@dataclass(frozen=True, slots=True)
class FindriscInputs:
    age: int
    sex: str
    bmi: float
    waist_cm: float
    physically_active: bool
    vegetables_fruit_daily: bool
    bp_medication: bool
    high_glucose_history: bool
    family_history: FamilyHistory
    basis: tuple[str, ...]


def _not(reason: str, vi: str, en: str, missing: tuple[str, ...] = ()) -> NotAssessed:
    return NotAssessed(codes.FINDRISC, reason, vi, en, missing)


def findrisc_inputs(record: PatientRecord, today: date) -> FindriscInputs | NotAssessed:
    """The score's inputs from ``record`` on ``today``, or why there are none."""
    if not record.exists:
        return _not("no-patient", "Không tìm thấy người bệnh", "Patient not found")
    age = record.age_on(today)
    if age is not None and age < 18:
        return _not(
            "age",
            f"FINDRISC dành cho người từ 18 tuổi (người bệnh {age} tuổi)",
            f"FINDRISC is for adults aged 18 and over (the patient is {age})",
        )
    if record.sex not in ("male", "female"):
        return _not(
            "sex",
            "Điểm vòng bụng của FINDRISC tính riêng cho nam và nữ: cần giới tính nam hoặc nữ",
            "FINDRISC's waist points are sex-specific: the patient's sex must be male or female",
        )
    since = today - timedelta(days=FRESH_DAYS)

    def fresh(when: datetime) -> bool:
        return when.date() >= since

    missing: list[str] = [] if age is not None else ["birthDate"]
    bmi = latest_bmi(record)
    bmi_fresh = bmi is not None and all(fresh(r.effective) for r in _readings(record) if r.ref in bmi[1])
    if not bmi_fresh:
        missing.append("bmi")
    waist = record.latest(codes.WAIST)
    if waist is None or not fresh(waist.effective):
        missing.append("waist")
    answers = {item: record.answer(item) for item in _ANSWER_ORDER}
    for item, answer in answers.items():
        if answer is None or not fresh(answer.effective):
            missing.append(item)
    family = answers[codes.FAMILY_HISTORY_DIABETES]
    if family is not None and family.value not in {f.value for f in FamilyHistory}:
        missing.append(codes.FAMILY_HISTORY_DIABETES)
    if missing or age is None or bmi is None or waist is None:
        return _not(
            "missing",
            "Chưa đủ dữ liệu trong 12 tháng qua để tính FINDRISC: thiếu "
            + ", ".join(_NAMES[m][0] for m in missing),
            "Not enough data from the last 12 months for FINDRISC: missing "
            + ", ".join(_NAMES[m][1] for m in missing),
            tuple(missing),
        )
    got = {item: answer for item, answer in answers.items() if answer is not None}
    return FindriscInputs(
        age=age,
        sex=record.sex,
        bmi=bmi[0],
        waist_cm=waist.value,
        physically_active=got[codes.PHYSICAL_ACTIVITY].value is True,
        vegetables_fruit_daily=got[codes.VEGETABLES_FRUIT].value is True,
        bp_medication=got[codes.BP_MEDICATION].value is True,
        high_glucose_history=got[codes.HIGH_GLUCOSE_HISTORY].value is True,
        family_history=FamilyHistory(str(got[codes.FAMILY_HISTORY_DIABETES].value)),
        basis=(*bmi[1], waist.ref, *(a.ref for a in got.values())),
    )


_ANSWER_ORDER: Final = (
    codes.PHYSICAL_ACTIVITY,
    codes.VEGETABLES_FRUIT,
    codes.BP_MEDICATION,
    codes.HIGH_GLUCOSE_HISTORY,
    codes.FAMILY_HISTORY_DIABETES,
)


def _readings(record: PatientRecord) -> list[Any]:
    return [
        *record.readings(codes.BMI),
        *record.readings(codes.BODY_WEIGHT),
        *record.readings(codes.BODY_HEIGHT),
    ]


def findrisc_resource(patient_id: str, inputs: FindriscInputs, when: datetime) -> dict[str, Any]:
    """The RiskAssessment for ``inputs``, made at ``when`` (aware)."""
    score = findrisc(
        age=inputs.age,
        sex=sex(inputs.sex),
        bmi=inputs.bmi,
        waist_cm=inputs.waist_cm,
        physically_active=inputs.physically_active,
        vegetables_fruit_daily=inputs.vegetables_fruit_daily,
        bp_medication=inputs.bp_medication,
        high_glucose_history=inputs.high_glucose_history,
        family_history=inputs.family_history,
    )
    band = score.band
    points = ", ".join(f"{_POINTS_VI.get(k, k)} {v}" for k, v in score.points.items())
    end = (
        when.replace(year=when.year + 10)
        if not (when.month == 2 and when.day == 29)
        else when.replace(year=when.year + 10, day=28)
    )
    return {
        "resourceType": "RiskAssessment",
        "status": "final",
        "code": {
            "coding": [{"system": codes.RISK_SYSTEM, "code": codes.FINDRISC, "display": "FINDRISC"}],
            "text": "Nguy cơ đái tháo đường típ 2 trong 10 năm (FINDRISC)",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": when.isoformat(timespec="seconds"),
        "basis": [{"reference": ref} for ref in dict.fromkeys(inputs.basis)],
        "prediction": [
            {
                "outcome": {"text": "Đái tháo đường típ 2 trong 10 năm / Type 2 diabetes within 10 years"},
                "probabilityDecimal": band.risk_percent / 100.0,
                "qualitativeRisk": {
                    "coding": [{"system": FINDRISC_BAND_SYSTEM, "code": band.code, "display": band.label_en}],
                    "text": (
                        f"{score.total}/26 điểm: {band.label_vi} (khoảng 1/{band.risk_one_in} người) / "
                        f"{score.total}/26 points: {band.label_en} (about 1 in {band.risk_one_in})"
                    ),
                },
                "whenPeriod": {
                    "start": when.isoformat(timespec="seconds"),
                    "end": end.isoformat(timespec="seconds"),
                },
                "rationale": f"Điểm từng mục: {points}; tổng {score.total}.",
            }
        ],
    }
