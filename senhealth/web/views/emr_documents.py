"""Staff pages of the clinical documents (Circular 32/2023 forms as FHIR Compositions): the patient's
list with a "new document" per encounter, the document viewer and editor, and the correction (amendment)
of a signed document.

- ``GET /app/patients/{pid}/clinical-documents``: the patient's Compositions (type, date, status, signed
  or not and by which roles, corrected or not) and their encounters, each with "new document" (one of
  the seven forms, ``Encounter/$create-document``) and "export claim XML"
  (:mod:`senhealth.web.views.emr_claims`). An htmx request gets the list alone (for the chart).
- ``GET .../clinical-documents/{cid}``: the document. Not signed yet: the editor (each section's form
  fields and free text; saving regenerates the Composition through ``$create-document`` with
  ``persist=false`` and the author's values, then updates it with ``If-Match``, so that a concurrent
  change is refused rather than overwritten). Signed: read-only, with "sign" (counter-signatures),
  "print preview" and "amend". The signature panel (``$verify``) loads beside it.
- ``GET|POST .../clinical-documents/{cid}/amend``: the correction of a signed document: the editor
  prefilled from it; submitting builds the corrected Composition the same way and sends it to
  ``Composition/{cid}/$amend``, which stores it as a new document that replaces the original and signs it
  as its author in one step (a correction that cannot be signed leaves nothing behind). Both stay
  visible; the page then opens the correction.

:data:`ROUTES` holds every route of the clinical-document pages (signing, printing and the claim XML
pages included): the web application adds them in one line.

Spec: https://hl7.org/fhir/R4/composition.html, https://hl7.org/fhir/R4/http.html#concurrency
(``If-Match``), the document operations of docs/documents.md and docs/signatures.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.emr.documents.types import DOCUMENT_TYPES
from senhealth.web.context import PageError, Redirect, csrf_protected, fhir, lang_of, render, require_staff
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.i18n import N_
from senhealth.web.record import patient_name
from senhealth.web.sessions import Session
from senhealth.web.views import emr_claims, emr_printing, emr_signing
from senhealth.web.views.emr_fhir import Answer, EmrFhir, Issue, emr_fhir, in_language
from senhealth.web.views.emr_narrative import (
    EditorSection,
    editor_sections,
    field_parameters,
    submitted_fields,
)
from senhealth.web.views.emr_records import (
    STATUS_LABELS,
    SignedState,
    corrections_of,
    document_path,
    document_title,
    load_composition,
    practitioner_names,
    reference_id,
    replaced_target,
    signed_states,
    status_label,
    type_choices,
    type_title,
)

__all__ = ["ROUTES", "build_draft", "document_page", "documents_page"]

_MAX_DOCUMENTS: Final = 200


async def _patient(client: FhirClient, patient_id: str) -> dict[str, Any]:
    try:
        return await client.read("Patient", patient_id)
    except FhirError as e:
        if e.status in (403, 404, 410):
            raise PageError(404, "No such patient, or you may not see their record.") from None
        raise PageError(502, "The record could not be read.") from None


def _when(resource: Mapping[str, Any]) -> str:
    period = resource.get("period") if isinstance(resource.get("period"), Mapping) else {}
    return str(resource.get("date") or (period or {}).get("start") or "")


async def _list_context(request: Request, found: Session, patient_id: str) -> dict[str, Any]:
    lang = lang_of(request)
    async with fhir(request, found) as client:
        patient = await _patient(client, patient_id)
        try:
            compositions = await client.search_all(
                "Composition", [("subject", f"Patient/{patient_id}"), ("_count", "100")], pages=2
            )
            encounters = await client.search_all(
                "Encounter", [("subject", f"Patient/{patient_id}"), ("_count", "100")], pages=2
            )
        except FhirError as e:
            if e.status == 403:
                raise PageError(403, "Your role may not see clinical documents.") from None
            raise PageError(502, "The record could not be read.") from None
        compositions = compositions[:_MAX_DOCUMENTS]
        states = await signed_states(client, [str(c.get("id")) for c in compositions])
    replaced: dict[str, str] = {}
    for comp in compositions:
        target = replaced_target(comp)
        if target:
            replaced[target] = str(comp.get("id"))
    documents = [
        {
            "id": str(c.get("id")),
            "title": document_title(c, lang),
            "date": str(c.get("date") or ""),
            "status": str(c.get("status") or ""),
            "status_label": status_label(
                str(c.get("status") or ""), states.get(str(c.get("id")), SignedState()).signed
            ),
            "signed_roles": states.get(str(c.get("id")), None),
            "replaced_by": replaced.get(str(c.get("id"))),
            "replaces": replaced_target(c),
            "encounter": reference_id(c.get("encounter"), "Encounter"),
        }
        for c in sorted(compositions, key=lambda c: str(c.get("date") or ""), reverse=True)
    ]
    visits = [
        {
            "id": str(e.get("id")),
            "start": _when(e),
            "class": str((e.get("class") or {}).get("display") or (e.get("class") or {}).get("code") or ""),
            "type": next((str(t.get("text") or "") for t in e.get("type") or [] if isinstance(t, dict)), ""),
            "reason": ", ".join(
                str(r.get("text") or "") for r in e.get("reasonCode") or [] if isinstance(r, dict)
            ),
            "status": str(e.get("status") or ""),
        }
        for e in sorted(encounters, key=_when, reverse=True)
    ]
    return {
        "patient_id": patient_id,
        "patient_name": patient_name(patient),
        "documents": documents,
        "encounters": visits,
        "types": type_choices(lang),
        "status_labels": STATUS_LABELS,
    }


async def documents_page(request: Request) -> Response:
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    context = await _list_context(request, found, patient_id)
    context["created_error"] = None
    template = "emr/documents_list.html" if request.headers.get("hx-request") else "emr/documents.html"
    return render(request, template, context)


def _localised(issues: list[Issue], lang: str) -> list[dict[str, str]]:
    return [{"where": i.expression, "text": in_language(i.text, lang)} for i in issues]


@csrf_protected
async def create_document(request: Request, form: FormData) -> Response:
    """``POST .../clinical-documents``: a new Composition of one form for one encounter."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    encounter_id = str(form.get("encounter") or "")
    doc_type = str(form.get("type") or "")
    lang = lang_of(request)
    problem: list[dict[str, str]] = []
    if doc_type not in DOCUMENT_TYPES:
        problem = [{"where": "type", "text": N_("Choose the type of document.")}]
    elif not encounter_id:
        problem = [{"where": "encounter", "text": N_("Choose the encounter the document is about.")}]
    else:
        async with fhir(request, found) as client:
            try:
                encounter = await client.read("Encounter", encounter_id)
            except FhirError:
                encounter = {}
        if reference_id(encounter.get("subject"), "Patient") != patient_id:
            problem = [{"where": "encounter", "text": N_("This encounter is not one of this patient's.")}]
        else:
            async with emr_fhir(request, found) as api:
                answer = await api.post_parameters(
                    f"Encounter/{encounter_id}/$create-document", [{"name": "type", "valueCode": doc_type}]
                )
            body = answer.json or {}
            if answer.ok and body.get("resourceType") == "Composition" and body.get("id"):
                raise Redirect(document_path(patient_id, str(body["id"])) + "?created=1")
            problem = _localised(answer.issues, lang)
    context = await _list_context(request, found, patient_id)
    context["created_error"] = problem
    context["chosen"] = {"encounter": encounter_id, "type": doc_type}
    return render(request, "emr/documents.html", context, status=422)


