"""Consent per purpose: what a patient allows their record to be used for, and the rules that read it.

Spec: FHIR R4 Consent https://hl7.org/fhir/R4/consent.html (``scope`` ``patient-privacy``,
``provision.type`` permit / deny, ``provision.purpose`` from
http://terminology.hl7.org/CodeSystem/v3-ActReason, ``provision.actor`` to name the organisations a
provision is about, ``policyRule`` OPTIN / OPTOUT); the law: Personal Data Protection Law 91/2025 and
Decree 13/2023 (health data is sensitive: processed for care, or with the person's consent, which can be
withdrawn), the Law on Prevention and Control of Infectious Diseases 2007 (notifiable-disease reporting
does not depend on consent); ../shared/reference/vietnam.md §7.

A consent is a FHIR Consent resource in the patient's compartment, one per purpose, updated in place when
the patient changes their mind (its history keeps every earlier decision, with who, when and how):

- **who**: ``performer`` (the patient, or a guardian: a RelatedPerson) and, for a consent recorded by
  staff on paper, ``organization`` (the facility) and ``verification`` (the member of staff);
- **when**: ``dateTime``;
- **how**: the extension :data:`METHOD_URL` (``portal``, ``paper``, ``verbal``, ``otp``) and, for paper,
  the scanned form as ``sourceAttachment``.

The rule (:func:`decision`): among the patient's ``active`` Consents for a purpose, a ``deny`` wins over
a ``permit``; with none, the purpose's default applies (:data:`PURPOSES`). A withdrawn consent (status
``inactive``) no longer counts, from the next request on: nothing is cached. Purposes the law requires
(public health) are always permitted; the portal shows them, without a switch.

Where the platform enforces it:

- **treatment across facilities** (``TREAT``): staff see the patients cared for at their facility, and
  those cared for in its referral network unless the patient denies this sharing: evaluated inside the
  search SQL (:class:`senhealth.fhir.access.Restriction`, ``network``) with the same rule as
  :func:`decision`; and ``Patient/$everything`` over the records linked to one person
  (:func:`shareable_linked_records`);
- **research** (``HRESCH``, opt-in): analysts see only the patients who said yes
  (:class:`senhealth.fhir.access.Restriction` ``consented``, the same rule in SQL), de-identified;
- **insurance payment** (``HPAYMT``): :func:`decision` for the claim export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.access import access_policy, current_principal

__all__ = [
    "ACT_REASON",
    "METHODS",
    "METHOD_URL",
    "PURPOSES",
    "ConsentError",
    "Decision",
    "Purpose",
    "build_consent",
    "decision",
    "decisions",
    "purpose_of",
    "shareable_linked_records",
]

ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SCOPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC: Final = "http://loinc.org"
#: How a consent was given (the extension's ``valueCode``).
METHOD_URL: Final = "https://fhir.senhealth.vn/StructureDefinition/consent-method"
METHODS: Final = frozenset({"portal", "paper", "verbal", "otp"})

Decision = Literal["permit", "deny"]


class ConsentError(ValueError):
    """A consent that cannot be recorded (unknown purpose or method, a purpose the law requires)."""


@dataclass(frozen=True, slots=True)
class Purpose:
    """A purpose of use a patient decides on; ``default``: the decision when no Consent says."""

    code: str
    vi: str
    en: str
    default: Decision
    required_by_law: bool = False


#: The purposes, in the order the portal shows them. Treatment, insurance payment: care and the health
#: insurance law are the legal basis, so sharing is permitted until the patient says no (opt-out);
#: public health: required by law; research: only with an explicit yes (opt-in).
PURPOSES: Final[Mapping[str, Purpose]] = {
    p.code: p
    for p in (
        Purpose(
            "TREAT",
            "Chia sẻ hồ sơ giữa các cơ sở khám chữa bệnh để điều trị",
            "Sharing my record between health facilities for my treatment",
            "permit",
        ),
        Purpose("HPAYMT", "Thanh toán bảo hiểm y tế", "Health insurance payment", "permit"),
        Purpose(
            "PUBHLTH",
            "Y tế công cộng (giám sát dịch bệnh)",
            "Public health (disease surveillance)",
            "permit",
            required_by_law=True,
        ),
        Purpose(
            "HRESCH",
            "Nghiên cứu khoa học (dữ liệu đã khử định danh)",
            "Research (de-identified data)",
            "deny",
        ),
    )
}


def _codes(concepts: Any) -> list[str]:
    """The codes of a list of Coding (``provision.purpose``) from the ActReason system (or none)."""
    out: list[str] = []
    if isinstance(concepts, list):
        for c in concepts:
            if (
                isinstance(c, dict)
                and isinstance(c.get("code"), str)
                and c.get("system") in (None, ACT_REASON)
            ):
                out.append(c["code"])
    return out


def purpose_of(consent: Mapping[str, Any]) -> list[str]:
    """The purposes a Consent's top-level provision is about."""
    provision = consent.get("provision")
    return _codes(provision.get("purpose")) if isinstance(provision, dict) else []


