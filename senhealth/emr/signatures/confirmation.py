"""A patient's confirmation of a signed document without a certificate: a one-time code or biometrics.

Spec: Circular 13/2025 Art. 3 (a patient or their representative signs with a lawful electronic
signature, with biometrics, or with another electronic confirmation, e-Transactions Law Art. 22(4); only
an X.509 digital signature equals a handwritten one), https://hl7.org/fhir/R4/datatypes.html#Signature
(``sigFormat``: the format of ``data``) and https://hl7.org/fhir/R4/provenance.html.

A confirmation is recorded as a signature Provenance like the others (role ``patient``, ASTM type
*Consent Signature*, targeting the signed Bundle and the Composition), but its ``Signature.sigFormat`` is
:data:`~senhealth.emr.signatures.model.CONFIRMATION_FORMAT` and its ``data`` is a JSON record, not a
cryptographic signature::

    {"method": "otp", "documentDigest": "<sha-256 of the canonical document>", "bundle": "Bundle/<id>",
     "confirmedAt": "...", "channel": "sms", "destination": "09******11", "challenge": "<id>"}
    {"method": "biometric", "modality": "fingerprint", "evidenceDigest": "<sha-256 of the capture>",
     "device": "<device id>", "documentDigest": ..., "bundle": ..., "confirmedAt": ...}

so ``$verify`` reports it as a confirmation, and checks that the document it names is still the one
stored. The biometric capture itself is never stored: only its digest and the device that took it.

One-time codes: :func:`request_otp` makes a 6-digit code valid :data:`OTP_TTL_S` seconds, keeps a salted
SHA-256 of it (table ``signature_otp``) and hands it to the installed :class:`OtpSender` (an SMS gateway,
Zalo, the hospital's patient app; tests install one that captures the code); :func:`confirm_otp` accepts
it once, within :data:`OTP_MAX_ATTEMPTS` tries, for the very document the code was sent for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import orjson

from senhealth.core import db
from senhealth.emr.signatures.canonical import DOCUMENT_TARGET_FORMAT, canonical_document
from senhealth.emr.signatures.immutability import signature_writes
from senhealth.emr.signatures.model import ASTM_SYSTEM, CONFIRMATION_FORMAT, ROLE_EXTENSION, ROLES
from senhealth.emr.signatures.provenance import extension_value, fhir_instant, provenance_record
from senhealth.emr.signatures.records import signed_records
from senhealth.emr.signatures.signing import composition_reference, document_subject
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.search.execute import Row
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = [
    "OTP_MAX_ATTEMPTS",
    "OTP_TTL_S",
    "LoggingOtpSender",
    "OtpChallenge",
    "OtpMessage",
    "OtpSender",
    "confirm_biometric",
    "confirm_otp",
    "install_otp_sender",
    "mask",
    "otp_sender",
    "request_otp",
]

OTP_TTL_S: Final = 300
OTP_MAX_ATTEMPTS: Final = 5
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
MODALITIES: Final = frozenset({"fingerprint", "face", "iris", "palm", "voice", "signature-pad"})


@dataclass(frozen=True, slots=True)
class OtpMessage:
    """What an :class:`OtpSender` delivers: ``code`` to ``destination`` (a phone number)."""

    patient: str  # "Patient/<id>"
    destination: str
    code: str
    text: str  # the message, Vietnamese then English
    composition: str
    expires_at: datetime


class OtpSender(Protocol):
    """Delivers one-time codes (SMS gateway, Zalo, the patient app...)."""

    async def send(self, message: OtpMessage) -> None: ...


_sender: OtpSender | None = None
log = logging.getLogger(__name__)


def install_otp_sender(sender: OtpSender | None) -> None:
    """Install the process's code sender (None: none; requesting a code is then refused with 503)."""
    global _sender
    _sender = sender


def otp_sender() -> OtpSender | None:
    """The installed code sender (None: none)."""
    return _sender


class LoggingOtpSender:
    """Development only: writes the code to the log instead of sending it (installed by
    :func:`~senhealth.emr.signatures.operations.register_signature_operations` in development mode when
    no sender is installed; never in production)."""

    async def send(self, message: OtpMessage) -> None:
        log.warning(
            "development OTP for %s (%s): %s, valid until %s",
            message.patient,
            mask(message.destination),
            message.code,
            message.expires_at.isoformat(),
        )


@dataclass(frozen=True, slots=True)
class OtpChallenge:
    """A code sent: its id (to quote with the code), when it expires and where it went (masked)."""

    id: str
    expires_at: datetime
    destination: str


def mask(number: str) -> str:
    """``0909000111`` → ``09******11``."""
    digits = re.sub(r"\s+", "", number)
    return digits[:2] + "*" * max(len(digits) - 4, 0) + digits[-2:] if len(digits) > 4 else "****"


