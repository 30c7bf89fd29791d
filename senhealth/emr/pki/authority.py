"""The certificate authority at work: its keys, its register, and what it answers (CRL, OCSP, TSA).

Spec: https://www.rfc-editor.org/rfc/rfc5280 (certificates, CRLs), https://www.rfc-editor.org/rfc/rfc6960
(OCSP), https://www.rfc-editor.org/rfc/rfc3161 (timestamps).

An :class:`Authority` is assembled from a root, an intermediate, the OCSP responder's and the TSA's
signing keys, and a :class:`~senhealth.emr.pki.registry.CertificateRegistry`. It issues certificates
(recording each one), revokes them, and answers the three services; the HTTP side is ``/pki/...``
(``senhealth.api.pki``). How an installation's authority is loaded from its files and database is
:mod:`senhealth.emr.pki.installation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.emr.pki import certificate_authority as profiles
from senhealth.emr.pki.crl import build_crl
from senhealth.emr.pki.errors import PkiError, UnknownCertificate
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.ocsp_responder import ocsp_response
from senhealth.emr.pki.registry import CertificateRegistry, IssuedCertificate, issued_record
from senhealth.emr.pki.timestamp_authority import timestamp_response

__all__ = ["Authority"]

PublicKey = profiles.PublicKey


@dataclass
class Authority:
    """A working CA: root, intermediate, OCSP responder and TSA keys, the register, the URLs."""

    root: SigningKey
    intermediate: SigningKey
    ocsp: SigningKey
    tsa: SigningKey
    registry: CertificateRegistry
    urls: profiles.PkiUrls | None

    @property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        return (self.root.certificate,)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The chain above an end-entity certificate: intermediate, then root."""
        return (self.intermediate.certificate, self.root.certificate)

    def ca(self, name: str) -> SigningKey:
        """The CA ``root`` or ``intermediate``."""
        if name == "root":
            return self.root
        if name == "intermediate":
            return self.intermediate
        raise UnknownCertificate(
            f"Không có CA / no certificate authority named {name!r} (root, intermediate)"
        )

    def ca_certificate_der(self, name: str) -> bytes:
        return self.ca(name).certificate.public_bytes(Encoding.DER)

    async def crl(self, name: str, *, now: datetime | None = None) -> bytes:
        """The current DER CRL of the CA ``name``."""
        ca = self.ca(name)
        revoked = await self.registry.revoked(name)
        return build_crl(ca, revoked, now=now).public_bytes(Encoding.DER)

    async def ocsp_response(self, request_der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request about a certificate of the intermediate."""
        return await ocsp_response(
            request_der, registry=self.registry, responder=self.ocsp, ca=self.intermediate.certificate
        )

    def timestamp(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq."""
        return timestamp_response(request_der, self.tsa)

    async def record(
        self, certificate: x509.Certificate, *, kind: str, holder: str | None
    ) -> IssuedCertificate:
        issuer = "root" if certificate.issuer == self.root.certificate.subject else "intermediate"
        record = issued_record(certificate, kind=kind, holder=holder, issuer=issuer)
        await self.registry.add(record)
        return record

    async def issue_user(
        self,
        public_key: PublicKey,
        *,
        username: str,
        display_name: str,
        organization: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        """Issue (and record) a user's signing certificate for ``public_key``."""
        certificate = profiles.issue_user(
            self.intermediate,
            public_key,
            username=username,
            display_name=display_name,
            organization=organization,
            urls=self.urls,
            not_before=not_before,
            not_after=not_after,
        )
        await self.record(certificate, kind="user", holder=username)
        return certificate

    async def issue_organization(
        self,
        public_key: PublicKey,
        *,
        organization_id: str,
        name: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        """Issue (and record) a facility's signing certificate for ``public_key``."""
        certificate = profiles.issue_organization(
            self.intermediate,
            public_key,
            organization_id=organization_id,
            name=name,
            urls=self.urls,
            not_before=not_before,
            not_after=not_after,
        )
        await self.record(certificate, kind="organization", holder=organization_id)
        return certificate

    async def revoke(self, serial: int, *, at: datetime, reason: str | None = None) -> IssuedCertificate:
        """Revoke the certificate ``serial`` from ``at``."""
        record = await self.registry.get(serial)
        if record is None:
            raise UnknownCertificate(
                f"Không có chứng thư số / no certificate with serial {serial:x} was issued here"
            )
        if record.kind in ("root",):
            raise PkiError("Không thể thu hồi CA gốc / the root CA cannot be revoked")
        return await self.registry.revoke(serial, at=at, reason=reason)
