"""The PKI's HTTP services on loopback: OCSP (POST and GET), CRLs, CA certificates, the RFC 3161 TSA."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from emr_pki_support import TestPki, make_test_pki

from senhealth.emr.pki.errors import TimestampError
from senhealth.emr.pki.timestamp import request_timestamp, timestamp_time, verify_timestamp
from senhealth.emr.pki.timestamp_authority import TimeStampResp


def _request(cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def _responder_signed(response: ocsp.OCSPResponse, pki: TestPki) -> None:
    assert response.certificates == [pki.ocsp.certificate]
    pki.ocsp.certificate.public_key().verify(  # type: ignore[union-attr, call-arg]
        response.signature,
        response.tbs_response_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),  # type: ignore[arg-type]
    )


def test_ocsp_good_revoked_unknown(pki: TestPki) -> None:
    key = pki.issue_user("bs.ocsp")
    answer = httpx.post(
        pki.ocsp_url,
        content=_request(key.certificate, pki.intermediate.certificate, nonce=b"n" * 16),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    _responder_signed(response, pki)

    revoked_at = pki.revoke(key, reason="superseded")
    encoded = base64.b64encode(_request(key.certificate, pki.intermediate.certificate)).decode()
    by_get = httpx.get(f"{pki.ocsp_url}/{encoded}")
    assert by_get.status_code == 200
    response = ocsp.load_der_ocsp_response(by_get.content)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason == x509.ReasonFlags.superseded
    _responder_signed(response, pki)

    # a certificate of the same CA the register does not know: "unknown"
    stranger = x509.CertificateBuilder(
        issuer_name=pki.intermediate.certificate.subject,
        subject_name=x509.Name([]),
        public_key=key.certificate.public_key(),
        serial_number=12345,
        not_valid_before=datetime.now(UTC),
        not_valid_after=datetime.now(UTC) + timedelta(days=1),
    ).sign(pki.intermediate.private_key, hashes.SHA256())
    response = ocsp.load_der_ocsp_response(
        httpx.post(pki.ocsp_url, content=_request(stranger, pki.intermediate.certificate)).content
    )
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_refuses_bad_requests(pki: TestPki) -> None:
    key = pki.issue_user("bs.bad")
    malformed = ocsp.load_der_ocsp_response(httpx.post(pki.ocsp_url, content=b"\x30\x03abc").content)
    assert malformed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # asked about the intermediate as if the root had issued the user: not this responder's CA
    wrong_issuer = _request(key.certificate, pki.root.certificate)
    answer = ocsp.load_der_ocsp_response(httpx.post(pki.ocsp_url, content=wrong_issuer).content)
    assert answer.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert httpx.post(pki.ocsp_url, content=b"").status_code == 400
    assert httpx.get(f"{pki.ocsp_url}/not*base64").status_code == 400


def test_crl_and_ca_certificates(pki: TestPki) -> None:
    kept = pki.issue_user("bs.giu")
    gone = pki.issue_user("bs.di")
    revoked_at = pki.revoke(gone, reason="cessationOfOperation")
    answer = httpx.get(pki.crl_url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(answer.content)
    assert crl.is_signature_valid(pki.intermediate.certificate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.intermediate.certificate.subject
    entry = crl.get_revoked_certificate_by_serial_number(gone.certificate.serial_number)
    assert entry is not None and entry.revocation_date_utc == revoked_at
    assert crl.get_revoked_certificate_by_serial_number(kept.certificate.serial_number) is None
    assert crl.next_update_utc is not None and crl.next_update_utc > datetime.now(UTC)

    root_crl = x509.load_der_x509_crl(httpx.get(pki.root_crl_url).content)
    assert root_crl.is_signature_valid(pki.root.certificate.public_key())  # type: ignore[arg-type]
    assert len(root_crl) == 0
    assert httpx.get(pki.base_url + "/pki/crl/nobody.crl").status_code == 404

    ca = httpx.get(pki.base_url + "/pki/ca/intermediate.crt")
    assert ca.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(ca.content) == pki.intermediate.certificate


def test_tsa_token_binds_to_data(pki: TestPki) -> None:
    data = "Bệnh án ngoại trú / outpatient record".encode()
    token = request_timestamp(data, pki.tsa_url)
    when = verify_timestamp(token, data, pki.trust_roots)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 30
    assert timestamp_time(token) == when

    # the token's content: our TSA, our imprint, the signing-certificate-v2 attribute
    content = cms.ContentInfo.load(token)
    info = content["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(data).digest()
    attrs = {a["type"].native for a in content["content"]["signer_infos"][0]["signed_attrs"]}
    assert "signing_certificate_v2" in attrs

    with pytest.raises(TimestampError, match="other data"):
        verify_timestamp(token, data + b" ", pki.trust_roots)

    # one byte of the signed TSTInfo changed: the signature no longer verifies
    raw = bytearray(token)
    serial = info["serial_number"].contents
    at = bytes(raw).find(serial)
    raw[at] ^= 0x01
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(raw), data, pki.trust_roots)


def test_tsa_trust_and_availability(pki: TestPki, tmp_path: Path) -> None:
    data = b"x"
    token = request_timestamp(data, pki.tsa_url)
    with (
        make_test_pki(tmp_path / "other", own_keys=True) as other,
        pytest.raises(TimestampError, match="not valid"),
    ):
        verify_timestamp(token, data, other.trust_roots)
    pki.tsa_available = False
    with pytest.raises(TimestampError, match="503"):
        request_timestamp(data, pki.tsa_url)
    with pytest.raises(TimestampError, match="cannot be reached"):
        request_timestamp(data, "http://127.0.0.1:9/pki/tsa", timeout=2)


def test_tsa_protocol_errors(pki: TestPki) -> None:
    refused = httpx.post(pki.tsa_url, content=b"abc", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415
    rejected = httpx.post(
        pki.tsa_url, content=b"\x30\x03abc", headers={"Content-Type": "application/timestamp-query"}
    )
    assert rejected.status_code == 200
    assert TimeStampResp.load(rejected.content)["status"]["status"].native == "rejection"
    md5_request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "md5"}, "hashed_message": b"0" * 16},
            "cert_req": True,
        }
    ).dump()
    answer = TimeStampResp.load(
        httpx.post(
            pki.tsa_url, content=md5_request, headers={"Content-Type": "application/timestamp-query"}
        ).content
    )
    assert answer["status"]["status"].native == "rejection"
    assert "bad_alg" in answer["status"]["fail_info"].native