async def _document(store: FhirStore, composition_id: str) -> tuple[dict[str, Any], Row, str]:
    """``(composition, latest signed Bundle, patient id)``, or an :class:`OperationError`."""
    try:
        stored = await store.read("Composition", composition_id)
    except NotFound:
        raise OperationError(404, f"Composition/{composition_id} is not known", "not-found") from None
    except Gone:
        raise OperationError(410, f"Composition/{composition_id} is deleted", "deleted") from None
    assert stored.content is not None
    subject = (stored.content.get("subject") or {}).get("reference")
    if not isinstance(subject, str) or not subject.startswith("Patient/"):
        raise OperationError(
            422, "Tài liệu không gắn với người bệnh / the document has no Patient subject", "business-rule"
        )
    records = await signed_records(store, composition_id)
    latest = records.latest
    if latest is None:
        raise OperationError(
            409,
            "Tài liệu chưa được ký số: người bệnh xác nhận sau khi bác sĩ ký / the document is not signed yet: "
            "the patient confirms after the author has signed",
            "business-rule",
        )
    for row in records.provenances.get(latest.res_id, []):
        for sig in row.content.get("signature") or []:
            if extension_value(sig, ROLE_EXTENSION, "valueCode") == "patient":
                raise OperationError(
                    409,
                    f"Người bệnh đã ký hoặc xác nhận tài liệu này / the patient has already signed or confirmed "
                    f"this document (Provenance/{row.res_id})",
                    "duplicate",
                )
    return stored.content, latest, subject.split("/", 1)[1]


def _phone(patient: dict[str, Any]) -> str | None:
    telecoms = [
        t for t in patient.get("telecom") or [] if isinstance(t, dict) and isinstance(t.get("value"), str)
    ]
    for system in ("sms", "phone"):
        mobile = [t for t in telecoms if t.get("system") == system and t.get("use") == "mobile"]
        any_use = [t for t in telecoms if t.get("system") == system and t.get("use") != "old"]
        for found in (mobile, any_use):
            if found:
                return str(found[0]["value"])
    return None


def _hash(salt: bytes, code: str) -> bytes:
    return hashlib.sha256(salt + code.encode("ascii")).digest()


async def request_otp(
    store: FhirStore, composition_id: str, *, requested_by: str = "", ttl_s: int = OTP_TTL_S
) -> OtpChallenge:
    """Send a one-time code to the patient of the signed document ``Composition/{composition_id}``."""
    if _sender is None:
        raise OperationError(
            503,
            "Chưa cấu hình kênh gửi mã OTP / no channel to send one-time codes is configured",
            "not-supported",
        )
    _, latest, patient_id = await _document(store, composition_id)
    try:
        patient = (await store.read("Patient", patient_id)).content or {}
    except (NotFound, Gone):
        raise OperationError(422, f"Patient/{patient_id} is not known", "not-found") from None
    phone = _phone(patient)
    if phone is None:
        raise OperationError(
            422,
            "Người bệnh không có số điện thoại để nhận mã OTP / the patient has no phone number for a one-time code",
            "business-rule",
            "Patient.telecom",
        )
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_bytes(16)
    challenge = str(uuid.uuid4())
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    digest = hashlib.sha256(canonical_document(latest.content)).hexdigest()
    async with db.transaction(store.pool) as conn:
        await conn.execute(
            "INSERT INTO signature_otp (id, composition_id, bundle_id, document_digest, patient_id, destination, "
            "salt, code_hash, requested_by, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                challenge,
                composition_id,
                latest.res_id,
                digest,
                patient_id,
                mask(phone),
                salt,
                _hash(salt, code),
                requested_by,
                now,
                expires,
            ),
        )
        text = (
            f"Mã xác nhận hồ sơ bệnh án của bạn: {code} (hiệu lực {ttl_s // 60} phút). "
            f"Your medical record confirmation code: {code}"
        )
        # sent inside the transaction: a code that could not be sent leaves no challenge behind
        await _sender.send(
            OtpMessage(f"Patient/{patient_id}", phone, code, text, f"Composition/{composition_id}", expires)
        )
    return OtpChallenge(challenge, expires, mask(phone))


def _confirmation_signature(
    patient_id: str, display: str | None, record: dict[str, Any], when: datetime
) -> dict[str, Any]:
    spec = ROLES["patient"]
    who: dict[str, Any] = {"reference": f"Patient/{patient_id}"}
    if display:
        who["display"] = display
    return {
        "extension": [{"url": ROLE_EXTENSION, "valueCode": "patient"}],
        "type": [{"system": ASTM_SYSTEM, "code": spec.code, "display": spec.display}],
        "when": fhir_instant(when),
        "who": who,
        "targetFormat": DOCUMENT_TARGET_FORMAT,
        "sigFormat": CONFIRMATION_FORMAT,
        "data": base64.b64encode(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).decode("ascii"),
    }


async def _patient_name(store: FhirStore, patient_id: str) -> str | None:
    try:
        content = (await store.read("Patient", patient_id)).content or {}
    except (NotFound, Gone):
        return None
    for name in content.get("name") or []:
        if isinstance(name, dict):
            text = name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])]).strip()
            if text:
                return str(text)
    return None


