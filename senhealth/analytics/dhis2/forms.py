"""Aggregate forms (one data set × period × facility) stored as FHIR MeasureReports, with an approval workflow.

Spec: MeasureReport https://hl7.org/fhir/R4/measurereport.html (``type`` ``summary``: the invariant mrp-1
forbids groups in a ``data-collection`` report, and a form's numbers are per-group counts); DHIS2 data approval
https://docs.dhis2.org/en/use/user-guides/dhis-core-version-master/collecting-data/data-approval.html.
DESIGN.md §1: aggregate reports are Measure / MeasureReport in the store, not private tables.

- One MeasureReport per form, id ``uuid5(data set | period | facility code)`` (so a form is read by id,
  and two writers of the same form meet on one resource: ``If-Match`` on the version), ``measure`` the
  data set's canonical URL ``|version``, ``reporter`` the facility, ``period`` the period's days;
- one ``group`` per data element (code in ``https://senhealth.vn/fhir/CodeSystem/dhis2-data-element``),
  its total in ``population[0].count`` and one ``stratifier.stratum`` per category option combo;
- the workflow state in ``meta.tag`` (``https://senhealth.vn/fhir/CodeSystem/dhis2-approval``) and its
  steps (who, when, why) in the extension ``.../dhis2-workflow``; ``status`` ``pending`` until approved,
  then ``complete``. Every step is a new version: the resource's history is the audit trail.

States: ``draft`` (values may be entered) → ``submitted`` (the facility's completion; refused while a
HIGH-importance validation rule fails) → ``approved`` (the province) → ``accepted`` (the Ministry's level,
optional). ``return`` sends a submitted, approved or accepted form back to ``draft`` with a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from senhealth.core.errors import SenHealthError
from senhealth.fhir.store import FhirStore, NotFound

from ..indicators.period import Period
from .model import DataSet
from .validation import Violation, validate

__all__ = [
    "ACTIONS",
    "APPROVAL_SYSTEM",
    "STATES",
    "Action",
    "Facility",
    "Form",
    "FormConflict",
    "FormInvalid",
    "FormNotFound",
    "State",
    "facility_of",
    "form_id",
    "get_form",
    "province_facilities",
    "save_values",
    "transition",
]

State = Literal["draft", "submitted", "approved", "accepted"]
Action = Literal["submit", "approve", "accept", "return"]
STATES: Final = ("draft", "submitted", "approved", "accepted")
ACTIONS: Final = ("submit", "approve", "accept", "return")
APPROVAL_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/dhis2-approval"
ELEMENT_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/dhis2-data-element"
COMBO_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/dhis2-category-option-combo"
WORKFLOW_URL: Final = "https://senhealth.vn/fhir/StructureDefinition/dhis2-workflow"
FACILITY_SYSTEM: Final = "https://senhealth.vn/fhir/sid/facility"
_NS: Final = uuid.UUID("6f1c1c84-2d0e-4f4c-9d55-0d1f6a1a0b11")

_MOVES: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    "submit": (("draft",), "submitted"),
    "approve": (("submitted",), "approved"),
    "accept": (("approved",), "accepted"),
    "return": (("submitted", "approved", "accepted"), "draft"),
}


class FormNotFound(SenHealthError):
    code = "not-found"
    status = 404


class FormConflict(SenHealthError):
    code = "conflict"
    status = 409


class FormInvalid(SenHealthError):
    code = "invalid"
    status = 400

    def __init__(self, message: str, violations: list[Violation] | None = None) -> None:
        super().__init__(message)
        self.violations = violations or []


@dataclass(frozen=True, slots=True)
class Facility:
    organization_id: str
    code: str
    name: str
    province: str


@dataclass(slots=True)
class Form:
    data_set: DataSet
    period: Period
    facility: Facility
    state: State = "draft"
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    version: int = 0
    last_updated: datetime | None = None
    steps: list[dict[str, str]] = field(default_factory=list)
    """The workflow's steps: ``{"action", "by", "at", "reason"?}``, oldest first."""

    @property
    def id(self) -> str:
        return form_id(self.data_set, self.period, self.facility.code)

    @property
    def completed_at(self) -> str | None:
        """When it was last submitted (DHIS2's completeDate)."""
        done = [s["at"] for s in self.steps if s["action"] == "submit"]
        return done[-1] if done else None

    @property
    def due(self) -> date:
        """The last timely day: the period's end + the data set's ``timelyDays``."""
        return self.period.end + timedelta(days=self.data_set.timely_days - 1)

    def violations(self) -> list[Violation]:
        return validate(self.data_set, self.values)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataSet": self.data_set.code,
            "period": self.period.id,
            "orgUnit": self.facility.code,
            "state": self.state,
            "version": self.version,
            "completeDate": self.completed_at,
            "due": self.due.isoformat(),
            "steps": self.steps,
            "values": [
                {"dataElement": de, "categoryOptionCombo": coc, "value": _text(v)}
                for (de, coc), v in sorted(self.values.items())
            ],
            "violations": [v.to_json() for v in self.violations()],
        }


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def form_id(data_set: DataSet, period: Period, facility_code: str) -> str:
    return str(uuid.uuid5(_NS, f"{data_set.code}|{period.id}|{facility_code}"))


