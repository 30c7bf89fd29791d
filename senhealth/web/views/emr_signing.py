"""Signing a clinical document from the pages, and the signature panel.

- ``GET .../clinical-documents/{cid}/sign``: the signing form. The certificates the user may sign with
  (their own; the facility's when the document's custodian is the user's facility), each with its status
  checked now (:mod:`senhealth.web.views.emr_certificates`), and the roles open to them now: ``author``
  for an author of the document while nobody has signed it (the author signs first), then ``coauthor``
  (another author), ``verifier`` (head of department), ``witness``; the facility's certificate signs as
  ``organization``. A patient signs in their own portal with their own certificate; here the patient
  *confirms* by a one-time code sent to their phone (``$confirm``), recorded beside the signatures.
- ``POST .../sign``: ``Composition/{cid}/$sign`` with the chosen role. Refusals are shown with the
  server's reason in the page's language (a revoked or expired certificate: why, and what to do).
- ``GET .../signatures``: the signature panel, ``Composition/{cid}/$verify``: every signature (who, in
  which role, when, valid or not and why, the certificate) and the amendment chain, original first, each
  document with its own signatures. An htmx request gets the panel alone.
- ``POST .../confirm``: the patient's one-time code: without ``code`` it is sent, with it it is checked.

Spec: the signature operations of docs/signatures.md (``$sign``, ``$verify``, ``$confirm``),
https://hl7.org/fhir/R4/parameters.html, https://hl7.org/fhir/R4/signatures.html
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.emr.signatures.model import ROLES
from senhealth.security import accounts
from senhealth.web.context import (
    Redirect,
    csrf_protected,
    fhir,
    lang_of,
    render,
    require_staff,
    state,
)
from senhealth.web.i18n import N_, parse_when
from senhealth.web.sessions import Session
from senhealth.web.views.emr_certificates import CertificateView, holder_certificates
from senhealth.web.views.emr_fhir import Answer, emr_fhir, in_language
from senhealth.web.views.emr_records import (
    STATUS_LABELS,
    document_path,
    document_title,
    load_composition,
    reference_id,
    role_title,
    signed_states,
)

__all__ = ["ROUTES", "parse_verify", "sign_page", "signature_panel"]

#: Roles a staff member signs in with their own certificate, in the order the page offers them.
PERSONAL_ROLES: Final = ("author", "coauthor", "verifier", "witness")

_HINTS: Final = {
    401: N_("Sign in again, then sign the document."),
    403: N_("Choose another role: only an author of the document signs as author; a facility signs only its own documents."),
    409: N_("Reload the document: it changed meanwhile, or this signature already exists."),
    422: N_("The certificate cannot sign now. Ask the certificate administrator for a new one; documents signed before stay valid."),
    503: N_("The signing service (timestamp or certificate status) cannot be reached now. Try again in a few minutes."),
}  # fmt: skip


def _part(parts: list[dict[str, Any]], name: str) -> Any:
    for p in parts:
        if p.get("name") == name:
            for key, value in p.items():
                if key.startswith("value"):
                    return value.get("reference") if isinstance(value, dict) else value
            return p.get("part")
    return None


def _signature(parts: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    role = str(_part(parts, "role") or "")
    reason_vi = str(_part(parts, "reason-vi") or "")
    reason_en = str(_part(parts, "reason-en") or "")
    return {
        "signer": str(_part(parts, "signer") or ""),
        "role": role,
        "role_title": role_title(role, lang),
        "kind": str(_part(parts, "kind") or "digital-signature"),
        "valid": _part(parts, "valid") is True,
        "reason": (reason_vi if lang == "vi" else reason_en)
        or in_language(str(_part(parts, "reason") or ""), lang),
        "time": parse_when(str(_part(parts, "time") or "")),
        "timestamp": parse_when(str(_part(parts, "timestamp") or "")),
        "certificate": str(_part(parts, "certificate") or ""),
        "serial": str(_part(parts, "certificateSerial") or ""),
        "revoked_at": parse_when(str(_part(parts, "revokedAt") or "")),
        "method": str(_part(parts, "method") or ""),
        "composition": reference_id(_part(parts, "composition"), "Composition"),
    }


def parse_verify(body: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The Parameters of ``$verify`` shaped for the panel: ``valid``, ``signed``, ``signatures`` and
    ``chain`` (links, original first, each with ``id``, ``status``, ``signed``, ``valid``,
    ``replaces``, ``replaced_by``, ``title``, ``signatures``)."""
    out: dict[str, Any] = {"valid": False, "signed": False, "signatures": [], "chain": []}
    for param in body.get("parameter") or []:
        if not isinstance(param, dict):
            continue
        name = param.get("name")
        if name == "valid":
            out["valid"] = param.get("valueBoolean") is True
        elif name == "signed":
            out["signed"] = param.get("valueBoolean") is True
        elif name == "signature":
            out["signatures"].append(_signature(param.get("part") or [], lang))
        elif name == "chain":
            for link in param.get("part") or []:
                parts = link.get("part") or []
                out["chain"].append(
                    {
                        "id": reference_id(_part(parts, "composition"), "Composition"),
                        "status": str(_part(parts, "status") or ""),
                        "signed": _part(parts, "signed") is True,
                        "valid": _part(parts, "valid") is True,
                        "title": str(_part(parts, "title") or ""),
                        "replaces": reference_id(_part(parts, "replaces"), "Composition"),
                        "replaced_by": [
                            reference_id(p.get("valueReference", {}).get("reference"), "Composition")
                            for p in parts
                            if p.get("name") == "replacedBy"
                        ],
                        "signatures": [
                            _signature(p.get("part") or [], lang)
                            for p in parts
                            if p.get("name") == "signature"
                        ],
                    }
                )
    return out


