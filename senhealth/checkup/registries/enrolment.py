"""Registry enrolment: an EpisodeOfCare per registry, with a CarePlan holding the follow-up schedule.

Spec: https://hl7.org/fhir/R4/episodeofcare.html (type, status, patient, managingOrganization, period,
diagnosis) and https://hl7.org/fhir/R4/careplan.html (activity.detail.scheduledTiming, a Timing:
https://hl7.org/fhir/R4/datatypes.html#Timing).

:func:`enrol` reads the patient's record, applies :data:`~.rules.RULES`, and for each registry the patient
qualifies for and is not already in (an EpisodeOfCare of that type that is planned, waitlisted, active or
on hold) writes, in one transaction:

- an EpisodeOfCare, ``type`` registry|<code> (and screening-cohort|<cohort> for cancer screening),
  ``status`` active, ``managingOrganization`` the patient's managing organisation (the commune station),
  ``period.start`` today, ``diagnosis`` the Conditions that qualified, and the reason and the resources
  used in the extensions ``enrolment-reason`` / ``enrolment-basis``;
- a CarePlan (``intent`` plan, ``category`` the registry, ``supportingInfo`` the EpisodeOfCare,
  ``addresses`` the Conditions) whose activity is a visit every N days at that organisation
  (:meth:`~.config.RegistryConfig.follow_up_days`; diabetes also an HbA1c every
  ``hba1c_within_days``).

Leaving a registry (death, moving, a diagnosis withdrawn) is the health worker's decision and is not
automatic. A later change of the configured intervals applies to new CarePlans only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from senhealth.checkup.assessment import codes
from senhealth.checkup.assessment.patient_record import VN_TZ, PatientRecord, load_record
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.registries.rules import RULES, Eligibility, RegistryRule, eligible
from senhealth.fhir.store import FhirStore, StoreTx, content_from_text

__all__ = [
    "BASIS_EXTENSION",
    "REASON_EXTENSION",
    "Enrolment",
    "care_plan",
    "enrol",
    "enrol_in",
    "episode_of_care",
    "registries_of",
]

REASON_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/enrolment-reason"
BASIS_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/enrolment-basis"
OPEN_STATUSES: Final = ("planned", "waitlist", "active", "onhold")

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('checkup.enrol:' || %s, 0))"
_EPISODES = (
    "SELECT coalesce(content_raw, content::text) FROM fhir_resource "
    "WHERE pkey = %s AND res_type = 'EpisodeOfCare' AND content->>'status' = ANY(%s)"
)


@dataclass(slots=True)
class Enrolment:
    """What :func:`enrol` did for one patient."""

    patient_id: str
    eligible: list[Eligibility] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    """The EpisodeOfCare resources written by this call."""
    care_plans: list[dict[str, Any]] = field(default_factory=list)


def _type(rule: RegistryRule) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "coding": [{"system": codes.REGISTRY_SYSTEM, "code": rule.registry, "display": rule.label_en}],
            "text": rule.label_vi,
        }
    ]
    if rule.cohort is not None:
        out.append(
            {
                "coding": [
                    {"system": codes.SCREENING_COHORT_SYSTEM, "code": rule.cohort, "display": rule.label_en}
                ],
                "text": rule.label_vi,
            }
        )
    return out


def registries_of(episode: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(registry, cohort)`` of an EpisodeOfCare."""
    registry = cohort = None
    for t in episode.get("type", ()):
        for c in t.get("coding", ()) if isinstance(t, dict) else ():
            if c.get("system") == codes.REGISTRY_SYSTEM:
                registry = c.get("code")
            elif c.get("system") == codes.SCREENING_COHORT_SYSTEM:
                cohort = c.get("code")
    return registry, cohort


