"""A case report: its row in the case index and the FHIR QuestionnaireResponse rendered from it.

Spec: https://hl7.org/fhir/R4/questionnaireresponse.html (``status``: ``in-progress`` while detected but
not yet reported, ``completed`` once reported, ``entered-in-error`` when merged into another case or
withdrawn; ``subject``: the Patient; ``authored``: when the case was detected; ``identifier``: the case
id). The form: :func:`senhealth.surveillance.notifiable.forms.case_report_questionnaire`.

The QuestionnaireResponse is the record (in the patient's compartment, with its history, audited like any
resource); the row of ``surveillance_case`` is its index for line lists and series (migration 0021). Both
are written together, in one transaction, by :mod:`.detect` and :mod:`.actions`; the resource is a pure
function of the row (:func:`render`), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.terminology import icd10_vn
from senhealth.surveillance.cases.evidence import VN_TZ
from senhealth.surveillance.notifiable import forms
from senhealth.surveillance.notifiable.lists import list_by_id
from senhealth.surveillance.series.counts import Counted

__all__ = ["COLUMNS", "CaseRow", "load_rows", "render", "upsert_row"]

COLUMNS: Final = (
    "case_id", "disease", "list_id", "disease_group", "icd10", "patient_id", "patients", "province",
    "commune", "onset_date", "case_date", "first_evidence", "last_evidence", "diagnosed_at", "detected_at",
    "deadline", "deadline_at", "reported_at", "classification", "outcome", "outcome_manual", "status",
    "merged_into", "evidence",
)  # fmt: skip
_COMMUNE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
_DENGUE_SEVERITY_SYSTEM: Final = f"{forms.BASE}/CodeSystem/dengue-severity"


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_id: str
    disease: str
    list_id: str
    disease_group: str
    icd10: str
    patient_id: str
    patients: tuple[str, ...]
    province: str
    commune: str
    onset_date: date | None
    case_date: date
    first_evidence: date
    last_evidence: date
    diagnosed_at: datetime
    detected_at: datetime
    deadline: str
    deadline_at: datetime
    reported_at: datetime | None
    classification: str
    outcome: str
    outcome_manual: bool = False
    status: str = "active"
    merged_into: str | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)

    def counted(self) -> Counted | None:
        """What the case adds to the series (None unless active)."""
        if self.status != "active":
            return None
        return Counted(
            self.disease, self.province, self.commune, self.case_date,
            self.classification == "confirmed", self.outcome == "died",
        )  # fmt: skip

    def with_(self, **changes: Any) -> CaseRow:
        return replace(self, **changes)


def _row(values: tuple[Any, ...]) -> CaseRow:
    d = dict(zip(COLUMNS, values, strict=True))
    d["patients"] = tuple(d["patients"])
    d["evidence"] = tuple(d["evidence"])
    return CaseRow(**d)


async def load_rows(conn: AsyncConnection[TupleRow], where: str, params: tuple[Any, ...]) -> list[CaseRow]:
    """Index rows matching ``where`` (a fixed SQL condition of this package), locked for update."""
    cur = await conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM surveillance_case WHERE {where} ORDER BY detected_at, case_id FOR UPDATE",
        params,
    )
    return [_row(r) for r in await cur.fetchall()]


_UPSERT: Final = (
    f"INSERT INTO surveillance_case ({', '.join(COLUMNS)}, updated_at) VALUES ({', '.join(['%s'] * len(COLUMNS))}, now()) "
    f"ON CONFLICT (case_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in COLUMNS[1:])}, updated_at = now()"
)


async def upsert_row(conn: AsyncConnection[TupleRow], row: CaseRow) -> None:
    values = [getattr(row, c) for c in COLUMNS]
    values[COLUMNS.index("patients")] = list(row.patients)
    values[COLUMNS.index("evidence")] = list(row.evidence)
    await conn.execute(_UPSERT, values)


def _coding_answer(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"valueCoding": coding}


def _instant(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).isoformat(timespec="seconds")


def _answer(link_id: str, text: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"linkId": link_id, "text": text, "answer": answers}


def render(row: CaseRow) -> dict[str, Any]:
    """The QuestionnaireResponse of ``row``."""
    lst = list_by_id(row.list_id)
    disease = lst.diseases.get(row.disease) if lst else None
    name = disease.name_vi if disease else row.disease
    classes = {c: vi for c, vi, _ in forms.CLASSIFICATIONS}
    outcomes = {c: vi for c, vi, _ in forms.OUTCOMES}
    items = [
        _answer("disease", "Bệnh", [_coding_answer(forms.DISEASE_SYSTEM, row.disease, name)]),
        _answer("group", "Nhóm bệnh", [{"valueString": row.disease_group}]),
        _answer("list", "Danh mục áp dụng", [{"valueString": row.list_id}]),
    ]
    if row.icd10:
        items.append(_answer("icd10", "Mã ICD-10", [_coding_answer(icd10_vn.SYSTEM, row.icd10)]))
    if row.onset_date:
        items.append(_answer("onset", "Ngày khởi phát", [{"valueDate": row.onset_date.isoformat()}]))
    items += [
        _answer("diagnosed", "Thời điểm chẩn đoán", [{"valueDateTime": _instant(row.diagnosed_at)}]),
        _answer(
            "classification",
            "Phân loại ca bệnh",
            [_coding_answer(forms.CLASSIFICATION_SYSTEM, row.classification, classes[row.classification])],
        ),
        _answer(
            "outcome",
            "Kết quả điều trị",
            [_coding_answer(forms.OUTCOME_SYSTEM, row.outcome, outcomes[row.outcome])],
        ),
    ]
    if row.commune:
        items.append(
            _answer("commune", "Xã/phường nơi cư trú", [_coding_answer(_COMMUNE_SYSTEM, row.commune)])
        )
    items.append(_answer("deadline", "Hạn báo cáo", [{"valueDateTime": _instant(row.deadline_at)}]))
    if row.reported_at:
        items.append(_answer("reported", "Thời điểm báo cáo", [{"valueDateTime": _instant(row.reported_at)}]))
    if row.evidence:
        items.append(
            _answer("evidence", "Bằng chứng", [{"valueReference": {"reference": r}} for r in row.evidence])
        )
    severity = forms.DENGUE_SEVERITY.get(row.icd10) if row.disease == "dengue" else None
    if severity:
        code, vi, _en = severity
        sub = _answer("dengue.severity", "Mức độ", [_coding_answer(_DENGUE_SEVERITY_SYSTEM, code, vi)])
        items.append({"linkId": "dengue", "text": "Sốt xuất huyết Dengue", "item": [sub]})
    if row.status == "active":
        status = "completed" if row.reported_at else "in-progress"
    else:
        status = "entered-in-error"
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": row.case_id,
        "identifier": {"system": forms.CASE_IDENTIFIER, "value": row.case_id},
        "questionnaire": f"{forms.QUESTIONNAIRE_URL}|{forms.QUESTIONNAIRE_VERSION}",
        "status": status,
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "authored": _instant(row.detected_at),
        "item": items,
    }
    if row.merged_into:
        out["extension"] = [
            {
                "url": f"{forms.BASE}/StructureDefinition/case-merged-into",
                "valueReference": {"reference": f"QuestionnaireResponse/{row.merged_into}"},
            }
        ]
    return out