def _actors(consent: Mapping[str, Any]) -> list[str]:
    provision = consent.get("provision")
    actors = provision.get("actor") if isinstance(provision, dict) else None
    out: list[str] = []
    for a in actors if isinstance(actors, list) else []:
        ref = a.get("reference") if isinstance(a, dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            out.append(ref["reference"])
    return out


def decision(consents: Iterable[Mapping[str, Any]], purpose: str, *, facility: str | None = None) -> Decision:
    """What the patient's Consents decide for ``purpose`` (the rule of the module docstring).

    ``facility`` (``Organization/<id>``): the organisation asking; a provision that names actors applies
    only to those. A purpose the law requires is always ``permit``.
    """
    known = PURPOSES.get(purpose)
    if known is not None and known.required_by_law:
        return "permit"
    permitted = False
    for c in consents:
        if c.get("status") != "active" or purpose not in purpose_of(c):
            continue
        actors = _actors(c)
        if actors and (facility is None or facility not in actors):
            continue
        kind = (c.get("provision") or {}).get("type")
        if kind == "deny":
            return "deny"
        if kind == "permit":
            permitted = True
    if permitted:
        return "permit"
    return known.default if known is not None else "deny"


def decisions(consents: Sequence[Mapping[str, Any]], *, facility: str | None = None) -> dict[str, Decision]:
    """:func:`decision` for every purpose of :data:`PURPOSES`."""
    return {code: decision(consents, code, facility=facility) for code in PURPOSES}


def build_consent(
    patient_id: str,
    purpose: str,
    choice: Decision,
    *,
    method: str = "portal",
    performer: str | None = None,
    when: datetime | None = None,
    actors: Sequence[str] = (),
    organization: str | None = None,
    consent_id: str | None = None,
) -> dict[str, Any]:
    """A Consent resource recording ``choice`` for ``purpose`` (see the module docstring for the shape).

    ``performer`` defaults to the patient; ``actors``: ``Organization/<id>`` the provision is limited to.
    Raises :class:`ConsentError` for an unknown purpose or method, or a refusal the law does not allow.
    """
    known = PURPOSES.get(purpose)
    if known is None:
        raise ConsentError(f"Unknown consent purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    if method not in METHODS:
        raise ConsentError(f"Unknown consent method {method!r}; use one of {', '.join(sorted(METHODS))}")
    if choice not in ("permit", "deny"):
        raise ConsentError(f"A consent decision is 'permit' or 'deny', not {choice!r}")
    if known.required_by_law and choice == "deny":
        raise ConsentError(f"{known.en} is required by law and cannot be refused")
    patient = f"Patient/{patient_id.removeprefix('Patient/')}"
    stamp = (when or datetime.now(UTC)).isoformat(timespec="seconds")
    provision: dict[str, Any] = {
        "type": choice,
        "purpose": [{"system": ACT_REASON, "code": purpose}],
    }
    if actors:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {"reference": a},
            }
            for a in actors
        ]
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "extension": [{"url": METHOD_URL, "valueCode": method}],
        "status": "active",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
        "patient": {"reference": patient},
        "dateTime": stamp,
        "performer": [{"reference": performer or patient}],
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN" if choice == "permit" else "OPTOUT"}]},
        "provision": provision,
    }
    if organization:
        resource["organization"] = [{"reference": organization}]
    if consent_id:
        resource["id"] = consent_id
    return resource


async def _by_patient(
    conn: AsyncConnection[TupleRow], patient_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    cur = await conn.execute(
        "SELECT pkey, content FROM fhir_resource WHERE res_type = 'Consent' AND pkey = ANY(%s::text[])",
        (list(patient_ids),),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for pkey, content in await cur.fetchall():
        out.setdefault(str(pkey), []).append(dict(content))
    return out


async def shareable_linked_records(conn: AsyncConnection[TupleRow], patient_ids: Sequence[str]) -> set[str]:
    """Which records linked to one person (``Patient.link``, the patient index) the caller gets in
    ``Patient/$everything``: all of them for an unrestricted caller and for the patient themselves (they
    are that person's own records); for facility staff, all of them when the person allows sharing
    for treatment with the caller's facility (:func:`decision` over the Consents of all the person's
    records), else none; none for anyone else."""
    ids = [p.removeprefix("Patient/") for p in patient_ids]
    restriction = access_policy().restriction(current_principal().get(), "operation")
    if restriction is None or restriction.patients:
        return set(ids)
    if not restriction.facilities or not ids:
        return set()
    # One person, one decision: the Consents recorded on any of the person's records count (the
    # patient may have consented on the record of the facility where they use the portal).
    person = set(ids) | await _linked_to(conn, ids)
    found = await _by_patient(conn, sorted(person))
    consents = [c for p in person for c in found.get(p, ())]
    facility = f"Organization/{restriction.facilities[0]}"
    return set(ids) if decision(consents, "TREAT", facility=facility) == "permit" else set()


async def _linked_to(conn: AsyncConnection[TupleRow], patient_ids: Sequence[str]) -> set[str]:
    """The Patient records that ``patient_ids`` name in their ``Patient.link`` (one step)."""
    cur = await conn.execute(
        "SELECT l -> 'other' ->> 'reference' FROM fhir_resource r,"
        " jsonb_array_elements(coalesce(r.content -> 'link', '[]'::jsonb)) l"
        " WHERE r.pkey = ANY(%s::text[]) AND r.res_type = 'Patient'",
        (list(patient_ids),),
    )
    return {str(r[0]).removeprefix("Patient/") for r in await cur.fetchall() if r[0]}
