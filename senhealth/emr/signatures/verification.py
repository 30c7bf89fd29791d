"""Verifying a signed document: every signature and confirmation on it, as it stands now.

Spec: RFC 7515 §5.2 (validating a JWS), RFC 3161 §2.4.2 (verifying a TimeStampToken), RFC 5280 §6
(path validation) with revocation by OCSP (RFC 6960) or CRL; https://hl7.org/fhir/R4/signatures.html;
Decree 23/2025 (certificate status checked at verification time too).

For each signature (:func:`verify_signature`):

1. the document's bytes are computed again from the stored Bundle
   (:func:`~senhealth.emr.signatures.canonical.canonical_document`): any change to what was signed (an
   entry, a narrative, the Composition, the identifier, a fullUrl) changes them;
2. the JWS is verified over those bytes with the key of its ``x5c[0]``; its commitment (``srCms``) must
   name the signature type the record claims;
3. the RFC 3161 token kept with it is verified against the JWS signature value
   (:func:`senhealth.emr.pki.timestamp.verify_timestamp`: its imprint, its signature, the TSA's
   certificate): its time ``T`` is when the signature provably existed;
4. the signer's certificate is validated **at T** (:func:`senhealth.emr.pki.validation.check_certificate`
   with ``at=T``): a certificate revoked or expired after T leaves the signature valid, and the reason
   says what happened later; one revoked before T makes it invalid.

The author's signature is kept twice, in ``Bundle.signature`` and in its Provenance: the two must be the
same. A patient's electronic confirmation (OTP, biometrics) is checked as what it is: its record names
the SHA-256 of the document bytes it confirmed, which must still match; it is reported with
``kind="confirmation"``, never as a digital signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cryptography import x509

from senhealth.emr.pki.errors import TimestampError
from senhealth.emr.pki.timestamp import verify_timestamp
from senhealth.emr.pki.validation import check_certificate
from senhealth.emr.signatures.canonical import DOCUMENT_TARGET_FORMAT, canonical_document
from senhealth.emr.signatures.jws import JwsError, parse_detached, verify_detached
from senhealth.emr.signatures.model import (
    CONFIRMATION_FORMAT,
    JOSE_FORMAT,
    ROLE_EXTENSION,
    ROLES,
    TIMESTAMP_EXTENSION,
    SignatureInfo,
    role_of_type,
)
from senhealth.emr.signatures.provenance import extension_value
from senhealth.emr.signatures.records import SignedRecords, signed_records
from senhealth.emr.signatures.services import PkiServices, configured_services
from senhealth.emr.signatures.signing import certificate_name, composition_reference
from senhealth.fhir.search.execute import Row
from senhealth.fhir.store import FhirStore

__all__ = ["Verdict", "document_signatures", "verify_records", "verify_signature"]

_METHODS_VI: Final = {"otp": "mã OTP", "biometric": "sinh trắc học"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one ``Signature`` element over the document bytes."""

    kind: str
    role: str
    type_code: str
    valid: bool
    reason: str
    reason_vi: str
    signer: str
    signed_at: datetime | None = None
    timestamp: datetime | None = None
    certificate_subject: str | None = None
    certificate_serial: str | None = None
    certificate_issuer: str | None = None
    revoked_at: datetime | None = None
    method: str | None = None


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _type_code(signature: dict[str, Any]) -> str:
    for coding in signature.get("type") or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return ""


def _display(signature: dict[str, Any]) -> str:
    who = signature.get("who") or {}
    return str(who.get("display") or who.get("reference") or "?")


def _invalid(base: Verdict, reason: str, reason_vi: str) -> Verdict:
    return replace(base, valid=False, reason=reason, reason_vi=reason_vi)


def _verify_confirmation(payload: bytes, signature: dict[str, Any], base: Verdict) -> Verdict:
    try:
        record = orjson.loads(base64.b64decode(str(signature.get("data", "")), validate=True))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return _invalid(base, "the confirmation record cannot be read", "Không đọc được bản ghi xác nhận")
    if not isinstance(record, dict):
        return _invalid(base, "the confirmation record cannot be read", "Không đọc được bản ghi xác nhận")
    method = str(record.get("method", "?"))
    base = replace(base, method=method, signed_at=_instant(record.get("confirmedAt")) or base.signed_at)
    if record.get("documentDigest") != hashlib.sha256(payload).hexdigest():
        return _invalid(
            base,
            "the document was changed after the patient confirmed it",
            "Tài liệu đã bị thay đổi sau khi người bệnh xác nhận",
        )
    how_vi = _METHODS_VI.get(method, method)
    return replace(
        base,
        valid=True,
        reason=f"confirmed by {method} (an electronic confirmation, not a digital signature)",
        reason_vi=f"Người bệnh đã xác nhận bằng {how_vi} (xác nhận điện tử, không phải chữ ký số)",
    )


