"""The shape of a remote visit in FHIR, and what every step shares: errors, the caller's checks, the audit.

Spec: R4 Schedule / Slot / Appointment https://hl7.org/fhir/R4/appointment.html (booking a free Slot of a
practitioner's Schedule), Encounter https://hl7.org/fhir/R4/encounter.html (``class`` ``VR`` virtual from
http://terminology.hl7.org/CodeSystem/v3-ActCode), ``vietnam.md`` §5 (each remote visit is a full, signed
encounter record: identity, reason, examination, ICD-10 diagnosis, orders, prescription, practitioner,
start and end time, channel).

Codes of the project (``https://senhealth.vn/fhir/...``):

- ``CodeSystem/telehealth-service#remote-visit``: ``Schedule``/``Slot``/``Appointment``/``Encounter``
  ``serviceType`` of a remote visit;
- ``CodeSystem/telehealth-channel#video|phone``: ``Encounter.type``, and the planned channel on the
  Appointment in the extension ``StructureDefinition/telehealth-channel`` (``valueCode``);
- ``StructureDefinition/remote-visit-eligibility`` on the Appointment: ``listed`` (boolean: the condition
  is on the list of Circular 30/2023), ``condition`` (the list's row, ``name_vi``), ``verified``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from senhealth.fhir.access import AccessEvent, Action, Principal, audit_sink
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth._steps import StepError, fhir_time, ref_id

__all__ = [
    "ACT_CODE",
    "CARE_ROLES",
    "CHANNELS",
    "CHANNEL_EXT",
    "CHANNEL_SYSTEM",
    "ELIGIBILITY_EXT",
    "ICD10_SYSTEMS",
    "ICD10_VN",
    "SERVICE_SYSTEM",
    "VisitError",
    "audit",
    "fhir_time",
    "is_remote_service",
    "practitioner_of",
    "ref_id",
    "require_practitioner",
    "service_type",
    "stable_id",
]

_BASE: Final = "https://senhealth.vn/fhir"
SERVICE_SYSTEM: Final = f"{_BASE}/CodeSystem/telehealth-service"
REMOTE_VISIT: Final = "remote-visit"
CHANNEL_SYSTEM: Final = f"{_BASE}/CodeSystem/telehealth-channel"
CHANNEL_EXT: Final = f"{_BASE}/StructureDefinition/telehealth-channel"
ELIGIBILITY_EXT: Final = f"{_BASE}/StructureDefinition/remote-visit-eligibility"
ICD10_VN: Final = f"{_BASE}/CodeSystem/icd10-vn"
ICD10_SYSTEMS: Final = (ICD10_VN, "http://hl7.org/fhir/sid/icd-10")
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CHANNELS: Final = {"video": "Khám qua video / video call", "phone": "Khám qua điện thoại / phone call"}
#: Roles that examine and prescribe (the access policy's care roles).
CARE_ROLES: Final = frozenset({"doctor", "nurse", "commune_health_worker", "facility_admin"})
_NAMESPACE: Final = uuid.UUID("8a41c7e2-3c55-4d0e-9b0f-6c1f0e2d7a11")


class VisitError(StepError):
    """A step refused: ``status`` is the HTTP status, ``code`` the OperationOutcome issue code."""


def stable_id(kind: str, key: str) -> str:
    """A resource id derived from ``kind`` and ``key`` (one Encounter per Appointment...)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}|{key}"))


def service_type() -> dict[str, Any]:
    return {
        "coding": [{"system": SERVICE_SYSTEM, "code": REMOTE_VISIT, "display": "Khám bệnh từ xa"}],
        "text": "Khám bệnh, chữa bệnh từ xa / remote visit",
    }


def is_remote_service(concepts: Any) -> bool:
    """Whether a ``serviceType`` list names the remote visit."""
    for concept in concepts or []:
        for c in (concept or {}).get("coding") or []:
            if c.get("system") == SERVICE_SYSTEM and c.get("code") == REMOTE_VISIT:
                return True
    return False


def practitioner_of(appointment: Mapping[str, Any]) -> str | None:
    """``Practitioner/<id>`` of the Appointment's practitioner participant (not declined)."""
    for p in appointment.get("participant") or []:
        if p.get("status") == "declined":
            continue
        pid = ref_id(p.get("actor"), "Practitioner")
        if pid:
            return f"Practitioner/{pid}"
    return None


def require_practitioner(principal: Principal | None, practitioner: str | None, what: str) -> None:
    """A signed-in user acts only as the visit's practitioner; a system client or a trusted in-process
    caller (no principal) may act for them."""
    if principal is None or principal.kind == "system":
        return
    mine = (principal.practitioner or "").removeprefix("Practitioner/")
    if principal.kind != "user" or not (principal.roles & CARE_ROLES) or not mine:
        raise VisitError(403, f"Chỉ bác sĩ của buổi khám mới {what} / only the visit's practitioner may {what}",
                         "forbidden")  # fmt: skip
    if practitioner != f"Practitioner/{mine}":
        raise VisitError(
            403,
            f"Bạn không phải bác sĩ của buổi khám ({practitioner}) / you are not the visit's practitioner",
            "forbidden",
        )


async def audit(
    tx: StoreTx,
    principal: Principal | None,
    *,
    action: Action,
    res_type: str,
    res_id: str,
    step: str,
    patient: str | None,
    when: datetime,
    **details: Any,
) -> None:
    """The step's audit event, in the step's transaction (``query`` = ``remote-visit-<step>``)."""
    await audit_sink().record(
        tx.conn,
        AccessEvent(
            when=when,
            principal=principal,
            action=action,
            res_type=res_type,
            res_id=res_id,
            query=f"remote-visit-{step}",
            patients=(patient,) if patient else (),
            details={"step": step, **details},
        ),
    )
