"""Certificate revocation lists (RFC 5280 §5) signed by the issuing CA.

Spec: https://www.rfc-editor.org/rfc/rfc5280#section-5

A CRL is built on request from the register's revocations; its number is the time of issue in
milliseconds, so it grows with every new list (§5.2.3) without a counter to keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from senhealth.emr.pki.keys import SigningKey, private_key_adapter
from senhealth.emr.pki.registry import IssuedCertificate, parse_reason

__all__ = ["CRL_VALIDITY", "build_crl"]

#: How long a CRL is current (its nextUpdate after thisUpdate).
CRL_VALIDITY = timedelta(days=1)


def build_crl(
    ca: SigningKey,
    revoked: Iterable[IssuedCertificate],
    *,
    now: datetime | None = None,
    validity: timedelta = CRL_VALIDITY,
) -> x509.CertificateRevocationList:
    """The CRL of ``ca`` listing ``revoked`` (entries revoked after ``now`` are left out)."""
    this_update = (now or datetime.now(UTC)).replace(microsecond=0)
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update - timedelta(seconds=1))
        .next_update(this_update + validity)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.CRLNumber(int(this_update.timestamp() * 1000)), critical=False)
    )
    for record in revoked:
        if record.revoked_at is None or record.revoked_at > this_update:
            continue
        entry = (
            x509.RevokedCertificateBuilder().serial_number(record.serial).revocation_date(record.revoked_at)
        )
        reason = parse_reason(record.revocation_reason)
        if reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(private_key_adapter(ca), hashes.SHA256())