def verify_signature(
    payload: bytes, signature: dict[str, Any], trust_roots: Sequence[x509.Certificate]
) -> Verdict:
    """Check one ``Signature`` element over the document bytes ``payload`` (blocking: it fetches OCSP
    answers and CRLs; run it in a worker thread from async code)."""
    code = _type_code(signature)
    role = extension_value(signature, ROLE_EXTENSION, "valueCode") or role_of_type(code) or "?"
    fmt = signature.get("sigFormat")
    base = Verdict(
        kind="confirmation" if fmt == CONFIRMATION_FORMAT else "digital-signature",
        role=str(role),
        type_code=code,
        valid=False,
        reason="",
        reason_vi="",
        signer=_display(signature),
        signed_at=_instant(signature.get("when")),
    )
    if role not in ROLES or ROLES[str(role)].code != code:
        return _invalid(
            base,
            f"the signature type {code!r} does not match the role {role!r}",
            f"Loại chữ ký {code!r} không khớp vai trò {role!r}",
        )
    if fmt == CONFIRMATION_FORMAT:
        return _verify_confirmation(payload, signature, base)
    if fmt != JOSE_FORMAT:
        return _invalid(
            base, f"unsupported signature format {fmt!r}", f"Định dạng chữ ký không hỗ trợ {fmt!r}"
        )
    if signature.get("targetFormat") != DOCUMENT_TARGET_FORMAT:
        return _invalid(
            base,
            "the signature does not say it covers the canonical document form",
            "Chữ ký không ghi rõ dạng chuẩn hóa của tài liệu",
        )
    try:
        token = base64.b64decode(str(signature.get("data", "")), validate=True).decode("ascii")
        jws = parse_detached(token)
        cert, *chain = jws.certificates()
    except (JwsError, ValueError, binascii.Error) as e:
        return _invalid(base, f"the signature cannot be read: {e}", "Không đọc được chữ ký số")
    base = replace(
        base,
        signer=certificate_name(cert),
        signed_at=_instant(str(jws.header.get("sigT", ""))) or base.signed_at,
        certificate_subject=cert.subject.rfc4514_string(),
        certificate_serial=format(cert.serial_number, "x"),
        certificate_issuer=cert.issuer.rfc4514_string(),
    )
    commitments = jws.header.get("srCms")
    committed = {
        c.get("commId", {}).get("id")
        for c in commitments or []
        if isinstance(c, dict) and isinstance(c.get("commId"), dict)
    }
    if f"urn:oid:{code}" not in committed:
        return _invalid(
            base,
            "the signed commitment (srCms) does not name the recorded signature type",
            "Cam kết trong chữ ký (srCms) không khớp loại chữ ký đã ghi",
        )
    try:
        verify_detached(jws, payload)
    except JwsError:
        return _invalid(
            base,
            "the signature does not match the document: it was changed after signing",
            "Chữ ký không khớp với tài liệu: tài liệu đã bị thay đổi sau khi ký",
        )
    raw = extension_value(signature, TIMESTAMP_EXTENSION, "valueBase64Binary")
    if not isinstance(raw, str):
        return _invalid(base, "the signature has no timestamp", "Chữ ký không có dấu thời gian")
    try:
        when = verify_timestamp(base64.b64decode(raw, validate=True), jws.signature, trust_roots)
    except (TimestampError, ValueError, binascii.Error) as e:
        return _invalid(base, f"the timestamp does not verify: {e}", "Dấu thời gian không hợp lệ")
    base = replace(base, timestamp=when)
    check = check_certificate(cert, tuple(chain), at=when, trust_roots=trust_roots)
    base = replace(base, revoked_at=check.revoked_at)
    if not check.valid:
        return _invalid(
            base,
            f"the certificate was not valid at the signing time ({_fmt(when)}): {check.reason}",
            f"Chứng thư số không hợp lệ tại thời điểm ký ({_fmt(when)}): {check.reason_vi}",
        )
    reason = f"valid: signed at {_fmt(when)} (timestamp), certificate valid at that time"
    reason_vi = f"Hợp lệ: ký lúc {_fmt(when)} (dấu thời gian), chứng thư số còn hiệu lực tại thời điểm ký"
    if check.revoked_at is not None and check.revoked_at > when:
        reason += f"; the certificate was revoked later, on {_fmt(check.revoked_at)}"
        reason_vi += f"; chứng thư số bị thu hồi sau đó, ngày {_fmt(check.revoked_at)}"
    expiry = cert.not_valid_after_utc
    if expiry < datetime.now(UTC):
        reason += f"; the certificate has since expired, on {_fmt(expiry)}"
        reason_vi += f"; chứng thư số đã hết hạn sau đó, ngày {_fmt(expiry)}"
    return replace(base, valid=True, reason=reason, reason_vi=reason_vi)


