"""The commune health worker's worklists: overdue, uncontrolled, tests missing.

Spec of the data read: https://hl7.org/fhir/R4/episodeofcare.html (the registry membership,
:mod:`.enrolment`), https://hl7.org/fhir/R4/encounter.html (visits), https://hl7.org/fhir/R4/observation.html
(results); search indexes: docs/search.md (``idx_reference`` for ``EpisodeOfCare.organization``,
``idx_date`` for ``Encounter.date`` and ``Observation.date``).

Each list is **one SQL statement** over the store: the station's open EpisodeOfCares found through the
reference index, then, per patient, lateral look-ups that stay inside the patient's partition
(``pkey``; co-located when sharded by patient). Definitions (the same as :mod:`.control`):

- ``overdue``: enrolled in hypertension, diabetes or COPD/asthma, and the last visit (an Encounter not
  planned, cancelled or in error; without one, the enrolment date) plus the registry's follow-up interval
  is before now;
- ``uncontrolled``: hypertension with the latest blood pressure ≥ 140 systolic or ≥ 90 diastolic;
  diabetes with the latest HbA1c ≥ 7 % (without any HbA1c: the latest fasting glucose ≥ 7.0 mmol/L);
- ``tests-missing``: diabetes without an HbA1c within ``hba1c_within_days`` (default 180).

Results are values only (no resources): :class:`WorklistItem`, sorted most urgent first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import VN_TZ, record_from_resources
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.registries.enrolment import OPEN_STATUSES
from senhealth.checkup.registries.rules import rule_for
from senhealth.core.errors import SenHealthError
from senhealth.fhir.store import FhirStore, content_from_text

__all__ = ["KINDS", "WorklistError", "WorklistItem", "WorklistKind", "worklist"]

WorklistKind = Literal["overdue", "uncontrolled", "tests-missing"]
KINDS: Final[tuple[WorklistKind, ...]] = ("overdue", "uncontrolled", "tests-missing")
FOLLOWED: Final = ("hypertension", "diabetes", "copd-asthma")
"""Registries with follow-up visits at the station (the screening cohorts are not in the overdue list)."""


class WorklistError(SenHealthError):
    """An unknown worklist kind or organisation reference: 400."""

    code = "invalid"
    status = 400


@dataclass(frozen=True, slots=True)
class WorklistItem:
    patient_id: str
    name: str
    phone: str | None
    registry: str
    kind: str
    reason_vi: str
    reason_en: str
    last_visit: datetime | None = None
    due: date | None = None
    values: dict[str, float] = field(default_factory=dict)
    """The values judged (``sbp``/``dbp``, ``hba1c`` or ``glucose``)."""


_ENROLLED = """
WITH typed AS (
    SELECT e.pkey, e.res_id AS episode_id, reg.code AS registry,
           (e.content->'period'->>'start') AS enrolled_on
    FROM idx_reference x
    JOIN fhir_resource e ON e.pkey = x.pkey AND e.rid = x.rid
    CROSS JOIN LATERAL (
        SELECT c->>'code' AS code
        FROM jsonb_array_elements(e.content->'type') t, jsonb_array_elements(t->'coding') c
        WHERE c->>'system' = %(registry_system)s LIMIT 1
    ) reg
    WHERE x.param_id = %(org_param)s AND x.target_type = 'Organization' AND x.target_id = %(org)s
      AND e.res_type = 'EpisodeOfCare' AND e.content->>'status' = ANY(%(open)s)
      AND reg.code = ANY(%(registries)s)
)
"""

_PATIENT = """
LEFT JOIN fhir_resource p ON p.pkey = t.pkey AND p.res_type = 'Patient' AND p.res_id = t.pkey
"""


def _latest(alias: str, loinc: str, columns: str, units: Sequence[str] | None = None) -> str:
    """A lateral sub-query: the patient's latest final Observation coded ``loinc``."""
    coding = f'[{{"system": "{codes.LOINC}", "code": "{loinc}"}}]'
    unit_filter = ""
    if units is not None:
        listed = ", ".join("'" + u.lower().replace("%", "%%") + "'" for u in units)
        unit_filter = f"AND lower(o.content->'valueQuantity'->>'code') IN ({listed})"
    return f"""
LEFT JOIN LATERAL (
    SELECT d.low AS at, {columns}
    FROM fhir_resource o
    JOIN idx_date d ON d.pkey = o.pkey AND d.rid = o.rid AND d.param_id = %(obs_date)s
    WHERE o.pkey = t.pkey AND o.res_type = 'Observation' AND o.content->>'status' = ANY(%(final)s)
      AND o.content->'code'->'coding' @> '{coding}'::jsonb {unit_filter}
    ORDER BY d.low DESC, o.res_id DESC LIMIT 1
) {alias} ON true
"""


