"""The signature data model: roles, their codes, the records' tags and extensions, :class:`SignatureInfo`.

Spec: https://hl7.org/fhir/R4/datatypes.html#Signature (``type`` from the ASTM E1762-95 signature types,
system ``urn:iso-astm:E1762-95:2013``: https://hl7.org/fhir/R4/valueset-signature-type.html),
https://hl7.org/fhir/R4/provenance.html (``agent.type`` from
https://terminology.hl7.org/CodeSystem-provenance-participant-type.html) and
https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.signature; Vietnamese rules: Circular 13/2025
Art. 3 (staff, patients or their representatives sign with a digital signature, biometrics or another
electronic confirmation; only an X.509 digital signature equals a handwritten one; organisation
signatures on discharge papers, referrals and summaries).

Roles (the ``role`` parameter of ``$sign``; docs/signatures.md):

=============  ======================================  ======================  =========================
role           who signs, with which certificate       ASTM signature type     Provenance.agent.type
=============  ======================================  ======================  =========================
author         the doctor who wrote it (own)           1.2.840.10065.1.12.1.1  author
coauthor       another author (own)                    1.2.840.10065.1.12.1.2  author
verifier       the head of department (own)            1.2.840.10065.1.12.1.5  verifier
witness        a witness (own)                         1.2.840.10065.1.12.1.8  attester
patient        the patient or representative (own)     1.2.840.10065.1.12.1.7  attester
organization   the facility (the facility's)           1.2.840.10065.1.12.1.14 custodian
=============  ======================================  ======================  =========================

A patient's confirmation without a certificate (OTP, biometrics) has the consent type too but is not a
digital signature: its ``sigFormat`` is :data:`CONFIRMATION_FORMAT` and ``$verify`` reports it as a
confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, get_args

__all__ = [
    "AGENT_TYPE_SYSTEM",
    "ASTM_SYSTEM",
    "CONFIRMATION_FORMAT",
    "EVIDENCE_EXTENSION",
    "JOSE_FORMAT",
    "RECORD_TAG_SYSTEM",
    "ROLES",
    "ROLE_CLASS_SYSTEM",
    "ROLE_EXTENSION",
    "SIGNATURE_PROVENANCE_TAG",
    "SIGNED_BUNDLE_TAG",
    "TIMESTAMP_EXTENSION",
    "Kind",
    "Role",
    "RoleSpec",
    "SignatureInfo",
    "parse_role",
    "role_of_type",
]

Role = Literal["author", "coauthor", "verifier", "witness", "patient", "organization"]
Kind = Literal["digital-signature", "confirmation"]

ASTM_SYSTEM: Final = "urn:iso-astm:E1762-95:2013"
AGENT_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ROLE_CLASS_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
#: ``sigFormat`` of a digital signature: a JWS (compact, detached payload).
JOSE_FORMAT: Final = "application/jose"
#: ``sigFormat`` of an electronic confirmation (OTP, biometrics): a JSON record, not a signature.
CONFIRMATION_FORMAT: Final = "application/vnd.senhealth.confirmation+json"

_SD: Final = "https://senhealth.vn/fhir/StructureDefinition/"
#: On a ``Signature``: the RFC 3161 TimeStampToken (DER, base64) over the JWS signature value.
TIMESTAMP_EXTENSION: Final = _SD + "signature-timestamp"
#: On a ``Signature``: the role (a code of :data:`ROLES`) the signer signed in.
ROLE_EXTENSION: Final = _SD + "signature-role"
#: On a ``Signature``: reference to a contained Binary holding the certificate status evidence (OCSP
#: responses, CRLs) gathered when it was made.
EVIDENCE_EXTENSION: Final = _SD + "signature-validation-evidence"

#: ``meta.tag`` system of the records this package writes (search and guard them by it).
RECORD_TAG_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/signature-record"
SIGNED_BUNDLE_TAG: Final = {"system": RECORD_TAG_SYSTEM, "code": "signed-document"}
SIGNATURE_PROVENANCE_TAG: Final = {"system": RECORD_TAG_SYSTEM, "code": "signature"}


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """How one role is written down."""

    code: str  # ASTM E1762-95 signature type OID
    display: str
    agent_type: str  # provenance-participant-type code
    title_vi: str  # the role in Vietnamese (for answers and pages)
    title_en: str


ROLES: Final[dict[str, RoleSpec]] = {
    "author": RoleSpec("1.2.840.10065.1.12.1.1", "Author's Signature", "author", "Người lập", "Author"),
    "coauthor": RoleSpec(
        "1.2.840.10065.1.12.1.2", "Coauthor's Signature", "author", "Đồng tác giả", "Co-author"
    ),
    "verifier": RoleSpec(
        "1.2.840.10065.1.12.1.5", "Verification Signature", "verifier", "Trưởng khoa duyệt", "Verifier"
    ),
    "witness": RoleSpec(
        "1.2.840.10065.1.12.1.8", "Signature Witness Signature", "attester", "Người làm chứng", "Witness"
    ),
    "patient": RoleSpec("1.2.840.10065.1.12.1.7", "Consent Signature", "attester", "Người bệnh", "Patient"),
    "organization": RoleSpec(
        "1.2.840.10065.1.12.1.14", "Source Signature", "custodian", "Cơ sở khám chữa bệnh", "Facility"
    ),
}
assert set(ROLES) == set(get_args(Role))


def parse_role(value: str | None) -> Role:
    """``value`` as a :data:`Role` (None: ``author``); raises ``ValueError`` naming the allowed codes."""
    text = (value or "author").strip().lower()
    for role in get_args(Role):
        if role == text:
            found: Role = role
            return found
    raise ValueError(f"unknown signature role {value!r}: use one of {', '.join(ROLES)}")


def role_of_type(code: str | None) -> str | None:
    """The role whose ASTM code is ``code`` (None when none is)."""
    return next((r for r, spec in ROLES.items() if spec.code == code), None)


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """One signature (or confirmation) on a signed document, as verified now.

    ``valid`` says whether it holds: the document bytes are unchanged, the JWS verifies, the timestamp
    verifies, and the certificate was valid at the timestamp's time (for a confirmation: the recorded
    document digest still matches). ``reason`` / ``reason_vi`` say why, in English and Vietnamese.
    """

    kind: Kind
    role: str
    signer: str  # a display name: the certificate's subject CN, or the agent's display
    who: str | None  # "Practitioner/<id>", "Patient/<id>", "Organization/<id>"
    signed_at: datetime | None  # the claimed signing time (JWS sigT, Signature.when)
    timestamp: datetime | None  # the RFC 3161 time (None for a confirmation or when it failed)
    valid: bool
    reason: str
    reason_vi: str
    composition: str  # "Composition/<id>/_history/<version>" the document was generated from
    bundle: str  # "Bundle/<id>" of the signed document
    provenance: str | None = None  # "Provenance/<id>" holding it
    type_code: str = ""  # the ASTM signature type OID
    certificate_subject: str | None = None
    certificate_serial: str | None = None
    certificate_issuer: str | None = None
    revoked_at: datetime | None = None
    method: str | None = None  # a confirmation's method: otp | biometric
    details: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
