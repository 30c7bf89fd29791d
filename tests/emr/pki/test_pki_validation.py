"""Certificate validation at a point in time: chain, validity, key usage, revocation by OCSP then CRL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from emr_pki_support import TestPki, make_test_pki

from senhealth.emr.pki.timestamp import request_timestamp, verify_timestamp
from senhealth.emr.pki.validation import async_check_certificate, check_certificate


def test_issue_sign_validate(pki: TestPki) -> None:
    key = pki.issue_user("bs.lan", "BS. Trần Thị Lan")
    data = "Giấy ra viện / discharge paper".encode()
    signature = key.sign(data)
    key.certificate.public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg, arg-type]
    assert key.algorithm == "RS256"
    subject = key.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "BS. Trần Thị Lan"
    assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "bs.lan"
    usage = key.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign

    check = check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
    assert check.valid, check.reason
    assert check.revoked_at is None
    assert check.reason_vi.startswith("Hợp lệ")
    # evidence: the leaf's status came from OCSP, the intermediate's from the root's CRL
    methods = {s["certificate"]: s["method"] for s in check.evidence["sources"]}
    assert methods[format(key.certificate.serial_number, "x")] == "ocsp"
    assert methods[format(pki.intermediate.certificate.serial_number, "x")] == "crl"
    response = ocsp.load_der_ocsp_response(base64.b64decode(check.evidence["ocsp"][0]))
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == key.certificate.serial_number


def test_revoked_is_invalid_now_but_valid_before(pki: TestPki) -> None:
    key = pki.issue_user("bs.minh")
    data = b"signed before the revocation"
    token = request_timestamp(key.sign(data), pki.tsa_url)
    signed_at = verify_timestamp(token, key.sign(data), pki.trust_roots)
    revoked_at = pki.revoke(key, reason="keyCompromise")
    assert revoked_at > signed_at

    now = check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
    assert not now.valid
    assert "revoked" in now.reason and "key compromise" in now.reason
    assert "thu hồi" in now.reason_vi and "lộ khóa riêng" in now.reason_vi
    assert now.revoked_at == revoked_at

    then = check_certificate(key.certificate, key.chain, at=signed_at, trust_roots=pki.trust_roots)
    assert then.valid, then.reason
    assert then.revoked_at == revoked_at  # valid then, and the later revocation is told
    assert "revoked later" in then.reason

    after = check_certificate(
        key.certificate, key.chain, at=revoked_at + timedelta(seconds=1), trust_roots=pki.trust_roots
    )
    assert not after.valid


def test_expired_is_invalid(pki: TestPki) -> None:
    key = pki.issue_user("bs.cu", expired=True)
    check = check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
    assert not check.valid
    assert "expired" in check.reason and "hết hạn" in check.reason_vi
    during = check_certificate(
        key.certificate, key.chain, at=datetime.now(UTC) - timedelta(days=30), trust_roots=pki.trust_roots
    )
    assert during.valid, during.reason
    before = check_certificate(
        key.certificate, key.chain, at=datetime.now(UTC) - timedelta(days=500), trust_roots=pki.trust_roots
    )
    assert not before.valid and "not valid before" in before.reason


def test_crl_fallback_when_ocsp_is_down(pki: TestPki) -> None:
    good = pki.issue_user("bs.tot")
    bad = pki.issue_user("bs.xau")
    pki.revoke(bad, reason="affiliationChanged")
    pki.ocsp_available = False

    check = check_certificate(good.certificate, good.chain, trust_roots=pki.trust_roots)
    assert check.valid, check.reason
    assert check.evidence["ocsp"] == []
    assert {s["method"] for s in check.evidence["sources"]} == {"crl"}
    assert any("OCSP" in e and "503" in e for e in check.evidence["errors"])
    crl = x509.load_der_x509_crl(base64.b64decode(check.evidence["crl"][0]))
    assert crl.issuer == pki.intermediate.certificate.subject

    revoked = check_certificate(bad.certificate, bad.chain, trust_roots=pki.trust_roots)
    assert not revoked.valid and "affiliation changed" in revoked.reason
    assert "thay đổi đơn vị công tác" in revoked.reason_vi


def test_no_revocation_answer_is_invalid(pki: TestPki) -> None:
    key = pki.issue_user("bs.mat")
    pki.ocsp_available = False
    pki.crl_available = False
    check = check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
    assert not check.valid
    assert "could not be checked" in check.reason and "Không kiểm tra được" in check.reason_vi


def test_untrusted_root_and_wrong_purpose(pki: TestPki, tmp_path: Path) -> None:
    key = pki.issue_user("bs.la")
    with make_test_pki(tmp_path / "other", own_keys=True) as other:
        foreign = check_certificate(key.certificate, key.chain, trust_roots=other.trust_roots)
        assert not foreign.valid and "trusted root" in foreign.reason
        assert "CA gốc tin cậy" in foreign.reason_vi
    assert not check_certificate(key.certificate, key.chain, trust_roots=()).valid

    # the TSA's certificate is for timestamps only (critical extendedKeyUsage): it cannot sign documents
    tsa = check_certificate(pki.tsa.certificate, pki.tsa.chain, trust_roots=pki.trust_roots)
    assert not tsa.valid and "extendedKeyUsage" in tsa.reason
    tsa_ok = check_certificate(
        pki.tsa.certificate, pki.tsa.chain, trust_roots=pki.trust_roots, purpose="timestamping"
    )
    assert tsa_ok.valid, tsa_ok.reason
    # the user's certificate is not a timestamping one
    assert not check_certificate(
        key.certificate, key.chain, trust_roots=pki.trust_roots, purpose="timestamping"
    ).valid
    # nor is the OCSP responder's certificate a signing one (no nonRepudiation)
    assert not check_certificate(pki.ocsp.certificate, pki.ocsp.chain, trust_roots=pki.trust_roots).valid


def test_organization_certificate(pki: TestPki) -> None:
    key = pki.issue_organization("bv-tinh", "Bệnh viện Đa khoa tỉnh")
    subject = key.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Bệnh viện Đa khoa tỉnh"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "bv-tinh"
    aia = key.certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert pki.ocsp_url in {str(d.access_location.value) for d in aia}
    cdp = key.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [str(n.value) for p in cdp for n in p.full_name or []] == [pki.crl_url]
    assert check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots).valid


def test_async_check_inside_an_event_loop(pki: TestPki) -> None:
    import asyncio

    key = pki.issue_user("bs.async")

    async def both() -> tuple[bool, bool]:
        direct = await async_check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
        # the blocking form still works when called from a coroutine
        blocking = check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots)
        return direct.valid, blocking.valid

    assert asyncio.run(both()) == (True, True)
