"""The teleconsultation pages: the inbox of both sides, the request form, the consult page and its steps.

docs/web-telehealth.md; the operations are docs/telehealth-consults.md (``ServiceRequest/$consult-request``,
``Task/$consult-accept``, ``-decline``, ``-schedule``, ``-conclude``, ``-message``, ``-case``).

- ``GET /app/telehealth/consults``: the consults of the user's facility, sent (a station asking) and
  received (a hospital asked), by status then deadline, overdue ones flagged and first
  (:func:`senhealth.telehealth.consults.inbox.consult_inbox`: the consulted facility cannot search the
  patient's Task before it accepts, so the list is the consult package's own, audited);
- ``GET /app/telehealth/consults/new?q=&patient=``: the request form: find the patient (through the FHIR
  API as the user: only the facility's patients are found), then the question, reason, priority, case
  summary, the patient's Observations, DiagnosticReports and ImagingStudies to cite, photos and files to
  attach; ``POST`` (multipart) calls ``$consult-request``;
- ``GET /app/telehealth/consults/{task}``: the case (``$consult-case`` as the user: audited, and the
  consulted facility's way to the case before acceptance), the message thread with reply and attachments,
  the steps open to the user (accept / decline for the consulted facility, schedule and the signed
  conclusion for the specialist who accepted), the link to the video room once scheduled, and the signed
  conclusion with its signature checked (``Composition/{id}/$verify``) and the records it was filed in;
- ``POST /app/telehealth/consults/{task}/{step}``: one operation as the user; a refusal shows the page
  again with the server's reason (in the page's language) and its HTTP status;
- ``GET /app/telehealth/consults/{task}/files/{type}/{id}/{n}``: an inline attachment of the case (images
  inline, anything else as a download, sandboxed).

Every call goes through the FHIR API as the signed-in user (:mod:`senhealth.web.views.emr_fhir`): the
operations decide who may do what and audit it; the pages only show and ask.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any, Final
from urllib.parse import urlencode

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.fhir.operations.registry import OperationError
from senhealth.telehealth.consults import caller_of, get_config
from senhealth.telehealth.consults.inbox import consult_inbox
from senhealth.telehealth.consults.model import MESSAGE_CATEGORY, OPEN_STATUSES, REQUESTING_FACILITY_URL
from senhealth.web.context import PageError, Redirect, csrf_protected, fhir, lang_of, render, state
from senhealth.web.fhir_client import FhirError, resources
from senhealth.web.record import patient_name
from senhealth.web.sessions import Session
from senhealth.web.views.emr_certificates import holder_certificates
from senhealth.web.views.emr_fhir import Answer, emr_fhir, in_language
from senhealth.web.views.emr_signing import parse_verify
from senhealth.web.views.staff import search_params
from senhealth.web.views.telehealth_common import (
    fhir_id,
    local_zone,
    parse_when,
    principal_of,
    refusal,
    require_clinician,
    text_of,
)

__all__ = ["ROUTES", "STEPS", "case_parts"]

BASE: Final = "/app/telehealth/consults"
PRIORITIES: Final = ("routine", "urgent", "asap", "stat")
#: The steps a page posts, each the operation it calls.
STEPS: Final = {
    "accept": "Task/$consult-accept",
    "decline": "Task/$consult-decline",
    "schedule": "Task/$consult-schedule",
    "conclude": "Task/$consult-conclude",
    "message": "Task/$consult-message",
}
_INLINE: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _facility_id(found: Session) -> str:
    return (found.facility or "").removeprefix("Organization/")


def _errors(answer: Answer, lang: str) -> list[dict[str, str]]:
    return [{"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues]


# --- the inbox ---------------------------------------------------------------------------------------------


async def inbox_page(request: Request) -> Response:
    _, principal = await require_clinician(request)
    tx = text_of(request)
    try:
        caller = caller_of(principal)
    except OperationError:
        raise refusal(403, tx, "err.clinician") from None
    inbox = await consult_inbox(state(request).fhir_store, caller)
    return render(
        request,
        "telehealth/consults.html",
        {"tx": tx, "inbox": inbox, "base": BASE, "section": "consults"},
    )


# --- the request form --------------------------------------------------------------------------------------


async def _form_context(
    request: Request, found: Session, patient_id: str | None, query: str
) -> dict[str, Any]:
    tx = text_of(request)
    context: dict[str, Any] = {
        "tx": tx,
        "base": BASE,
        "section": "consults",
        "query": query,
        "found_patients": [],
        "patient": None,
        "cite": [],
        "organizations": [],
        "specialists": [],
        "priorities": PRIORITIES,
        "values": {"priority": "urgent"},
        "errors": [],
        "max_files": get_config().max_attachments,
    }
    mine = _facility_id(found)
    async with fhir(request, found) as client:
        if query and not patient_id:
            params = search_params(query, "")
            if params:
                bundle = await client.search("Patient", [*params, ("_count", "20")])
                context["found_patients"] = [
                    {"id": p["id"], "name": patient_name(p), "birth": p.get("birthDate", "")}
                    for p in resources(bundle, "Patient")
                ]
        if patient_id:
            try:
                context["patient"] = await client.read("Patient", patient_id)
            except FhirError:
                raise refusal(404, tx, "err.not_found") from None
            cite: list[dict[str, Any]] = []
            for res_type in ("Observation", "DiagnosticReport", "ImagingStudy"):
                for r in await client.search_all(
                    res_type, [("subject", f"Patient/{patient_id}"), ("_count", "50")], pages=2
                ):
                    cite.append(_citable(r))
            context["cite"] = cite
        orgs = await client.search_all("Organization", [("_count", "200")], pages=2)
        context["organizations"] = sorted(
            ({"id": o["id"], "name": str(o.get("name") or o["id"])} for o in orgs if o["id"] != mine),
            key=lambda o: o["name"],
        )
        roles = await client.search(
            "PractitionerRole", [("_count", "200"), ("_include", "PractitionerRole:practitioner")]
        )
        names = {p["id"]: patient_name(p) for p in resources(roles, "Practitioner")}
        specialists = []
        for role in resources(roles, "PractitionerRole"):
            org = str((role.get("organization") or {}).get("reference") or "").removeprefix("Organization/")
            pid = str((role.get("practitioner") or {}).get("reference") or "").removeprefix("Practitioner/")
            if pid and org and org != mine:
                specialists.append({"id": pid, "name": names.get(pid, pid), "org": org})
        context["specialists"] = specialists
    return context


def _citable(r: dict[str, Any]) -> dict[str, str]:
    concept = r.get("code") or {}
    if r["resourceType"] == "ImagingStudy":
        concept = {
            "text": r.get("description") or ", ".join(str(m.get("code")) for m in r.get("modality") or [])
        }
    text = str(
        concept.get("text")
        or next((c.get("display") or c.get("code") for c in concept.get("coding") or []), "")
    )
    value = ""
    if "valueQuantity" in r:
        q = r["valueQuantity"]
        value = f"{q.get('value')} {q.get('unit') or q.get('code') or ''}".strip()
    elif "valueString" in r:
        value = str(r["valueString"])
    elif r.get("conclusion"):
        value = str(r["conclusion"])
    when = r.get("effectiveDateTime") or r.get("issued") or r.get("started") or ""
    return {
        "ref": f"{r['resourceType']}/{r['id']}",
        "type": r["resourceType"],
        "text": text,
        "value": value,
        "when": str(when),
    }


async def new_page(request: Request) -> Response:
    found, _ = await require_clinician(request)
    patient = request.query_params.get("patient")
    context = await _form_context(
        request, found, fhir_id(patient) if patient else None, request.query_params.get("q", "").strip()
    )
    return render(request, "telehealth/consult_new.html", context)


async def _attachments(form: FormData, field: str) -> list[dict[str, Any]]:
    """The uploaded files of ``field`` as FHIR Attachments (inline, base64); empty inputs skipped."""
    out: list[dict[str, Any]] = []
    for item in form.getlist(field):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        raw = await item.read()
        if not raw:
            continue
        out.append(
            {
                "contentType": item.content_type or "application/octet-stream",
                "data": base64.b64encode(raw).decode("ascii"),
                "title": item.filename[:200],
                "creation": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    return out


def _ref(name: str, reference: str) -> dict[str, Any]:
    return {"name": name, "valueReference": {"reference": reference}}


def _string(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "valueString": value}


@csrf_protected
async def new_submit(request: Request, form: FormData) -> Response:
    found, _ = await require_clinician(request)
    lang = lang_of(request)
    patient = str(form.get("patient") or "")
    if not patient:
        context = await _form_context(request, found, None, "")
        context["errors"] = [{"where": "patient", "text": context["tx"]["new.pick_patient"]}]
        return render(request, "telehealth/consult_new.html", context, status=400)
    patient = fhir_id(patient)
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("performer", "specialist", "question", "summary", "reason", "priority")
    }
    params: list[dict[str, Any]] = [_ref("patient", f"Patient/{patient}")]
    if values["performer"]:
        params.append(_ref("performer", f"Organization/{fhir_id(values['performer'])}"))
    if values["specialist"]:
        params.append(_ref("specialist", f"Practitioner/{fhir_id(values['specialist'])}"))
    params += [_string("question", values["question"]), _string("summary", values["summary"])]
    if values["reason"]:
        params.append(_string("reason", values["reason"]))
    params.append(_string("priority", values["priority"] or "routine"))
    cited = [str(c) for c in form.getlist("cite") if str(c)]
    params += [_ref("supportingInfo", c) for c in cited]
    params += [{"name": "attachment", "valueAttachment": a} for a in await _attachments(form, "files")]
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters("ServiceRequest/$consult-request", params)
    if answer.ok:
        task = next(
            (
                p.get("resource")
                for p in (answer.json or {}).get("parameter") or []
                if p.get("name") == "task"
            ),
            None,
        )
        if isinstance(task, dict) and task.get("id"):
            raise Redirect(f"{BASE}/{task['id']}?done=sent")
        raise Redirect(BASE)
    context = await _form_context(request, found, patient, "")
    context["values"] = {**values, "cite": cited}
    context["errors"] = _errors(answer, lang)
    return render(
        request, "telehealth/consult_new.html", context, status=answer.status if answer.status < 500 else 502
    )


# --- the consult page --------------------------------------------------------------------------------------


def case_parts(bundle: dict[str, Any]) -> dict[str, Any]:
    """The ``$consult-case`` Bundle as the page shows it: task, request, patient, cited resources, messages,
    appointment and conclusion."""
    items = list(resources(bundle))
    task = next((r for r in items if r.get("resourceType") == "Task"), {})
    request_ = next((r for r in items if r.get("resourceType") == "ServiceRequest"), {})
    cited_refs = {str(s.get("reference")) for s in request_.get("supportingInfo") or []}
    messages = [
        r
        for r in items
        if r.get("resourceType") == "Communication"
        and any(
            c.get("code") == MESSAGE_CATEGORY
            for cat in r.get("category") or []
            for c in cat.get("coding") or []
        )
    ]
    thread = []
    for m in messages:
        files = [a for a in _attachments_of(m)]
        reply = (m.get("inResponseTo") or [{}])[0].get("reference") or ""
        thread.append(
            {
                "id": m.get("id"),
                "sender": str(
                    (m.get("sender") or {}).get("display") or (m.get("sender") or {}).get("reference") or ""
                ),
                "sent": m.get("sent"),
                "texts": [str(p["contentString"]) for p in m.get("payload") or [] if p.get("contentString")],
                "files": [
                    {"n": n, "title": str(a.get("title") or ""), "type": str(a.get("contentType") or "")}
                    for n, a in enumerate(files)
                ],
                "reply_to": reply.rsplit("/", 1)[-1] if reply else "",
            }
        )
    return {
        "task": task,
        "request": request_,
        "thread": thread,
        "patient": next((r for r in items if r.get("resourceType") == "Patient"), {}),
        "cited": [r for r in items if f"{r.get('resourceType')}/{r.get('id')}" in cited_refs],
        "messages": messages,
        "appointment": next((r for r in items if r.get("resourceType") == "Appointment"), None),
        "conclusion": next((r for r in items if r.get("resourceType") == "Composition"), None),
    }


def _requesting_facility(task: dict[str, Any]) -> str:
    for ext in task.get("extension") or []:
        if ext.get("url") == REQUESTING_FACILITY_URL:
            return str((ext.get("valueReference") or {}).get("reference") or "").removeprefix("Organization/")
    return ""


def _ref_id(value: Any, res_type: str) -> str:
    text = str((value or {}).get("reference") or "") if isinstance(value, dict) else ""
    return text.removeprefix(f"{res_type}/") if text.startswith(f"{res_type}/") else ""


def _attachments_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    if resource.get("resourceType") == "Media":
        return [resource.get("content") or {}]
    if resource.get("resourceType") == "Communication":
        return [p["contentAttachment"] for p in resource.get("payload") or [] if "contentAttachment" in p]
    if resource.get("resourceType") == "DocumentReference":
        return [c.get("attachment") or {} for c in resource.get("content") or []]
    return []


async def _case(request: Request, found: Session, task_id: str) -> dict[str, Any]:
    tx = text_of(request)
    async with emr_fhir(request, found) as api:
        answer = await api.get("Task/$consult-case", [("task", task_id)])
    if not answer.ok or answer.json is None:
        status = answer.status if answer.status in (403, 404) else 502
        message = (
            "; ".join(in_language(i.text, lang_of(request)) for i in answer.issues) or tx["err.not_found"]
        )
        raise PageError(status, message)
    return case_parts(answer.json)


async def _conclusion_view(request: Request, found: Session, parts: dict[str, Any]) -> dict[str, Any] | None:
    comp = parts["conclusion"]
    if comp is None:
        return None
    lang = lang_of(request)
    view: dict[str, Any] = {"composition": comp, "sections": [], "verify": None, "copies": []}
    for section in comp.get("section") or []:
        text = str((section.get("text") or {}).get("div") or "")
        view["sections"].append({"title": str(section.get("title") or ""), "html_free": _strip_tags(text)})
    async with emr_fhir(request, found) as api:
        verified = await api.get(f"Composition/{comp['id']}/$verify")
    if verified.ok and verified.json is not None:
        view["verify"] = parse_verify(verified.json, lang)
    copies = [
        o
        for o in parts["task"].get("output") or []
        if any(c.get("code") == "record-copy" for c in (o.get("type") or {}).get("coding") or [])
    ]
    async with fhir(request, found) as client:
        for copy_ in copies:
            ref = _ref_id(copy_.get("valueReference"), "DocumentReference")
            try:
                doc = await client.read("DocumentReference", ref)
            except FhirError:
                view["copies"].append({"id": ref, "custodian": "", "visible": False})
                continue
            custodian = doc.get("custodian") or {}
            view["copies"].append(
                {"id": ref, "custodian": str(custodian.get("display") or custodian.get("reference") or ""), "visible": True,
                 "patient": _ref_id(doc.get("subject"), "Patient")}
            )  # fmt: skip
    return view


def _strip_tags(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


async def _page_context(request: Request, found: Session, task_id: str) -> dict[str, Any]:
    tx = text_of(request)
    parts = await _case(request, found, task_id)
    task = parts["task"]
    status = str(task.get("status") or "")
    mine = _facility_id(found)
    side = "requester" if _requesting_facility(task) == mine else "consultant"
    principal = await principal_of(found)
    me = principal.practitioner or ""
    owner = _ref_id(task.get("owner"), "Practitioner")
    named = next(
        (
            _ref_id(p, "Practitioner")
            for p in parts["request"].get("performer") or []
            if _ref_id(p, "Practitioner")
        ),
        "",
    )
    steps: list[str] = []
    if side == "consultant" and status == "requested" and (not named or named == me):
        steps += ["accept", "decline"]
    if owner and owner == me and status in ("accepted", "in-progress"):
        steps += ["schedule", "conclude"]
    if status in OPEN_STATUSES:
        steps.append("message")
    certificates = []
    if "conclude" in steps:
        certificates = await holder_certificates(state(request).settings, "user", found.username)
    zone = local_zone(request)
    deadline = parse_when(((task.get("restriction") or {}).get("period") or {}).get("end"))
    default_start = (dt.datetime.now(zone) + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return {
        "tx": tx,
        "base": BASE,
        "section": "consults",
        "task_id": task_id,
        "parts": parts,
        "status": status,
        "side": side,
        "steps": steps,
        "deadline": deadline,
        "overdue": status in OPEN_STATUSES and deadline is not None and deadline < dt.datetime.now(dt.UTC),
        "attachments_of": _attachments_of,
        "certificates": certificates,
        "usable_certificate": any(c.current and c.has_key and c.valid is not False for c in certificates),
        "conclusion": await _conclusion_view(request, found, parts),
        "default_start": default_start.strftime("%Y-%m-%dT%H:%M"),
        "default_minutes": get_config().meeting_minutes,
        "done": request.query_params.get("done"),
        "errors": [],
        "failed_step": None,
        "values": {},
    }


async def consult_page(request: Request) -> Response:
    found, _ = await require_clinician(request)
    task_id = fhir_id(request.path_params["task_id"])
    return render(request, "telehealth/consult.html", await _page_context(request, found, task_id))


async def _step_params(request: Request, step: str, form: FormData, task_id: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [_ref("task", f"Task/{task_id}")]
    value = {k: str(form.get(k) or "").strip() for k in ("note", "reason", "start", "minutes", "comment",
                                                          "conclusion", "recommendation", "diagnosis", "text", "inResponseTo")}  # fmt: skip
    if step == "accept" and value["note"]:
        params.append(_string("note", value["note"]))
    elif step == "decline":
        params.append(_string("reason", value["reason"]))
    elif step == "schedule":
        start = value["start"]
        if start and "T" in start and not any(c in start[10:] for c in "+Z") and start.count("-") <= 2:
            # a datetime-local field: the facility's time zone
            try:
                when = dt.datetime.fromisoformat(start).replace(tzinfo=local_zone(request))
                start = when.isoformat(timespec="seconds")
            except ValueError:
                pass
        params.append({"name": "start", "valueDateTime": start})
        if value["minutes"].isdigit():
            params.append({"name": "minutes", "valueInteger": int(value["minutes"])})
        if value["comment"]:
            params.append(_string("comment", value["comment"]))
    elif step == "conclude":
        params.append(_string("conclusion", value["conclusion"]))
        if value["recommendation"]:
            params.append(_string("recommendation", value["recommendation"]))
        for line in value["diagnosis"].splitlines():
            code = line.strip().split(" ", 1)
            if code[0]:
                params.append(
                    {
                        "name": "diagnosis",
                        "valueCoding": {
                            "system": "https://senhealth.vn/fhir/CodeSystem/icd10-vn",
                            "code": code[0].upper(),
                            **({"display": code[1].strip(" -")} if len(code) > 1 else {}),
                        },
                    }
                )
    elif step == "message":
        params.append(_string("text", value["text"]))
        if value["inResponseTo"]:
            params.append(_ref("inResponseTo", f"Communication/{fhir_id(value['inResponseTo'])}"))
        params += [{"name": "attachment", "valueAttachment": a} for a in await _attachments(form, "files")]
    return params


@csrf_protected
async def step_submit(request: Request, form: FormData) -> Response:
    found, _ = await require_clinician(request)
    task_id = fhir_id(request.path_params["task_id"])
    step = str(request.path_params["step"])
    if step not in STEPS:
        raise PageError(404, "This page does not exist.")
    params = await _step_params(request, step, form, task_id)
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters(STEPS[step], params)
    if answer.ok:
        raise Redirect(
            f"{BASE}/{task_id}?" + urlencode({"done": step}) + (f"#{step}" if step == "message" else "")
        )
    context = await _page_context(request, found, task_id)
    context["errors"] = _errors(answer, lang_of(request))
    context["failed_step"] = step
    context["values"] = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    return render(
        request, "telehealth/consult.html", context, status=answer.status if answer.status < 500 else 502
    )


async def attachment_download(request: Request) -> Response:
    found, _ = await require_clinician(request)
    task_id = fhir_id(request.path_params["task_id"])
    res_type = str(request.path_params["res_type"])
    res_id = fhir_id(request.path_params["res_id"])
    n = int(request.path_params["n"])
    parts = await _case(request, found, task_id)
    everything = [parts["task"], parts["request"], *parts["cited"], *parts["messages"]]
    resource = next(
        (r for r in everything if r.get("resourceType") == res_type and r.get("id") == res_id), None
    )
    attachments = _attachments_of(resource or {})
    if resource is None or not 0 <= n < len(attachments) or not attachments[n].get("data"):
        raise refusal(404, text_of(request), "err.not_found")
    attachment = attachments[n]
    raw = base64.b64decode(str(attachment["data"]))
    content_type = str(attachment.get("contentType") or "application/octet-stream")
    title = (
        "".join(
            ch
            for ch in str(attachment.get("title") or f"{res_type}-{res_id}-{n}")
            if ch.isalnum() or ch in "._- "
        )[:100]
        or "file"
    )
    disposition = "inline" if content_type in _INLINE else "attachment"
    return Response(
        raw,
        media_type=content_type if content_type in _INLINE else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{title}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",
        },
    )


ROUTES = [
    Route(BASE, inbox_page, methods=["GET"]),
    Route(BASE + "/new", new_page, methods=["GET"]),
    Route(BASE + "/new", new_submit, methods=["POST"]),
    Route(BASE + "/{task_id:str}", consult_page, methods=["GET"]),
    Route(
        BASE + "/{task_id:str}/files/{res_type:str}/{res_id:str}/{n:int}",
        attachment_download,
        methods=["GET"],
    ),
    Route(BASE + "/{task_id:str}/{step:str}", step_submit, methods=["POST"]),
]
