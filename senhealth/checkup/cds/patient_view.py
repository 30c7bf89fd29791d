"""The ``patient-view`` service: cardiovascular risk, overdue screening, uncontrolled blood pressure.

Spec: https://cds-hooks.org/hooks/patient-view/ (context ``userId``, ``patientId``, ``encounterId``).
The rules (docs/cds-hooks.md):

- **Cardiovascular risk** (WHO CVD Risk Chart Working Group, Lancet Glob Health 2019;7:e1332-45,
  Southeast Asia): :func:`senhealth.checkup.risk.who_cvd_risk` on the latest data: age and sex from the
  Patient, systolic pressure from the latest blood-pressure panel (85354-9), smoking from the latest
  72166-2; the laboratory chart when a total cholesterol is recorded (diabetes: an active Condition
  E10-E14; none recorded counts as no diabetes), else the non-laboratory chart with the latest BMI
  (39156-5). Indicator by the chart's band: below 10 % info, 10 to < 20 % warning, 20 % or more
  critical. Outside ages 40-74 the card says that the chart does not apply; with inputs missing it
  lists them.
- **Check-up overdue**: no check-up Encounter (type ``encounter-type|checkup``, not cancelled or
  entered in error) in the last 365 days: everyone is offered one a year (Politburo Resolution 72/2025).
- **Cervical screening due**: a woman aged 30-65 with no completed cervical screening (a Procedure coded
  ``https://senhealth.vn/fhir/CodeSystem/screening|cervical-cancer``) in the last 5 years. WHO guideline
  for screening and treatment of cervical pre-cancer lesions, 2nd ed. 2021: screening from age 30, every
  5 to 10 years with an HPV DNA test (the 5-year end is used); the upper age 65 is this platform's
  choice (WHO lets screening stop after 50 following two negative results, which is not tracked here).
- **Uncontrolled blood pressure**: an active hypertension Condition (I10-I15) and a latest reading not
  below 140/90 mmHg (Decision 3192/QĐ-BYT target); critical at grade 3 (≥ 180 and/or ≥ 110).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from senhealth.checkup.cds.cards import Action, Card, Indicator, Source, Suggestion, Text
from senhealth.checkup.cds.fhir_data import (
    LOINC,
    age_on,
    cholesterol_mmol,
    component_value,
    icd10_codes,
    icd10_in,
    instant,
    quantity,
    resources,
)
from senhealth.checkup.risk import BpGrade, classify_blood_pressure, is_controlled, risk_band, who_cvd_risk

__all__ = ["PREFETCH", "patient_view_cards"]

ENCOUNTER_TYPE: Final = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
SCREENING: Final = "https://senhealth.vn/fhir/CodeSystem/screening"
SNOMED: Final = "http://snomed.info/sct"
_SMOKER: Final = frozenset({"77176002", "449868002", "65568007"})
_NON_SMOKER: Final = frozenset({"8517006", "266919005"})
_P: Final = "patient={{context.patientId}}"

PREFETCH: Final[dict[str, str]] = {
    "patient": "Patient/{{context.patientId}}",
    "bloodPressure": f"Observation?{_P}&code={LOINC}|85354-9&_sort=-date&_count=1",
    "cholesterol": f"Observation?{_P}&code={LOINC}|2093-3,{LOINC}|14647-2&_sort=-date&_count=1",
    "bmi": f"Observation?{_P}&code={LOINC}|39156-5&_sort=-date&_count=1",
    "smoking": f"Observation?{_P}&code={LOINC}|72166-2&_sort=-date&_count=1",
    "conditions": f"Condition?{_P}&clinical-status=active&_count=200",
    "checkups": f"Encounter?{_P}&type={ENCOUNTER_TYPE}|checkup&_sort=-date&_count=5",
    "cervicalScreening": f"Procedure?{_P}&code={SCREENING}|cervical-cancer&_sort=-date&_count=5",
}

WHO_CVD: Final = Source(
    "WHO CVD risk charts 2019 (Lancet Glob Health 2019;7:e1332-45)",
    "https://doi.org/10.1016/S2214-109X(19)30318-3",
)
CHECKUP: Final = Source("Nghị quyết 72-NQ/TW (2025): khám sức khỏe định kỳ hằng năm / annual check-up")
CERVICAL: Final = Source(
    "WHO guideline, cervical pre-cancer screening and treatment, 2nd ed. 2021",
    "https://www.ncbi.nlm.nih.gov/books/NBK572314/",
)
BP_GUIDE: Final = Source("Bộ Y tế, Quyết định 3192/QĐ-BYT (2010): tăng huyết áp / hypertension")


def _latest(value: Any, res_type: str = "Observation") -> dict[str, Any] | None:
    found = [
        r
        for r in resources(value, res_type)
        if r.get("status") not in ("entered-in-error", "cancelled", "preliminary")
    ]
    if not found:
        return None
    return max(
        found, key=lambda r: instant(r, "effectiveDateTime", "effectivePeriod.end", "issued") or _EPOCH
    )


_EPOCH: Final = datetime(1900, 1, 1).astimezone()


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when else "?"


def _proposal(patient_id: str, system: str, code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": system, "code": code}], "text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _smoker(value: Any) -> bool | None:
    obs = _latest(value)
    if obs is None:
        return None
    concept = obs.get("valueCodeableConcept")
    codes = {c.get("code") for c in (concept or {}).get("coding", []) if c.get("system") == SNOMED}
    if codes & _SMOKER:
        return True
    if codes & _NON_SMOKER:
        return False
    return None


def _cvd_card(patient: Mapping[str, Any], prefetch: Mapping[str, Any], now: datetime) -> Card | None:
    age = age_on(patient.get("birthDate"), now.date())
    sex = patient.get("gender")
    if age is None or sex not in ("male", "female") or age < 18:
        return None
    if not 40 <= age < 75:
        return Card(
            summary=Text(
                f"Biểu đồ nguy cơ tim mạch WHO không áp dụng cho tuổi {age} (chỉ 40–74 tuổi)",
                f"The WHO cardiovascular risk chart does not apply at age {age} (ages 40–74 only)",
            ),
            indicator="info",
            source=WHO_CVD,
        )
    bp = _latest(prefetch.get("bloodPressure"))
    sbp = component_value(bp, "8480-6") if bp else None
    smoker = _smoker(prefetch.get("smoking"))
    chol_obs = _latest(prefetch.get("cholesterol"))
    chol = cholesterol_mmol(chol_obs) if chol_obs else None
    bmi_obs = _latest(prefetch.get("bmi"))
    bmi_q = quantity(bmi_obs.get("valueQuantity")) if bmi_obs else None
    bmi = bmi_q[0] if bmi_q else None
    missing: list[tuple[str, str]] = []
    if sbp is None:
        missing.append(("huyết áp tâm thu", "systolic blood pressure"))
    if smoker is None:
        missing.append(("tình trạng hút thuốc", "smoking status"))
    if chol is None and bmi is None:
        missing.append(("cholesterol toàn phần hoặc BMI", "total cholesterol or BMI"))
    if missing or sbp is None or smoker is None:
        return Card(
            summary=Text(
                "Chưa đủ dữ liệu để tính nguy cơ tim mạch: thiếu " + ", ".join(m[0] for m in missing),
                "Not enough data for the cardiovascular risk: missing " + ", ".join(m[1] for m in missing),
            ),
            indicator="info",
            source=WHO_CVD,
        )
    diabetes = any(
        icd10_in(icd10_codes(c), "E10", "E14") for c in resources(prefetch.get("conditions"), "Condition")
    )
    model: Literal["lab", "nonlab"] = "lab" if chol is not None else "nonlab"
    try:
        risk = who_cvd_risk(
            model=model,
            sex=sex,
            age=age,
            sbp=sbp,
            smoker=smoker,
            total_cholesterol=chol,
            diabetes=diabetes,
            bmi=bmi,
            region="SEA",
        )
    except ValueError as exc:
        return Card(
            summary=Text(
                "Không tính được nguy cơ tim mạch: dữ liệu ngoài phạm vi",
                "Cannot compute the cardiovascular risk: data out of range",
            ),
            indicator="info",
            source=WHO_CVD,
            detail=Text(str(exc), str(exc)),
        )
    shown = round(risk)  # the charts print whole percents, half to even
    band = risk_band(float(shown))
    indicator: Indicator = "info" if band.level <= 2 else "warning" if band.level == 3 else "critical"
    used_vi = [
        f"{age} tuổi",
        "nam" if sex == "male" else "nữ",
        f"HA tâm thu {sbp:g} mmHg ({_day(instant(bp or {}, 'effectiveDateTime'))})",
        "hút thuốc" if smoker else "không hút thuốc",
    ]
    used_en = [
        f"age {age}",
        sex,
        f"systolic {sbp:g} mmHg ({_day(instant(bp or {}, 'effectiveDateTime'))})",
        "smoker" if smoker else "non-smoker",
    ]
    if model == "lab":
        assert chol is not None
        used_vi += [
            f"cholesterol {chol:.1f} mmol/L",
            "đái tháo đường" if diabetes else "không ghi nhận đái tháo đường",
        ]
        used_en += [f"cholesterol {chol:.1f} mmol/L", "diabetes" if diabetes else "no diabetes recorded"]
    else:
        used_vi.append(f"BMI {bmi:g}")
        used_en.append(f"BMI {bmi:g}")
    chart_vi = "biểu đồ có xét nghiệm" if model == "lab" else "biểu đồ không xét nghiệm"
    chart_en = "laboratory chart" if model == "lab" else "non-laboratory chart"
    return Card(
        summary=Text(
            f"Nguy cơ tim mạch 10 năm: {shown} % ({band.label_vi.lower()})",
            f"10-year cardiovascular risk: {shown}% ({band.label_en.lower()})",
        ),
        indicator=indicator,
        source=WHO_CVD,
        detail=Text(
            f"WHO 2019, Đông Nam Á, {chart_vi}: {risk:.1f} %. Dữ liệu dùng: " + "; ".join(used_vi) + ".",
            f"WHO 2019, Southeast Asia, {chart_en}: {risk:.1f}%. Inputs: " + "; ".join(used_en) + ".",
        ),
    )


def _checkup_card(patient_id: str, prefetch: Mapping[str, Any], now: datetime) -> Card | None:
    dates = [
        instant(e, "period.end", "period.start")
        for e in resources(prefetch.get("checkups"), "Encounter")
        if e.get("status") not in ("cancelled", "entered-in-error")
    ]
    last = max((d for d in dates if d is not None), default=None)
    if last is not None and last >= now - timedelta(days=365):
        return None
    when_vi = f"lần gần nhất {_day(last)}" if last else "chưa có lần nào được ghi nhận"
    when_en = f"last on {_day(last)}" if last else "none recorded"
    action = Action(
        "create",
        Text("Tạo đề nghị khám sức khỏe định kỳ", "Create a check-up request"),
        _proposal(patient_id, ENCOUNTER_TYPE, "checkup", "Khám sức khỏe định kỳ / Annual check-up"),
    )
    return Card(
        summary=Text(
            f"Quá hạn khám sức khỏe định kỳ hằng năm ({when_vi})",
            f"Annual check-up overdue ({when_en})",
        ),
        indicator="warning",
        source=CHECKUP,
        detail=Text(
            "Mỗi người dân được khám sức khỏe hoặc sàng lọc miễn phí ít nhất mỗi năm một lần; "
            "không có lượt khám sức khỏe định kỳ nào trong 12 tháng qua.",
            "Everyone is offered a free check-up or screening at least once a year; no check-up "
            "encounter in the last 12 months.",
        ),
        suggestions=(Suggestion(Text("Đề nghị khám sức khỏe", "Request a check-up"), (action,)),),
    )


def _cervical_card(
    patient: Mapping[str, Any], patient_id: str, prefetch: Mapping[str, Any], now: datetime
) -> Card | None:
    age = age_on(patient.get("birthDate"), now.date())
    if patient.get("gender") != "female" or age is None or not 30 <= age <= 65:
        return None
    dates = [
        instant(p, "performedDateTime", "performedPeriod.end", "performedPeriod.start")
        for p in resources(prefetch.get("cervicalScreening"), "Procedure")
        if p.get("status") == "completed"
    ]
    last = max((d for d in dates if d is not None), default=None)
    if last is not None and last >= now - timedelta(days=5 * 365 + 1):
        return None
    action = Action(
        "create",
        Text("Tạo đề nghị sàng lọc ung thư cổ tử cung", "Create a cervical screening request"),
        _proposal(
            patient_id, SCREENING, "cervical-cancer", "Sàng lọc ung thư cổ tử cung / Cervical screening"
        ),
    )
    return Card(
        summary=Text(
            "Đến hạn sàng lọc ung thư cổ tử cung (không có lần nào trong 5 năm qua)",
            "Cervical cancer screening due (none in the last 5 years)",
        ),
        indicator="warning",
        source=CERVICAL,
        detail=Text(
            "WHO (2021): sàng lọc từ 30 tuổi, xét nghiệm HPV DNA mỗi 5–10 năm.",
            "WHO (2021): screening from age 30, an HPV DNA test every 5 to 10 years.",
        ),
        suggestions=(Suggestion(Text("Đề nghị sàng lọc", "Request screening"), (action,)),),
    )


def _bp_card(patient_id: str, prefetch: Mapping[str, Any]) -> Card | None:
    hypertensive = any(
        icd10_in(icd10_codes(c), "I10", "I15") for c in resources(prefetch.get("conditions"), "Condition")
    )
    bp = _latest(prefetch.get("bloodPressure"))
    if not hypertensive or bp is None:
        return None
    sbp, dbp = component_value(bp, "8480-6"), component_value(bp, "8462-4")
    if sbp is None or dbp is None:
        return None
    try:
        if is_controlled(sbp, dbp):
            return None
        grade = classify_blood_pressure(sbp, dbp).grade
    except ValueError:
        return None
    day = _day(instant(bp, "effectiveDateTime", "effectivePeriod.end"))
    action = Action(
        "create",
        Text("Tạo đề nghị tái khám điều chỉnh điều trị", "Create a follow-up request to adjust treatment"),
        _proposal(
            patient_id,
            ENCOUNTER_TYPE,
            "hypertension-follow-up",
            "Tái khám tăng huyết áp / Hypertension follow-up",
        ),
    )
    return Card(
        summary=Text(
            f"Huyết áp chưa kiểm soát: {sbp:g}/{dbp:g} mmHg ngày {day} (mục tiêu < 140/90)",
            f"Blood pressure not controlled: {sbp:g}/{dbp:g} mmHg on {day} (target < 140/90)",
        ),
        indicator="critical" if grade is BpGrade.GRADE_3 else "warning",
        source=BP_GUIDE,
        detail=Text(
            f"Người bệnh tăng huyết áp (I10–I15); lần đo gần nhất {grade.label_vi}. Xem lại tuân thủ và phác đồ.",
            f"Hypertension on the problem list (I10–I15); latest reading {grade.label_en}. Review adherence "
            "and treatment.",
        ),
        suggestions=(Suggestion(Text("Hẹn tái khám", "Book a follow-up"), (action,)),),
    )


def patient_view_cards(patient_id: str, prefetch: Mapping[str, Any], now: datetime) -> list[Card]:
    """The cards for a patient whose chart is opened (see the module docstring)."""
    patient = next(resources(prefetch.get("patient"), "Patient"), None)
    if patient is None:
        return []  # unknown, or not visible to the caller: nothing to say
    cards = [
        _cvd_card(patient, prefetch, now),
        _checkup_card(patient_id, prefetch, now),
        _cervical_card(patient, patient_id, prefetch, now),
        _bp_card(patient_id, prefetch),
    ]
    return [c for c in cards if c is not None]
