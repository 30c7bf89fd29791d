"""The platform's user roles, as stable codes (stored in ``account.roles``; never rename one).

Whether a role always needs TOTP two-factor follows the cybersecurity level-3 expectation of MFA for
administrators (``reference/vietnam.md`` §7; Decree 85/2016 and TCVN 11930:2017): the facility administrator,
and the provincial health officer, who sees every facility's data. Everyone else needs it when signing
in from outside the facility network (see :func:`senhealth.security.accounts.authenticate`).

- FHIR PractitionerRole (what a person does where): https://hl7.org/fhir/R4/practitionerrole.html
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ROLES", "Role", "RoleInfo", "parse_role"]


class Role(StrEnum):
    """A role code."""

    COMMUNE_HEALTH_WORKER = "commune_health_worker"
    DOCTOR = "doctor"
    NURSE = "nurse"
    FACILITY_ADMIN = "facility_admin"
    PROVINCIAL_OFFICER = "provincial_officer"
    CDC_OFFICER = "cdc_officer"
    DATA_ANALYST = "data_analyst"
    PATIENT = "patient"
    SYSTEM = "system"


@dataclass(frozen=True)
class RoleInfo:
    """What the platform knows about a role."""

    role: Role
    label_vi: str
    label_en: str
    requires_totp: bool = False  # TOTP at every sign-in, inside the facility network too
    needs_facility: bool = False  # the account must name its facility (Organization)

    @property
    def label(self) -> str:
        return f"{self.label_vi} / {self.label_en}"


ROLES: dict[Role, RoleInfo] = {
    info.role: info
    for info in (
        RoleInfo(Role.COMMUNE_HEALTH_WORKER, "Nhân viên y tế xã", "commune health worker"),
        RoleInfo(Role.DOCTOR, "Bác sĩ", "doctor"),
        RoleInfo(Role.NURSE, "Điều dưỡng", "nurse"),
        RoleInfo(
            Role.FACILITY_ADMIN,
            "Quản trị cơ sở",
            "facility administrator",
            requires_totp=True,
            needs_facility=True,
        ),
        RoleInfo(Role.PROVINCIAL_OFFICER, "Cán bộ Sở Y tế", "provincial health officer", requires_totp=True),
        RoleInfo(Role.CDC_OFFICER, "Cán bộ CDC", "public-health (CDC) officer"),
        RoleInfo(Role.DATA_ANALYST, "Chuyên viên phân tích dữ liệu", "data analyst"),
        RoleInfo(Role.PATIENT, "Người bệnh", "patient"),
        RoleInfo(Role.SYSTEM, "Hệ thống", "system client"),
    )
}


def parse_role(code: str) -> Role:
    """The role of ``code``; ValueError listing the valid codes otherwise."""
    try:
        return Role(code.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise ValueError(f"vai trò không hợp lệ / unknown role {code!r}: one of {valid}") from None
