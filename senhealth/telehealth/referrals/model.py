"""A referral in FHIR: the request (ServiceRequest), the workflow (Task) and its steps.

Spec: https://hl7.org/fhir/R4/servicerequest.html (``category`` SNOMED CT 3457005 "Patient referral",
``performer`` the destination facility), https://hl7.org/fhir/R4/task.html (``focus`` the request, ``owner``
the facility that must act, ``businessStatus`` the step, ``input``/``output`` the documents),
https://hl7.org/fhir/R4/workflow-management.html (option: a Task seeks fulfilment of a request);
``vietnam.md`` §3 (claim table XML13) and the referral paper of docs/documents.md.

The steps (``https://senhealth.vn/fhir/CodeSystem/referral-step``) and the Task status of each::

    requested ──accept──▶ accepted ──send-summary──▶ summary-sent ──arrive──▶ arrived ──return──▶ completed
        └──decline──▶ declined                                                          (Task completed)
    (Task requested)   (accepted)   (rejected)   (in-progress)              (in-progress)

``Task.owner`` is the destination Organization while it must act (accept, arrival, return letter), and the
Task's ``requester`` the referring practitioner; who acts is checked against the facilities, not the Task's
owner alone: the referring facility (``Encounter.serviceProvider`` of the referring Encounter) drafts and
sends the summary, the destination accepts, records the arrival and returns the letter.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

from senhealth.fhir.access import AccessEvent, Action, Principal, audit_sink
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth._steps import StepError, fhir_time, ref_id

__all__ = [
    "CARE_ROLES",
    "CLAIM_TABLE_SYSTEM",
    "DOCUMENT_NUMBER",
    "FACILITY_SYSTEM",
    "OUTPUT_SYSTEM",
    "REFERRAL",
    "REFERRAL_ID_SYSTEM",
    "SNOMED",
    "STEP_SYSTEM",
    "TASK_CODE",
    "TASK_STATUS",
    "ReferralError",
    "Step",
    "audit",
    "facility_ref",
    "fhir_time",
    "ref_id",
    "require_facility",
]

_BASE: Final = "https://senhealth.vn/fhir"
SNOMED: Final = "http://snomed.info/sct"
REFERRAL: Final = ("3457005", "Patient referral")
STEP_SYSTEM: Final = f"{_BASE}/CodeSystem/referral-step"
TASK_CODE: Final = {"coding": [{"system": f"{_BASE}/CodeSystem/telehealth-task", "code": "referral",
                                "display": "Chuyển tuyến / referral"}]}  # fmt: skip
OUTPUT_SYSTEM: Final = f"{_BASE}/CodeSystem/referral-document"
REFERRAL_ID_SYSTEM: Final = f"{_BASE}/sid/referral"
#: The claim data's document number (``SO_HOSO``), as the claims module names it.
DOCUMENT_NUMBER: Final = f"{_BASE}/sid/claim-document-number"
FACILITY_SYSTEM: Final = f"{_BASE}/sid/facility"
CLAIM_TABLE_SYSTEM: Final = f"{_BASE}/CodeSystem/claim-xml-table"
CARE_ROLES: Final = frozenset({"doctor", "nurse", "commune_health_worker", "facility_admin"})


class Step(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SUMMARY_SENT = "summary-sent"
    ARRIVED = "arrived"
    COMPLETED = "completed"


TASK_STATUS: Final = {
    Step.REQUESTED: "requested",
    Step.ACCEPTED: "accepted",
    Step.DECLINED: "rejected",
    Step.SUMMARY_SENT: "in-progress",
    Step.ARRIVED: "in-progress",
    Step.COMPLETED: "completed",
}

STEP_TITLES: Final = {
    Step.REQUESTED: "Đã gửi yêu cầu chuyển tuyến / referral requested",
    Step.ACCEPTED: "Nơi nhận đã chấp nhận / accepted by the destination",
    Step.DECLINED: "Nơi nhận từ chối / declined by the destination",
    Step.SUMMARY_SENT: "Đã gửi giấy chuyển tuyến / referral paper sent",
    Step.ARRIVED: "Người bệnh đã đến / the patient has arrived",
    Step.COMPLETED: "Đã gửi giấy báo kết quả điều trị / return letter sent",
}


class ReferralError(StepError):
    """A step refused: ``status`` is the HTTP status, ``code`` the OperationOutcome issue code."""


def facility_ref(org_id: str) -> str:
    return f"Organization/{org_id}"


def require_facility(principal: Principal | None, organization: str | None, what: str) -> None:
    """The caller acts for ``organization`` (``Organization/<id>``): a care role signed in at it. A system
    client or a trusted in-process caller (no principal) may act for any facility."""
    if principal is None or principal.kind == "system":
        return
    if principal.kind != "user" or not principal.roles & CARE_ROLES:
        raise ReferralError(403, f"Vai trò của bạn không được {what} / your role may not {what}", "forbidden")
    if not organization or principal.facility != organization:
        raise ReferralError(
            403,
            f"Chỉ nhân viên của {organization} mới được {what} / only staff of {organization} may {what}",
            "forbidden",
        )


async def audit(
    tx: StoreTx,
    principal: Principal | None,
    *,
    action: Action,
    task_id: str,
    step: str,
    patient: str | None,
    when: datetime,
    **details: Any,
) -> None:
    """The step's audit event on the Task, in the step's transaction (``query`` = ``referral-<step>``)."""
    await audit_sink().record(
        tx.conn,
        AccessEvent(
            when=when,
            principal=principal,
            action=action,
            res_type="Task",
            res_id=task_id,
            query=f"referral-{step}",
            patients=(patient,) if patient else (),
            details={"step": step, **details},
        ),
    )