def _info(v: Verdict, bundle: Row, composition: str, provenance: str | None) -> SignatureInfo:
    return SignatureInfo(
        kind="confirmation" if v.kind == "confirmation" else "digital-signature",
        role=v.role,
        signer=v.signer,
        who=None,
        signed_at=v.signed_at,
        timestamp=v.timestamp,
        valid=v.valid,
        reason=v.reason,
        reason_vi=v.reason_vi,
        composition=composition,
        bundle=f"Bundle/{bundle.res_id}",
        provenance=provenance,
        type_code=v.type_code,
        certificate_subject=v.certificate_subject,
        certificate_serial=v.certificate_serial,
        certificate_issuer=v.certificate_issuer,
        revoked_at=v.revoked_at,
        method=v.method,
    )


async def _verify_bundle(
    bundle: Row, provenances: Sequence[Row], trust_roots: Sequence[x509.Certificate]
) -> list[SignatureInfo]:
    content = bundle.content
    try:
        payload = canonical_document(content)
        composition = composition_reference(content)
    except ValueError as e:
        payload, composition = b"", f"Bundle/{bundle.res_id}"
        broken = str(e)
    else:
        broken = ""
    author = content.get("signature") if isinstance(content.get("signature"), dict) else None
    jobs: list[tuple[dict[str, Any], str | None, dict[str, Any]]] = []
    author_seen = False
    for row in provenances:
        for sig in row.content.get("signature") or []:
            if isinstance(sig, dict):
                who = sig.get("who") if isinstance(sig.get("who"), dict) else {}
                jobs.append((sig, f"Provenance/{row.res_id}", who or {}))
                if author is not None and sig.get("data") == author.get("data"):
                    author_seen = True
    if author is not None and not author_seen:
        jobs.append((author, None, author.get("who") or {}))

    async def one(sig: dict[str, Any]) -> Verdict:
        if broken:
            return _invalid(
                Verdict("digital-signature", "?", _type_code(sig), False, "", "", _display(sig)),
                f"the stored document is damaged: {broken}",
                "Tài liệu đã lưu bị hỏng",
            )
        return await asyncio.to_thread(verify_signature, payload, sig, trust_roots)

    verdicts = await asyncio.gather(*(one(sig) for sig, _, _ in jobs))
    out: list[SignatureInfo] = []
    for (sig, prov, who), verdict in zip(jobs, verdicts, strict=True):
        v = verdict
        if v.role == "author" and v.kind == "digital-signature" and prov is not None:
            if author is None:
                v = _invalid(
                    v,
                    "the signed document has lost its author signature (Bundle.signature)",
                    "Tài liệu đã ký bị mất chữ ký của người lập (Bundle.signature)",
                )
            elif author.get("data") != sig.get("data"):
                v = _invalid(
                    v,
                    "the author signature in the document and in its Provenance differ",
                    "Chữ ký người lập trong tài liệu và trong Provenance không giống nhau",
                )
        info = _info(v, bundle, composition, prov)
        out.append(replace(info, who=who.get("reference") if isinstance(who.get("reference"), str) else None))
    return out


async def verify_records(records: SignedRecords, services: PkiServices) -> list[SignatureInfo]:
    """Verify every signature of ``records``: the oldest signed document first, each document's author
    signature first, then the others in the order they were made."""
    out: list[SignatureInfo] = []
    for bundle in records.bundles:
        infos = await _verify_bundle(bundle, records.provenances.get(bundle.res_id, []), services.trust_roots)
        out.extend(
            sorted(infos, key=lambda i: (i.role != "author", i.signed_at or datetime.max.replace(tzinfo=UTC)))
        )
    return out


async def document_signatures(
    store: FhirStore, composition_id: str, *, services: PkiServices | None = None
) -> list[SignatureInfo]:
    """Every signature and confirmation on the signed documents of ``Composition/{composition_id}``,
    verified now (an empty list for a document nobody signed). ``services``: the trust roots (default:
    those of the settings given to
    :func:`~senhealth.emr.signatures.operations.register_signature_operations`, else the process's)."""
    records = await signed_records(store, composition_id)
    if not records.bundles:
        return []
    return await verify_records(records, services or configured_services())