_VISIT = """
LEFT JOIN LATERAL (
    SELECT max(d.low) AS at
    FROM fhir_resource v
    JOIN idx_date d ON d.pkey = v.pkey AND d.rid = v.rid AND d.param_id = %(enc_date)s
    WHERE v.pkey = t.pkey AND v.res_type = 'Encounter'
      AND coalesce(v.content->>'status', '') <> ALL(%(not_visits)s)
) lv ON true
"""

_COMPONENT = (
    "(jsonb_path_query_first(o.content, "
    "'$.component[*] ? (@.code.coding[*].code == \"{code}\").valueQuantity.value'))::text::numeric"
)
_A1C = (
    "CASE WHEN o.content->'valueQuantity'->>'code' = '%%' THEN (o.content->'valueQuantity'->>'value')::numeric "
    "ELSE (o.content->'valueQuantity'->>'value')::numeric / 10.929 + 2.15 END AS value"
)
_GLUCOSE = (
    "CASE WHEN lower(o.content->'valueQuantity'->>'code') = 'mg/dl' "
    f"THEN (o.content->'valueQuantity'->>'value')::numeric / {codes.MG_DL_PER_MMOL_L_GLUCOSE} "
    "ELSE (o.content->'valueQuantity'->>'value')::numeric END AS value"
)


def _overdue_sql() -> str:
    return (
        _ENROLLED
        + """
SELECT t.pkey, t.registry, p.content::text, lv.at,
       coalesce(lv.at, t.enrolled_on::date::timestamptz) + make_interval(days => i.days) AS due
FROM typed t
JOIN unnest(%(registries)s::text[], %(days)s::int[]) AS i(registry, days) ON i.registry = t.registry
"""
        + _VISIT
        + _PATIENT
        + """
WHERE coalesce(lv.at, t.enrolled_on::date::timestamptz) + make_interval(days => i.days) < %(now)s
ORDER BY due, t.pkey, t.registry
"""
    )


def _uncontrolled_sql() -> str:
    bp_columns = (
        _COMPONENT.format(code=codes.SYSTOLIC)
        + " AS sbp, "
        + _COMPONENT.format(code=codes.DIASTOLIC)
        + " AS dbp"
    )
    return (
        _ENROLLED
        + """
SELECT t.pkey, t.registry, p.content::text, lv.at, bp.sbp, bp.dbp, a1c.value, glu.value
FROM typed t
"""
        + _VISIT
        + _PATIENT
        + _latest("bp", codes.BP_PANEL, bp_columns)
        + _latest("a1c", codes.HBA1C, _A1C, ("%", "mmol/mol"))
        + _latest("glu", codes.FASTING_GLUCOSE, _GLUCOSE, ("mmol/L", "mg/dL"))
        + """
WHERE (t.registry = 'hypertension' AND (bp.sbp >= 140 OR bp.dbp >= 90))
   OR (t.registry = 'diabetes' AND CASE WHEN a1c.value IS NOT NULL THEN a1c.value >= 7
                                        ELSE glu.value >= 7.0 END)
ORDER BY t.registry, coalesce(bp.sbp, a1c.value, glu.value) DESC, t.pkey
"""
    )


def _missing_sql() -> str:
    return (
        _ENROLLED
        + """
SELECT t.pkey, t.registry, p.content::text, lv.at, a1c.at
FROM typed t
"""
        + _VISIT
        + _PATIENT
        + _latest("a1c", codes.HBA1C, "1 AS one", ("%", "mmol/mol"))
        + """
WHERE t.registry = 'diabetes' AND (a1c.at IS NULL OR a1c.at < %(since)s)
ORDER BY a1c.at NULLS FIRST, t.pkey
"""
    )


def _contact(patient_id: str, text: str | None) -> tuple[str, str | None]:
    if text is None:
        return "", None
    record = record_from_resources(patient_id, [("Patient", patient_id, content_from_text(text))])
    return record.name, record.phone


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _label(registry: str) -> tuple[str, str]:
    rule = rule_for(registry)
    return rule.label_vi, rule.label_en


