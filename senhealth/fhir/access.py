"""Who is asking, what they may do, and the record of what they did: the FHIR core's interfaces for
the access policy and the audit sink (DESIGN.md §2: the core asks the policy before every interaction
and hands every access to the audit sink inside the same transaction; ``senhealth.security``
implements both and :mod:`senhealth.app` installs them at start-up).

Spec: SMART App Launch 2.0 scopes https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
(``patient/Observation.rs``, ``user/*.cruds``); the Basic Audit Log Patterns IG
https://profiles.ihe.net/ITI/BALP/ (what an AuditEvent of a read, a search, a write holds); R4
AuditEvent https://hl7.org/fhir/R4/auditevent.html.

The core knows only these shapes:

- :class:`Principal`: the caller, as the REST layer authenticated it (a user with roles and a facility,
  a patient, a system client), with the granted SMART scopes and, for a patient-context token, the
  patient id;
- :class:`AccessPolicy`: ``check(principal, action, type)`` says whether an interaction may run at all
  (type-level: ``read Observation``, ``search Patient``...; refused with 403), and
  ``restriction(principal, action)`` which patients' data it may touch (:class:`Restriction`, applied
  by the search engine in SQL, and to reads, includes and history). A read of a resource outside the
  restriction answers exactly like an unknown resource (404), so that a denial never reveals that the
  resource exists;
- :class:`AuditSink`: ``record(conn, event)`` writes one :class:`AccessEvent` in the caller's
  transaction (a failed write leaves no audit row, a committed one always has its row).

With nothing installed (the default: :data:`OPEN`, :data:`NO_AUDIT`), every interaction is allowed and
nothing is recorded: the FHIR core on its own, as in development and in the core's tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

__all__ = [
    "NO_AUDIT",
    "OPEN",
    "AccessEvent",
    "AccessPolicy",
    "Action",
    "AuditSink",
    "Principal",
    "Restriction",
    "access_policy",
    "audit_sink",
    "current_principal",
    "install",
]

#: An interaction as the policy and the audit see it (SMART v2 letters: c r u d s).
Action = Literal["create", "read", "update", "delete", "search", "history", "operation"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request.

    ``kind``: ``user`` (staff or an analyst), ``patient`` (a citizen on their own record) or ``system``
    (a backend service); ``subject``: the account's stable id; ``roles``: the platform roles
    (``doctor``, ``nurse``, ``commune_health_worker``, ``facility_admin``, ``provincial_officer``,
    ``cdc_officer``, ``data_analyst``, ``patient``, ``system``); ``facility``: ``Organization/<id>`` the
    user works for in this session; ``scopes``: the granted SMART scopes; ``patient``: the patient id of a
    patient-context token (``launch/patient``, or a citizen's own record); ``break_glass``: the reason
    given for emergency access, when the user invoked it.
    """

    kind: Literal["user", "patient", "system"]
    subject: str
    roles: frozenset[str] = frozenset()
    facility: str | None = None
    scopes: frozenset[str] = frozenset()
    patient: str | None = None
    practitioner: str | None = None
    client_id: str | None = None
    break_glass: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Restriction:
    """The patient data a principal may see, as the search engine applies it in SQL.

    A resource is visible when it belongs to no patient's compartment (an Organization, a
    Practitioner: its partition key is ``""``), or its patient is one of ``patients``, or its patient
    has a care relationship with one of ``facilities``: an Encounter whose ``serviceProvider``, an
    EpisodeOfCare whose ``managingOrganization``, or the Patient's ``managingOrganization`` /
    ``generalPractitioner`` is that Organization. ``Restriction()`` shows no patient data at all.
    The policy returns ``None`` for "no restriction".

    ``network``: also the patients cared for at the referral network of ``facilities`` (an Organization
    whose ``partOf`` is one of them, or the Organization one of them is ``partOf``: a commune station's
    district centre, a district centre's stations), except a patient whose Consent withholds that
    sharing: an ``active`` Consent whose ``provision.type`` is ``deny`` for the purpose
    ``network_purpose`` (``http://terminology.hl7.org/CodeSystem/v3-ActReason``), with no
    ``provision.actor`` or with one of ``facilities`` among its actors
    (https://hl7.org/fhir/R4/consent.html). A patient with a care relationship at ``facilities``
    themselves is visible whatever their Consent says: that is their own care there.

    ``conditions``: also the patients with a Condition whose ``code`` is in ICD-10
    (``http://hl7.org/fhir/sid/icd-10``, or the Vietnamese edition's system) under one of these codes
    (``A90`` covers ``A90``, ``A91`` is its own; ``B08.4`` covers ``B08.4``): the notifiable diseases a
    public-health officer follows.

    ``consented``: also the patients who opted in to that purpose of use: an ``active`` Consent with
    ``provision.type`` ``permit`` for it and none that denies it (research, ``HRESCH``).
    ``deidentified``: every resource the caller gets is de-identified first, and searches by name,
    identifier, contact or birth date are refused (:mod:`senhealth.fhir.deidentify`).
    """

    patients: frozenset[str] = frozenset()
    facilities: tuple[str, ...] = ()  # Organization ids
    network: bool = False
    network_purpose: str = "TREAT"
    conditions: tuple[str, ...] = ()  # ICD-10 codes or prefixes: patients with such a Condition
    consented: str | None = None  # a purpose (HRESCH): patients with an active permit for it, no deny
    deidentified: bool = False  # answers go out de-identified (senhealth.fhir.deidentify)


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One access to record (BALP: who, what, when, outcome, and the patients it concerned)."""

    when: datetime
    principal: Principal | None
    action: Action
    res_type: str | None  # None: system level
    res_id: str | None = None
    query: str | None = None  # a search's query string, an operation's name
    patients: Sequence[str] = ()  # Patient ids the interaction read or changed (searches: those returned)
    outcome: Literal["success", "denied", "failed"] = "success"
    status: int = 200
    source_ip: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AccessPolicy(Protocol):
    """Decides what a principal may do; see the module docstring."""

    def check(self, principal: Principal | None, action: Action, res_type: str | None) -> bool:
        """Whether ``action`` on ``res_type`` (None: system level) may run at all."""
        ...

    def restriction(self, principal: Principal | None, action: Action) -> Restriction | None:
        """Which patients' data ``action`` may touch (None: no restriction)."""
        ...


class AuditSink(Protocol):
    """Records accesses in the caller's transaction; see the module docstring."""

    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None: ...


class _Open:
    def check(self, principal: Principal | None, action: Action, res_type: str | None) -> bool:
        return True

    def restriction(self, principal: Principal | None, action: Action) -> Restriction | None:
        return None


class _NoAudit:
    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None:
        return None


#: Everything allowed (the FHIR core on its own).
OPEN: Final[AccessPolicy] = _Open()
#: Nothing recorded.
NO_AUDIT: Final[AuditSink] = _NoAudit()

_policy: AccessPolicy = OPEN
_sink: AuditSink = NO_AUDIT
_principal: ContextVar[Principal | None] = ContextVar("senhealth_principal", default=None)


def install(policy: AccessPolicy | None = None, sink: AuditSink | None = None) -> None:
    """Install the process's policy and audit sink (``None`` leaves that one as it is)."""
    global _policy, _sink
    if policy is not None:
        _policy = policy
    if sink is not None:
        _sink = sink


def access_policy() -> AccessPolicy:
    return _policy


def audit_sink() -> AuditSink:
    return _sink


def current_principal() -> ContextVar[Principal | None]:
    """The request's principal (set by the REST layer once it has authenticated the caller)."""
    return _principal
