"""The ``GIAMDINHHS`` envelope: claim tables base64-encoded in one file, signed by the facility.

Spec: the envelope of the insurance portal (Decision 130/QĐ-BYT and its amendments; layout in
docs/claims.md)::

    <GIAMDINHHS>
      <THONGTINDONVI><MACSKCB>01001</MACSKCB></THONGTINDONVI>
      <THONGTINHOSO>
        <NGAYLAP>20250314</NGAYLAP><SOLUONGHOSO>1</SOLUONGHOSO>
        <DANHSACHHOSO><HOSO>
          <FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>base64 of the table</NOIDUNGFILE></FILEHOSO> ...
        </HOSO></DANHSACHHOSO>
      </THONGTINHOSO>
      <CHUKYDONVI><ds:Signature>...</ds:Signature></CHUKYDONVI>
    </GIAMDINHHS>

The signature is an enveloped XML Signature (https://www.w3.org/TR/xmldsig-core1/), made and checked
with signxml (https://xml-security.github.io/signxml/): reference ``URI=""`` (the whole document, the
signature itself taken out by the enveloped-signature transform), canonical XML 1.0, SHA-256 digests,
RSA-SHA256 (ECDSA-SHA256 for an EC key), the facility's certificate and its chain in ``KeyInfo``. A
changed byte anywhere in the signed content (a table's base64 text included) breaks the digest.

Verification (:func:`verify_envelope`) checks the chain in ``KeyInfo`` against the trust roots given
(path validation with ``cryptography``; a revocation check can be added with ``certificate_check``),
then the signature with the leaf certificate, and answers the **signed** tree: callers read the tables
from what was signed, never from the bytes around it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from lxml import etree  # type: ignore[import-untyped]
from signxml import (  # type: ignore[attr-defined]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration

from senhealth.emr.claims.xml_tables import XmlError, local_name, parse_xml
from senhealth.emr.pki.keys import SigningKey, private_key_adapter

__all__ = [
    "DSIG",
    "ROOT",
    "ClaimFile",
    "Envelope",
    "EnvelopeError",
    "SignatureRejected",
    "Unsigned",
    "VerifiedEnvelope",
    "build_envelope",
    "read_envelope",
    "sign_envelope",
    "sign_envelope_with",
    "signature_present",
    "verify_envelope",
]

ROOT: Final = "GIAMDINHHS"
DSIG: Final = "http://www.w3.org/2000/09/xmldsig#"
CertificateCheck = Callable[[x509.Certificate, Sequence[x509.Certificate], datetime], str | None]
"""``(leaf, intermediates, at) -> None`` when acceptable, else the reason (a revocation check...)."""


class EnvelopeError(ValueError):
    """The file is not a readable ``GIAMDINHHS`` envelope; ``expression`` names where."""

    def __init__(self, message_vi: str, message_en: str, expression: str = ROOT) -> None:
        super().__init__(f"{message_vi} / {message_en}")
        self.message_vi = message_vi
        self.message_en = message_en
        self.expression = expression


class Unsigned(EnvelopeError):
    """The envelope carries no signature in ``CHUKYDONVI``."""


class SignatureRejected(EnvelopeError):
    """The signature or its certificate does not verify."""


@dataclass(frozen=True, slots=True)
class ClaimFile:
    """One ``FILEHOSO``: its table type and the decoded table XML."""

    kind: str
    content: bytes
    position: str  # where it sits: "HOSO[1].FILEHOSO[2]"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What an envelope holds: the facility, the creation date and each ``HOSO``'s files."""

    facility: str
    created: str
    declared_count: str
    records: tuple[tuple[ClaimFile, ...], ...]


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    """A verified signature: the signer's certificate, the chain it came with, the signed tree."""

    signer: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    signed_root: Any


def build_envelope(
    facility: str,
    records: Sequence[Sequence[tuple[str, bytes]]],
    *,
    created: datetime | None = None,
) -> bytes:
    """An unsigned envelope for ``facility`` holding ``records`` (each a list of ``(LOAIHOSO, table XML)``),
    with the signature placeholder in ``CHUKYDONVI``; :func:`sign_envelope` fills it."""
    when = created or datetime.now(UTC)
    root = etree.Element(ROOT)
    info = etree.SubElement(root, "THONGTINDONVI")
    etree.SubElement(info, "MACSKCB").text = facility
    files = etree.SubElement(root, "THONGTINHOSO")
    etree.SubElement(files, "NGAYLAP").text = when.strftime("%Y%m%d")
    etree.SubElement(files, "SOLUONGHOSO").text = str(len(records))
    listing = etree.SubElement(files, "DANHSACHHOSO")
    for record in records:
        hoso = etree.SubElement(listing, "HOSO")
        for kind, content in record:
            item = etree.SubElement(hoso, "FILEHOSO")
            etree.SubElement(item, "LOAIHOSO").text = kind
            etree.SubElement(item, "NOIDUNGFILE").text = base64.b64encode(content).decode("ascii")
    signature = etree.SubElement(root, "CHUKYDONVI")
    etree.SubElement(signature, f"{{{DSIG}}}Signature", Id="placeholder", nsmap={"ds": DSIG})
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return out