async def worklist(
    store: FhirStore, organization_id: str, kind: str, *, now: datetime | None = None
) -> list[WorklistItem]:
    """The worklist ``kind`` (:data:`KINDS`) of the station ``organization_id`` (``Organization/<id>`` or
    the bare id), at ``now`` (default: the current time)."""
    if kind not in KINDS:
        raise WorklistError(f"danh sách không hợp lệ / unknown worklist {kind!r}: one of {', '.join(KINDS)}")
    org = organization_id.removeprefix("Organization/")
    if not org or "/" in org:
        raise WorklistError(f"tổ chức không hợp lệ / invalid organization reference {organization_id!r}")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    config = get_config()
    ids = await store.param_ids()
    params: dict[str, Any] = {
        "registry_system": codes.REGISTRY_SYSTEM,
        "org_param": ids[("EpisodeOfCare", "organization")],
        "enc_date": ids[("Encounter", "date")],
        "obs_date": ids[("Observation", "date")],
        "org": org,
        "open": list(OPEN_STATUSES),
        "final": sorted(codes.FINAL_STATUSES),
        "not_visits": ["planned", "cancelled", "entered-in-error"],
        "now": at,
    }
    items: list[WorklistItem] = []
    async with store.pool.connection() as conn:
        if kind == "overdue":
            params["registries"] = list(FOLLOWED)
            params["days"] = [config.follow_up_days(r) for r in FOLLOWED]
            cur = await conn.execute(_overdue_sql(), params)
            for pid, registry, text, last, due in await cur.fetchall():
                name, phone = _contact(pid, text)
                label_vi, label_en = _label(registry)
                due_day = _aware(due)
                assert due_day is not None
                days = (at - due_day).days
                items.append(
                    WorklistItem(
                        pid,
                        name,
                        phone,
                        registry,
                        kind,
                        f"{label_vi}: quá hạn khám lại {days} ngày",
                        f"{label_en}: follow-up visit overdue by {days} days",
                        _aware(last),
                        due_day.astimezone(VN_TZ).date(),
                    )
                )
        elif kind == "uncontrolled":
            params["registries"] = ["hypertension", "diabetes"]
            cur = await conn.execute(_uncontrolled_sql(), params)
            for pid, registry, text, last, sbp, dbp, a1c, glucose in await cur.fetchall():
                name, phone = _contact(pid, text)
                label_vi, label_en = _label(registry)
                if registry == "hypertension":
                    values = {"sbp": float(sbp), "dbp": float(dbp)}
                    vi = f"huyết áp lần đo gần nhất {sbp:.0f}/{dbp:.0f} mmHg (mục tiêu < 140/90)"
                    en = f"latest blood pressure {sbp:.0f}/{dbp:.0f} mmHg (target < 140/90)"
                elif a1c is not None:
                    values = {"hba1c": round(float(a1c), 2)}
                    vi = f"HbA1c gần nhất {float(a1c):.1f} % (mục tiêu < 7 %)"
                    en = f"latest HbA1c {float(a1c):.1f}% (target < 7%)"
                else:
                    values = {"glucose": round(float(glucose), 2)}
                    vi = f"glucose lúc đói gần nhất {float(glucose):.1f} mmol/L (mục tiêu < 7,0)"
                    en = f"latest fasting glucose {float(glucose):.1f} mmol/L (target < 7.0)"
                items.append(
                    WorklistItem(
                        pid,
                        name,
                        phone,
                        registry,
                        kind,
                        f"{label_vi}: {vi}",
                        f"{label_en}: {en}",
                        _aware(last),
                        values=values,
                    )
                )
        else:
            params["registries"] = ["diabetes"]
            params["since"] = at - timedelta(days=config.hba1c_within_days)
            cur = await conn.execute(_missing_sql(), params)
            for pid, registry, text, last, tested in await cur.fetchall():
                name, phone = _contact(pid, text)
                label_vi, label_en = _label(registry)
                when = _aware(tested)
                n = config.hba1c_within_days
                vi = f"không có kết quả HbA1c trong {n} ngày qua"
                en = f"no HbA1c within {n} days"
                if when is not None:
                    vi += f" (lần gần nhất ngày {when.astimezone(VN_TZ):%d/%m/%Y})"
                    en += f" (latest on {when.astimezone(VN_TZ):%Y-%m-%d})"
                items.append(
                    WorklistItem(
                        pid,
                        name,
                        phone,
                        registry,
                        kind,
                        f"{label_vi}: {vi}",
                        f"{label_en}: {en}",
                        _aware(last),
                    )
                )
    return items
