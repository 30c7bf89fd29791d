"""The register of certificates issued by the CA and of their revocations (what OCSP and CRLs answer).

Spec: https://www.rfc-editor.org/rfc/rfc5280#section-5.3.1 (revocation reasons).

:class:`CertificateRegistry` is the interface; :class:`MemoryRegistry` keeps it in memory (tests, the
loopback PKI of ``tests/emr/emr_pki_support.py``), :mod:`senhealth.emr.pki.certificate_store` in
PostgreSQL (table ``pki_certificate``, migration 0018).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Protocol

from cryptography import x509

from senhealth.emr.pki.errors import PkiError, UnknownCertificate

__all__ = [
    "REASONS",
    "CertificateRegistry",
    "IssuedCertificate",
    "MemoryRegistry",
    "issued_record",
    "parse_reason",
    "revocation_time",
]

#: Revocation reasons by their RFC 5280 name (``keyCompromise``...); ``unspecified`` is the default.
REASONS: Final = {
    flag.value: flag for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl
}


def revocation_time(at: datetime) -> datetime:
    """``at`` in UTC to the whole second, rounded down (CRLs and OCSP carry whole seconds).

    Rounding down errs on the safe side: a signature timestamped in the same second as the revocation
    counts as made after it.
    """
    if at.tzinfo is None:
        raise ValueError("a revocation time needs a time zone")
    return at.astimezone(UTC).replace(microsecond=0)


def parse_reason(reason: str | None) -> x509.ReasonFlags:
    """The reason flag for an RFC 5280 name (``keyCompromise``, ``superseded``...); None: unspecified."""
    if not reason:
        return x509.ReasonFlags.unspecified
    for name, flag in REASONS.items():
        if reason.lower().replace("_", "") == name.lower():
            return flag
    raise PkiError(
        f"Lý do thu hồi không hợp lệ / invalid revocation reason {reason!r}: one of {', '.join(sorted(REASONS))}"
    )


@dataclass(frozen=True)
class IssuedCertificate:
    """One certificate issued here, and its revocation if any."""

    serial: int
    kind: str  # user, organization, ocsp, tsa, intermediate
    holder: str | None  # username, Organization id, or None for the CA's own services
    issuer: str  # the issuing CA's short name: root or intermediate
    subject: str  # RFC 4514
    not_before: datetime
    not_after: datetime
    der: bytes
    issued_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")


def issued_record(
    certificate: x509.Certificate, *, kind: str, holder: str | None, issuer: str
) -> IssuedCertificate:
    """The register's record of a freshly issued ``certificate``."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return IssuedCertificate(
        serial=certificate.serial_number,
        kind=kind,
        holder=holder,
        issuer=issuer,
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        der=certificate.public_bytes(Encoding.DER),
        issued_at=datetime.now(UTC),
    )


class CertificateRegistry(Protocol):
    """Where issued certificates and revocations are kept."""

    async def add(self, record: IssuedCertificate) -> None: ...

    async def get(self, serial: int) -> IssuedCertificate | None: ...

    async def revoke(self, serial: int, *, at: datetime, reason: str | None = None) -> IssuedCertificate:
        """Mark revoked from ``at``; a certificate already revoked keeps its first revocation."""
        ...

    async def revoked(self, issuer: str) -> list[IssuedCertificate]:
        """Revoked certificates of the CA ``issuer`` (for its CRL)."""
        ...

    async def list(self, *, holder: str | None = None) -> list[IssuedCertificate]: ...


class MemoryRegistry:
    """A :class:`CertificateRegistry` in memory, safe to use from several threads."""

    def __init__(self) -> None:
        self._records: dict[int, IssuedCertificate] = {}
        self._lock = threading.Lock()

    async def add(self, record: IssuedCertificate) -> None:
        self.add_now(record)

    def add_now(self, record: IssuedCertificate) -> None:
        with self._lock:
            self._records[record.serial] = record

    async def get(self, serial: int) -> IssuedCertificate | None:
        with self._lock:
            return self._records.get(serial)

    async def revoke(self, serial: int, *, at: datetime, reason: str | None = None) -> IssuedCertificate:
        return self.revoke_now(serial, at=at, reason=reason)

    def revoke_now(self, serial: int, *, at: datetime, reason: str | None = None) -> IssuedCertificate:
        flag = parse_reason(reason)
        with self._lock:
            record = self._records.get(serial)
            if record is None:
                raise UnknownCertificate(
                    f"Không có chứng thư số / no certificate with serial {serial:x} was issued here"
                )
            if record.revoked_at is None:
                record = replace(record, revoked_at=revocation_time(at), revocation_reason=flag.value)
                self._records[serial] = record
            return record

    async def revoked(self, issuer: str) -> list[IssuedCertificate]:
        with self._lock:
            return [r for r in self._records.values() if r.issuer == issuer and r.revoked_at is not None]

    async def list(self, *, holder: str | None = None) -> list[IssuedCertificate]:
        with self._lock:
            records = [r for r in self._records.values() if holder is None or r.holder == holder]
        return sorted(records, key=lambda r: r.issued_at)
