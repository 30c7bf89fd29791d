"""The platform's access policy: what each role may do, and whose data it may see.

Spec: SMART App Launch 2.0 scopes https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
(a token's scopes narrow what its user may do, never widen it); rules from ../shared/reference/vietnam.md
§2 (role-based access, access time windows) and §7 (Personal Data Protection Law 91/2025: health data is
sensitive; share only for care or with consent).

:class:`RolePolicy` implements :class:`senhealth.fhir.access.AccessPolicy`:

============================  =========================================  ==========================================
role                          may                                        whose patient data
============================  =========================================  ==========================================
doctor, nurse,                read, search, history, operations,         patients with a care relationship at their
commune health worker         create, update, delete                     facility (an Encounter there, an
                                                                         EpisodeOfCare, managingOrganization or
                                                                         generalPractitioner); break-the-glass:
                                                                         every patient, with a reason, audited
facility administrator        as above                                   as above; both: also patients cared for
                                                                         in the facility's referral network
                                                                         (``partOf`` one step up or down) unless
                                                                         their Consent denies sharing for
                                                                         treatment (:mod:`.consent`)
patient                       read, search, history, operations;         their own compartment only
                              create and update their Consents
public health (CDC) officer   read, search, history, operations          patients with a Condition of a notifiable
                                                                         disease (ICD-10 codes or prefixes in
                                                                         ``Settings.notifiable_icd10``, filled by the
                                                                         surveillance issue)
provincial officer            read, search, history                      none (aggregates come from analytics)
data analyst                  read, search, history                      patients who consented to research
                                                                         (``HRESCH``), de-identified
                                                                         (:mod:`senhealth.fhir.deidentify`)
system client                 what its scopes grant                      every patient (backend services)
============================  =========================================  ==========================================

Resources outside every patient's compartment (Organization, Practitioner, Location, ...) are visible to
every signed-in role, with these exceptions for shared definitions and channels:

- terminology (CodeSystem, ValueSet, ConceptMap, NamingSystem): every signed-in role may also call their
  operations (``$lookup``, ``$expand``, ``$validate-code``, ``$subsumes``, ``$translate``: they read no
  patient data; https://hl7.org/fhir/R4/terminology-service.html);
- stored SQL-on-FHIR views (``ViewDefinition``): among the care roles only a facility administrator writes
  them (and a system client with the scope): a stored view is shared by every user and materialised into the
  province's analytics tables by the system (docs/analytics.md); everybody reads and runs them;
- ``Subscription``: only the roles that may subscribe (care roles, system clients) see subscriptions at all;
  a Subscription carries its receiver's credentials (``channel.header``) and the events of its creator's
  patients (docs/subscriptions.md).

Without a principal (sign-in not required: development) nothing is restricted.
A token's SMART scopes, when present, must also grant the interaction
(:func:`senhealth.security.oauth.scopes.permits`).

Access time windows: a role may be limited to hours of the day (``windows``, local time of the
province); outside them every interaction is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from senhealth.core.config import Settings
from senhealth.fhir.access import Action, Principal, Restriction
from senhealth.security.oauth.scopes import permits

__all__ = ["CARE_ROLES", "READ_ONLY", "TERMINOLOGY_TYPES", "RolePolicy", "parse_window"]

#: Roles that treat patients at a facility.
CARE_ROLES: Final = frozenset({"doctor", "nurse", "commune_health_worker", "facility_admin"})
READ_ONLY: Final[frozenset[Action]] = frozenset({"read", "search", "history"})
_PATIENT_ACTIONS: Final[frozenset[Action]] = frozenset({"read", "search", "history", "operation"})
_OFFICER_ACTIONS: Final[frozenset[Action]] = frozenset({"read", "search", "history"})
#: What a patient may write in their own compartment: their consents (docs/consent.md).
_PATIENT_WRITABLE: Final = frozenset({"Consent"})
#: Resource types whose operations every signed-in role may call (they read no patient data).
TERMINOLOGY_TYPES: Final = frozenset({"CodeSystem", "ValueSet", "ConceptMap", "NamingSystem"})
#: Shared definitions that, among the care roles, only a facility administrator writes.
_ADMIN_WRITTEN: Final = frozenset({"ViewDefinition"})
_WRITES: Final[frozenset[Action]] = frozenset({"create", "update", "delete"})
#: Types only the roles that may create them see (a Subscription holds its receiver's credentials).
_SUBSCRIBERS_ONLY: Final = frozenset({"Subscription"})


def parse_window(spec: str) -> tuple[time, time]:
    """``"07:00-17:30"`` as (start, end) local times; ValueError otherwise."""
    try:
        start, end = (time.fromisoformat(x.strip()) for x in spec.split("-", 1))
    except ValueError:
        raise ValueError(f"An access window is HH:MM-HH:MM, not {spec!r}") from None
    if end <= start:
        raise ValueError(f"An access window must end after it starts: {spec!r}")
    return start, end


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """See the module docstring. ``windows``: per role, the local hours it may work (start, end)."""

    windows: Mapping[str, tuple[time, time]] = field(default_factory=dict)
    timezone: str = "Asia/Ho_Chi_Minh"
    notifiable: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> RolePolicy:
        """The policy configured by ``settings`` (``notifiable_icd10``, ``access_windows``)."""
        return cls(
            windows={role: parse_window(spec) for role, spec in settings.access_windows.items()},
            notifiable=tuple(settings.notifiable_icd10),
        )

    def check(self, principal: Principal | None, action: Action, res_type: str | None) -> bool:
        if principal is None:
            return True
        if principal.scopes and not permits(principal.scopes, action, res_type):
            return False
        if principal.kind == "system":
            return bool(principal.scopes)
        if not self._in_window(principal):
            return False
        roles = principal.roles
        if roles & CARE_ROLES:
            if res_type in _ADMIN_WRITTEN and action in _WRITES:
                return "facility_admin" in roles
            return True
        if res_type in _SUBSCRIBERS_ONLY:
            return False
        if action == "operation" and res_type in TERMINOLOGY_TYPES:
            return True
        if principal.kind == "patient" or "patient" in roles:
            if res_type in _PATIENT_WRITABLE and action in ("create", "update"):
                return True
            return action in _PATIENT_ACTIONS
        if "cdc_officer" in roles:
            return action in _PATIENT_ACTIONS  # reads and read-only operations (a case's $everything)
        if roles & {"provincial_officer", "data_analyst"}:
            return action in _OFFICER_ACTIONS
        return False

    def restriction(self, principal: Principal | None, action: Action) -> Restriction | None:
        if principal is None or principal.kind == "system":
            return None
        if principal.roles & CARE_ROLES:
            if principal.break_glass:
                return None
            facility = (principal.facility or "").removeprefix("Organization/")
            return Restriction(facilities=(facility,), network=True) if facility else Restriction()
        if principal.kind == "patient" or "patient" in principal.roles:
            own = (principal.patient or "").removeprefix("Patient/")
            return Restriction(patients=frozenset({own}) if own else frozenset())
        if "cdc_officer" in principal.roles and self.notifiable:
            return Restriction(conditions=self.notifiable)
        if "data_analyst" in principal.roles:  # research: those who opted in, de-identified
            return Restriction(consented="HRESCH", deidentified=True)
        return Restriction()

    def _in_window(self, principal: Principal) -> bool:
        now = datetime.now(ZoneInfo(self.timezone)).time()
        for role in principal.roles:
            window = self.windows.get(role)
            if window is not None and not (window[0] <= now <= window[1]):
                return False
        return True
