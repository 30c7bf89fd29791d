"""PAdES signatures on the rendered form with keys of the test PKI: B-T (RFC 3161 timestamp) and B-LT
(validation data embedded: the PDF still validates with the OCSP responder and the CRL gone).

Spec: ETSI EN 319 142-1; pyHanko's validator https://docs.pyhanko.eu/en/latest/lib-guide/validation.html
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from emr_pki_support import TestPki
from pypdf import PdfReader

from senhealth.emr.printing.layout import document_view
from senhealth.emr.printing.pades import PadesError, sign_pdf, validate_pdf
from senhealth.emr.printing.render import render_pdf

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "document",
    "entry": [
        {
            "fullUrl": "urn:uuid:5b0e1c4e-0d5c-4f43-9a3c-0e6c3f1f6a01",
            "resource": {
                "resourceType": "Composition",
                "id": "c1",
                "status": "final",
                "type": {"coding": [{"system": "http://loinc.org", "code": "57833-6"}]},
                "date": "2026-03-09",
                "title": "Đơn thuốc",
                "section": [
                    {"title": "Thuốc điều trị", "text": {"div": "<div>Amoxicilin 500 mg × 21 viên</div>"}}
                ],
            },
        }
    ],
}


def _other_root() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another Root CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_pdf(document_view(BUNDLE))[0]


def test_long_term_signature_validates_without_the_responders(pdf: bytes, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan", "BS. Lê Văn Lân")
    signed = sign_pdf(pdf, key, tsa_url=pki.tsa_url, trust_roots=pki.trust_roots, embed_validation_info=True)
    root: Any = PdfReader(io.BytesIO(signed)).trailer["/Root"]
    assert "/DSS" in root  # the Document Security Store: certificates, OCSP responses / CRLs
    dss: Any = root["/DSS"].get_object()
    assert "/Certs" in dss and ("/OCSPs" in dss or "/CRLs" in dss)
    pki.ocsp_available = pki.crl_available = pki.tsa_available = False
    [check] = validate_pdf(signed, pki.trust_roots)
    assert check.valid and check.trusted and check.timestamp_valid, check.summary
    assert check.signer_serial == key.certificate.serial_number and "bs.lan" in check.signer


def test_timestamp_required_and_tampering_detected(pdf: bytes, pki: TestPki) -> None:
    key = pki.issue_organization("bv1")
    signed = sign_pdf(pdf, key, tsa_url=pki.tsa_url)
    [check] = validate_pdf(signed, pki.trust_roots)
    assert check.valid and check.timestamp is not None and check.coverage == "ENTIRE_FILE"
    # one byte of the signed revision changed
    bad = bytearray(signed)
    bad[signed.index(b"stream", 500) + 30] ^= 0x20
    [broken] = validate_pdf(bytes(bad), pki.trust_roots)
    assert not broken.valid and not broken.intact
    # bytes appended after the signature are not covered
    [extended] = validate_pdf(signed + b"\n% appended\n", pki.trust_roots)
    assert extended.coverage != "ENTIRE_FILE"
    # checked against another CA's root: not trusted, not valid
    [untrusted] = validate_pdf(signed, (_other_root(),))
    assert not untrusted.trusted and not untrusted.valid
    # no TSA reachable: signing fails (a B-T signature cannot be made without its timestamp)
    pki.tsa_available = False
    with pytest.raises(PadesError):
        sign_pdf(pdf, key, tsa_url=pki.tsa_url)