def sign_envelope_with(
    document: bytes,
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    cert_chain: Sequence[x509.Certificate],
) -> bytes:
    """Sign an envelope from :func:`build_envelope` with ``private_key``; ``cert_chain`` is the signer's
    certificate first, then its issuers (all go into ``KeyInfo``)."""
    root = parse_xml(document)
    if local_name(root) != ROOT:
        raise EnvelopeError("không phải hồ sơ GIAMDINHHS", "not a GIAMDINHHS envelope")
    holder = _signature_holder(root)
    if holder is None or holder.find(f"{{{DSIG}}}Signature[@Id='placeholder']") is None:
        if holder is None:
            holder = etree.SubElement(root, "CHUKYDONVI")
        for old in list(holder):
            holder.remove(old)
        etree.SubElement(holder, f"{{{DSIG}}}Signature", Id="placeholder", nsmap={"ds": DSIG})
    public = cert_chain[0].public_key()
    method = (
        SignatureMethod.ECDSA_SHA256
        if isinstance(public, ec.EllipticCurvePublicKey)
        else SignatureMethod.RSA_SHA256
    )
    signer = XMLSigner(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    signed = signer.sign(root, key=private_key, cert=list(cert_chain))
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="utf-8")
    return out


def sign_envelope(document: bytes, key: SigningKey) -> bytes:
    """Sign an envelope with a facility's :class:`~senhealth.emr.pki.keys.SigningKey` (its certificate
    and chain in ``KeyInfo``; the private key stays in its key store)."""
    return sign_envelope_with(document, private_key_adapter(key), [key.certificate, *key.chain])


def _signature_holder(root: Any) -> Any:
    return next((c for c in root if local_name(c) == "CHUKYDONVI"), None)


def signature_present(root: Any) -> bool:
    """True when ``CHUKYDONVI`` holds a ``ds:Signature`` (not a bare placeholder)."""
    holder = _signature_holder(root)
    if holder is None:
        return False
    sig = holder.find(f"{{{DSIG}}}Signature")
    return sig is not None and sig.get("Id") != "placeholder" and len(sig) > 0


def _certificates(root: Any) -> list[x509.Certificate]:
    holder = _signature_holder(root)
    found = holder.findall(f".//{{{DSIG}}}X509Certificate") if holder is not None else []
    out: list[x509.Certificate] = []
    for element in found:
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            out.append(x509.load_der_x509_certificate(der))
        except (ValueError, binascii.Error):
            raise SignatureRejected(
                "chứng thư số trong chữ ký không đọc được",
                "a certificate in the signature cannot be read",
                "CHUKYDONVI",
            ) from None
    return out