def episode_of_care(record: PatientRecord, found: Eligibility, today: date) -> dict[str, Any]:
    rule = found.rule
    out: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "extension": [
            {"url": REASON_EXTENSION, "valueString": f"{found.reason_vi} / {found.reason_en}"},
            *({"url": BASIS_EXTENSION, "valueReference": {"reference": ref}} for ref in found.basis),
        ],
        "status": "active",
        "type": _type(rule),
        "patient": {"reference": f"Patient/{record.patient_id}"},
        "period": {"start": today.isoformat()},
    }
    if found.conditions:
        out["diagnosis"] = [
            {"condition": {"reference": ref}, "rank": i} for i, ref in enumerate(found.conditions, 1)
        ]
    if record.organization:
        out["managingOrganization"] = {"reference": record.organization}
    return out


def _activity(text_vi: str, every_days: int, organization: str | None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "kind": "Appointment",
        "code": {"text": text_vi},
        "status": "scheduled",
        "scheduledTiming": {"repeat": {"frequency": 1, "period": every_days, "periodUnit": "d"}},
        "description": f"{text_vi}: mỗi {every_days} ngày / every {every_days} days",
    }
    if organization:
        detail["performer"] = [{"reference": organization}]
    return {"detail": detail}


def care_plan(record: PatientRecord, found: Eligibility, episode_id: str, today: date) -> dict[str, Any]:
    rule = found.rule
    config = get_config()
    every = config.follow_up_days(rule.registry, rule.cohort)
    if rule.registry == "cancer-screening":
        activities = [_activity(f"Khám sàng lọc: {rule.label_vi.lower()}", every, record.organization)]
    else:
        activities = [_activity("Khám lại tại trạm y tế xã", every, record.organization)]
    if rule.registry == "diabetes":
        activities.append(_activity("Xét nghiệm HbA1c", config.hba1c_within_days, record.organization))
    out: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [
            {"coding": [{"system": codes.REGISTRY_SYSTEM, "code": rule.registry, "display": rule.label_en}]}
        ],
        "title": f"Kế hoạch theo dõi: {rule.label_vi}",
        "description": f"{rule.label_vi} / {rule.label_en}",
        "subject": {"reference": f"Patient/{record.patient_id}"},
        "period": {"start": today.isoformat()},
        "supportingInfo": [{"reference": f"EpisodeOfCare/{episode_id}"}],
        "activity": activities,
    }
    if found.conditions:
        out["addresses"] = [{"reference": ref} for ref in found.conditions]
    if record.organization:
        out["author"] = {"reference": record.organization}
    return out


async def _open_episodes(tx: StoreTx, patient_id: str) -> set[tuple[str | None, str | None]]:
    cur = await tx.conn.execute(_EPISODES, (patient_id, list(OPEN_STATUSES)))
    out = set()
    for (text,) in await cur.fetchall():
        episode = content_from_text(str(text))
        ref = episode.get("patient", {}).get("reference")
        if ref == f"Patient/{patient_id}":
            out.add(registries_of(episode))
    return out


async def enrol_in(tx: StoreTx, record: PatientRecord, today: date) -> Enrolment:
    """:func:`enrol` inside the caller's store transaction, for a record already read."""
    out = Enrolment(record.patient_id)
    if not record.exists:
        return out
    await tx.conn.execute(_LOCK, (record.patient_id,))
    out.eligible = eligible(record, today, RULES)
    have = await _open_episodes(tx, record.patient_id)
    for found in out.eligible:
        if (found.rule.registry, found.rule.cohort) in have:
            continue
        episode = await tx.create(episode_of_care(record, found, today))
        plan = await tx.create(care_plan(record, found, episode.res_id, today))
        assert episode.content is not None and plan.content is not None
        out.created.append(episode.content)
        out.care_plans.append(plan.content)
    return out


async def enrol(store: FhirStore, patient_id: str, *, now: datetime | None = None) -> Enrolment:
    """Enrol ``patient_id`` in every registry they qualify for and are not in yet (one transaction)."""
    today = (now or datetime.now(VN_TZ)).astimezone(VN_TZ).date()
    async with store.transaction() as tx:
        record = await load_record(tx.conn, patient_id)
        return await enrol_in(tx, record, today)
