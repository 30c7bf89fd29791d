"""``DiagnosticReport/[id]/$ai-review``: the radiologist accepts, edits or rejects the AI's preliminary result
and signs the final report, as the signed-in user.

Spec: https://hl7.org/fhir/R4/operations.html (an instance operation with a ``Parameters`` body, POST: it
changes state), https://hl7.org/fhir/R4/parameters.html; the review itself is
:func:`senhealth.imaging.review.review_report` (docs/imaging-ai.md §4), the signature
:func:`senhealth.emr.signatures.sign_document` (docs/signatures.md). OperationDefinition (the project's own):
``https://senhealth.vn/fhir/OperationDefinition/DiagnosticReport-ai-review``.

In: ``verdict`` (code, required): ``accept`` | ``edit`` | ``reject``; ``findingPresent`` (boolean: the
radiologist's call, for ``edit``); ``conclusion`` (string: required for ``edit`` and ``reject``);
``facilitySignature`` (boolean, default false): after the radiologist's own signature, the facility's
certificate signs the report too (role ``organization``), as the document pages offer.

Out: a Parameters with ``verdict`` (accepted | edited | rejected), ``agrees`` (the final call is the AI's),
``report`` (the final DiagnosticReport), ``composition`` (Reference to the signed report), ``provenance``
(the review's), ``signed``, ``facilitySigned`` and ``suspended`` (the model was switched off by this
review's agreement count).

Who may: a signed-in doctor (``doctor``; ``radiologist`` when the platform has such a role) whose account is
linked to a Practitioner (the reviewer is that Practitioner, never a parameter) and who works for the
report's facility (the Organization that ran the model). The API has already checked that the caller may
update DiagnosticReports and sees the patient. The signature uses the caller's own certificate
(``senhealth pki issue``); without one the review is refused (422) unless
``SENHEALTH_IMAGING_AI_REQUIRE_SIGNATURE=false``. Audit: the review (``ai-review``, by the review itself) and
each signature (``ai-report-signature``: the Composition, the signer, the role, the signature's
Provenance), in their transactions, besides the API's record of the operation call.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.emr.pki.errors import NoSigningKey, NotInitialised
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.keystore import signing_key
from senhealth.emr.signatures import Signer, SignResult, pki_services, sign_document
from senhealth.emr.signatures.services import configured_settings
from senhealth.emr.signatures.signing import certificate_name
from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.imaging.inference.results import DEVICE_EXT
from senhealth.imaging.models.config import get_config
from senhealth.imaging.review import VERDICTS, ReviewError, review_report

__all__ = [
    "AI_REVIEW",
    "REVIEW_ROLES",
    "register_ai_review_operation",
    "unregister_ai_review_operation",
]

AI_REVIEW: Final = "https://senhealth.vn/fhir/OperationDefinition/DiagnosticReport-ai-review"
NAME: Final = "ai-review"
#: Roles that read images and sign imaging reports.
REVIEW_ROLES: Final = frozenset({"doctor", "radiologist"})
SIGNATURE_AUDIT: Final = "ai-report-signature"

_settings: list[Any] = []


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else value
    if isinstance(ref, str) and ref.startswith(f"{res_type}/"):
        return ref.split("/")[1]
    return None


def _boolean(call: OperationCall, name: str) -> bool | None:
    value = call.first(name)
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise OperationError(400, f"Parameter {name!r} must be a boolean", "invalid", name)


async def _reviewer(principal: Principal | None) -> tuple[str, str, str]:
    """``(username, display name, Practitioner id)`` of the caller, or the refusal."""
    if principal is None:
        raise OperationError(
            401, "Duyệt kết quả cần người dùng đã đăng nhập / reviewing needs a signed-in user", "login"
        )
    if principal.kind != "user" or not principal.roles & REVIEW_ROLES:
        raise OperationError(
            403,
            "Chỉ bác sĩ (chẩn đoán hình ảnh) mới duyệt kết quả AI / only doctors (radiologists) review AI results",
            "forbidden",
        )
    from senhealth.security.accounts import get_user

    user = await get_user(principal.subject)
    username = user.username if user is not None else str(principal.claims.get("preferred_username") or "")
    display = (user.display_name or user.username) if user is not None else username
    practitioner = (
        (_ref_id(user.practitioner, "Practitioner") or user.practitioner) if user is not None else None
    ) or _ref_id(principal.practitioner, "Practitioner")
    if not username or not practitioner:
        raise OperationError(
            403,
            "Tài khoản chưa gắn với người hành nghề (Practitioner) / the account is not linked to a Practitioner",
            "forbidden",
        )
    return username, display, practitioner


async def _facility(store: FhirStore, report: dict[str, Any]) -> str | None:
    """The facility of the report: its performer, else the owner of the model's Device."""
    for performer in report.get("performer") or []:
        org = _ref_id(performer, "Organization")
        if org:
            return org
    for ext in report.get("extension") or []:
        if ext.get("url") == DEVICE_EXT:
            device_id = _ref_id(ext.get("valueReference"), "Device")
            if device_id:
                try:
                    device = (await store.read("Device", device_id)).content or {}
                except (NotFound, Gone):
                    return None
                return _ref_id(device.get("owner"), "Organization")
    return None


