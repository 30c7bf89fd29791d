"""The signing certificates a signed-in user may choose from: their own, and their facility's.

Read from the platform's PKI (docs/pki.md): the certificate each holder signs with now is the one in the
PKI folder (``users/<username>.pem``, ``organizations/<id>.pem``, what
:func:`senhealth.emr.pki.keystore.signing_key` pairs with the private key); earlier certificates and
revocations come from the certificate register (``pki_certificate``), when this installation's CA
issued them. Only certificates (public) are read here, never a private key; whether a private key exists
for the current certificate is asked of the key store.

The current certificate's status is checked as ``$sign`` will check it (path to a trust anchor, validity
period, OCSP / CRL revocation: :func:`senhealth.emr.pki.validation.async_check_certificate`), so the page
says *before* signing that a revoked or expired certificate cannot sign, and why, in the page's language.

Spec: RFC 5280 (certificates, revocation), RFC 6960 (OCSP); Decree 23/2025 (the signing software checks
the certificate's status before signing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

from senhealth.emr.pki.certificate_store import PostgresRegistry
from senhealth.emr.pki.errors import PkiError
from senhealth.emr.pki.keystore import certificate_path, key_store, load_certificates, pki_dir
from senhealth.emr.pki.validation import async_check_certificate
from senhealth.emr.signatures.services import pki_services

__all__ = ["CertificateView", "holder_certificates"]

log = logging.getLogger(__name__)

Kind = Literal["user", "organization"]
#: How long the status check of one certificate may take before the page says "could not be checked".
CHECK_TIMEOUT_S: Final = 20.0


@dataclass(frozen=True, slots=True)
class CertificateView:
    """One certificate of a holder, as the signing page lists it."""

    kind: Kind
    holder: str
    name: str  # the subject's common name
    subject: str
    serial: str  # hexadecimal
    issuer: str
    not_before: datetime
    not_after: datetime
    current: bool  # the one the server signs with for this holder
    has_key: bool  # a private key for it is in the key store (current only)
    revoked_at: datetime | None
    checked: bool  # its status was checked now
    valid: bool | None  # None: not checked
    reason: str
    reason_vi: str

    def reason_in(self, lang: str) -> str:
        return self.reason_vi if lang == "vi" else self.reason


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = found[0].value if found else name.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _chain(folder: Path) -> tuple[x509.Certificate, ...]:
    out: list[x509.Certificate] = []
    for name in ("intermediate", "root"):
        path = folder / "ca" / f"{name}.pem"
        if path.is_file():
            out.extend(load_certificates(path))
    return tuple(out)


def _current(
    settings: Any, key_name: str
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...], bool]:
    """The holder's current certificate, its chain and whether the key store has its key."""
    folder = pki_dir(settings)
    try:
        path = certificate_path(folder, key_name)
    except PkiError:
        return None, (), False
    if not path.is_file():
        return None, (), False
    cert = load_certificates(path)[0]
    try:
        has_key = key_store(settings, folder).has(key_name)
    except Exception:  # a key store that cannot be opened (no token, wrong PIN): said as "no key"
        log.warning("the key store could not be opened for %s", key_name, exc_info=True)
        has_key = False
    return cert, _chain(folder), has_key


async def _register(holder: str) -> list[Any]:
    try:
        return list(await PostgresRegistry().list(holder=holder))
    except Exception:  # no register here (a PKI without this installation's CA): the folder's only
        log.debug("no certificate register for %s", holder, exc_info=True)
        return []


async def holder_certificates(
    settings: Any, kind: Kind, holder: str, *, check: bool = True
) -> list[CertificateView]:
    """The certificates of ``holder`` (a username or an Organization id), the current one first and
    checked now (``check``), then the earlier ones of the register, newest first."""
    key_name = f"{kind}:{holder}"
    cert, chain, has_key = await asyncio.to_thread(_current, settings, key_name)
    out: list[CertificateView] = []
    seen: set[int] = set()
    records = await _register(holder)
    by_serial = {r.serial: r for r in records if getattr(r, "kind", kind) == kind}
    if cert is not None:
        seen.add(cert.serial_number)
        record = by_serial.get(cert.serial_number)
        valid: bool | None = None
        reason = reason_vi = ""
        revoked_at = record.revoked_at if record is not None else None
        checked = False
        if check:
            try:
                services = pki_services(settings)
                result = await asyncio.wait_for(
                    async_check_certificate(cert, chain, trust_roots=services.trust_roots), CHECK_TIMEOUT_S
                )
                valid, reason, reason_vi, checked = result.valid, result.reason, result.reason_vi, True
                revoked_at = result.revoked_at or revoked_at
            except Exception as e:  # the page still lists it; $sign checks again and refuses if it must
                log.warning("certificate status of %s not checked: %s", key_name, e)
                reason = "the certificate status could not be checked now"
                reason_vi = "chưa kiểm tra được trạng thái chứng thư số lúc này"
        out.append(
            CertificateView(kind, holder, _common_name(cert.subject), cert.subject.rfc4514_string(),
                            format(cert.serial_number, "x"), _common_name(cert.issuer),
                            cert.not_valid_before_utc, cert.not_valid_after_utc, True, has_key, revoked_at,
                            checked, valid, reason, reason_vi)
        )  # fmt: skip
    for record in sorted(by_serial.values(), key=lambda r: r.issued_at, reverse=True):
        if record.serial in seen:
            continue
        try:
            older = record.certificate
        except ValueError:
            continue
        out.append(
            CertificateView(kind, holder, _common_name(older.subject), record.subject, record.serial_hex,
                            _common_name(older.issuer), record.not_before, record.not_after, False, False,
                            record.revoked_at, False, None, "", "")
        )  # fmt: skip
    return out
