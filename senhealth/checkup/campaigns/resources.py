"""A campaign as FHIR R4 resources: the commune's Group, its CarePlan for the year, one Appointment per invitation.

Why these (R4):

- **CarePlan** (https://hl7.org/fhir/R4/careplan.html), one per station and year: "the intention of how one
  or more practitioners intend to deliver care for a particular patient, group or community". Its subject
  is the commune's target population as a **Group** (https://hl7.org/fhir/R4/group.html, ``actual`` false:
  defined by the commune of registration, ``quantity`` the number of people), its author the station, its
  period the year, and one ``activity`` per month (kind Appointment, the month as ``scheduledPeriod``, the
  number of invitations in the extension :data:`INVITATIONS_EXTENSION` and the description). PlanDefinition
  is a reusable definition, not the plan of one commune's year; RequestGroup holds requests acted on
  together, not a year's schedule.
- **Appointment** (https://hl7.org/fhir/R4/appointment.html), one per invited person: ``status`` ``proposed``
  (the invitation, not yet confirmed; the station sets ``booked`` when the person confirms, ``fulfilled``
  or ``noshow`` after the day, ``cancelled`` when a later plan withdraws it), ``serviceType`` the check-up
  code, the priority groups as ``reasonCode`` (why the person is invited early), ``priority`` the rank in
  the station's list (1 first), the slot as ``start``/``end``, the patient (``needs-action``) and the
  station's Location (``accepted``) as participants, the CarePlan as ``supportingInformation``.

Ids are name-based (UUID v5 of the year, station and patient), so planning again updates the same
resources instead of adding new ones.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Final

from senhealth.checkup.campaigns.population import Station
from senhealth.checkup.campaigns.schedule import Slot
from senhealth.checkup.campaigns.vocabulary import (
    CAMPAIGN_CATEGORY_SYSTEM,
    CHECKUP,
    COMMUNE_SYSTEM,
    ENCOUNTER_TYPE_SYSTEM,
    GROUP_TEXT,
    PRIORITY_GROUP_SYSTEM,
)

__all__ = [
    "CAMPAIGN_CATEGORY",
    "INVITATIONS_EXTENSION",
    "appointment",
    "appointment_id",
    "care_plan",
    "care_plan_id",
    "target_group",
]

NAMESPACE: Final = uuid.UUID("8f6a3c1e-5b0d-4f4e-9a7c-2d1e0b7a6c55")
INVITATIONS_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/campaign-invitations"
CAMPAIGN_CATEGORY: Final = "checkup-campaign"
_CHECKUP_TYPE: Final = {
    "coding": [{"system": ENCOUNTER_TYPE_SYSTEM, "code": CHECKUP, "display": "Khám sức khỏe định kỳ"}],
    "text": "Khám sức khỏe định kỳ / Periodic check-up",
}


def care_plan_id(year: int, station: Station) -> str:
    return str(uuid.uuid5(NAMESPACE, f"care-plan/{year}/{station.organization_id}"))


def group_id(year: int, station: Station) -> str:
    return str(uuid.uuid5(NAMESPACE, f"group/{year}/{station.organization_id}"))


def appointment_id(year: int, station: Station, patient_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"appointment/{year}/{station.organization_id}/{patient_id}"))


def _org(station: Station) -> dict[str, str]:
    return {"reference": f"Organization/{station.organization_id}", "display": station.name}


def target_group(year: int, station: Station, target: int) -> dict[str, Any]:
    """The commune's target population for ``year`` as a definitional Group."""
    where = station.commune_name or station.name
    out: dict[str, Any] = {
        "resourceType": "Group",
        "id": group_id(year, station),
        "type": "person",
        "actual": False,
        "code": _CHECKUP_TYPE,
        "name": f"Dân số đích khám sức khỏe năm {year}, {where} / Check-up target population {year}",
        "quantity": target,
        "managingEntity": _org(station),
    }
    if station.commune_code:
        out["characteristic"] = [
            {
                "code": {"text": "Xã, phường nơi đăng ký quản lý sức khỏe / Commune of registration"},
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": COMMUNE_SYSTEM,
                            "code": station.commune_code,
                            "display": station.commune_name,
                        }
                    ]
                },
                "exclude": False,
            }
        ]
    return out


def care_plan(
    year: int,
    station: Station,
    *,
    target: int,
    covered: int,
    months: dict[int, int],
    unscheduled: int,
) -> dict[str, Any]:
    """The station's campaign CarePlan for ``year``: one activity per month with invitations."""
    where = station.commune_name or station.name
    activities = []
    for month in sorted(months):
        count = months[month]
        last = (date(year + (month == 12), month % 12 + 1, 1)).toordinal() - 1
        detail: dict[str, Any] = {
            "extension": [{"url": INVITATIONS_EXTENSION, "valueInteger": count}],
            "kind": "Appointment",
            "code": _CHECKUP_TYPE,
            "status": "scheduled",
            "scheduledPeriod": {
                "start": f"{year}-{month:02d}-01",
                "end": date.fromordinal(last).isoformat(),
            },
            "performer": [_org(station)],
            "description": f"Tháng {month}/{year}: {count} lượt mời khám / {count} invitations",
        }
        if station.location_id:
            detail["location"] = {"reference": f"Location/{station.location_id}"}
        activities.append({"detail": detail})
    description = (
        f"Dân số đích {target}, đã khám {covered}, mời {sum(months.values())}, chưa xếp lịch {unscheduled} / "
        f"target {target}, already checked up {covered}, invited {sum(months.values())}, "
        f"not scheduled {unscheduled}"
    )
    out: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": care_plan_id(year, station),
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [{"system": CAMPAIGN_CATEGORY_SYSTEM, "code": CAMPAIGN_CATEGORY}],
                "text": "Chiến dịch khám sức khỏe định kỳ / Check-up campaign",
            }
        ],
        "title": f"Kế hoạch khám sức khỏe định kỳ năm {year}, {where} / Check-up campaign {year}",
        "description": description,
        "subject": {"reference": f"Group/{group_id(year, station)}"},
        "period": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
        "author": _org(station),
    }
    if activities:
        out["activity"] = activities
    return out


def appointment(
    year: int,
    station: Station,
    *,
    patient_id: str,
    patient_name: str,
    groups: tuple[str, ...],
    rank: int,
    slot: Slot,
    created: date,
) -> dict[str, Any]:
    """A proposed check-up Appointment (the invitation) for one person."""
    participants: list[dict[str, Any]] = [
        {
            "actor": {"reference": f"Patient/{patient_id}", "display": patient_name},
            "required": "required",
            "status": "needs-action",
        }
    ]
    if station.location_id:
        participants.append(
            {
                "actor": {"reference": f"Location/{station.location_id}", "display": station.name},
                "required": "required",
                "status": "accepted",
            }
        )
    out: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appointment_id(year, station, patient_id),
        "status": "proposed",
        "serviceType": [_CHECKUP_TYPE],
    }
    if groups:
        out["reasonCode"] = [
            {"coding": [{"system": PRIORITY_GROUP_SYSTEM, "code": g}], "text": GROUP_TEXT[g]} for g in groups
        ]
    out.update(
        {
            "priority": rank,
            "description": f"Mời khám sức khỏe định kỳ năm {year} tại {station.name} / Check-up invitation {year}",
            "supportingInformation": [{"reference": f"CarePlan/{care_plan_id(year, station)}"}],
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "created": created.isoformat(),
            "patientInstruction": "Nhịn ăn sáng, mang theo căn cước và thẻ bảo hiểm y tế / "
            "Come fasting, bring your ID and health-insurance card",
            "participant": participants,
        }
    )
    return out
