"""Certificate path validation with revocation checking, at a given time (Decree 23/2025: at signing and
at verification).

Spec: https://www.rfc-editor.org/rfc/rfc5280#section-6 (path validation), https://www.rfc-editor.org/rfc/rfc6960
(OCSP), https://www.rfc-editor.org/rfc/rfc5280#section-5 (CRLs); library: pyhanko-certvalidator
(https://github.com/MatthiasValvekens/certvalidator).

:func:`check_certificate` builds the path from the certificate through ``chain`` to one of the trust
roots and checks it with pyhanko-certvalidator at the time ``at`` (default: now): signatures, validity
periods, basic constraints, key usage (digitalSignature + nonRepudiation for ``purpose="signing"``,
extendedKeyUsage timeStamping for ``"timestamping"``) and revocation. Revocation information is fetched
here, first by OCSP (the certificate's authorityInfoAccess) and, when the responder cannot be reached or
does not answer, from the CRL (cRLDistributionPoints); each certificate of the path below the root needs
one or the other (a missing status makes the certificate invalid: hard fail). What was fetched is kept
in ``evidence`` (base64 DER) for the record.

Point-in-time rule: a certificate revoked at T is invalid at any ``at`` >= T and still valid at an
``at`` before T, so a signature timestamped before a revocation stays valid at its signing time
(``revoked_at`` then tells the later revocation). The status fetched now is accepted for an earlier
``at`` (``retroactive_revinfo``): this CA never un-revokes (no certificateHold).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ObjectIdentifier

__all__ = [
    "REVOCATION_TIMEOUT_S",
    "CertificateCheck",
    "async_check_certificate",
    "check_certificate",
]

#: Seconds to wait for an OCSP responder or a CRL download.
REVOCATION_TIMEOUT_S: Final = 5.0
Purpose = Literal["signing", "timestamping", "any"]
_DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)
_REASONS_VI: Final = {
    "key_compromise": "lộ khóa riêng",
    "ca_compromise": "CA bị xâm phạm",
    "affiliation_changed": "thay đổi đơn vị công tác",
    "superseded": "đã được thay thế",
    "cessation_of_operation": "ngừng hoạt động",
    "certificate_hold": "tạm dừng",
    "privilege_withdrawn": "rút quyền",
    "unspecified": "không nêu lý do",
}


@dataclass(frozen=True)
class CertificateCheck:
    """The outcome of :func:`check_certificate`."""

    valid: bool
    reason: str  # English, plain
    reason_vi: str
    revoked_at: datetime | None
    checked_at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # the time the validity was judged at (None: checked_at)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _find_issuer(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in pool:
        if candidate.subject == cert.issuer and candidate != cert:
            try:
                cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, Exception):  # wrong key or algorithm: not the issuer
                continue
            return candidate
    return None


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [
            str(d.access_location.value)
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        ]
    except x509.ExtensionNotFound:
        pass
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        for point in cdp:
            for name in point.full_name or []:
                if isinstance(name, x509.UniformResourceIdentifier):
                    crl_urls.append(str(name.value))
    except x509.ExtensionNotFound:
        pass
    return ocsp_urls, crl_urls


@dataclass
class _Revinfo:
    ocsps: list[bytes] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    leaf_revoked_at: datetime | None = None


async def _fetch_ocsp(
    client: httpx.AsyncClient, url: str, cert: x509.Certificate, issuer: x509.Certificate, info: _Revinfo
) -> bytes | None:
    nonce = secrets.token_bytes(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    try:
        answer = await client.post(
            url,
            content=request.public_bytes(Encoding.DER),
            headers={"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"},
        )
    except httpx.HTTPError as e:
        info.errors.append(f"OCSP {url}: {type(e).__name__}")
        return None
    if answer.status_code != 200:
        info.errors.append(f"OCSP {url}: HTTP {answer.status_code}")
        return None
    try:
        response = ocsp.load_der_ocsp_response(answer.content)
    except ValueError:
        info.errors.append(f"OCSP {url}: malformed response")
        return None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        info.errors.append(f"OCSP {url}: {response.response_status.name}")
        return None
    if response.serial_number != cert.serial_number:
        info.errors.append(f"OCSP {url}: answer about another certificate")
        return None
    if response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        info.errors.append(f"OCSP {url}: certificate unknown to the responder")
        return None
    for extension in response.extensions:
        if isinstance(extension.value, x509.OCSPNonce) and extension.value.nonce != nonce:
            info.errors.append(f"OCSP {url}: nonce mismatch")
            return None
    return answer.content


async def _fetch_crl(client: httpx.AsyncClient, url: str, info: _Revinfo) -> bytes | None:
    try:
        answer = await client.get(url)
    except httpx.HTTPError as e:
        info.errors.append(f"CRL {url}: {type(e).__name__}")
        return None
    if answer.status_code != 200:
        info.errors.append(f"CRL {url}: HTTP {answer.status_code}")
        return None
    body = answer.content
    try:
        x509.load_der_x509_crl(body)
    except ValueError:
        try:
            body = x509.load_pem_x509_crl(body).public_bytes(Encoding.DER)
        except ValueError:
            info.errors.append(f"CRL {url}: malformed CRL")
            return None
    return body


def _may_sign_documents(cert: x509.Certificate) -> bool:
    """False for a certificate whose critical extendedKeyUsage names only other uses (a TSA's, OCSP's)."""
    try:
        extension = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return True
    allowed = {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        _DOCUMENT_SIGNING,
    }
    return not extension.critical or bool(allowed & set(extension.value))


def _ocsp_revoked(der: bytes) -> bool:
    return ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.REVOKED


def _revocation_time(
    cert: x509.Certificate, ocsp_der: bytes | None, crl_der: bytes | None
) -> datetime | None:
    if ocsp_der is not None:
        response = ocsp.load_der_ocsp_response(ocsp_der)
        if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            return response.revocation_time_utc
    if crl_der is not None:
        entry = x509.load_der_x509_crl(crl_der).get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return entry.revocation_date_utc
    return None


async def _gather_revinfo(path: list[x509.Certificate], pool: Sequence[x509.Certificate]) -> _Revinfo:
    """OCSP first, CRL as fallback, for every certificate of ``path`` below its root."""
    info = _Revinfo()
    async with httpx.AsyncClient(timeout=REVOCATION_TIMEOUT_S) as client:
        for position, cert in enumerate(path):
            issuer = _find_issuer(cert, pool)
            if issuer is None:
                continue  # a root, or a path that will not build (the validator says why)
            ocsp_urls, crl_urls = _urls(cert)
            got_ocsp: bytes | None = None
            got_crl: bytes | None = None
            serial = format(cert.serial_number, "x")
            for url in ocsp_urls:
                got_ocsp = await _fetch_ocsp(client, url, cert, issuer, info)
                if got_ocsp is not None:
                    info.ocsps.append(got_ocsp)
                    info.sources.append({"certificate": serial, "method": "ocsp", "url": url})
                    break
            # The CRL as fallback; also when OCSP says "revoked": the validator concludes "revoked later
            # than `at`" from a CRL entry only (an OCSP "revoked" answer is never good for it).
            if got_ocsp is None or _ocsp_revoked(got_ocsp):
                for url in crl_urls:
                    got_crl = await _fetch_crl(client, url, info)
                    if got_crl is not None:
                        info.crls.append(got_crl)
                        info.sources.append({"certificate": serial, "method": "crl", "url": url})
                        break
            if position == 0:
                info.leaf_revoked_at = _revocation_time(cert, got_ocsp, got_crl)
    return info


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _path(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    path = [cert]
    while len(path) < 10:
        issuer = _find_issuer(path[-1], pool)
        if issuer is None or issuer in path:
            break
        path.append(issuer)
    return path


def _failure(error: Exception, at: datetime | None) -> tuple[str, str, datetime | None]:
    from pyhanko_certvalidator import errors

    when = f" at {_fmt(at)}" if at is not None else ""
    when_vi = f" tại thời điểm {_fmt(at)}" if at is not None else ""
    ee = getattr(error, "is_ee_cert", True)
    who, who_vi = (
        ("the certificate", "Chứng thư số") if ee else ("an issuing CA certificate", "Chứng thư của CA cấp")
    )
    if isinstance(error, errors.RevokedError):
        reason_name = str(error.reason.native or "unspecified")
        return (
            f"{who} was revoked on {_fmt(error.revocation_dt)} ({reason_name.replace('_', ' ')})",
            f"{who_vi} đã bị thu hồi ngày {_fmt(error.revocation_dt)} ({_REASONS_VI.get(reason_name, reason_name)})",
            error.revocation_dt.astimezone(UTC) if ee else None,
        )
    if isinstance(error, errors.ExpiredError):
        return (
            f"{who} expired on {_fmt(error.expired_dt)}{when}",
            f"{who_vi} đã hết hạn ngày {_fmt(error.expired_dt)}{when_vi}",
            None,
        )
    if isinstance(error, errors.NotYetValidError):
        return (
            f"{who} is not valid before {_fmt(error.valid_from)}{when}",
            f"{who_vi} chưa có hiệu lực trước {_fmt(error.valid_from)}{when_vi}",
            None,
        )
    if isinstance(error, errors.InsufficientRevinfoError):
        return (
            f"the revocation status of {who} could not be checked (neither OCSP nor CRL answered)",
            f"Không kiểm tra được tình trạng thu hồi của {who_vi.lower()} (OCSP và CRL đều không trả lời)",
            None,
        )
    if isinstance(error, errors.PathBuildingError):
        return (
            "the certificate does not chain to a trusted root",
            "Chứng thư số không dẫn tới CA gốc tin cậy",
            None,
        )
    if isinstance(error, errors.InvalidCertificateError):
        return (
            f"the certificate may not be used for this purpose: {error}",
            "Chứng thư số không được phép dùng cho mục đích này (key usage)",
            None,
        )
    if "signature" in str(error).lower():
        return (
            "the certificate does not chain to a trusted root (a signature in the path does not verify)",
            "Chứng thư số không dẫn tới CA gốc tin cậy (chữ ký trên chuỗi chứng thực không hợp lệ)",
            None,
        )
    return (
        f"the certificate path is invalid: {error}",
        f"Đường dẫn chứng thực không hợp lệ / {error}",
        None,
    )


async def async_check_certificate(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
    trust_roots: Sequence[x509.Certificate],
    purpose: Purpose = "signing",
    check_revocation: bool = True,
) -> CertificateCheck:
    """:func:`check_certificate` for async code (fetches revocation data without blocking the loop)."""
    from pyhanko_certvalidator import CertificateValidator, ValidationContext, errors
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    checked_at = datetime.now(UTC)
    moment = at.astimezone(UTC) if at is not None else None
    if not trust_roots:
        return CertificateCheck(
            False,
            "no trust roots configured",
            "Chưa cấu hình CA gốc tin cậy",
            None,
            checked_at,
            {},
            moment,
        )
    if purpose == "signing" and not _may_sign_documents(cert):
        return CertificateCheck(
            False,
            "the certificate is restricted to other uses (critical extendedKeyUsage)",
            "Chứng thư số chỉ dùng cho mục đích khác (extendedKeyUsage), không dùng để ký tài liệu",
            None,
            checked_at,
            {},
            moment,
        )
    pool = list(chain) + list(trust_roots)
    path = _path(cert, pool)
    info = await _gather_revinfo(path, pool) if check_revocation else _Revinfo()
    evidence: dict[str, Any] = {
        "ocsp": [_b64(r) for r in info.ocsps],
        "crl": [_b64(c) for c in info.crls],
        "sources": info.sources,
        "errors": info.errors,
    }
    rule = (
        RevocationCheckingRule.CRL_OR_OCSP_REQUIRED if check_revocation else RevocationCheckingRule.NO_CHECK
    )
    context = ValidationContext(
        trust_roots=[_asn1(c) for c in trust_roots],
        other_certs=[_asn1(c) for c in chain],
        moment=moment,
        allow_fetching=False,
        ocsps=info.ocsps,
        crls=info.crls,
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(ee_certificate_rule=rule, intermediate_ca_cert_rule=rule),
            retroactive_revinfo=True,
        ),
    )
    validator = CertificateValidator(_asn1(cert), validation_context=context)
    try:
        if purpose == "signing":
            await validator.async_validate_usage({"digital_signature", "non_repudiation"})  # type: ignore[no-untyped-call,unused-ignore]
        elif purpose == "timestamping":
            await validator.async_validate_usage(set(), extended_key_usage={"time_stamping"})  # type: ignore[no-untyped-call,unused-ignore]
        else:
            await validator.async_validate_path()
    except (errors.PathValidationError, errors.PathBuildingError, errors.InvalidCertificateError) as e:
        reason, reason_vi, revoked_at = _failure(e, moment)
        return CertificateCheck(
            False, reason, reason_vi, revoked_at or info.leaf_revoked_at, checked_at, evidence, moment
        )
    if info.leaf_revoked_at is not None:
        return CertificateCheck(
            True,
            f"valid at {_fmt(moment or checked_at)}; revoked later, on {_fmt(info.leaf_revoked_at)}",
            f"Hợp lệ tại thời điểm {_fmt(moment or checked_at)}; bị thu hồi sau đó, ngày {_fmt(info.leaf_revoked_at)}",
            info.leaf_revoked_at,
            checked_at,
            evidence,
            moment,
        )
    return CertificateCheck(
        True,
        f"valid at {_fmt(moment or checked_at)}",
        f"Hợp lệ tại thời điểm {_fmt(moment or checked_at)}",
        None,
        checked_at,
        evidence,
        moment,
    )


def check_certificate(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
    trust_roots: Sequence[x509.Certificate],
    purpose: Purpose = "signing",
    check_revocation: bool = True,
) -> CertificateCheck:
    """Whether ``cert`` (issued through ``chain``) is valid for ``purpose`` at ``at``; see the module docstring.

    Blocking (network): from async code call :func:`async_check_certificate` instead.
    """
    work = async_check_certificate(
        cert, chain, at=at, trust_roots=trust_roots, purpose=purpose, check_revocation=check_revocation
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # called from inside an event loop: do not block it
        return pool.submit(asyncio.run, work).result()
