"""Line lists: one line per case of a disease (and the event-based signals beside them), filterable by
commune, province, period and classification, as plain JSON (no FHIR) for pages, exports and the CDC.

Spec: a line list is the table epidemiologists work from, one row per case with person, place and time
(WHO, "Outbreak investigation": line listing). Here a line carries the case id (the QuestionnaireResponse
id), the disease with its names and group, the ICD-10 code, the patient id, the commune and province
codes, the onset and case dates with its ISO week, the diagnosis, detection, deadline and report times,
``late`` (reported after the deadline) and ``overdue`` (not reported and past the deadline at ``now``),
classification, outcome and the evidence references. The period filters the case date (onset, else the
first evidence); dates are Viet Nam dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.surveillance.cases.evidence import VN_TZ
from senhealth.surveillance.cases.record import COLUMNS, CaseRow
from senhealth.surveillance.cases.signals import signal_list
from senhealth.surveillance.notifiable.lists import list_by_id
from senhealth.surveillance.series.counts import iso_label

__all__ = ["line", "line_list", "line_list_with_signals"]


def _instant(moment: datetime | None) -> str | None:
    return moment.astimezone(VN_TZ).isoformat(timespec="seconds") if moment else None


def line(row: CaseRow, *, now: datetime | None = None, lang: str = "vi") -> dict[str, Any]:
    """One case as a line-list entry."""
    moment = now or datetime.now(UTC)
    lst = list_by_id(row.list_id)
    disease = lst.diseases.get(row.disease) if lst else None
    late = row.reported_at is not None and row.reported_at > row.deadline_at
    return {
        "type": "case",
        "caseId": row.case_id,
        "disease": row.disease,
        "diseaseName": disease.name(lang) if disease else row.disease,
        "group": row.disease_group,
        "list": row.list_id,
        "icd10": row.icd10,
        "patient": row.patient_id,
        "patients": list(row.patients),
        "province": row.province,
        "commune": row.commune,
        "onset": row.onset_date.isoformat() if row.onset_date else None,
        "caseDate": row.case_date.isoformat(),
        "isoWeek": iso_label(row.case_date),
        "diagnosed": _instant(row.diagnosed_at),
        "detected": _instant(row.detected_at),
        "deadline": row.deadline,
        "deadlineAt": _instant(row.deadline_at),
        "reported": _instant(row.reported_at),
        "late": late,
        "overdue": row.reported_at is None and moment > row.deadline_at,
        "classification": row.classification,
        "outcome": row.outcome,
        "status": row.status,
        "evidence": list(row.evidence),
    }


async def line_list(
    conn: AsyncConnection[TupleRow],
    disease: str | None = None,
    *,
    commune: str | None = None,
    province: str | None = None,
    start: date | None = None,
    end: date | None = None,
    classification: str | list[str] | None = None,
    include_inactive: bool = False,
    now: datetime | None = None,
    lang: str = "vi",
) -> list[dict[str, Any]]:
    """The cases of ``disease`` (None: every disease) matching the filters, by case date then detection."""
    classes = [classification] if isinstance(classification, str) else classification
    cur = await conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM surveillance_case WHERE (%(d)s::text IS NULL OR disease = %(d)s)"
        " AND (%(c)s::text IS NULL OR commune = %(c)s) AND (%(p)s::text IS NULL OR province = %(p)s)"
        " AND (%(s)s::date IS NULL OR case_date >= %(s)s) AND (%(e)s::date IS NULL OR case_date <= %(e)s)"
        " AND (%(k)s::text[] IS NULL OR classification = ANY(%(k)s)) AND (%(all)s OR status = 'active')"
        " ORDER BY case_date, detected_at, case_id",
        {
            "d": disease,
            "c": commune,
            "p": province,
            "s": start,
            "e": end,
            "k": classes,
            "all": include_inactive,
        },
    )
    rows = await cur.fetchall()
    out = []
    for values in rows:
        d = dict(zip(COLUMNS, values, strict=True))
        d["patients"], d["evidence"] = tuple(d["patients"]), tuple(d["evidence"])
        out.append(line(CaseRow(**d), now=now, lang=lang))
    return out


async def line_list_with_signals(
    conn: AsyncConnection[TupleRow],
    disease: str | None = None,
    *,
    commune: str | None = None,
    province: str | None = None,
    start: date | None = None,
    end: date | None = None,
    classification: str | list[str] | None = None,
    now: datetime | None = None,
    lang: str = "vi",
) -> dict[str, list[dict[str, Any]]]:
    """``{"cases": [...], "signals": [...]}``: the line list and the signals of the same place and period
    (signals naming another disease are left out; those naming none are kept)."""
    cases = await line_list(
        conn, disease, commune=commune, province=province, start=start, end=end,
        classification=classification, now=now, lang=lang,
    )  # fmt: skip
    found = await signal_list(conn, commune=commune, province=province, start=start, end=end, disease=disease)
    return {"cases": cases, "signals": [s.as_json(lang) for s in found]}
