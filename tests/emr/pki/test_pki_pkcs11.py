"""Keys on a PKCS#11 token (SoftHSM): signatures verify with the certificate, and libraries (signxml,
pyHanko) sign through ``private_key_adapter`` / ``pyhanko_signer`` without ever holding the key."""

from __future__ import annotations

import asyncio
import hashlib
from io import BytesIO
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from emr_pki_support import TestPki, softhsm_keystore

from senhealth.emr.pki import certificate_authority as profiles
from senhealth.emr.pki.errors import NoSigningKey
from senhealth.emr.pki.keys import DelegatedRSAPrivateKey, SigningKey, private_key_adapter
from senhealth.emr.pki.keystore import save_certificate, signing_key
from senhealth.emr.pki.validation import check_certificate


@pytest.fixture(scope="module")
def token() -> Any:
    store = softhsm_keystore()
    if store is None:
        pytest.skip("SoftHSM is not installed (Debian package softhsm2): no PKCS#11 token to test with")
    return store


def _token_key(token: Any, pki: TestPki, username: str) -> SigningKey:
    name = f"user:{username}"
    public = token.generate(name, bits=2048)
    cert = profiles.issue_user(
        pki.intermediate, public, username=username, display_name=f"BS. {username}", urls=pki.urls
    )
    key: SigningKey = token.load(name, cert, pki.chain)
    return key


def _verify(key: SigningKey, signature: bytes, data: bytes) -> None:
    public = key.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_token_key_signs_and_certificate_verifies(token: Any, pki: TestPki) -> None:
    key = _token_key(token, pki, "bs.token")
    data = "Đơn thuốc / prescription".encode()
    signature = key.sign(data)
    _verify(key, signature, data)
    with pytest.raises(Exception):  # noqa: B017 - InvalidSignature: another text
        _verify(key, signature, data + b".")
    assert key.algorithm == "RS256"
    assert check_certificate(key.certificate, key.chain, trust_roots=pki.trust_roots).valid

    adapter = private_key_adapter(key)
    assert isinstance(adapter, DelegatedRSAPrivateKey) and isinstance(adapter, rsa.RSAPrivateKey)
    assert adapter.key_size == 2048
    assert (
        adapter.sign(data, padding.PKCS1v15(), hashes.SHA256()) == signature
    )  # PKCS#1 v1.5 is deterministic
    digest = hashlib.sha256(data).digest()
    assert adapter.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())) == signature
    with pytest.raises(NotImplementedError):
        adapter.private_bytes(Encoding.PEM, Any, Any)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        adapter.sign(data, padding.PKCS1v15(), hashes.SHA1())


def test_signing_key_lookup_from_the_token(token: Any, pki: TestPki) -> None:
    key = _token_key(token, pki, "bs.lookup")
    save_certificate(pki.folder, "user:bs.lookup", key.certificate)
    settings = SimpleNamespace(
        data_dir=pki.data_dir, environment="development", pki_keystore="pkcs11", **token.settings
    )
    found = signing_key(settings, user="bs.lookup")
    assert found.certificate == key.certificate and found.chain == pki.chain
    _verify(found, found.sign(b"abc"), b"abc")
    with pytest.raises(NoSigningKey, match=r"pki issue --user bs\.khong"):
        signing_key(settings, user="bs.khong")


def test_signxml_with_a_token_key(token: Any, pki: TestPki) -> None:
    from lxml import etree
    from signxml import XMLSigner, XMLVerifier

    key = _token_key(token, pki, "bs.xml")
    root = etree.fromstring(
        "<GIAMDINHHS><THONGTINDONVI><MACSKCB>01001</MACSKCB></THONGTINDONVI></GIAMDINHHS>"
    )
    cert_pem = key.certificate.public_bytes(Encoding.PEM).decode()
    signed = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256").sign(
        root, key=private_key_adapter(key), cert=[cert_pem]
    )
    result = XMLVerifier().verify(etree.tostring(signed), x509_cert=cert_pem)
    assert result.signed_xml is not None and result.signed_xml.findtext(".//MACSKCB") == "01001"
    tampered = etree.tostring(signed).replace(b"01001", b"01002")
    with pytest.raises(Exception):  # noqa: B017 - signxml's InvalidDigest
        XMLVerifier().verify(tampered, x509_cert=cert_pem)


def _minimal_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_pyhanko_pades_with_a_token_key(token: Any, pki: TestPki) -> None:
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import signers
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from senhealth.emr.pki.pyhanko_signer import pyhanko_signer

    key = _token_key(token, pki, "bs.pdf")
    writer = IncrementalPdfFileWriter(BytesIO(_minimal_pdf()))
    signed = BytesIO()

    async def sign() -> None:
        await signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="ChuKy1", reason="Ký bệnh án / signing the record"),
            signer=pyhanko_signer(key),
        ).async_sign_pdf(writer, output=signed)

    asyncio.run(sign())
    roots = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in pki.trust_roots]

    async def validate(pdf: bytes) -> Any:
        embedded = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
        context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
        return await async_validate_pdf_signature(embedded, context)

    status = asyncio.run(validate(signed.getvalue()))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.signing_cert.subject.native["user_id"] == "bs.pdf"

    # one byte of the signed content changed: no longer intact
    pdf = bytearray(signed.getvalue())
    at = pdf.find(b"/MediaBox [0 0 595 842]")
    pdf[at + len(b"/MediaBox [0 0 ")] = ord("4")
    broken = asyncio.run(validate(bytes(pdf)))
    assert not broken.intact
