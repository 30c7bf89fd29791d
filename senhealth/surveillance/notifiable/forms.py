"""The case report form of a notifiable disease, as a FHIR Questionnaire, and the coding systems it uses.

Spec: https://hl7.org/fhir/R4/questionnaire.html (items, ``enableWhen``, ``answerOption``) and
https://hl7.org/fhir/R4/questionnaireresponse.html (a filled form: one per case).

One form for every disease (Circular 54/2015's individual case report holds the same fields whatever the
disease): the disease and its group, the ICD-10 code, onset and diagnosis, classification, outcome, the
commune of residence, the reporting deadline and the time reported, the evidence (the Condition, Encounter
and Observation references the case was detected from). Group-specific sections are shown with
``enableWhen``: group A (very dangerous diseases: contacts traced, isolation) and dengue (the 2019 WHO
severity that the ICD-10 code gives: A97.0 without warning signs, A97.1 with warning signs, A97.2
severe). :func:`case_report_questionnaire` returns the resource; :func:`ensure_questionnaire` writes it
once per database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from senhealth.fhir.store import Gone, NotFound

if TYPE_CHECKING:
    from senhealth.fhir.store import FhirStore, StoreTx

__all__ = [
    "CASE_IDENTIFIER",
    "CLASSIFICATIONS",
    "CLASSIFICATION_SYSTEM",
    "DENGUE_SEVERITY",
    "DISEASE_SYSTEM",
    "OUTCOMES",
    "OUTCOME_SYSTEM",
    "QUESTIONNAIRE_ID",
    "QUESTIONNAIRE_URL",
    "SIGNAL_CATEGORY_SYSTEM",
    "case_report_questionnaire",
    "ensure_questionnaire",
]

BASE: Final = "https://senhealth.vn/fhir"
QUESTIONNAIRE_ID: Final = "notifiable-case-report"
QUESTIONNAIRE_URL: Final = f"{BASE}/Questionnaire/{QUESTIONNAIRE_ID}"
QUESTIONNAIRE_VERSION: Final = "1"
DISEASE_SYSTEM: Final = f"{BASE}/CodeSystem/notifiable-disease"
CLASSIFICATION_SYSTEM: Final = f"{BASE}/CodeSystem/case-classification"
OUTCOME_SYSTEM: Final = f"{BASE}/CodeSystem/case-outcome"
SIGNAL_CATEGORY_SYSTEM: Final = f"{BASE}/CodeSystem/event-signal"
CASE_IDENTIFIER: Final = f"{BASE}/sid/surveillance-case"

#: Classification, weakest first: (code, Vietnamese, English).
CLASSIFICATIONS: Final = (
    ("suspected", "Nghi ngờ", "Suspected"),
    ("probable", "Có thể", "Probable"),
    ("confirmed", "Xác định", "Confirmed"),
)
OUTCOMES: Final = (
    ("unknown", "Chưa rõ", "Unknown"),
    ("recovered", "Khỏi", "Recovered"),
    ("died", "Tử vong", "Died"),
)
DENGUE_SEVERITY: Final = {
    "A97.0": ("without-warning-signs", "Không có dấu hiệu cảnh báo", "Without warning signs"),
    "A97.1": ("with-warning-signs", "Có dấu hiệu cảnh báo", "With warning signs"),
    "A97.2": ("severe", "Nặng", "Severe"),
}


def _options(
    system: str, rows: tuple[tuple[str, str, str], ...] | list[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    return [{"valueCoding": {"system": system, "code": c, "display": vi}} for c, vi, _en in rows]


def _item(link_id: str, text: str, kind: str, **more: Any) -> dict[str, Any]:
    return {"linkId": link_id, "text": text, "type": kind, **more}


def case_report_questionnaire() -> dict[str, Any]:
    """The case report form (Vietnamese texts, English in the ``prefix``-free ``_text`` translation)."""
    items = [
        _item(
            "disease",
            "Bệnh / Disease",
            "choice",
            required=True,
            answerValueSet=f"{BASE}/ValueSet/notifiable-disease",
        ),
        _item("group", "Nhóm bệnh (A/B/C) / Group", "string", required=True, readOnly=True),
        _item("list", "Danh mục áp dụng / List in force", "string", readOnly=True),
        _item("icd10", "Mã ICD-10 / ICD-10 code", "choice", required=True),
        _item("onset", "Ngày khởi phát / Onset", "date"),
        _item("diagnosed", "Thời điểm chẩn đoán / Diagnosed", "dateTime", required=True),
        _item(
            "classification",
            "Phân loại ca bệnh / Classification",
            "choice",
            required=True,
            answerOption=_options(CLASSIFICATION_SYSTEM, CLASSIFICATIONS),
        ),
        _item(
            "outcome", "Kết quả điều trị / Outcome", "choice", answerOption=_options(OUTCOME_SYSTEM, OUTCOMES)
        ),
        _item("commune", "Xã/phường nơi cư trú / Commune of residence", "choice"),
        _item("deadline", "Hạn báo cáo / Reporting deadline", "dateTime", readOnly=True),
        _item("reported", "Thời điểm báo cáo / Reported", "dateTime"),
        _item("evidence", "Bằng chứng / Evidence", "reference", repeats=True, readOnly=True),
        _item(
            "group-a",
            "Bệnh nhóm A: điều tra ca bệnh / Group A: case investigation",
            "group",
            enableWhen=[{"question": "group", "operator": "=", "answerString": "A"}],
            item=[
                _item("group-a.contacts", "Số người tiếp xúc / Contacts traced", "integer"),
                _item("group-a.isolated", "Đã cách ly / Isolated", "boolean"),
            ],
        ),
        _item(
            "dengue",
            "Sốt xuất huyết Dengue / Dengue",
            "group",
            enableWhen=[
                {
                    "question": "disease",
                    "operator": "=",
                    "answerCoding": {"system": DISEASE_SYSTEM, "code": "dengue"},
                }
            ],
            item=[
                _item(
                    "dengue.severity",
                    "Mức độ (WHO 2009) / Severity",
                    "choice",
                    answerOption=_options(
                        f"{BASE}/CodeSystem/dengue-severity", list(DENGUE_SEVERITY.values())
                    ),
                )
            ],
        ),
    ]
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "NotifiableCaseReport",
        "title": "Báo cáo trường hợp bệnh truyền nhiễm / Notifiable disease case report",
        "status": "active",
        "subjectType": ["Patient"],
        "description": (
            "Individual case report of a notifiable infectious disease (Circular 54/2015/TT-BYT and the"
            " 2026 list that replaces it); filled automatically from the record, completed when reported."
        ),
        "item": items,
    }


async def ensure_questionnaire(store: FhirStore | StoreTx) -> None:
    """Write the case report form with its fixed id when the store does not hold it yet."""
    try:
        await store.read("Questionnaire", QUESTIONNAIRE_ID)
    except (NotFound, Gone):
        await store.update(case_report_questionnaire())
