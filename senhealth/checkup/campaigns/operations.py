"""The campaign operations: ``$plan-checkups`` and ``$checkup-coverage``.

Spec: https://hl7.org/fhir/R4/operations.html. Both are the project's own (OperationDefinitions
``https://senhealth.vn/fhir/OperationDefinition/plan-checkups`` and ``.../checkup-coverage``).

``POST [base]/$plan-checkups`` (every station, or those named) and ``POST [base]/Organization/[id]/$plan-checkups``
(one commune health station), Parameters in:

- ``year`` (integer, required); ``commune`` (string, repeating; system level only): commune codes or
  Organization ids; ``capacityPerDay`` (integer, default 40); ``start`` (date: the first day);
  ``holiday`` (date, repeating); ``remoteCommune`` (string, repeating): commune codes of remote communes;
  ``persist`` (boolean, default true): write the Group, CarePlan and Appointments.

Out: Parameters with ``year``, ``capacityPerDay``, ``target``, ``covered``, ``invited`` and one
``commune`` part per station (``code``, ``name``, ``organization``, ``carePlan``, ``target``, ``covered``,
``invited``, ``unscheduled``, ``kept``, ``firstDay``, ``lastDay``, and a ``month`` part per month with its
``count``). The invitation list itself is the Appointments:
``GET [base]/Appointment?supporting-info=CarePlan/[id]&_sort=date``.

``GET|POST [base]/$checkup-coverage?year=2026[&commune=...][&remoteCommune=...]``: the coverage as a summary
MeasureReport (:func:`senhealth.checkup.campaigns.coverage.coverage_report`).

Who may: planning reads patients and writes appointments, so it needs those rights; a caller limited to
some facilities (a commune health worker) plans and counts only their own stations. Coverage counts no
one by name: de-identified callers (data analysts) may read it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from senhealth.checkup.campaigns.coverage import coverage, coverage_report
from senhealth.checkup.campaigns.plan import DEFAULT_CAPACITY, CampaignPlan, plan_campaign
from senhealth.fhir.access import OPEN, Action, access_policy
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)

__all__ = [
    "CHECKUP_COVERAGE",
    "PLAN_CHECKUPS",
    "register_campaign_operations",
    "unregister_campaign_operations",
]

PLAN_CHECKUPS: Final = "https://senhealth.vn/fhir/OperationDefinition/plan-checkups"
CHECKUP_COVERAGE: Final = "https://senhealth.vn/fhir/OperationDefinition/checkup-coverage"


def _allowed(call: OperationCall, action: Action, res_type: str) -> None:
    policy = access_policy()
    if policy is not OPEN and not policy.check(call.principal, action, res_type):
        raise OperationError(403, f"Your role may not {action} {res_type}", "forbidden")


def _year(call: OperationCall) -> int:
    try:
        year = call.integer("year")
    except OperationError as e:
        raise OperationError(400, str(e), expression="year") from None
    if year is None:
        raise OperationError(400, "Parameter 'year' (the campaign year) is required", "required", "year")
    if not 2000 <= year <= 2100:
        raise OperationError(400, "Parameter 'year' must be between 2000 and 2100", expression="year")
    return year


def _texts(call: OperationCall, name: str) -> list[str]:
    out = []
    for value in call.params.get(name) or []:
        if isinstance(value, dict):
            value = value.get("reference")
        if not isinstance(value, str) or not value.strip():
            raise OperationError(400, f"Parameter {name!r} must be a code or an id", expression=name)
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise OperationError(
            400, f"Parameter {name!r} must be a date (YYYY-MM-DD)", expression=name
        ) from None


def _boolean(call: OperationCall, name: str, default: bool) -> bool:
    value = call.first(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OperationError(400, f"Parameter {name!r} must be true or false", expression=name)


def _scope(call: OperationCall, communes: list[str] | None) -> list[str] | None:
    """The stations the caller may touch: all asked, or (limited caller) only their own facilities."""
    restriction = call.restriction
    if restriction is None:
        return communes
    own = list(restriction.facilities)
    if not own:
        raise OperationError(403, "Campaigns are planned by facility staff or the province", "forbidden")
    if communes is None:
        return own
    outside = [c for c in communes if c.removeprefix("Organization/") not in own]
    if outside:
        raise OperationError(
            403, f"{outside[0]} is not one of your facilities: plan your own station", "forbidden", "commune"
        )
    return communes


def _part(part_name: str, /, **values: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append({"name": key, "valueBoolean": value})
        elif isinstance(value, int):
            parts.append({"name": key, "valueInteger": value})
        elif isinstance(value, date):
            parts.append({"name": key, "valueDate": value.isoformat()})
        elif isinstance(value, dict):
            parts.append({"name": key, "valueReference": value})
        else:
            parts.append({"name": key, "valueString": str(value)})
    return {"name": part_name, "part": parts}


def _plan_parameters(plan: CampaignPlan) -> dict[str, Any]:
    out: list[dict[str, Any]] = [
        {"name": "year", "valueInteger": plan.year},
        {"name": "capacityPerDay", "valueInteger": plan.capacity_per_day},
        {"name": "target", "valueInteger": plan.target},
        {"name": "covered", "valueInteger": plan.covered},
        {"name": "invited", "valueInteger": sum(len(c.invitations) for c in plan.communes)},
        {"name": "persisted", "valueBoolean": plan.persisted},
    ]
    for c in plan.communes:
        part = _part(
            "commune",
            code=c.station.commune_code or None,
            name=c.station.commune_name or c.station.name,
            organization={"reference": f"Organization/{c.station.organization_id}"},
            carePlan={"reference": f"CarePlan/{c.care_plan_id}"} if plan.persisted else None,
            remote=c.station.remote,
            target=c.target,
            covered=c.covered,
            invited=len(c.invitations),
            unscheduled=len(c.unscheduled),
            kept=c.kept,
            firstDay=c.first_day,
            lastDay=c.last_day,
        )
        part["part"] += [_part("month", month=m, count=n) for m, n in c.months.items()]
        out.append(part)
    return {"resourceType": "Parameters", "parameter": out}


async def _plan_checkups(call: OperationCall) -> OperationResult:
    year = _year(call)
    persist = _boolean(call, "persist", True)
    _allowed(call, "search", "Patient")
    if persist:
        for res_type in ("Appointment", "CarePlan", "Group"):
            _allowed(call, "create", res_type)
    if call.restriction is not None and call.restriction.deidentified:
        raise OperationError(
            403, "Invitation lists identify people: not for de-identified access", "forbidden"
        )
    if call.level == "instance":
        if call.params.get("commune"):
            raise OperationError(
                400, "Name the station in the URL or with 'commune', not both", expression="commune"
            )
        communes: list[str] | None = [call.resource_id or ""]
    else:
        communes = _texts(call, "commune") or None
    communes = _scope(call, communes)
    capacity = call.integer("capacityPerDay")
    start = call.first("start")
    try:
        plan = await plan_campaign(
            call.store,
            year,
            communes=communes,
            capacity_per_day=DEFAULT_CAPACITY if capacity is None else capacity,
            start=_date(start, "start") if start is not None else None,
            holidays=[_date(v, "holiday") for v in call.params.get("holiday") or []],
            remote_communes=_texts(call, "remoteCommune"),
            persist=persist,
        )
    except ValueError as e:
        status = 404 if "No commune health station" in str(e) else 400
        raise OperationError(status, str(e), "not-found" if status == 404 else "invalid") from None
    return OperationResult(_plan_parameters(plan))


async def _checkup_coverage(call: OperationCall) -> OperationResult:
    year = _year(call)
    _allowed(call, "search", "Encounter")
    communes = _scope(call, _texts(call, "commune") or None)
    remote = _texts(call, "remoteCommune")
    try:
        per_commune = await coverage(call.store, year, communes=communes, remote_communes=remote)
        province = await coverage(
            call.store, year, level="province", communes=communes, remote_communes=remote
        )
    except ValueError as e:
        raise OperationError(404, str(e), "not-found", "commune") from None
    return OperationResult(coverage_report(year, province[0], per_commune))


def register_campaign_operations() -> None:
    """Register ``$plan-checkups`` (system, Organization) and ``$checkup-coverage`` (system)."""
    register(
        Operation(
            "plan-checkups",
            _plan_checkups,
            frozenset({"system", "instance"}),
            PLAN_CHECKUPS,
            resource_types=frozenset({"Organization"}),
            affects_state=True,
            documentation="Plan the year's check-up campaign per commune station: invitations and schedule",
        ),
        replace=True,
    )
    register(
        Operation(
            "checkup-coverage",
            _checkup_coverage,
            frozenset({"system"}),
            CHECKUP_COVERAGE,
            documentation="Check-up coverage per commune and for the province (MeasureReport)",
        ),
        replace=True,
    )


def unregister_campaign_operations() -> None:
    unregister("plan-checkups")
    unregister("checkup-coverage")