async def _author_names(client: FhirClient, comp: Mapping[str, Any]) -> list[str]:
    names = await practitioner_names(client, comp.get("author") or [])
    out = []
    for ref in comp.get("author") or []:
        pid = reference_id(ref, "Practitioner")
        if pid is not None:
            out.append(names.get(f"Practitioner/{pid}", ""))
        elif isinstance(ref, Mapping) and ref.get("display"):
            out.append(str(ref["display"]))
    return [n for n in out if n]


async def _document_context(request: Request, found: Session) -> dict[str, Any]:
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    lang = lang_of(request)
    async with fhir(request, found) as client:
        comp = await load_composition(client, patient_id, composition_id)
        patient = await _patient(client, patient_id)
        state = (await signed_states(client, [composition_id]))[composition_id]
        corrections = await corrections_of(client, composition_id)
        authors = await _author_names(client, comp)
    doc_type, sections = editor_sections(comp)
    status = str(comp.get("status") or "")
    editable = not state.signed and status == "preliminary" and not corrections and doc_type is not None
    return {
        "patient_id": patient_id,
        "patient_name": patient_name(patient),
        "comp": comp,
        "composition_id": composition_id,
        "version": str((comp.get("meta") or {}).get("versionId") or ""),
        "title": document_title(comp, lang),
        "type_title": type_title(doc_type, lang),
        "doc_type": doc_type,
        "sections": sections,
        "status": status,
        "status_label": status_label(status, state.signed),
        "status_labels": STATUS_LABELS,
        "signed": state,
        "editable": editable,
        "corrections": [str(c.get("id")) for c in corrections],
        "replaces": replaced_target(comp),
        "authors": authors,
        "encounter_id": reference_id(comp.get("encounter"), "Encounter"),
        "path": document_path(patient_id, composition_id),
        "errors": [],
        "notice": None,
    }