async def _record(
    store: FhirStore, latest: Row, patient_id: str, record: dict[str, Any], when: datetime, method: str
) -> dict[str, Any]:
    name = await _patient_name(store, patient_id)
    signature = _confirmation_signature(patient_id, name, record, when)
    provenance = provenance_record(
        role="patient",
        signature=signature,
        bundle_ref=f"Bundle/{latest.res_id}/_history/{latest.version}",
        composition_ref=composition_reference(latest.content),
        subject=document_subject(latest.content),
        recorded=when,
        signer_name=name or f"Patient/{patient_id}",
        activity="AU",
        method=method,
    )
    with signature_writes():
        stored = await store.create(provenance)
    assert stored.content is not None
    return stored.content


async def confirm_otp(store: FhirStore, composition_id: str, challenge_id: str, code: str) -> dict[str, Any]:
    """Record the patient's confirmation with the code of ``challenge_id``; returns the Provenance."""
    try:
        uuid.UUID(challenge_id)
    except ValueError:
        raise OperationError(
            400, "challenge must be the id answered when the code was sent", "invalid"
        ) from None
    if not re.fullmatch(r"\d{6}", code.strip()):
        raise OperationError(400, "Mã OTP gồm 6 chữ số / the code has 6 digits", "invalid", "code")
    _, latest, patient_id = await _document(store, composition_id)
    wrong_left: int | None = None
    async with db.transaction(store.pool) as conn:
        cur = await conn.execute(
            "SELECT bundle_id, document_digest, patient_id, destination, salt, code_hash, expires_at, attempts, "
            "used_at FROM signature_otp WHERE id = %s AND composition_id = %s FOR UPDATE",
            (challenge_id, composition_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise OperationError(
                404, "Không có mã OTP này / no such code was sent for this document", "not-found"
            )
        bundle_id, digest, pid, destination, salt, code_hash, expires_at, attempts, used_at = row
        now = datetime.now(UTC)
        if used_at is not None:
            raise OperationError(409, "Mã OTP đã được dùng / the code was already used", "duplicate")
        if expires_at <= now:
            raise OperationError(
                410, "Mã OTP đã hết hạn / the code has expired: request a new one", "expired"
            )
        if attempts >= OTP_MAX_ATTEMPTS:
            raise OperationError(
                429, "Nhập sai quá nhiều lần / too many wrong codes: request a new one", "throttled"
            )
        if not hmac.compare_digest(bytes(code_hash), _hash(bytes(salt), code.strip())):
            await conn.execute(
                "UPDATE signature_otp SET attempts = attempts + 1 WHERE id = %s", (challenge_id,)
            )
            wrong_left = OTP_MAX_ATTEMPTS - attempts - 1
        else:
            current = hashlib.sha256(canonical_document(latest.content)).hexdigest()
            if bundle_id != latest.res_id or current != digest or pid != patient_id:
                raise OperationError(
                    409,
                    "Tài liệu đã thay đổi từ khi gửi mã / the document changed since the code was sent: request a "
                    "new code",
                    "conflict",
                )
            await conn.execute("UPDATE signature_otp SET used_at = %s WHERE id = %s", (now, challenge_id))
            record = {
                "method": "otp",
                "channel": "sms",
                "destination": destination,
                "challenge": challenge_id,
                "documentDigest": digest,
                "bundle": f"Bundle/{bundle_id}",
                "confirmedAt": fhir_instant(now),
            }
            return await _record(store, latest, patient_id, record, now, "otp")
    raise OperationError(
        422,
        f"Mã OTP không đúng (còn {wrong_left} lần) / wrong code ({wrong_left} tries left)",
        "security",
        "code",
    )


async def confirm_biometric(
    store: FhirStore, composition_id: str, *, evidence_digest: str, device: str, modality: str
) -> dict[str, Any]:
    """Record the patient's confirmation by biometrics: ``evidence_digest`` is the SHA-256 (hex) of the
    capture, ``device`` the identifier of the device that took it, ``modality`` one of :data:`MODALITIES`."""
    digest = evidence_digest.strip().lower()
    if not _HEX64.match(digest):
        raise OperationError(
            400, "evidenceHash must be a SHA-256 digest (64 hex digits)", "invalid", "evidenceHash"
        )
    if not device.strip() or len(device) > 200:
        raise OperationError(400, "device must name the capturing device", "invalid", "device")
    if modality not in MODALITIES:
        raise OperationError(
            400, f"modality must be one of {', '.join(sorted(MODALITIES))}", "invalid", "modality"
        )
    _, latest, patient_id = await _document(store, composition_id)
    now = datetime.now(UTC)
    record = {
        "method": "biometric",
        "modality": modality,
        "evidenceDigest": digest,
        "device": device.strip(),
        "documentDigest": hashlib.sha256(canonical_document(latest.content)).hexdigest(),
        "bundle": f"Bundle/{latest.res_id}",
        "confirmedAt": fhir_instant(now),
    }
    return await _record(store, latest, patient_id, record, now, "biometric")