_ORG_SQL: Final = """
SELECT res_id, content->>'name',
       jsonb_path_query_first(content, '$.identifier[*] ? (@.system == "https://senhealth.vn/fhir/sid/facility").value') #>> '{}',
       jsonb_path_query_first(content, '$.address[0].extension[*].extension[*] ? (@.url == "province").valueCoding.code') #>> '{}'
FROM fhir_resource WHERE res_type = 'Organization' AND {where}
ORDER BY 3
"""


async def facility_of(store: FhirStore, code: str) -> Facility:
    """The facility (Organization with ``https://senhealth.vn/fhir/sid/facility|code``); FormNotFound otherwise."""
    statement = _ORG_SQL.replace("{where}", "content->'identifier' @> %s::jsonb")
    import orjson

    async with store.pool.connection() as conn:
        cur = await conn.execute(
            statement.encode(), (orjson.dumps([{"system": FACILITY_SYSTEM, "value": code}]).decode(),)
        )
        row = await cur.fetchone()
    if row is None:
        raise FormNotFound(f"không có cơ sở mã {code!r} / no facility with code {code!r}", "orgUnit")
    return Facility(str(row[0]), str(row[2] or code), str(row[1] or ""), str(row[3] or ""))


async def province_facilities(store: FhirStore, province: str) -> list[Facility]:
    """The facilities (with a facility code) whose address is in ``province``, by code."""
    statement = _ORG_SQL.replace(
        "{where}",
        "content->'identifier' @> '[{\"system\": \"https://senhealth.vn/fhir/sid/facility\"}]'::jsonb"
        ' AND jsonb_path_query_first(content, \'$.address[0].extension[*].extension[*] ? (@.url == "province")'
        ".valueCoding.code') #>> '{}' = %s",
    )
    async with store.pool.connection() as conn:
        cur = await conn.execute(statement.encode(), (province,))
        rows = await cur.fetchall()
    return [Facility(str(r[0]), str(r[2]), str(r[1] or ""), str(r[3] or "")) for r in rows]


def _from_resource(data_set: DataSet, period: Period, facility: Facility, content: Mapping[str, Any]) -> Form:
    state: State = "draft"
    for tag in content.get("meta", {}).get("tag", []):
        if tag.get("system") == APPROVAL_SYSTEM and tag.get("code") in STATES:
            state = tag["code"]
    values: dict[tuple[str, str], float] = {}
    for group in content.get("group", []):
        element = group["code"]["coding"][0]["code"]
        for stratifier in group.get("stratifier", []):
            for stratum in stratifier.get("stratum", []):
                combo = stratum["value"]["coding"][0]["code"]
                values[(element, combo)] = float(stratum["population"][0]["count"])
    steps = []
    for ext in content.get("extension", []):
        if ext.get("url") == WORKFLOW_URL:
            step = {
                e["url"]: e.get("valueString") or e.get("valueDateTime") or e.get("valueCode")
                for e in ext["extension"]
            }
            steps.append({k: str(v) for k, v in step.items() if v is not None})
    meta = content.get("meta", {})
    updated = meta.get("lastUpdated")
    return Form(
        data_set,
        period,
        facility,
        state,
        values,
        int(meta.get("versionId", 0)),
        datetime.fromisoformat(updated) if updated else None,
        steps,
    )


def _to_resource(form: Form) -> dict[str, Any]:
    ds = form.data_set
    groups = []
    for element in ds.elements:
        present = [
            (c, form.values[(element.code, c)])
            for c in element.combo_codes
            if (element.code, c) in form.values
        ]
        if not present:
            continue
        groups.append(
            {
                "code": {
                    "coding": [{"system": ELEMENT_SYSTEM, "code": element.code, "display": element.name_vi}]
                },
                "population": [{"count": int(sum(v for _, v in present))}],
                "stratifier": [
                    {
                        "code": [{"text": "categoryOptionCombo"}],
                        "stratum": [
                            {
                                "value": {"coding": [{"system": COMBO_SYSTEM, "code": c}]},
                                "population": [{"count": int(v)}],
                            }
                            for c, v in present
                        ],
                    }
                ],
            }
        )
    last = (form.period.end - timedelta(days=1)).isoformat()
    resource: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": form.id,
        "meta": {"tag": [{"system": APPROVAL_SYSTEM, "code": form.state}]},
        "identifier": [
            {
                "system": "https://senhealth.vn/fhir/sid/dhis2-form",
                "value": f"{ds.code}/{form.period.id}/{form.facility.code}",
            }
        ],
        "status": "complete" if form.state in ("approved", "accepted") else "pending",
        "type": "summary",
        "measure": f"{ds.measure_url}|{ds.version}",
        "date": datetime.now(UTC).isoformat(),
        "reporter": {
            "reference": f"Organization/{form.facility.organization_id}",
            "display": form.facility.name,
        },
        "period": {"start": form.period.start.isoformat(), "end": last},
    }
    if groups:
        resource["group"] = groups
    if form.steps:
        resource["extension"] = [
            {
                "url": WORKFLOW_URL,
                "extension": [
                    {"url": k, "valueDateTime" if k == "at" else "valueString": v} for k, v in step.items()
                ],
            }
            for step in form.steps
        ]
    return resource