def _key(settings: Any, **who: str) -> SigningKey:
    try:
        return signing_key(settings, **who)
    except NoSigningKey as e:
        raise OperationError(422, e.message, "not-found") from None
    except NotInitialised as e:
        raise OperationError(503, e.message, "not-supported") from None


async def _audit_signature(
    store: FhirStore,
    principal: Principal,
    composition: str,
    patient: str | None,
    result: SignResult,
    role: str,
) -> None:
    async with store.transaction() as tx:
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=datetime.now(UTC),
                principal=principal,
                action="update",
                res_type="Composition",
                res_id=composition,
                query=SIGNATURE_AUDIT,
                patients=(patient,) if patient else (),
                details={
                    "role": role,
                    "signer": str(
                        (result.provenance.get("agent") or [{}])[0].get("who", {}).get("reference", "")
                    ),
                    "provenance": f"Provenance/{result.provenance_id}",
                    "bundle": f"Bundle/{result.bundle_id}",
                },
            ),
        )


async def _ai_review(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    settings = _settings[0] if _settings else configured_settings()
    verdict = call.text("verdict")
    if verdict not in VERDICTS:
        raise OperationError(400, f"verdict: one of {', '.join(VERDICTS)}", "required", "verdict")
    present = _boolean(call, "findingPresent")
    conclusion = call.text("conclusion")
    with_facility = _boolean(call, "facilitySignature") is True
    username, display, practitioner = await _reviewer(call.principal)
    principal = call.principal
    assert principal is not None
    try:
        report = (await call.store.read("DiagnosticReport", call.resource_id)).content or {}
    except NotFound:
        raise OperationError(404, f"DiagnosticReport/{call.resource_id} is not known", "not-found") from None
    except Gone:
        raise OperationError(410, f"DiagnosticReport/{call.resource_id} is deleted", "deleted") from None
    facility = await _facility(call.store, report)
    mine = _ref_id(principal.facility, "Organization")
    if facility is not None and facility != mine:
        raise OperationError(
            403,
            f"Chỉ bác sĩ của Organization/{facility} mới duyệt kết quả này / only a doctor of "
            f"Organization/{facility} reviews this result",
            "forbidden",
        )
    signer: Signer | None = None
    services = None
    try:
        key = await asyncio.to_thread(signing_key, settings, user=username)
    except NoSigningKey as e:
        if get_config().require_signature:
            raise OperationError(422, e.message, "not-found") from None
        key = None
    except NotInitialised as e:
        if get_config().require_signature:
            raise OperationError(503, e.message, "not-supported") from None
        key = None
    if key is not None:
        try:
            services = pki_services(settings)
        except NotInitialised as e:
            raise OperationError(503, e.message, "not-supported") from None
        on_behalf = {"reference": f"Organization/{mine}"} if mine else None
        signer = Signer(
            "author", key, {"reference": f"Practitioner/{practitioner}", "display": display}, on_behalf
        )
    try:
        result = await review_report(
            call.store,
            call.resource_id,
            verdict=verdict,
            radiologist=practitioner,
            finding_present=present,
            conclusion=conclusion,
            signer=signer,
            services=services,
            principal=principal,
            base_url=call.base_url,
        )
    except ReviewError as e:
        raise OperationError(e.status, e.message, "business-rule") from None
    patient = _ref_id(report.get("subject"), "Patient")
    composition = str(result.composition["id"])
    if result.signature is not None:
        await _audit_signature(call.store, principal, composition, patient, result.signature, "author")
    facility_signed = False
    if with_facility and result.signature is not None and services is not None and mine:
        org_key = await asyncio.to_thread(_key, settings, organization=mine)
        org = {"reference": f"Organization/{mine}", "display": certificate_name(org_key.certificate)}
        org_result = await sign_document(
            call.store, composition, Signer("organization", org_key, org), services, base_url=call.base_url
        )
        await _audit_signature(call.store, principal, composition, patient, org_result, "organization")
        facility_signed = True
    params: list[dict[str, Any]] = [
        {"name": "verdict", "valueCode": result.verdict},
        {"name": "agrees", "valueBoolean": result.agrees},
        {"name": "report", "resource": result.report},
        {"name": "composition", "valueReference": {"reference": f"Composition/{composition}"}},
        {"name": "provenance", "resource": result.provenance},
        {"name": "signed", "valueBoolean": result.signature is not None},
        {"name": "facilitySigned", "valueBoolean": facility_signed},
        {"name": "suspended", "valueBoolean": result.suspension is not None},
    ]
    return OperationResult({"resourceType": "Parameters", "parameter": params})


def register_ai_review_operation(settings: Any = None) -> None:
    """Register ``DiagnosticReport/[id]/$ai-review`` (replacing an earlier one); ``settings`` name the PKI
    (default: those the signature operations were configured with, else the process's)."""
    _settings[:] = [settings] if settings is not None else []
    register(
        Operation(
            name=NAME,
            handler=_ai_review,
            definition=AI_REVIEW,
            levels=frozenset({"instance"}),
            resource_types=frozenset({"DiagnosticReport"}),
            affects_state=True,
            documentation="Review the AI's preliminary imaging result (accept, edit, reject) and sign the final "
            "report as the calling radiologist.",
        ),
        replace=True,
    )


def unregister_ai_review_operation() -> None:
    unregister(NAME)
    _settings.clear()
