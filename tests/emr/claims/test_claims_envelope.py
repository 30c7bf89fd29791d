"""The signed ``GIAMDINHHS`` envelope: enveloped XML Signature (signxml), RSA-SHA256, the facility's
certificate in KeyInfo; any changed byte of a table breaks it.

Spec: https://www.w3.org/TR/xmldsig-core1/ (enveloped signature), the envelope of the insurance portal
(docs/claims.md).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from claims_support import make_claims_pki, other_pki
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from senhealth.emr.claims.envelope import (
    DSIG,
    EnvelopeError,
    SignatureRejected,
    Unsigned,
    build_envelope,
    read_envelope,
    sign_envelope,
    sign_envelope_with,
    verify_envelope,
)
from senhealth.emr.claims.xml_tables import write_table
from senhealth.emr.pki.keys import LocalSigningKey

PKI = make_claims_pki()
KEY = PKI.facility("01001")
XML1 = write_table("XML1", [{"MA_LK": "LK1", "STT": "1", "HO_TEN": "Nguyễn Văn An", "MA_CSKCB": "01001"}])
XML2 = write_table(
    "XML2",
    [{"MA_LK": "LK1", "STT": str(n), "MA_THUOC": "05.1020", "SO_LUONG": str(n * 10)} for n in (1, 2, 3)],
)
UNSIGNED = build_envelope(
    "01001", [[("XML1", XML1), ("XML2", XML2)]], created=datetime(2025, 3, 14, tzinfo=UTC)
)
SIGNED = sign_envelope(UNSIGNED, KEY)


def test_the_envelope_layout_and_its_signature() -> None:
    root = etree.fromstring(SIGNED)
    assert [c.tag for c in root] == ["THONGTINDONVI", "THONGTINHOSO", "CHUKYDONVI"]
    assert root.findtext("THONGTINDONVI/MACSKCB") == "01001"
    assert root.findtext("THONGTINHOSO/NGAYLAP") == "20250314"
    assert root.findtext("THONGTINHOSO/SOLUONGHOSO") == "1"
    files = root.findall("THONGTINHOSO/DANHSACHHOSO/HOSO/FILEHOSO")
    assert [f.findtext("LOAIHOSO") for f in files] == ["XML1", "XML2"]
    assert base64.b64decode(files[1].findtext("NOIDUNGFILE")) == XML2
    signature = root.find(f"CHUKYDONVI/{{{DSIG}}}Signature")
    assert signature is not None
    method = signature.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}SignatureMethod").get("Algorithm")
    assert method == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    reference = signature.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
    assert reference.get("URI") == ""
    transforms = [t.get("Algorithm") for t in reference.iter(f"{{{DSIG}}}Transform")]
    assert "http://www.w3.org/2000/09/xmldsig#enveloped-signature" in transforms
    certs = [
        x509.load_der_x509_certificate(base64.b64decode(c.text))
        for c in signature.iter(f"{{{DSIG}}}X509Certificate")
    ]
    assert certs == [KEY.certificate, *KEY.chain]
    verified = verify_envelope(SIGNED, trust_roots=PKI.trust_roots)
    assert verified.signer == KEY.certificate
    envelope = read_envelope(verified.signed_root)
    assert (envelope.facility, envelope.created, envelope.declared_count) == ("01001", "20250314", "1")
    assert [(f.kind, f.content) for f in envelope.records[0]] == [("XML1", XML1), ("XML2", XML2)]


def _table_text_spans(data: bytes) -> list[tuple[int, int]]:
    return [m.span(1) for m in re.finditer(rb"<NOIDUNGFILE>([^<]+)</NOIDUNGFILE>", data)]


def test_any_changed_byte_of_a_table_fails() -> None:
    spans = _table_text_spans(SIGNED)
    positions = [s + (e - s) * k // 12 for s, e in spans for k in range(12)]
    assert len(positions) == 24
    for position in positions:
        changed = bytearray(SIGNED)
        changed[position] = ord("A") if changed[position] != ord("A") else ord("B")
        with pytest.raises(SignatureRejected) as refused:
            verify_envelope(bytes(changed), trust_roots=PKI.trust_roots)
        assert refused.value.expression == "CHUKYDONVI"
    # a table changed and re-encoded, the facility changed, a file removed: all fail too
    forged_table = XML2.replace(b"<SO_LUONG>30</SO_LUONG>", b"<SO_LUONG>90</SO_LUONG>")
    variants = [
        SIGNED.replace(base64.b64encode(XML2), base64.b64encode(forged_table)),
        SIGNED.replace(b"<MACSKCB>01001</MACSKCB>", b"<MACSKCB>01002</MACSKCB>"),
        re.sub(
            rb"<FILEHOSO><LOAIHOSO>XML2</LOAIHOSO><NOIDUNGFILE>[^<]+</NOIDUNGFILE></FILEHOSO>", b"", SIGNED
        ),
    ]
    for variant in variants:
        assert variant != SIGNED
        with pytest.raises(SignatureRejected):
            verify_envelope(variant, trust_roots=PKI.trust_roots)


def test_trust_validity_and_unsigned_files() -> None:
    with pytest.raises(Unsigned):
        verify_envelope(UNSIGNED, trust_roots=PKI.trust_roots)
    stranger = sign_envelope(UNSIGNED, other_pki().facility("01001", key_no=6))
    with pytest.raises(SignatureRejected, match="not trusted"):
        verify_envelope(stranger, trust_roots=PKI.trust_roots)
    with pytest.raises(SignatureRejected, match="no trust roots"):
        verify_envelope(SIGNED, trust_roots=[])
    began = datetime.now(UTC) - timedelta(days=30)
    old_key = PKI.facility("01001", start=began, days=2, key_no=7)
    expired = sign_envelope(UNSIGNED, old_key)
    with pytest.raises(SignatureRejected, match="not trusted"):
        verify_envelope(expired, trust_roots=PKI.trust_roots)
    verified = verify_envelope(expired, trust_roots=PKI.trust_roots, at=began + timedelta(days=1))
    assert verified.signer == old_key.certificate  # valid when it was in force
    with pytest.raises(SignatureRejected, match="revoked"):
        verify_envelope(
            SIGNED, trust_roots=PKI.trust_roots, certificate_check=lambda leaf, chain, at: "revoked"
        )
    with pytest.raises(EnvelopeError):
        verify_envelope(b"<OTHER/>", trust_roots=PKI.trust_roots)


def test_an_ec_key_signs_with_ecdsa_sha256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = PKI.intermediate
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cơ sở KBCB 01003")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(PKI.intermediate_key.public_key()),
            critical=False,
        )
        .sign(PKI.intermediate_key, hashes.SHA256())
    )
    signing = LocalSigningKey(cert, (PKI.intermediate, PKI.root), key)
    signed = sign_envelope(UNSIGNED, signing)
    assert b"ecdsa-sha256" in signed
    assert verify_envelope(signed, trust_roots=PKI.trust_roots).signer == cert
    again = sign_envelope_with(UNSIGNED, key, [cert, PKI.intermediate, PKI.root])
    assert verify_envelope(again, trust_roots=PKI.trust_roots).signer == cert
