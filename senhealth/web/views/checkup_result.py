"""The risk result of a check-up, as the health worker reads it: the WHO CVD risk with its band and the
chart (the patient's panel: sex and smoking status, and diabetes on the laboratory charts) with the
patient's cell highlighted, the blood-pressure grade, the BMI class, FINDRISC when stored, and the
registries the patient belongs to.

Read through the FHIR API as the signed-in user (RiskAssessment, Observation, EpisodeOfCare). The chart
cells are :func:`senhealth.checkup.risk.chart_cell` at each cell's mid-point (the printed value).
Spec: https://hl7.org/fhir/R4/riskassessment.html, WHO CVD risk charts 2019 (Southeast Asia).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.checkup.risk import bmi_class, chart_cell, classify_blood_pressure
from senhealth.checkup.risk.who_cvd_chart import AGE_BANDS, BMI_BANDS, CHOLESTEROL_BANDS, SBP_BANDS
from senhealth.web.fhir_client import FhirClient

__all__ = ["ChartRow", "RiskChart", "chart_of", "result_context"]

CHART_CELL: Final = "https://senhealth.vn/fhir/StructureDefinition/who-cvd-chart-cell"
RISK: Final = "https://senhealth.vn/fhir/CodeSystem/risk"
REGISTRY: Final = "https://senhealth.vn/fhir/CodeSystem/registry"
LOINC: Final = "http://loinc.org"
BAND_LEVELS: Final = {"<5": 1, "5-<10": 2, "10-<20": 3, "20-<30": 4, ">=30": 5}
REGISTRY_LABELS: Final = {
    "hypertension": ("Tăng huyết áp", "Hypertension"),
    "diabetes": ("Đái tháo đường", "Diabetes"),
    "copd-asthma": ("COPD và hen phế quản", "COPD and asthma"),
    "cancer-screening": ("Sàng lọc ung thư", "Cancer screening"),
}


@dataclass(slots=True)
class ChartRow:
    age: str
    sbp: str
    cells: list[tuple[int, int, bool]]  # (printed percent, band level 1-5, the patient's cell)


@dataclass(slots=True)
class RiskChart:
    model: str
    sex: str
    smoker: bool
    diabetes: bool | None
    columns: list[str]
    column_title: str
    rows: list[ChartRow] = field(default_factory=list)


def _cell_parts(assessment: dict[str, Any]) -> dict[str, Any]:
    for ext in assessment.get("extension") or []:
        if ext.get("url") == CHART_CELL:
            out: dict[str, Any] = {}
            for sub in ext.get("extension") or []:
                value = next((v for k, v in sub.items() if k.startswith("value")), None)
                if isinstance(value, dict):
                    value = value.get("code")
                out[str(sub.get("url"))] = value
            return out
    return {}


def chart_of(assessment: dict[str, Any]) -> RiskChart | None:
    """The chart panel of a stored WHO CVD RiskAssessment, the patient's cell marked."""
    parts = _cell_parts(assessment)
    model, sex = parts.get("model"), parts.get("sex")
    if model not in ("lab", "nonlab") or sex not in ("male", "female"):
        return None
    smoker = parts.get("smoker") in (True, "true")
    diabetes = parts.get("diabetes") in (True, "true") if model == "lab" else None
    lab = model == "lab"
    columns = CHOLESTEROL_BANDS if lab else BMI_BANDS
    mine = (parts.get("age"), parts.get("sbp"), parts.get("cholesterol" if lab else "bmi"))
    chart = RiskChart(
        model=str(model),
        sex=str(sex),
        smoker=smoker,
        diabetes=diabetes,
        columns=[c.label for c in columns],
        column_title="cholesterol" if lab else "bmi",
    )
    for age in reversed(AGE_BANDS):
        for sbp in reversed(SBP_BANDS):
            cells = []
            for column in columns:
                cell = chart_cell(
                    model="lab" if lab else "nonlab",
                    sex="male" if sex == "male" else "female",
                    age=age.midpoint,
                    sbp=sbp.midpoint,
                    smoker=smoker,
                    diabetes=diabetes if lab else None,
                    total_cholesterol=column.midpoint if lab else None,
                    bmi=None if lab else column.midpoint,
                )
                cells.append((cell.percent, cell.band.level, (age.label, sbp.label, column.label) == mine))
            chart.rows.append(ChartRow(age.label, sbp.label, cells))
    return chart