_NOTICES: Final = {
    "created": N_("The document was created from the encounter's record. Complete it, save it, then sign it."),
    "saved": N_("Saved."),
    "signed": N_("Signed. The signature panel shows every signature, checked now."),
    "amended": N_("The correction was created and signed; the original stays in the record, marked as replaced."),
    "confirmed": N_("The patient's confirmation was recorded."),
}  # fmt: skip


async def document_page(request: Request) -> Response:
    found = await require_staff(request)
    context = await _document_context(request, found)
    context["notice"] = next((msg for key, msg in _NOTICES.items() if request.query_params.get(key)), None)
    return render(request, "emr/document.html", context)


async def build_draft(
    api: EmrFhir,
    comp: Mapping[str, Any],
    fields: Mapping[str, str],
    *,
    for_amendment: bool,
) -> Answer:
    """The Composition ``comp`` rebuilt by the document service with the author's ``fields``
    (``$create-document``, ``persist=false``): for a save, the same author, custodian, title and
    correction link; for an amendment, the caller as author and ``replaces`` = ``comp``."""
    encounter_id = reference_id(comp.get("encounter"), "Encounter")
    doc_type = next(
        (
            c.get("code")
            for c in (comp.get("type") or {}).get("coding") or []
            if c.get("code") in DOCUMENT_TYPES
        ),
        None,
    )
    params: list[dict[str, Any]] = [
        {"name": "type", "valueCode": str(doc_type)},
        {"name": "persist", "valueBoolean": False},
        *field_parameters(fields),
    ]
    custodian = reference_id(comp.get("custodian"), "Organization")
    if custodian:
        params.append({"name": "custodian", "valueString": custodian})
    if comp.get("title"):
        params.append({"name": "title", "valueString": str(comp["title"])})
    if for_amendment:
        params.append({"name": "replaces", "valueString": str(comp.get("id"))})
    else:
        author = next(
            (a for a in (reference_id(r, "Practitioner") for r in comp.get("author") or []) if a), None
        )
        if author:
            params.append({"name": "author", "valueString": author})
        replaces = replaced_target(comp)
        if replaces:
            params.append({"name": "replaces", "valueString": replaces})
    return await api.post_parameters(f"Encounter/{encounter_id}/$create-document", params)


def _form_values(sections: list[EditorSection], form: Mapping[str, Any]) -> dict[str, str]:
    """What the editor posted, by input name (to show the form again after an error)."""
    out: dict[str, str] = {}
    for section in sections:
        for f in section.fields:
            out[f"f:{f.name}"] = str(form.get(f"f:{f.name}") or "")
        out[f"t:{section.key}"] = str(form.get(f"t:{section.key}") or "")
    return out


