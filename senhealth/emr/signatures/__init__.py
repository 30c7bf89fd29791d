"""Digital signatures on clinical documents (docs/signatures.md).

Spec: https://hl7.org/fhir/R4/signatures.html, https://hl7.org/fhir/R4/datatypes.html#Signature,
https://hl7.org/fhir/R4/json.html#canonical, RFC 7515 (JWS), RFC 3161 (timestamps); Circular 13/2025
Art. 3 and Decree 23/2025 (../shared/reference/vietnam.md §2).

- :mod:`.canonical`: the bytes a document signature covers (``#document`` canonical JSON);
- :mod:`.jws`: compact JWS with a detached payload, signed through a :class:`~senhealth.emr.pki.keys.SigningKey`;
- :mod:`.model`: roles and their codes, the records' tags and extensions, :class:`SignatureInfo`;
- :mod:`.signing`: :func:`sign_document` (author signature on a new document Bundle, counter-signatures);
- :mod:`.verification`: :func:`document_signatures`, every signature verified at its timestamp's time;
- :mod:`.amendment`: :func:`amend_document` and :func:`document_chain`;
- :mod:`.confirmation`: a patient's confirmation by one-time code or biometrics (not a digital signature);
- :mod:`.immutability`: the write hook that keeps signed documents from being changed in place;
- :mod:`.operations`: :func:`register_signature_operations` (``$sign``, ``$verify``, ``$amend``, ``$confirm``).
"""

from senhealth.emr.signatures.amendment import AmendResult, ChainLink, amend_document, document_chain
from senhealth.emr.signatures.canonical import DOCUMENT_TARGET_FORMAT, canonical_document
from senhealth.emr.signatures.confirmation import OtpMessage, OtpSender, install_otp_sender
from senhealth.emr.signatures.immutability import install_immutability_guard, remove_immutability_guard
from senhealth.emr.signatures.model import ROLES, Role, SignatureInfo
from senhealth.emr.signatures.operations import register_signature_operations, unregister_signature_operations
from senhealth.emr.signatures.services import PkiServices, pki_services
from senhealth.emr.signatures.signing import Signer, SigningRefused, SignResult, sign_document
from senhealth.emr.signatures.verification import document_signatures

__all__ = [
    "DOCUMENT_TARGET_FORMAT",
    "ROLES",
    "AmendResult",
    "ChainLink",
    "OtpMessage",
    "OtpSender",
    "PkiServices",
    "Role",
    "SignResult",
    "SignatureInfo",
    "Signer",
    "SigningRefused",
    "amend_document",
    "canonical_document",
    "document_chain",
    "document_signatures",
    "install_immutability_guard",
    "install_otp_sender",
    "pki_services",
    "register_signature_operations",
    "remove_immutability_guard",
    "sign_document",
    "unregister_signature_operations",
]
