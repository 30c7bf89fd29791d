"""An RFC 3161 time-stamp authority: TimeStampReq in, TimeStampResp out, signed by the TSA's key.

Spec: https://www.rfc-editor.org/rfc/rfc3161 (protocol, TSTInfo), https://www.rfc-editor.org/rfc/rfc5816
(ESSCertIDv2 in the signing-certificate-v2 attribute), https://www.rfc-editor.org/rfc/rfc5652 (CMS).

The ASN.1 structures are asn1crypto's (``tsp``, ``cms``); the token's SignedData is assembled here
because no library offers a TSA server whose key may sit in a key store: the signature comes from a
:class:`~senhealth.emr.pki.keys.SigningKey`. Accepted message imprints: SHA-256, SHA-384, SHA-512 (a
request with another algorithm, or a malformed one, gets a ``rejection`` with ``badAlg`` /
``badDataFormat``). Serial numbers are random 128-bit integers, unique without a counter.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Final

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.emr.pki.keys import SigningKey

__all__ = ["TSA_POLICY", "TimeStampResp", "timestamp_response"]

#: The TSA policy OID under which tokens are issued (a private arc for the development TSA).
TSA_POLICY: Final = "1.3.6.1.4.1.61234.1.3161.1"
_DIGESTS: Final = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 TimeStampResp with the token OPTIONAL, as the RFC has it (asn1crypto's requires it)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}
    )
    return bytes(TimeStampResp({"status": status}).dump())


def _asn1(certificate_der: bytes) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate_der)


def timestamp_response(request_der: bytes, tsa: SigningKey, *, now: datetime | None = None) -> bytes:
    """The DER TimeStampResp answering ``request_der``, a token signed with ``tsa`` when granted."""
    try:
        request = tsp.TimeStampReq.load(request_der)
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
    except (ValueError, TypeError, KeyError):
        return _rejection("bad_data_format", "malformed TimeStampReq")
    if algorithm not in _DIGESTS:
        return _rejection("bad_alg", f"unsupported hash algorithm {algorithm}")
    if not isinstance(digest, bytes) or len(digest) != _DIGESTS[algorithm]:
        return _rejection("bad_data_format", "hashedMessage has the wrong length")
    if request["req_policy"].native not in (None, TSA_POLICY):
        return _rejection("unaccepted_policy", "unknown policy")

    gen_time = (now or datetime.now(UTC)).astimezone(UTC)
    tsa_cert = _asn1(tsa.certificate.public_bytes(Encoding.DER))
    info: dict[str, object] = {
        "version": "v1",
        "policy": TSA_POLICY,
        "message_imprint": imprint,
        "serial_number": secrets.randbits(127) | 1,
        "gen_time": gen_time,
        "accuracy": {"seconds": 1},
        "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject),
    }
    if nonce is not None:
        info["nonce"] = nonce
    tst_info = tsp.TSTInfo(info).dump()

    cert_hash = hashlib.sha256(tsa_cert.dump()).digest()
    signing_certificate = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": cert_hash,
                    "issuer_serial": {
                        "issuer": [asn1_x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                        "serial_number": tsa_cert.serial_number,
                    },
                }
            ]
        }
    )
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(gen_time)})]}
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]}),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [signing_certificate]}),
        ]
    )
    signature = tsa.sign(signed_attrs.dump())
    signature_algorithm = "sha256_rsa" if tsa.algorithm == "RS256" else "sha256_ecdsa"
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
            "signature": signature,
        }
    )
    content: dict[str, object] = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)},
        "signer_infos": [signer_info],
    }
    if cert_req:  # RFC 3161 §2.4.1: the TSA's certificate only when asked for
        content["certificates"] = [tsa_cert] + [_asn1(c.public_bytes(Encoding.DER)) for c in tsa.chain]
    signed_data = cms.SignedData(content)
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    status = tsp.PKIStatusInfo({"status": "granted"})
    return bytes(TimeStampResp({"status": status, "time_stamp_token": token}).dump())