@csrf_protected
async def save_document(request: Request, form: FormData) -> Response:
    """``POST .../clinical-documents/{cid}``: save the editor (see the module docstring)."""
    found = await require_staff(request)
    context = await _document_context(request, found)
    lang = lang_of(request)
    comp: dict[str, Any] = context["comp"]
    if not context["editable"]:
        context["errors"] = [
            {
                "where": "",
                "text": N_("This document is signed and can no longer be changed: amend it to correct it."),
            }
        ]
        return render(request, "emr/document.html", context, status=409)
    fields = submitted_fields(context["sections"], form)
    async with emr_fhir(request, found) as api:
        draft = await build_draft(api, comp, fields, for_amendment=False)
        body = draft.json or {}
        if draft.ok and body.get("resourceType") == "Composition":
            body["id"] = context["composition_id"]
            for keep in ("identifier", "relatesTo"):
                if keep in comp:
                    body[keep] = comp[keep]
                else:
                    body.pop(keep, None)
            answer = await api.put(body, version=str(form.get("version") or "") or None)
        else:
            answer = draft
    if answer.ok:
        raise Redirect(context["path"] + "?saved=1")
    if answer.status == 412:
        context["errors"] = [
            {
                "where": "",
                "text": N_("Someone else changed this document after you opened it. Reload it and make your changes again."),
            }
        ]  # fmt: skip
    else:
        context["errors"] = _localised(answer.issues, lang)
    context["posted"] = _form_values(context["sections"], form)
    return render(request, "emr/document.html", context, status=422 if answer.status < 500 else 502)


async def amend_page(request: Request) -> Response:
    found = await require_staff(request)
    context = await _document_context(request, found)
    _check_amendable(context)
    return render(request, "emr/amend.html", context)


def _check_amendable(context: Mapping[str, Any]) -> None:
    if context["corrections"]:
        raise Redirect(document_path(context["patient_id"], context["corrections"][0]) + "/amend")
    if not context["signed"].signed:
        raise Redirect(context["path"])
    if context["doc_type"] is None:
        raise PageError(422, "This kind of document cannot be edited here.")


@csrf_protected
async def amend_document(request: Request, form: FormData) -> Response:
    """``POST .../clinical-documents/{cid}/amend``: create and sign the correction."""
    found = await require_staff(request)
    context = await _document_context(request, found)
    _check_amendable(context)
    lang = lang_of(request)
    comp: dict[str, Any] = context["comp"]
    fields = submitted_fields(context["sections"], form)
    async with emr_fhir(request, found) as api:
        draft = await build_draft(api, comp, fields, for_amendment=True)
        body = draft.json or {}
        if draft.ok and body.get("resourceType") == "Composition":
            if "identifier" in comp:
                body["identifier"] = comp["identifier"]  # the same logical document
            answer = await api.post_parameters(
                f"Composition/{context['composition_id']}/$amend", [{"name": "resource", "resource": body}]
            )
        else:
            answer = draft
    created = _created_composition(answer)
    if answer.ok and created:
        raise Redirect(document_path(context["patient_id"], created) + "?amended=1")
    context["errors"] = _localised(answer.issues, lang)
    context["posted"] = _form_values(context["sections"], form)
    return render(request, "emr/amend.html", context, status=422 if answer.status < 500 else 502)


def _created_composition(answer: Answer) -> str | None:
    body = answer.json or {}
    for param in body.get("parameter") or []:
        resource = param.get("resource") if isinstance(param, dict) else None
        if param.get("name") == "composition" and isinstance(resource, dict) and resource.get("id"):
            return str(resource["id"])
    location = answer.headers.get("location", "")
    return reference_id(location.split("/fhir/")[-1], "Composition") if location else None


_DOC: Final = "/app/patients/{patient_id:str}/clinical-documents"
_ONE: Final = _DOC + "/{composition_id:str}"

ROUTES = [
    Route(_DOC, documents_page, methods=["GET"]),
    Route(_DOC, create_document, methods=["POST"]),
    Route(_ONE, document_page, methods=["GET"]),
    Route(_ONE, save_document, methods=["POST"]),
    Route(_ONE + "/amend", amend_page, methods=["GET"]),
    Route(_ONE + "/amend", amend_document, methods=["POST"]),
    *emr_signing.ROUTES,
    *emr_printing.ROUTES,
    *emr_claims.ROUTES,
]
