"""Which key signs a document's PDF: the key of one of the document's own digital signatures.

Issue 6 asks for the PDF to be signed "with the same certificate" as the document. A document may carry
several signatures (author, head of department, facility); the PDF takes, in this order of preference,
the facility's (``organization``: the seal of the issuing facility on a paper it hands out), then the
author's, the verifier's, a co-author's, a witness's. Only signatures that verify now
(:func:`senhealth.emr.signatures.verification.document_signatures`) count, never a patient's
confirmation. The key is looked up in the key store the way ``$sign`` found it
(:func:`senhealth.emr.pki.keystore.signing_key`: a user by the ``UID`` of the certificate subject, a
facility by its ``organizationIdentifier``) and used only if its certificate is that very certificate
(same serial number and subject): a reissued certificate is a different signer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from senhealth.emr.pki.errors import PkiError
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.keystore import signing_key
from senhealth.emr.signatures.model import SignatureInfo

__all__ = ["PREFERENCE", "choose_signing_key", "signer_lookup"]

PREFERENCE: Final = ("organization", "author", "verifier", "coauthor", "witness")


def signer_lookup(info: SignatureInfo) -> tuple[str, str] | None:
    """``("user", username)`` or ``("organization", id)`` of a signature's certificate, or None."""
    if not info.certificate_subject:
        return None
    try:
        name = x509.Name.from_rfc4514_string(info.certificate_subject)
    except ValueError:
        return None
    uid = name.get_attributes_for_oid(NameOID.USER_ID)
    org = name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if info.role == "organization" and org:
        return ("organization", str(org[0].value))
    if uid:
        return ("user", str(uid[0].value))
    if org:
        return ("organization", str(org[0].value))
    return None


def _same(key: SigningKey, info: SignatureInfo) -> bool:
    serial = (info.certificate_serial or "").lower().lstrip("0") or "0"
    mine = format(key.certificate.serial_number, "x")
    return serial == mine and key.certificate.subject.rfc4514_string() == info.certificate_subject


def choose_signing_key(
    settings: Any, signatures: Sequence[SignatureInfo]
) -> tuple[SigningKey, SignatureInfo] | None:
    """The key to sign the PDF with and the signature whose certificate it is (None: no usable key)."""
    usable = [s for s in signatures if s.kind == "digital-signature" and s.valid and s.role in PREFERENCE]
    usable.sort(key=lambda s: PREFERENCE.index(s.role))
    for info in usable:
        lookup = signer_lookup(info)
        if lookup is None:
            continue
        kind, name = lookup
        try:
            key = (
                signing_key(settings, user=name)
                if kind == "user"
                else signing_key(settings, organization=name)
            )
        except PkiError:
            continue
        if _same(key, info):
            return key, info
    return None
