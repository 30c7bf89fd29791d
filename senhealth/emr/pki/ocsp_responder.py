"""An OCSP responder (RFC 6960) answering for the certificates the intermediate CA issued.

Spec: https://www.rfc-editor.org/rfc/rfc6960 (protocol), §4.2.2.2 (delegated responder),
https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1 (HTTP: POST body, or GET with the base64 request).

Responses are signed by the responder's own delegated certificate (extendedKeyUsage OCSPSigning, issued
by the CA it answers for) and carry it. A request naming another CA is ``unauthorized``; a serial
number never issued here is ``unknown``; a malformed request is ``malformedRequest``. The nonce of the
request, when there is one, is echoed (RFC 8954).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from asn1crypto import keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp

from senhealth.emr.pki.keys import SigningKey, private_key_adapter
from senhealth.emr.pki.registry import CertificateRegistry, parse_reason

__all__ = ["OCSP_VALIDITY", "ocsp_response"]

#: How long an OCSP answer is current (its nextUpdate after thisUpdate).
OCSP_VALIDITY: Final = timedelta(hours=1)


def _issuer_hashes(ca: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    name_hash = hashes.Hash(algorithm)
    name_hash.update(ca.subject.public_bytes())
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # issuerKeyHash: hash of the subjectPublicKey BIT STRING value (without tag, length, unused bits).
    key_bits = _subject_public_key_bits(spki)
    key_hash = hashes.Hash(algorithm)
    key_hash.update(key_bits)
    return name_hash.finalize(), key_hash.finalize()


def _subject_public_key_bits(spki: bytes) -> bytes:
    info = keys.PublicKeyInfo.load(spki)
    return bytes(info["public_key"].contents[1:])


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


async def ocsp_response(
    request_der: bytes,
    *,
    registry: CertificateRegistry,
    responder: SigningKey,
    ca: x509.Certificate,
    now: datetime | None = None,
) -> bytes:
    """The DER OCSPResponse to ``request_der`` for certificates issued by ``ca``."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        name_hash, key_hash, serial = request.issuer_name_hash, request.issuer_key_hash, request.serial_number
        nonce = None
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = extension.value
    except (ValueError, TypeError):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    except Exception:  # an unsupported hash algorithm or extension in the request
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if (name_hash, key_hash) != _issuer_hashes(ca, algorithm):
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    this_update = (now or datetime.now(UTC)).replace(microsecond=0)
    record = await registry.get(serial)
    revocation_time = None
    revocation_reason = None
    if record is None or record.issuer != "intermediate":
        status = ocsp.OCSPCertStatus.UNKNOWN
    elif record.revoked_at is not None and record.revoked_at <= this_update:
        status = ocsp.OCSPCertStatus.REVOKED
        revocation_time = record.revoked_at
        reason = parse_reason(record.revocation_reason)
        revocation_reason = None if reason is x509.ReasonFlags.unspecified else reason
    else:
        status = ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=this_update - timedelta(seconds=1),
            next_update=this_update + OCSP_VALIDITY,
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
        .certificates([responder.certificate])
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    response = builder.sign(private_key_adapter(responder), hashes.SHA256())
    return response.public_bytes(Encoding.DER)
