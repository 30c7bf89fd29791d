"""The citizen portal: my health record, my consents, who viewed my record.

The record and the consents go through the FHIR API as the patient (their own compartment only, under
the access policy, audited); "who viewed my record" reads the audit log with
:func:`senhealth.security.audit.accesses_to_patient` for the signed-in patient's own id only, and names
the practitioners and facilities through the FHIR API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.security.audit import accesses_to_patient
from senhealth.web.consent import PURPOSES, consent_resource, current_choices
from senhealth.web.context import PageError, csrf_protected, fhir, lang_of, render, require_patient, state
from senhealth.web.fhir_client import FhirError
from senhealth.web.i18n import N_
from senhealth.web.labels import role_label
from senhealth.web.record import build_record, patient_name
from senhealth.web.sessions import Session
from senhealth.web.views.staff import charts, everything

__all__ = ["ROUTES"]

PAGE: Final = 20
_ACTIONS: Final = {
    "read": N_("viewed"),
    "search": N_("found in a search"),
    "create": N_("added"),
    "update": N_("changed"),
    "delete": N_("deleted"),
    "history": N_("viewed the history of"),
    "operation": N_("viewed"),
}


def _own_id(found: Session) -> str:
    return (found.patient or "").removeprefix("Patient/")


async def record_page(request: Request) -> Response:
    found = await require_patient(request)
    try:
        async with fhir(request, found) as client:
            patient, others = await everything(client, _own_id(found))
    except FhirError:
        raise PageError(502, "The record could not be read.") from None
    record = build_record(patient, others)
    return render(request, "portal/record.html", {"record": record, "charts": charts(request, record)})


async def _choices(
    request: Request, found: Session
) -> tuple[dict[str, tuple[bool, dict[str, Any] | None]], str | None]:
    try:
        async with fhir(request, found) as client:
            consents = await client.search_all("Consent", [("patient", f"Patient/{_own_id(found)}")], pages=2)
        return current_choices(consents), None
    except FhirError:
        return current_choices([]), N_("Your consents could not be read; the defaults are shown.")


async def consents_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    found = await require_patient(request)
    choices, error = await _choices(request, found)
    rows = [
        {"purpose": p, "permitted": choices[p.code][0], "stored": choices[p.code][1] is not None}
        for p in PURPOSES
    ]
    return render(
        request, "portal/consents.html", {"rows": rows, "error": error, "message": message}, status=status
    )


@csrf_protected
async def consent_submit(request: Request, form: FormData) -> Response:
    found = await require_patient(request)
    code = str(form.get("purpose") or "")
    purpose = next((p for p in PURPOSES if p.code == code), None)
    if purpose is None:
        raise PageError(400, "Unknown purpose.")
    if purpose.required_by_law:
        raise PageError(400, "Public health reporting is required by law and cannot be refused.")
    permit = str(form.get("choice") or "") == "permit"
    choices, _ = await _choices(request, found)
    existing = choices[code][1]
    resource = consent_resource(
        _own_id(found),
        code,
        permit,
        existing_id=str(existing["id"]) if existing and existing.get("id") else None,
        zone=state(request).settings.timezone,
    )
    try:
        async with fhir(request, found) as client:
            if existing is not None:
                await client.update(resource)
            else:
                await client.create(resource)
    except FhirError as e:
        return await consents_page(
            request, N_("Your choice could not be saved."), 502 if e.status >= 500 else e.status
        )
    if request.headers.get("hx-request"):
        return await consents_page(request, N_("Your choice was saved."))
    return RedirectResponse("/portal/consents?saved=1", status_code=303)


def _practitioner(value: str | None) -> str:
    if not value:
        return ""
    return value if "/" in value else f"Practitioner/{value}"


async def _names(request: Request, found: Session, refs: set[str]) -> dict[str, str]:
    """Display names of Practitioner/Organization references, through the FHIR API."""
    names: dict[str, str] = {}
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        kind, _, rid = ref.partition("/")
        if kind in ("Practitioner", "Organization") and rid:
            by_type.setdefault(kind, []).append(rid)
    try:
        async with fhir(request, found) as client:
            for kind, ids in by_type.items():
                for resource in await client.search_all(
                    kind, [("_id", ",".join(sorted(ids)[:100]))], pages=1
                ):
                    name = resource.get("name")
                    label = patient_name(resource) if isinstance(name, list) else str(name or "")
                    names[f"{kind}/{resource.get('id')}"] = label
    except FhirError:
        pass
    return names


async def access_page(request: Request) -> Response:
    found = await require_patient(request)
    before_raw = request.query_params.get("before")
    before = None
    if before_raw:
        try:
            before = dt.datetime.fromisoformat(before_raw)
        except ValueError:
            before = None
    async with transaction() as conn:
        rows = await accesses_to_patient(conn, _own_id(found), limit=PAGE + 1, before=before)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    refs = {_practitioner(r.practitioner) for r in rows if r.practitioner} | {
        r.facility for r in rows if r.facility
    }
    names = await _names(request, found, {str(r) for r in refs})
    lang = lang_of(request)
    lines = []
    for r in rows:
        if r.principal == found.account_id:
            who = ""
        elif r.principal_kind == "system":
            who = N_("System")
        else:
            who = names.get(_practitioner(r.practitioner), "") or N_("Health worker")
        lines.append(
            {
                "when": r.when,
                "you": r.principal == found.account_id,
                "who": who,
                "roles": ", ".join(role_label(role, lang) for role in r.roles or [] if role != "system"),
                "facility": names.get(r.facility or "", r.facility or ""),
                "action": _ACTIONS.get(r.action, r.action),
                "resource": (r.resource or "").split("?")[0].split("/")[0],
                "break_glass": r.break_glass,
                "denied": r.outcome != "success",
            }
        )
    next_before = rows[-1].when.isoformat() if more and rows else None
    return render(request, "portal/access.html", {"lines": lines, "next_before": next_before})


ROUTES = [
    Route("/portal", record_page, methods=["GET"]),
    Route("/portal/", record_page, methods=["GET"]),
    Route("/portal/consents", consents_page, methods=["GET"]),
    Route("/portal/consents", consent_submit, methods=["POST"]),
    Route("/portal/access", access_page, methods=["GET"]),
]
