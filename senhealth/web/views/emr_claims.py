"""The insurance claim XML (Decisions 130/4750/3176) from the pages: export an encounter, import files.

- ``GET /app/patients/{pid}/encounters/{eid}/claim.xml``: the signed ``GIAMDINHHS`` file of the encounter
  (``Encounter/{eid}/$claim-xml``), downloaded as it is. When the encounter cannot be claimed yet, a page
  lists what is missing or wrong, field by field (``XML1.MA_THE_BHYT``...), as the claim service said it.
- ``GET /app/claims/import``: a form to upload one or more claim files; ``POST`` sends each file to
  ``$import-claim-xml`` on its own (a file is imported whole or not at all) and shows one report per
  file: accepted, with the resources written (the transaction-response Bundle: type, id, created or
  updated) and the patients they belong to; or refused, with every field-level reason
  (``XML2[3].SO_LUONG: ...``).

Limits: :data:`MAX_FILES` files of at most :data:`MAX_FILE_BYTES` bytes each per upload; a larger file
is refused with that reason, the others still imported.

Spec: the claim operations of docs/claims.md; https://hl7.org/fhir/R4/bundle.html#transaction-response;
file upload: https://html.spec.whatwg.org/multipage/input.html#file-upload-state-(type=file)
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Final

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import PageError, csrf_protected, fhir, lang_of, render, require_staff, t
from senhealth.web.fhir_client import FhirError
from senhealth.web.i18n import N_
from senhealth.web.views.emr_fhir import Answer, emr_fhir, in_language
from senhealth.web.views.emr_records import reference_id

__all__ = ["MAX_FILES", "MAX_FILE_BYTES", "ROUTES", "file_report"]

MAX_FILES: Final = 20
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


async def claim_xml(request: Request) -> Response:
    """``GET .../encounters/{eid}/claim.xml`` (see the module docstring)."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    encounter_id = request.path_params["encounter_id"]
    lang = lang_of(request)
    async with fhir(request, found) as client:
        try:
            encounter = await client.read("Encounter", encounter_id)
        except FhirError:
            raise PageError(404, "No such encounter, or you may not see it.") from None
    if reference_id(encounter.get("subject"), "Patient") != patient_id:
        raise PageError(404, "No such encounter, or you may not see it.")
    async with emr_fhir(request, found) as api:
        answer = await api.get(f"Encounter/{encounter_id}/$claim-xml")
    if answer.ok and answer.media_type in ("application/xml", "text/xml"):
        name = _SAFE_NAME.sub("_", f"claim-{encounter_id}.xml")
        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        return Response(answer.content, media_type="application/xml", headers=headers)
    context = {
        "patient_id": patient_id,
        "encounter_id": encounter_id,
        "status": answer.status,
        "errors": [{"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues],
    }
    return render(
        request, "emr/claim_error.html", context, status=answer.status if answer.status < 500 else 502
    )


def file_report(name: str, answer: Answer, lang: str) -> dict[str, Any]:
    """One file's report: accepted (the resources written) or refused (each reason, where and what)."""
    body = answer.json or {}
    report: dict[str, Any] = {
        "name": name,
        "status": answer.status,
        "accepted": answer.ok and body.get("resourceType") == "Bundle",
        "errors": [],
        "resources": [],
        "counts": [],
        "patients": [],
    }
    if not report["accepted"]:
        report["errors"] = [{"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues]
        return report
    counts: Counter[str] = Counter()
    for entry in body.get("entry") or []:
        response = entry.get("response") if isinstance(entry, dict) else None
        location = str((response or {}).get("location") or "")
        parts = location.split("/fhir/")[-1].split("/")
        if len(parts) < 2:
            continue
        res_type, res_id = parts[0], parts[1]
        created = str((response or {}).get("status") or "").startswith("201")
        report["resources"].append({"type": res_type, "id": res_id, "created": created})
        counts[res_type] += 1
        if res_type == "Patient":
            report["patients"].append(res_id)
    report["counts"] = sorted(counts.items())
    return report


def _problem(name: str, message: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": 400,
        "accepted": False,
        "errors": [{"where": "", "text": message}],
        "resources": [],
        "counts": [],
        "patients": [],
    }


async def import_page(request: Request) -> Response:
    await require_staff(request)
    return render(request, "emr/claim_import.html", {"reports": None, "error": None})


@csrf_protected
async def import_files(request: Request, form: FormData) -> Response:
    """``POST /app/claims/import``: each uploaded file to ``$import-claim-xml``, one report each."""
    found = await require_staff(request)
    lang = lang_of(request)
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
    if not uploads:
        context: dict[str, Any] = {
            "reports": None,
            "error": N_("Choose one or more claim XML files to import."),
        }
        return render(request, "emr/claim_import.html", context, status=422)
    if len(uploads) > MAX_FILES:
        context = {"reports": None, "error": t(request).gettext("At most {n} files at a time.", n=MAX_FILES)}
        return render(request, "emr/claim_import.html", context, status=422)
    reports: list[dict[str, Any]] = []
    async with emr_fhir(request, found) as api:
        for upload in uploads:
            name = (upload.filename or "").strip()[:200] or "(no name)"
            data = await upload.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                reports.append(
                    _problem(name, N_("The file is larger than 20 MB: split it into smaller files."))
                )
                continue
            if not data.strip():
                reports.append(_problem(name, N_("The file is empty.")))
                continue
            answer = await api.post_raw("$import-claim-xml", data, "application/xml")
            reports.append(file_report(name, answer, lang))
    accepted = sum(1 for r in reports if r["accepted"])
    context = {
        "reports": reports,
        "error": None,
        "accepted": accepted,
        "refused": len(reports) - accepted,
    }
    return render(request, "emr/claim_import.html", context)


ROUTES = [
    Route(
        "/app/patients/{patient_id:str}/encounters/{encounter_id:str}/claim.xml", claim_xml, methods=["GET"]
    ),
    Route("/app/claims/import", import_page, methods=["GET"]),
    Route("/app/claims/import", import_files, methods=["POST"]),
]
