"""FHIR Observations: vital signs and common labs, LOINC-coded with UCUM units.

Vital signs follow the FHIR vital-signs profile (https://hl7.org/fhir/R4/observation-vitalsigns.html):
category ``vital-signs``, blood pressure as the panel 85354-9 with systolic 8480-6 and diastolic 8462-4
components in ``mm[Hg]``, heart rate 8867-4 ``/min``, body temperature 8310-5 ``Cel``, body weight
29463-7 ``kg``, body height 8302-2 ``cm``, BMI 39156-5 ``kg/m2``. Labs (category ``laboratory``):
glucose 2345-7, HbA1c 4548-4, total cholesterol 2093-3, creatinine 2160-0 (mass concentrations in
``mg/dL``, as those LOINC codes define them; Vietnamese laboratories usually report mmol/L and µmol/L,
which are other LOINC codes: 14749-6, 14647-2, 14682-9), platelets 777-3 and haematocrit 4544-3, with
reference ranges and a high/low/normal interpretation (v3 ObservationInterpretation).
LOINC: https://loinc.org ; UCUM: https://ucum.org .
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from senhealth.demo.fhir_types import LOINC, concept, narrative, quantity

__all__ = ["LOINC_CODES", "ObservationContext", "blood_pressure", "lab", "vital"]

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

# kind → (LOINC code, LOINC display, Vietnamese text, unit shown, UCUM code)
LOINC_CODES: dict[str, tuple[str, str, str, str, str]] = {
    "bp": ("85354-9", "Blood pressure panel with all children optional", "Huyết áp", "mmHg", "mm[Hg]"),
    "sbp": ("8480-6", "Systolic blood pressure", "Huyết áp tâm thu", "mmHg", "mm[Hg]"),
    "dbp": ("8462-4", "Diastolic blood pressure", "Huyết áp tâm trương", "mmHg", "mm[Hg]"),
    "heart_rate": ("8867-4", "Heart rate", "Nhịp tim", "beats/minute", "/min"),
    "temperature": ("8310-5", "Body temperature", "Nhiệt độ", "°C", "Cel"),
    "weight": ("29463-7", "Body weight", "Cân nặng", "kg", "kg"),
    "height": ("8302-2", "Body height", "Chiều cao", "cm", "cm"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "Chỉ số khối cơ thể (BMI)", "kg/m2", "kg/m2"),
    "glucose": ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "Glucose máu", "mg/dL", "mg/dL"),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "%", "%"),
    "cholesterol": (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "Cholesterol toàn phần",
        "mg/dL",
        "mg/dL",
    ),
    "creatinine": (
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "Creatinin máu",
        "mg/dL",
        "mg/dL",
    ),
    "platelets": (
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "Số lượng tiểu cầu",
        "10^3/µL",
        "10*3/uL",
    ),
    "hematocrit": (
        "4544-3",
        "Hematocrit [Volume Fraction] of Blood by Automated count",
        "Hematocrit",
        "%",
        "%",
    ),
}

# kind → (low, high) by sex ("*": both)
REFERENCE_RANGES: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "glucose": {"*": (70.0, 99.0)},
    "hba1c": {"*": (None, 5.6)},
    "cholesterol": {"*": (None, 199.0)},
    "creatinine": {"male": (0.7, 1.3), "female": (0.6, 1.1)},
    "platelets": {"*": (150.0, 400.0)},
    "hematocrit": {"male": (40.0, 50.0), "female": (36.0, 46.0)},
}


@dataclass(frozen=True, slots=True)
class ObservationContext:
    """What every Observation of one visit shares."""

    subject: dict[str, str]
    encounter: dict[str, str]
    effective: str
    performer: dict[str, str]


def _code(kind: str) -> dict[str, Any]:
    code, display, text, _unit, _ucum = LOINC_CODES[kind]
    return concept(LOINC, code, display, text)


def _value(kind: str, value: float) -> dict[str, Any]:
    unit, ucum = LOINC_CODES[kind][3:]
    return quantity(value, unit, ucum)


def _base(ctx: ObservationContext, obs_id: str, kind: str, category: str, shown: str) -> dict[str, Any]:
    display = "Vital Signs" if category == "vital-signs" else "Laboratory"
    text, unit = LOINC_CODES[kind][2:4]
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "text": narrative(f"{text}: {shown} {unit}"),
        "status": "final",
        "category": [concept(CATEGORY, category, display)],
        "code": _code(kind),
        "subject": ctx.subject,
        "encounter": ctx.encounter,
        "effectiveDateTime": ctx.effective,
        "performer": [ctx.performer],
    }


def vital(ctx: ObservationContext, obs_id: str, kind: str, value: float) -> dict[str, Any]:
    """A single-valued vital sign (heart rate, temperature, weight, height, BMI)."""
    out = _base(ctx, obs_id, kind, "vital-signs", f"{value}")
    out["valueQuantity"] = _value(kind, value)
    return out


def blood_pressure(ctx: ObservationContext, obs_id: str, systolic: int, diastolic: int) -> dict[str, Any]:
    """The blood-pressure panel with its systolic and diastolic components."""
    out = _base(ctx, obs_id, "bp", "vital-signs", f"{systolic}/{diastolic}")
    out["component"] = [
        {"code": _code("sbp"), "valueQuantity": _value("sbp", systolic)},
        {"code": _code("dbp"), "valueQuantity": _value("dbp", diastolic)},
    ]
    return out


def lab(ctx: ObservationContext, obs_id: str, kind: str, value: float, sex: str) -> dict[str, Any]:
    """A lab result with its reference range and interpretation."""
    out = _base(ctx, obs_id, kind, "laboratory", f"{value}")
    out["valueQuantity"] = _value(kind, value)
    ranges = REFERENCE_RANGES.get(kind)
    if ranges:
        low, high = ranges.get(sex) or ranges["*"]
        reference: dict[str, Any] = {}
        if low is not None:
            reference["low"] = _value(kind, low)
        if high is not None:
            reference["high"] = _value(kind, high)
        out["referenceRange"] = [reference]
        flag, text = "N", "Normal"
        if high is not None and value > high:
            flag, text = "H", "High"
        elif low is not None and value < low:
            flag, text = "L", "Low"
        out["interpretation"] = [concept(INTERPRETATION, flag, text)]
    return out