async def signature_panel(request: Request) -> Response:
    """``GET .../signatures``: ``$verify`` as a panel (see the module docstring)."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    lang = lang_of(request)
    async with fhir(request, found) as client:
        comp = await load_composition(client, patient_id, composition_id)
    async with emr_fhir(request, found) as api:
        answer = await api.get(f"Composition/{composition_id}/$verify")
    context: dict[str, Any] = {
        "patient_id": patient_id,
        "composition_id": composition_id,
        "title": document_title(comp, lang),
        "status_labels": STATUS_LABELS,
        "verify": None,
        "errors": [],
    }
    if answer.ok and answer.json is not None:
        context["verify"] = parse_verify(answer.json, lang)
    else:
        context["errors"] = [
            {"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues
        ]
    if request.headers.get("hx-request"):
        return render(request, "emr/signatures.html", context)
    return render(request, "emr/signatures_page.html", context)


async def _practitioner(found: Session) -> str | None:
    user = await accounts.get_user(found.account_id)
    if user is None or not user.practitioner:
        return None
    return reference_id(user.practitioner, "Practitioner") or str(user.practitioner)


def _open_roles(
    comp: Mapping[str, Any], practitioner: str | None, signed_roles: list[str]
) -> list[tuple[str, str | None]]:
    """``(role, why not or None)`` for each personal role: what the server will accept now."""
    authors = {reference_id(a, "Practitioner") for a in comp.get("author") or []}
    is_author = practitioner is not None and practitioner in authors
    author_signed = "author" in signed_roles
    out: list[tuple[str, str | None]] = []
    for role in PERSONAL_ROLES:
        why: str | None = None
        if role == "author":
            if author_signed:
                why = N_("already signed by its author")
            elif not is_author:
                why = N_("only an author of the document")
        elif not author_signed:
            why = N_("after the author has signed")
        elif role == "coauthor" and not is_author:
            why = N_("only an author of the document")
        out.append((role, why))
    return out


async def _sign_context(request: Request, found: Session) -> dict[str, Any]:
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    lang = lang_of(request)
    settings = state(request).settings
    async with fhir(request, found) as client:
        comp = await load_composition(client, patient_id, composition_id)
        signed = (await signed_states(client, [composition_id]))[composition_id]
    practitioner = await _practitioner(found)
    mine = await holder_certificates(settings, "user", found.username)
    custodian = reference_id(comp.get("custodian"), "Organization")
    facility = reference_id(found.facility, "Organization") if found.facility else None
    may_sign_for_facility = custodian is not None and custodian == facility
    theirs: list[CertificateView] = []
    if may_sign_for_facility and custodian is not None:
        theirs = await holder_certificates(settings, "organization", custodian)
    roles = _open_roles(comp, practitioner, signed.roles)
    usable_own = any(c.current and c.has_key and c.valid is not False for c in mine)
    usable_org = any(c.current and c.has_key and c.valid is not False for c in theirs)
    org_open = signed.signed and "organization" not in signed.roles
    return {
        "patient_id": patient_id,
        "composition_id": composition_id,
        "comp": comp,
        "title": document_title(comp, lang),
        "status_labels": STATUS_LABELS,
        "path": document_path(patient_id, composition_id),
        "signed": signed,
        "own_certificates": mine,
        "org_certificates": theirs,
        "may_sign_for_facility": may_sign_for_facility,
        "roles": [(r, role_title(r, lang), why) for r, why in roles],
        "usable_own": usable_own,
        "usable_org": usable_org and org_open,
        "org_open": org_open,
        "org_role_title": role_title("organization", lang),
        "patient_role_title": role_title("patient", lang),
        "errors": [],
        "hint": None,
        "chosen": {"certificate": "user", "role": next((r for r, w in roles if w is None), "author")},
        "otp": None,
    }


async def sign_page(request: Request) -> Response:
    found = await require_staff(request)
    return render(request, "emr/sign.html", await _sign_context(request, found))


def _refusal(context: dict[str, Any], answer: Answer, lang: str) -> None:
    context["errors"] = [{"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues]
    context["hint"] = _HINTS.get(answer.status)


@csrf_protected
async def sign(request: Request, form: FormData) -> Response:
    """``POST .../sign``: ``$sign`` with the chosen certificate and role. The signature service decides
    who may sign what; the form (with the certificates checked again) is built only to show a refusal."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    lang = lang_of(request)
    certificate = str(form.get("certificate") or "user")
    role = "organization" if certificate == "organization" else str(form.get("role") or "author")
    chosen = {"certificate": certificate, "role": role}
    if role not in ROLES or role == "patient" or (certificate == "user" and role not in PERSONAL_ROLES):
        context = await _sign_context(request, found)
        context["chosen"] = chosen
        context["errors"] = [{"where": "role", "text": N_("Choose one of the roles offered.")}]
        return render(request, "emr/sign.html", context, status=422)
    async with fhir(request, found) as client:
        await load_composition(client, patient_id, composition_id)  # this patient's, and visible
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters(
            f"Composition/{composition_id}/$sign", [{"name": "role", "valueCode": role}]
        )
    if answer.ok:
        raise Redirect(document_path(patient_id, composition_id) + "?signed=1")
    context = await _sign_context(request, found)
    context["chosen"] = chosen
    _refusal(context, answer, lang)
    return render(request, "emr/sign.html", context, status=answer.status if answer.status < 500 else 502)