async def get_form(store: FhirStore, data_set: DataSet, period: Period, facility: Facility) -> Form:
    """The stored form, or a new empty draft (version 0) when none was saved."""
    try:
        stored = await store.read("MeasureReport", form_id(data_set, period, facility.code))
    except NotFound:
        return Form(data_set, period, facility)
    assert stored.content is not None
    return _from_resource(data_set, period, facility, stored.content)


def _check_values(data_set: DataSet, values: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], float]:
    out = {}
    for (element, combo), raw in values.items():
        try:
            de = data_set.element(element)
        except KeyError:
            raise FormInvalid(
                f"{data_set.code} không có chỉ tiêu {element!r} / no data element {element!r}"
            ) from None
        if combo not in de.combo_codes:
            raise FormInvalid(f"{element}: không có {combo!r} / no category option combo {combo!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise FormInvalid(f"{element}.{combo}: giá trị không phải số / not a number: {raw!r}") from None
        if de.value_type == "INTEGER_ZERO_OR_POSITIVE" and (number < 0 or not number.is_integer()):
            raise FormInvalid(f"{element}.{combo}: phải là số nguyên ≥ 0 / must be an integer ≥ 0: {raw!r}")
        out[(element, combo)] = number
    return out


async def _write(store: FhirStore, form: Form) -> Form:
    try:
        stored, _ = await store.update(_to_resource(form), if_match=form.version or None)
    except Exception as exc:  # a concurrent writer moved the form on
        from senhealth.fhir.store import VersionConflict

        if isinstance(exc, VersionConflict):
            raise FormConflict(
                "biểu mẫu vừa được người khác sửa / the form was changed meanwhile: reload"
            ) from None
        raise
    assert stored.content is not None
    return _from_resource(form.data_set, form.period, form.facility, stored.content)


async def save_values(
    store: FhirStore,
    data_set: DataSet,
    period: Period,
    facility: Facility,
    values: Mapping[tuple[str, str], Any],
    *,
    replace: bool = False,
) -> Form:
    """Enter ``values`` into the form (merged with the saved ones, or replacing them); only in ``draft``."""
    checked = _check_values(data_set, values)
    form = await get_form(store, data_set, period, facility)
    if form.state != "draft":
        raise FormConflict(
            f"biểu mẫu đang ở trạng thái {form.state} / the form is {form.state}: return it to draft first"
        )
    form.values = checked if replace else {**form.values, **checked}
    return await _write(store, form)


async def transition(
    store: FhirStore,
    data_set: DataSet,
    period: Period,
    facility: Facility,
    action: str,
    *,
    by: str,
    reason: str | None = None,
) -> Form:
    """Move the form through the workflow (module docstring); FormConflict for a move its state forbids,
    FormInvalid when submitting a form that breaks a HIGH-importance rule (the violations attached)."""
    if action not in _MOVES:
        raise FormInvalid(f"thao tác không hợp lệ / unknown action {action!r}: one of {', '.join(ACTIONS)}")
    sources, target = _MOVES[action]
    form = await get_form(store, data_set, period, facility)
    if form.version == 0:
        raise FormNotFound("chưa có số liệu cho biểu mẫu này / no values were entered for this form")
    if form.state not in sources:
        raise FormConflict(
            f"không thể {action} biểu mẫu ở trạng thái {form.state} / cannot {action} a {form.state} form"
        )
    if action == "submit":
        blocking = [v for v in form.violations() if v.rule.importance == "HIGH"]
        if blocking:
            names = ", ".join(v.rule.code for v in blocking)
            raise FormInvalid(f"vi phạm quy tắc kiểm tra / validation rules fail: {names}", blocking)
    if action == "return" and not (reason or "").strip():
        raise FormInvalid("cần ghi lý do trả lại / a reason is required to return a form")
    step = {"action": action, "by": by, "at": datetime.now(UTC).isoformat()}
    if reason:
        step["reason"] = reason.strip()
    form.steps.append(step)
    form.state = target  # type: ignore[assignment]
    return await _write(store, form)