def _path(
    leaf: x509.Certificate,
    others: Sequence[x509.Certificate],
    trust_roots: Sequence[x509.Certificate],
    at: datetime,
) -> None:
    """Path validation of ``leaf`` to one of ``trust_roots`` (RFC 5280 through ``cryptography``)."""
    if not trust_roots:
        raise SignatureRejected(
            "chưa cấu hình chứng thư gốc tin cậy", "no trust roots are configured", "CHUKYDONVI"
        )
    ee_policy = verification.ExtensionPolicy.permit_all()
    ca_policy = verification.ExtensionPolicy.webpki_defaults_ca()
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(trust_roots)))
        .time(at)
        .extension_policies(ee_policy=ee_policy, ca_policy=ca_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, [c for c in others if c != leaf])
    except verification.VerificationError as exc:
        raise SignatureRejected(
            f"chứng thư số của đơn vị không được tin cậy: {exc}",
            f"the facility's certificate is not trusted: {exc}",
            "CHUKYDONVI",
        ) from None
    usage = _key_usage(leaf)
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise SignatureRejected(
            "chứng thư số không dùng để ký", "the certificate is not for signing", "CHUKYDONVI"
        )


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def verify_envelope(
    data: bytes | Any,
    *,
    trust_roots: Sequence[x509.Certificate],
    at: datetime | None = None,
    certificate_check: CertificateCheck | None = None,
) -> VerifiedEnvelope:
    """Verify the facility's signature of an envelope (bytes, or its parsed root).

    Raises :class:`Unsigned` when there is no signature, :class:`SignatureRejected` when the chain does
    not lead to ``trust_roots`` (at ``at``, default now), ``certificate_check`` refuses the certificate,
    the signature or a digest does not verify, or the signature does not cover the whole envelope.
    """
    try:
        root = parse_xml(bytes(data)) if isinstance(data, bytes | bytearray) else data
    except XmlError as exc:
        raise EnvelopeError(
            f"tệp không phải XML hợp lệ: {exc}", f"the file is not well-formed XML: {exc}"
        ) from None
    if local_name(root) != ROOT:
        raise EnvelopeError(
            f"thẻ gốc phải là <{ROOT}>, không phải <{local_name(root)}>",
            f"the root element must be <{ROOT}>, not <{local_name(root)}>",
        )
    if not signature_present(root):
        raise Unsigned(
            "hồ sơ chưa được ký số (CHUKYDONVI trống)",
            "the file is not signed (empty CHUKYDONVI)",
            "CHUKYDONVI",
        )
    when = at or datetime.now(UTC)
    certs = _certificates(root)
    if not certs:
        raise SignatureRejected(
            "chữ ký không kèm chứng thư số (X509Certificate)",
            "the signature carries no certificate (X509Certificate)",
            "CHUKYDONVI",
        )
    leaf, others = certs[0], certs[1:]
    _path(leaf, others, trust_roots, when)
    if certificate_check is not None:
        reason = certificate_check(leaf, others, when)
        if reason:
            raise SignatureRejected(
                f"chứng thư số bị từ chối: {reason}", f"the certificate is refused: {reason}", "CHUKYDONVI"
            )
    config = SignatureConfiguration(
        require_x509=True,
        location="./CHUKYDONVI/",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        verification_time=when,
    )
    try:
        result = XMLVerifier().verify(root, x509_cert=leaf, expect_config=config)
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput) as exc:
        raise SignatureRejected(
            f"chữ ký số không hợp lệ: {exc}", f"the digital signature does not verify: {exc}", "CHUKYDONVI"
        ) from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or local_name(signed) != ROOT:
        raise SignatureRejected(
            "chữ ký không bao toàn bộ hồ sơ", "the signature does not cover the whole file", "CHUKYDONVI"
        )
    return VerifiedEnvelope(leaf, tuple(others), signed)


def _text(parent: Any, name: str) -> str:
    child = next((c for c in parent if local_name(c) == name), None) if parent is not None else None
    return (child.text or "").strip() if child is not None else ""


def read_envelope(data: bytes | Any) -> Envelope:
    """The facility, date and files of an envelope (bytes, or a parsed root such as
    :attr:`VerifiedEnvelope.signed_root`); :class:`EnvelopeError` naming the faulty element."""
    try:
        root = parse_xml(bytes(data)) if isinstance(data, bytes | bytearray) else data
    except XmlError as exc:
        raise EnvelopeError(
            f"tệp không phải XML hợp lệ: {exc}", f"the file is not well-formed XML: {exc}"
        ) from None
    if local_name(root) != ROOT:
        raise EnvelopeError(
            f"thẻ gốc phải là <{ROOT}>, không phải <{local_name(root)}>",
            f"the root element must be <{ROOT}>, not <{local_name(root)}>",
        )
    unit = next((c for c in root if local_name(c) == "THONGTINDONVI"), None)
    facility = _text(unit, "MACSKCB")
    info = next((c for c in root if local_name(c) == "THONGTINHOSO"), None)
    if info is None:
        raise EnvelopeError("thiếu THONGTINHOSO", "THONGTINHOSO is missing", f"{ROOT}.THONGTINHOSO")
    listing = next((c for c in info if local_name(c) == "DANHSACHHOSO"), None)
    if listing is None:
        raise EnvelopeError("thiếu DANHSACHHOSO", "DANHSACHHOSO is missing", "THONGTINHOSO.DANHSACHHOSO")
    records: list[tuple[ClaimFile, ...]] = []
    for h, hoso in enumerate((c for c in listing if local_name(c) == "HOSO"), 1):
        files: list[ClaimFile] = []
        for f, item in enumerate((c for c in hoso if local_name(c) == "FILEHOSO"), 1):
            where = f"HOSO[{h}].FILEHOSO[{f}]"
            kind = _text(item, "LOAIHOSO").upper()
            payload = "".join(_text(item, "NOIDUNGFILE").split())
            try:
                content = base64.b64decode(payload, validate=True)
            except (ValueError, binascii.Error):
                raise EnvelopeError(
                    "NOIDUNGFILE không phải base64 hợp lệ",
                    "NOIDUNGFILE is not valid base64",
                    f"{where}.NOIDUNGFILE",
                ) from None
            files.append(ClaimFile(kind, content, where))
        records.append(tuple(files))
    return Envelope(facility, _text(info, "NGAYLAP"), _text(info, "SOLUONGHOSO"), tuple(records))
