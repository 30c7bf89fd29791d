"""The signature operations on Composition: ``$sign``, ``$verify``, ``$amend`` and ``$confirm``.

Spec: https://hl7.org/fhir/R4/operations.html (instance-level operations with a ``Parameters`` body; a
state-changing operation is invoked with POST), https://hl7.org/fhir/R4/parameters.html. The
OperationDefinitions are the project's own (``https://senhealth.vn/fhir/OperationDefinition/...``).

- ``POST [base]/Composition/[id]/$sign``: ``role`` (code, optional): ``author`` (default), ``coauthor``,
  ``verifier``, ``witness``, ``patient`` or ``organization`` (the facility's signature, with the
  certificate of the Composition's ``custodian``). Signs as the calling user with the user's key
  (``senhealth.emr.pki.keystore.signing_key(settings, user=<username>)``; for ``organization``, the
  facility's key). Answers a Parameters: ``document`` (the signed Bundle), ``provenance`` (the record of
  this signature) and ``signature`` (its summary parts).
- ``GET|POST [base]/Composition/[id]/$verify``: a Parameters with ``valid`` (every signature holds and there
  is at least one), ``document`` (Reference to the latest signed Bundle), one ``signature`` per
  signature or confirmation (parts ``signer``, ``role``, ``time``, ``valid``, ``reason`` (Vietnamese /
  English), ``reason-vi``, ``reason-en``, ``kind`` (``digital-signature`` | ``confirmation``), ``who``,
  ``timestamp``, ``certificate``, ``revokedAt``, ``provenance``, ``bundle``, ``composition``), and
  ``chain``: one ``link`` per document of the amendment chain, original first (parts ``composition``,
  ``status``, ``replaces``, ``replacedBy``, ``signed``, ``valid``, and its ``signature`` parts).
- ``POST [base]/Composition/[id]/$amend``: ``resource`` (the corrected Composition), signed by the caller
  as author; answers ``composition``, ``document``, ``provenance`` (201).
- ``POST [base]/Composition/[id]/$confirm``: the patient's confirmation without a certificate.
  ``method`` = ``otp``: without ``code``, sends a code to the patient's phone and answers ``challenge``,
  ``expires``, ``destination``; with ``challenge`` and ``code``, records the confirmation. ``method`` =
  ``biometric``: ``evidenceHash`` (SHA-256 hex of the capture) or ``evidence`` (the capture, base64: only
  its digest is kept), ``device``, ``modality``. Answers ``provenance``.

Who may sign as what: ``author`` and ``coauthor`` only a user whose Practitioner is among the
Composition's ``author``; ``verifier`` and ``witness`` any signed-in user with a certificate;
``patient`` only the patient the document is about (a patient account); ``organization`` a user of the
custodian facility. Without a signed-in user nothing is signed (401).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from typing import Any, Final

from senhealth.emr.pki.errors import NoSigningKey, NotInitialised
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.keystore import signing_key
from senhealth.emr.signatures.amendment import ChainLink, amend_document, document_chain
from senhealth.emr.signatures.confirmation import (
    LoggingOtpSender,
    confirm_biometric,
    confirm_otp,
    install_otp_sender,
    otp_sender,
    request_otp,
)
from senhealth.emr.signatures.immutability import install_immutability_guard, remove_immutability_guard
from senhealth.emr.signatures.model import ROLES, Role, SignatureInfo, parse_role
from senhealth.emr.signatures.provenance import fhir_instant
from senhealth.emr.signatures.records import signed_records
from senhealth.emr.signatures.services import PkiServices, configure, configured_settings, pki_services
from senhealth.emr.signatures.signing import Signer, certificate_name, sign_document
from senhealth.fhir.access import Principal
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import Gone, NotFound
from senhealth.security.policy import CARE_ROLES

__all__ = [
    "AMEND",
    "CONFIRM",
    "SIGN",
    "VERIFY",
    "chain_parameter",
    "register_signature_operations",
    "signature_parameter",
    "unregister_signature_operations",
]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/"
SIGN: Final = _OD + "Composition-sign"
VERIFY: Final = _OD + "Composition-verify"
AMEND: Final = _OD + "Composition-amend"
CONFIRM: Final = _OD + "Composition-confirm"
_ACCOUNT_SYSTEM: Final = "https://senhealth.vn/fhir/sid/account"
_NAMES: Final = ("sign", "verify", "amend", "confirm")


# --- who signs ---------------------------------------------------------------------------------------------


async def _composition(call: OperationCall) -> dict[str, Any]:
    assert call.resource_id is not None
    try:
        stored = await call.store.read("Composition", call.resource_id)
    except NotFound:
        raise OperationError(404, f"Composition/{call.resource_id} is not known", "not-found") from None
    except Gone:
        raise OperationError(410, f"Composition/{call.resource_id} is deleted", "deleted") from None
    assert stored.content is not None
    return stored.content


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else value
    if isinstance(ref, str) and ref.startswith(f"{res_type}/"):
        return ref.split("/")[1]
    return None


async def _account(principal: Principal) -> tuple[str, str, str | None, str | None]:
    """``(username, display name, practitioner id, patient id)`` of the caller."""
    from senhealth.security.accounts import get_user

    user = await get_user(principal.subject)
    if user is not None:
        return (
            user.username,
            user.display_name or user.username,
            _ref_id(user.practitioner, "Practitioner") or user.practitioner or principal.practitioner,
            _ref_id(user.patient, "Patient") or user.patient or principal.patient,
        )
    claims = principal.claims
    username = claims.get("preferred_username") or claims.get("username")
    if not isinstance(username, str) or not username:
        raise OperationError(
            403, "Không xác định được tài khoản người ký / the signing account is not known here", "forbidden"
        )
    return username, username, principal.practitioner, principal.patient


def _key(settings: Any, *, user: str | None = None, organization: str | None = None) -> SigningKey:
    try:
        return signing_key(settings, user=user, organization=organization)
    except NoSigningKey as e:
        raise OperationError(422, e.message, "not-found") from None
    except NotInitialised as e:
        raise OperationError(503, e.message, "not-supported") from None


def _may_sign(principal: Principal) -> None:
    """Who signs documents at all: the care roles and patients (their own documents, checked where the role
    is); not officers, analysts or backend clients, whatever they may read. ``$sign`` and ``$confirm``
    authorise their writes themselves (``Operation.authorizes_writes``): a patient signs without the right
    to update the Composition."""
    if principal.kind == "patient" or "patient" in principal.roles or principal.roles & CARE_ROLES:
        return
    raise OperationError(
        403,
        "Chỉ nhân viên y tế và người bệnh mới ký tài liệu / only clinical staff and patients sign documents",
        "forbidden",
    )


async def _signer(settings: Any, principal: Principal | None, role: Role, comp: dict[str, Any]) -> Signer:
    if principal is None:
        raise OperationError(
            401, "Ký số cần người dùng đã đăng nhập / signing needs a signed-in user", "login"
        )
    _may_sign(principal)
    facility = _ref_id(principal.facility, "Organization")
    on_behalf = {"reference": f"Organization/{facility}"} if facility else None
    if role == "organization":
        custodian = _ref_id(comp.get("custodian"), "Organization") or facility
        if custodian is None:
            raise OperationError(
                422,
                "Tài liệu không có đơn vị quản lý (custodian) / the document names no custodian",
                "business-rule",
            )
        if principal.kind == "patient" or facility != custodian:
            raise OperationError(
                403,
                f"Chỉ người dùng của Organization/{custodian} mới ký thay cơ sở / only a user of "
                f"Organization/{custodian} signs for it",
                "forbidden",
            )
        key = await asyncio.to_thread(_key, settings, organization=custodian)
        org = {"reference": f"Organization/{custodian}", "display": certificate_name(key.certificate)}
        return Signer(role, key, org)
    username, display, practitioner, patient = await _account(principal)
    key = await asyncio.to_thread(_key, settings, user=username)
    if role == "patient":
        subject = _ref_id(comp.get("subject"), "Patient")
        if principal.kind != "patient" or patient is None or patient != subject:
            raise OperationError(
                403,
                "Chỉ người bệnh của tài liệu mới ký với vai trò patient / only the patient the document is about "
                "signs as patient",
                "forbidden",
            )
        return Signer(role, key, {"reference": f"Patient/{patient}", "display": display})
    if principal.kind == "patient":
        raise OperationError(
            403, f"Người bệnh không ký với vai trò {role} / a patient cannot sign as {role}", "forbidden"
        )
    if practitioner:
        who: dict[str, Any] = {"reference": f"Practitioner/{practitioner}", "display": display}
    else:
        who = {"identifier": {"system": _ACCOUNT_SYSTEM, "value": username}, "display": display}
    if role in ("author", "coauthor"):
        authors = {_ref_id(a, "Practitioner") for a in comp.get("author") or []}
        if practitioner is None or practitioner not in authors:
            raise OperationError(
                403,
                "Bạn không phải tác giả của tài liệu này / you are not an author of this document "
                "(Composition.author): sign as verifier or witness",
                "forbidden",
            )
    return Signer(role, key, who, on_behalf)


def _services(settings: Any) -> PkiServices:
    try:
        return pki_services(settings)
    except NotInitialised as e:
        raise OperationError(503, e.message, "not-supported") from None


# --- answers -----------------------------------------------------------------------------------------------


def _text(info: SignatureInfo) -> str:
    return f"{info.reason_vi} / {info.reason}"


def signature_parameter(info: SignatureInfo, name: str = "signature") -> dict[str, Any]:
    """One ``signature`` parameter of ``$verify`` (see the module docstring)."""
    parts: list[dict[str, Any]] = [
        {"name": "signer", "valueString": info.signer},
        {"name": "role", "valueCode": info.role},
        {"name": "kind", "valueCode": info.kind},
        {"name": "valid", "valueBoolean": info.valid},
        {"name": "reason", "valueString": _text(info)},
        {"name": "reason-vi", "valueString": info.reason_vi},
        {"name": "reason-en", "valueString": info.reason},
        {"name": "bundle", "valueReference": {"reference": info.bundle}},
        {"name": "composition", "valueReference": {"reference": info.composition}},
    ]
    if info.role in ROLES:
        parts.insert(
            2,
            {
                "name": "roleTitle",
                "valueString": f"{ROLES[info.role].title_vi} / {ROLES[info.role].title_en}",
            },
        )
    if info.signed_at is not None:
        parts.insert(3, {"name": "time", "valueInstant": fhir_instant(info.signed_at)})
    optional: list[tuple[str, str, Any]] = [
        ("who", "valueReference", {"reference": info.who} if info.who else None),
        ("timestamp", "valueInstant", fhir_instant(info.timestamp) if info.timestamp else None),
        ("certificate", "valueString", info.certificate_subject),
        ("certificateSerial", "valueString", info.certificate_serial),
        ("revokedAt", "valueInstant", fhir_instant(info.revoked_at) if info.revoked_at else None),
        ("method", "valueCode", info.method),
        ("provenance", "valueReference", {"reference": info.provenance} if info.provenance else None),
    ]
    parts.extend({"name": n, kind: v} for n, kind, v in optional if v is not None)
    return {"name": name, "part": parts}


def chain_parameter(links: list[ChainLink]) -> dict[str, Any]:
    """The ``chain`` parameter of ``$verify``: one ``link`` per document, original first."""
    out: list[dict[str, Any]] = []
    for link in links:
        parts: list[dict[str, Any]] = [
            {"name": "composition", "valueReference": {"reference": link.composition}},
            {"name": "status", "valueCode": link.status or "unknown"},
            {"name": "signed", "valueBoolean": link.signed},
            {
                "name": "valid",
                "valueBoolean": bool(link.signatures) and all(s.valid for s in link.signatures),
            },
        ]
        if link.replaces:
            parts.append({"name": "replaces", "valueReference": {"reference": link.replaces}})
        parts.extend({"name": "replacedBy", "valueReference": {"reference": r}} for r in link.replaced_by)
        if link.title:
            parts.append({"name": "title", "valueString": link.title})
        parts.extend(signature_parameter(s) for s in link.signatures)
        out.append({"name": "link", "part": parts})
    return {"name": "chain", "part": out}


def _signed_answer(
    bundle: dict[str, Any], provenance: dict[str, Any], extra: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    params = [
        *(extra or []),
        {"name": "document", "resource": bundle},
        {"name": "provenance", "resource": provenance},
    ]
    return {"resourceType": "Parameters", "parameter": params}


# --- the handlers ------------------------------------------------------------------------------------------


def _role(call: OperationCall) -> Role:
    try:
        return parse_role(call.text("role"))
    except ValueError as e:
        raise OperationError(400, str(e), "code-invalid", "role") from None


async def _sign(call: OperationCall) -> OperationResult:
    settings = configured_settings()
    role = _role(call)
    comp = await _composition(call)
    signer = await _signer(settings, call.principal, role, comp)
    assert call.resource_id is not None
    result = await sign_document(
        call.store,
        call.resource_id,
        signer,
        _services(settings),
        base_url=call.base_url,
        restriction=call.restriction,
    )
    body = _signed_answer(result.bundle, result.provenance, [{"name": "role", "valueCode": role}])
    return OperationResult(body, status=201 if result.created_bundle else 200)


async def _verify(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    await _composition(call)
    services = _services(configured_settings())
    links = await document_chain(call.store, call.resource_id, services=services)
    here = f"Composition/{call.resource_id}"
    mine = next((link for link in links if link.composition == here), None)
    signatures = mine.signatures if mine is not None else []
    records = await signed_records(call.store, call.resource_id)
    params: list[dict[str, Any]] = [
        {"name": "valid", "valueBoolean": bool(signatures) and all(s.valid for s in signatures)},
        {"name": "signed", "valueBoolean": any(s.kind == "digital-signature" for s in signatures)},
    ]
    if records.latest is not None:
        params.append(
            {"name": "document", "valueReference": {"reference": f"Bundle/{records.latest.res_id}"}}
        )
    params.extend(signature_parameter(s) for s in signatures)
    params.append(chain_parameter(links))
    return OperationResult({"resourceType": "Parameters", "parameter": params})


async def _amend(call: OperationCall) -> OperationResult:
    settings = configured_settings()
    corrected = call.first("resource")
    if not isinstance(corrected, dict):
        raise OperationError(400, "Parameter 'resource' is the corrected Composition", "required", "resource")
    comp = await _composition(call)
    signer = await _signer(settings, call.principal, "author", corrected if corrected.get("author") else comp)
    assert call.resource_id is not None
    result = await amend_document(
        call.store,
        call.resource_id,
        corrected,
        signer,
        _services(settings),
        base_url=call.base_url,
        restriction=call.restriction,
    )
    body = _signed_answer(
        result.signed.bundle,
        result.signed.provenance,
        [{"name": "composition", "resource": result.composition}],
    )
    return OperationResult(
        body, status=201, headers={"Location": f"{call.base_url}/Composition/{result.composition['id']}"}
    )


async def _confirm(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    if call.principal is None:
        raise OperationError(
            401, "Xác nhận cần người dùng đã đăng nhập / confirming needs a signed-in user", "login"
        )
    _may_sign(call.principal)
    comp = await _composition(call)
    if call.principal.kind == "patient" and call.principal.patient != _ref_id(comp.get("subject"), "Patient"):
        raise OperationError(403, "Đây không phải hồ sơ của bạn / this is not your record", "forbidden")
    method = (call.text("method") or "").strip().lower()
    if method == "otp":
        code = call.text("code")
        if code is None:
            challenge = await request_otp(call.store, call.resource_id, requested_by=call.principal.subject)
            body = {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "challenge", "valueString": challenge.id},
                    {"name": "expires", "valueInstant": fhir_instant(challenge.expires_at)},
                    {"name": "destination", "valueString": challenge.destination},
                ],
            }
            return OperationResult(body, status=202)
        challenge_id = call.text("challenge")
        if not challenge_id:
            raise OperationError(
                400, "Parameter 'challenge' names the code that was sent", "required", "challenge"
            )
        provenance = await confirm_otp(call.store, call.resource_id, challenge_id, code)
    elif method == "biometric":
        digest = call.text("evidenceHash")
        raw = call.text("evidence")
        if digest is None and raw is not None:
            try:
                digest = hashlib.sha256(base64.b64decode(raw, validate=True)).hexdigest()
            except (ValueError, binascii.Error):
                raise OperationError(
                    400, "Parameter 'evidence' must be base64", "invalid", "evidence"
                ) from None
        if digest is None:
            raise OperationError(
                400, "Give 'evidenceHash' (or 'evidence') of the capture", "required", "evidenceHash"
            )
        provenance = await confirm_biometric(
            call.store,
            call.resource_id,
            evidence_digest=digest,
            device=call.text("device") or "",
            modality=(call.text("modality") or "fingerprint").strip().lower(),
        )
    else:
        raise OperationError(400, "Parameter 'method' is otp or biometric", "required", "method")
    return OperationResult(
        {"resourceType": "Parameters", "parameter": [{"name": "provenance", "resource": provenance}]},
        status=201,
    )


def register_signature_operations(settings: Any = None) -> None:
    """Register ``$sign``, ``$verify``, ``$amend`` and ``$confirm`` on Composition (replacing earlier
    ones) and install the immutability guard; ``settings`` name the PKI (default: the process's). In
    development mode, when no one-time-code sender is installed, codes are written to the log
    (:class:`~senhealth.emr.signatures.confirmation.LoggingOtpSender`)."""
    configure(settings)
    common: dict[str, Any] = {"levels": frozenset({"instance"}), "resource_types": frozenset({"Composition"})}
    register(
        Operation(
            name="sign",
            handler=_sign,
            definition=SIGN,
            affects_state=True,
            authorizes_writes=True,
            documentation="Sign the document of the Composition as the calling user (role: author, coauthor, "
            "verifier, witness, patient, organization).",
            **common,
        ),
        replace=True,
    )
    register(
        Operation(
            name="verify",
            handler=_verify,
            definition=VERIFY,
            documentation="Verify every signature on the Composition's signed document, and show its amendment chain.",
            **common,
        ),
        replace=True,
    )
    register(
        Operation(
            name="amend",
            handler=_amend,
            definition=AMEND,
            affects_state=True,
            documentation="Create a signed correction (a new Composition that replaces this one).",
            **common,
        ),
        replace=True,
    )
    register(
        Operation(
            name="confirm",
            handler=_confirm,
            definition=CONFIRM,
            affects_state=True,
            authorizes_writes=True,
            documentation="Record the patient's confirmation without a certificate (OTP or biometrics).",
            **common,
        ),
        replace=True,
    )
    install_immutability_guard()
    if getattr(settings, "environment", "production") == "development" and otp_sender() is None:
        install_otp_sender(LoggingOtpSender())  # no SMS gateway in development: the code goes to the log


def unregister_signature_operations() -> None:
    """Remove the operations and the guard (tests)."""
    for name in _NAMES:
        unregister(name)
    remove_immutability_guard()
    configure(None)