def _latest(observations: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(observations, key=lambda o: str(o.get("effectiveDateTime") or ""), default=None)


def _component(observation: dict[str, Any], code: str) -> float | None:
    for comp in observation.get("component") or []:
        if any(c.get("code") == code for c in (comp.get("code") or {}).get("coding") or []):
            value = (comp.get("valueQuantity") or {}).get("value")
            return float(value) if isinstance(value, int | float) else None
    return None


async def result_context(client: FhirClient, patient_id: str, age: int | None, lang: str) -> dict[str, Any]:
    """What the result page shows (see the module docstring)."""
    subject = f"Patient/{patient_id}"
    risks = await client.search_all("RiskAssessment", [("subject", subject), ("_count", "20")], pages=1)
    who = next((r for r in risks if _has_code(r, "who-cvd-2019")), None)
    findrisc = next((r for r in risks if _has_code(r, "findrisc")), None)
    context: dict[str, Any] = {
        "chart_applies": age is not None and 40 <= age <= 74,
        "risk": None,
        "chart": None,
        "findrisc": None,
    }
    if who is not None:
        prediction = (who.get("prediction") or [{}])[0]
        probability = prediction.get("probabilityDecimal")
        band = ((prediction.get("qualitativeRisk") or {}).get("coding") or [{}])[0].get("code")
        parts = _cell_parts(who)
        context["risk"] = {
            "percent": round(float(probability) * 100, 1) if probability is not None else None,
            "band": band,
            "level": BAND_LEVELS.get(str(band), 0),
            "text": (prediction.get("qualitativeRisk") or {}).get("text", ""),
            "printed": parts.get("printed"),
            "model": parts.get("model"),
        }
        context["chart"] = chart_of(who)
    if findrisc is not None:
        prediction = (findrisc.get("prediction") or [{}])[0]
        context["findrisc"] = (prediction.get("qualitativeRisk") or {}).get("text") or ""
    bps = await client.search_all(
        "Observation", [("subject", subject), ("code", f"{LOINC}|85354-9"), ("_count", "50")], pages=1
    )
    bp = _latest(bps)
    context["bp"] = None
    if bp is not None:
        sbp, dbp = _component(bp, "8480-6"), _component(bp, "8462-4")
        if sbp is not None and dbp is not None:
            graded = classify_blood_pressure(sbp, dbp)
            grade = graded.grade
            context["bp"] = {
                "sbp": round(sbp),
                "dbp": round(dbp),
                "grade": str(grade),
                "label": grade.label_vi if lang == "vi" else grade.label_en,
            }
    bmis = await client.search_all(
        "Observation", [("subject", subject), ("code", f"{LOINC}|39156-5"), ("_count", "50")], pages=1
    )
    latest_bmi = _latest(bmis)
    context["bmi"] = None
    if latest_bmi is not None:
        value = (latest_bmi.get("valueQuantity") or {}).get("value")
        if isinstance(value, int | float):
            klass = bmi_class(float(value))
            context["bmi"] = {
                "value": float(value),
                "class": str(klass),
                "label": klass.label_vi if lang == "vi" else klass.label_en,
            }
    episodes = await client.search_all(
        "EpisodeOfCare", [("patient", subject), ("status", "active"), ("_count", "20")], pages=1
    )
    registries = []
    for episode in episodes:
        for concept in episode.get("type") or []:
            for coding in concept.get("coding") or []:
                if coding.get("system") == REGISTRY:
                    vi, en = REGISTRY_LABELS.get(
                        str(coding.get("code")), (coding.get("code"), coding.get("code"))
                    )
                    registries.append({"code": coding.get("code"), "label": vi if lang == "vi" else en})
    context["registries"] = sorted(registries, key=lambda r: str(r["code"]))
    return context


def _has_code(resource: dict[str, Any], code: str) -> bool:
    return any(
        c.get("system") == RISK and c.get("code") == code
        for c in (resource.get("code") or {}).get("coding") or []
    )
