"""Certificate profiles of the development certificate authority (RFC 5280 X.509 certificates).

Spec: https://www.rfc-editor.org/rfc/rfc5280 (profile), https://www.rfc-editor.org/rfc/rfc6960#section-4.2.2.2
(delegated OCSP responder), https://www.rfc-editor.org/rfc/rfc3161#section-2.3 (TSA certificate).

The hierarchy: a self-signed root ("Sen Health Dev Root CA"), an intermediate ("Sen Health Dev CA", path
length 0) that issues every end-entity certificate: signing certificates for users (CN = display name,
UID = username, keyUsage digitalSignature + nonRepudiation) and organisations (O = facility name,
organizationIdentifier = the FHIR Organization id), the OCSP responder's delegated certificate
(extendedKeyUsage OCSPSigning, id-pkix-ocsp-nocheck) and the TSA's (extendedKeyUsage timeStamping,
critical). Every issued certificate names where its status is answered (authorityInfoAccess: OCSP and
caIssuers; cRLDistributionPoints) under the PKI's public base URL (:func:`pki_urls`).

Certificates are built with cryptography's builder; the CA's key signs through
:func:`senhealth.emr.pki.keys.private_key_adapter`, so a CA key may live on a PKCS#11 token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from senhealth.emr.pki.keys import SigningKey, private_key_adapter

__all__ = [
    "CA_NAMES",
    "INTERMEDIATE_NAME",
    "ROOT_NAME",
    "CertificateKind",
    "PkiUrls",
    "build_intermediate",
    "build_root",
    "issue_ocsp_responder",
    "issue_organization",
    "issue_timestamping",
    "issue_user",
    "new_rsa_key",
    "pki_urls",
]

ROOT_NAME: Final = "Sen Health Dev Root CA"
INTERMEDIATE_NAME: Final = "Sen Health Dev CA"
#: The CAs by their short name in URLs (``/pki/crl/{ca}.crl``, ``/pki/ca/{ca}.crt``).
CA_NAMES: Final = ("root", "intermediate")
_ORGANISATION: Final = "Sen Health"

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
CertificateKind = Literal["root", "intermediate", "user", "organization", "ocsp", "tsa"]


@dataclass(frozen=True)
class PkiUrls:
    """Where the PKI's services answer, written into issued certificates."""

    base_url: str

    @property
    def ocsp(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    @property
    def tsa(self) -> str:
        return f"{self.base_url}/pki/tsa"

    def crl(self, ca: str) -> str:
        return f"{self.base_url}/pki/crl/{ca}.crl"

    def ca_certificate(self, ca: str) -> str:
        return f"{self.base_url}/pki/ca/{ca}.crt"


def pki_urls(base_url: str) -> PkiUrls:
    """The PKI's URLs under ``base_url`` (``http://host:port``, no trailing slash needed)."""
    return PkiUrls(base_url.rstrip("/"))


def new_rsa_key(bits: int = 3072) -> rsa.RSAPrivateKey:
    """A fresh RSA key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets (RFC 5280 §4.1.2.2), unguessable.
    return secrets.randbits(159) | (1 << 158)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    not_before: datetime | None,
    days: int | None,
    not_after: datetime | None,
) -> x509.CertificateBuilder:
    start = not_before or _now() - timedelta(minutes=5)
    end = not_after or start + timedelta(days=days or 365)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, signing: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, issuer_key: SigningKey) -> x509.Certificate:
    return builder.sign(private_key_adapter(issuer_key), hashes.SHA256())


def _issued_by(
    builder: x509.CertificateBuilder, ca: SigningKey, urls: PkiUrls | None, ca_name: str
) -> x509.CertificateBuilder:
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    )
    if urls is None:
        return builder
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(urls.ca_certificate(ca_name)),
        )
    ]
    if ca_name != "root":  # the intermediate's own status comes from the root's CRL only
        access.insert(
            0,
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            ),
        )
    return builder.add_extension(x509.AuthorityInformationAccess(access), critical=False).add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(urls.crl(ca_name))],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    )


def build_root(
    key: SigningKey | rsa.RSAPrivateKey,
    *,
    name: str = ROOT_NAME,
    days: int = 20 * 365,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """The self-signed root CA certificate for ``key`` (a raw private key or a key store's key)."""
    private = key if isinstance(key, rsa.RSAPrivateKey) else private_key_adapter(key)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = (
        _builder(subject, subject, private.public_key(), not_before, days, None)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
    )
    return builder.sign(private, hashes.SHA256())


def build_intermediate(
    root: SigningKey,
    public_key: PublicKey,
    *,
    urls: PkiUrls | None,
    name: str = INTERMEDIATE_NAME,
    days: int = 10 * 365,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """The intermediate CA ("Sen Health Dev CA") that issues every end-entity certificate."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = _builder(subject, root.certificate.subject, public_key, not_before, days, None)
    builder = _issued_by(builder, root, urls, "root")
    builder = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True
    ).add_extension(_key_usage(ca=True), critical=True)
    return _sign(builder, root)


def _end_entity(
    ca: SigningKey,
    public_key: PublicKey,
    subject: x509.Name,
    urls: PkiUrls | None,
    *,
    not_before: datetime | None,
    not_after: datetime | None,
    days: int,
) -> x509.CertificateBuilder:
    builder = _builder(subject, ca.certificate.subject, public_key, not_before, days, not_after)
    builder = _issued_by(builder, ca, urls, "intermediate")
    return builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)


def issue_user(
    ca: SigningKey,
    public_key: PublicKey,
    *,
    username: str,
    display_name: str,
    organization: str | None = None,
    urls: PkiUrls | None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 2 * 365,
) -> x509.Certificate:
    """A person's signing certificate: CN = display name, UID = username, non-repudiation."""
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes += [
        x509.NameAttribute(NameOID.USER_ID, username),
        x509.NameAttribute(NameOID.COMMON_NAME, display_name or username),
    ]
    builder = _end_entity(
        ca, public_key, x509.Name(attributes), urls, not_before=not_before, not_after=not_after, days=days
    )
    return _sign(builder.add_extension(_key_usage(signing=True), critical=True), ca)


def issue_organization(
    ca: SigningKey,
    public_key: PublicKey,
    *,
    organization_id: str,
    name: str,
    urls: PkiUrls | None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 3 * 365,
) -> x509.Certificate:
    """A facility's signing certificate: O = CN = facility name, organizationIdentifier = its id."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organization_id),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = _end_entity(
        ca, public_key, subject, urls, not_before=not_before, not_after=not_after, days=days
    )
    return _sign(builder.add_extension(_key_usage(signing=True), critical=True), ca)


def _service_subject(name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def issue_ocsp_responder(
    ca: SigningKey,
    public_key: PublicKey,
    *,
    urls: PkiUrls | None,
    days: int = 365,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """The OCSP responder's delegated certificate (RFC 6960 §4.2.2.2), with id-pkix-ocsp-nocheck."""
    builder = _end_entity(
        ca,
        public_key,
        _service_subject("Sen Health Dev OCSP Responder"),
        urls,
        not_before=not_before,
        not_after=None,
        days=days,
    )
    builder = (
        builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    return _sign(builder, ca)


def issue_timestamping(
    ca: SigningKey,
    public_key: PublicKey,
    *,
    urls: PkiUrls | None,
    days: int = 5 * 365,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """The TSA's certificate: extendedKeyUsage timeStamping only, critical (RFC 3161 §2.3)."""
    builder = _end_entity(
        ca,
        public_key,
        _service_subject("Sen Health Dev Timestamp Authority"),
        urls,
        not_before=not_before,
        not_after=None,
        days=days,
    )
    builder = builder.add_extension(_key_usage(signing=True), critical=True).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
    )
    return _sign(builder, ca)
