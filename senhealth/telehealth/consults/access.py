"""Who may act on a consult: only the clinicians of the two facilities involved, each in their part.

Spec: ../shared/reference/vietnam.md §5 (a consultation between facilities) and §7 (health data is shared
for care only): the access policy's facility restriction (:class:`senhealth.fhir.access.Restriction`) does
not let a provincial specialist read a commune station's patient before the consult makes them part of that
patient's care, so the consult operations decide themselves (``Operation.authorizes_writes``), from the
consult, as the video rooms do from the Appointment:

==========================  ==================================================================================
step                        who
==========================  ==================================================================================
request                     a clinician (care role) of the requesting facility, about a patient they may see
accept, decline             a clinician of the consulted facility (the named specialist, when the request
                            names one)
schedule, conclude          the specialist who accepted (``Task.owner``)
message, read the case      a clinician of either facility
==========================  ==================================================================================

Everyone else (another facility's clinicians, officers, citizens, backend services) is refused with 403,
and the refusal is audited. A clinician is a principal with a care role, a facility
(``Principal.facility``) and a practitioner (``Principal.practitioner``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from senhealth.fhir.access import Principal
from senhealth.fhir.operations.registry import OperationError
from senhealth.security.policy import CARE_ROLES
from senhealth.telehealth.consults.model import Consult, ref_id

__all__ = ["Caller", "Side", "caller_of", "require_consultant", "require_owner", "side_of"]

Side = Literal["requester", "consultant"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A clinician acting on a consult: the principal, its facility and practitioner ids."""

    principal: Principal
    facility: str
    practitioner: str

    @property
    def reference(self) -> str:
        return f"Practitioner/{self.practitioner}"


def _forbidden(message: str) -> OperationError:
    return OperationError(403, message, "forbidden")


def caller_of(principal: Principal | None) -> Caller:
    """The clinician calling (401 without a signed-in user, 403 for anyone but a clinician of a facility)."""
    if principal is None:
        raise OperationError(401, "Cần đăng nhập / sign in to take part in a consult", "login")
    if principal.kind != "user" or not principal.roles & CARE_ROLES:
        raise _forbidden(
            "Chỉ nhân viên y tế của cơ sở tham gia hội chẩn / only the clinicians of the facilities in the consult"
        )
    facility = ref_id(principal.facility, "Organization") or (principal.facility or "").strip()
    practitioner = ref_id(principal.practitioner, "Practitioner") or (principal.practitioner or "").strip()
    if not facility or "/" in facility or not practitioner or "/" in practitioner:
        raise _forbidden(
            "Tài khoản chưa gắn với cơ sở và người hành nghề / the account names no facility or practitioner"
        )
    return Caller(principal, facility, practitioner)


def side_of(caller: Caller, consult: Consult) -> Side:
    """Which side of ``consult`` the caller is on (403 when neither)."""
    if caller.facility == consult.requesting_facility:
        return "requester"
    if caller.facility == consult.consulted_facility:
        return "consultant"
    raise _forbidden(
        f"Bạn không thuộc cơ sở yêu cầu hay cơ sở được mời của hội chẩn Task/{consult.id} / you are not a "
        "clinician of either facility of this consult"
    )


def require_consultant(caller: Caller, consult: Consult) -> None:
    """403 unless the caller is a clinician of the consulted facility (the named specialist, if any)."""
    if side_of(caller, consult) != "consultant":
        raise _forbidden(
            "Chỉ cơ sở được mời mới nhận hoặc từ chối hội chẩn / only the consulted facility accepts or declines"
        )
    named = consult.named_specialist
    if named is not None and named != caller.practitioner:
        raise _forbidden(f"Yêu cầu gửi đích danh Practitioner/{named} / the request names another specialist")


def require_owner(caller: Caller, consult: Consult) -> None:
    """403 unless the caller is the specialist who accepted the consult."""
    side_of(caller, consult)
    if consult.owner != caller.practitioner:
        raise _forbidden(
            "Chỉ bác sĩ đã nhận hội chẩn mới làm bước này / only the specialist who accepted the consult may"
        )