@csrf_protected
async def confirm(request: Request, form: FormData) -> Response:
    """``POST .../confirm``: the patient's one-time code (sent, then checked)."""
    found = await require_staff(request)
    context = await _sign_context(request, found)
    lang = lang_of(request)
    path = f"Composition/{context['composition_id']}/$confirm"
    code = str(form.get("code") or "").strip()
    challenge = str(form.get("challenge") or "").strip()
    async with emr_fhir(request, found) as api:
        if not code:
            answer = await api.post_parameters(path, [{"name": "method", "valueCode": "otp"}])
        else:
            answer = await api.post_parameters(
                path,
                [
                    {"name": "method", "valueCode": "otp"},
                    {"name": "challenge", "valueString": challenge},
                    {"name": "code", "valueString": code},
                ],
            )
    body = answer.json or {}
    if answer.ok and not code:
        values = {p.get("name"): p for p in body.get("parameter") or [] if isinstance(p, dict)}
        expires = parse_when(str((values.get("expires") or {}).get("valueInstant") or ""))
        context["otp"] = {
            "challenge": str((values.get("challenge") or {}).get("valueString") or ""),
            "destination": str((values.get("destination") or {}).get("valueString") or ""),
            "expires": expires if isinstance(expires, datetime) else None,
        }
        return render(request, "emr/sign.html", context, status=200)
    if answer.ok:
        raise Redirect(context["path"] + "?confirmed=1")
    _refusal(context, answer, lang)
    context["hint"] = None
    if code:
        context["otp"] = {"challenge": challenge, "destination": "", "expires": None}
    return render(request, "emr/sign.html", context, status=answer.status if answer.status < 500 else 502)


_ONE: Final = "/app/patients/{patient_id:str}/clinical-documents/{composition_id:str}"

ROUTES = [
    Route(_ONE + "/sign", sign_page, methods=["GET"]),
    Route(_ONE + "/sign", sign, methods=["POST"]),
    Route(_ONE + "/confirm", confirm, methods=["POST"]),
    Route(_ONE + "/signatures", signature_panel, methods=["GET"]),
]
