"""A document of the chart, opened: DocumentReference and DiagnosticReport, read through the FHIR API as
the signed-in user (the access policy, consent and audit apply: a document the user may not see is 404).

Shown: the narrative text (as plain text: the XHTML of ``text.div`` is never inserted as markup), the
report's conclusion and coded conclusions, the results it lists, and the attachments (title, type,
language, size). An attachment carried inline (``Attachment.data``) of ``text/plain`` or
``application/pdf`` can be downloaded: the resource is read again through the API (so the download is
audited as a read) and the decoded bytes are sent as a download (``Content-Disposition: attachment``,
a sandboxing Content-Security-Policy). Attachments given by ``url`` are listed, not fetched.

Spec: https://hl7.org/fhir/R4/documentreference.html, https://hl7.org/fhir/R4/diagnosticreport.html,
https://hl7.org/fhir/R4/datatypes.html#Attachment, https://hl7.org/fhir/R4/narrative.html;
Content-Disposition: https://www.rfc-editor.org/rfc/rfc6266
"""

from __future__ import annotations

import base64
import binascii
import re
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import PageError, fhir, render, require_staff, t
from senhealth.web.fhir_client import FhirError
from senhealth.web.record import text_of

__all__ = ["DOCUMENT_TYPES", "DOWNLOADABLE", "ROUTES", "attachments", "narrative_text"]

DOCUMENT_TYPES: Final = ("DocumentReference", "DiagnosticReport")
#: Content types an inline attachment may be downloaded as.
DOWNLOADABLE: Final = {"text/plain": ".txt", "application/pdf": ".pdf"}
_BLOCK: Final = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
)
_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def narrative_text(resource: dict[str, Any]) -> str:
    """The resource's narrative (``text.div``) as plain text, paragraphs kept as lines."""
    div = (resource.get("text") or {}).get("div")
    if not isinstance(div, str) or not div:
        return ""
    parser = _Text()
    parser.feed(div)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _base_type(content_type: Any) -> str:
    return str(content_type or "").split(";", 1)[0].strip().lower()


def attachments(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The resource's attachments (DocumentReference ``content.attachment``, DiagnosticReport
    ``presentedForm``), each with whether it can be downloaded here."""
    if resource.get("resourceType") == "DocumentReference":
        found = [c.get("attachment") for c in resource.get("content", []) or [] if isinstance(c, dict)]
    else:
        found = list(resource.get("presentedForm", []) or [])
    out = []
    for index, attachment in enumerate(found):
        if not isinstance(attachment, dict):
            continue
        kind = _base_type(attachment.get("contentType"))
        out.append(
            {
                "index": index,
                "title": str(attachment.get("title") or ""),
                "content_type": str(attachment.get("contentType") or ""),
                "language": str(attachment.get("language") or ""),
                "size": attachment.get("size"),
                "creation": attachment.get("creation"),
                "url": str(attachment.get("url") or ""),
                "downloadable": bool(attachment.get("data")) and kind in DOWNLOADABLE,
                "raw": attachment,
            }
        )
    return out


def _of_patient(resource: dict[str, Any], patient_id: str) -> bool:
    subject = resource.get("subject") or {}
    return isinstance(subject, dict) and subject.get("reference") == f"Patient/{patient_id}"


async def _document(request: Request) -> tuple[str, dict[str, Any]]:
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    res_type = request.path_params["res_type"]
    if res_type not in DOCUMENT_TYPES:
        raise PageError(404, "This page does not exist.")
    try:
        async with fhir(request, found) as client:
            resource = await client.read(res_type, request.path_params["res_id"])
    except FhirError as e:
        if e.status in (403, 404, 410):
            raise PageError(404, "No such document, or you may not see it.") from None
        raise PageError(502, "The record could not be read.") from None
    if not _of_patient(resource, patient_id):
        raise PageError(404, "No such document, or you may not see it.")
    return patient_id, resource


async def document_page(request: Request) -> Response:
    patient_id, resource = await _document(request)
    title = (
        str(resource.get("description") or "")
        or text_of(resource.get("type"))
        or text_of(resource.get("code"))
        or t(request).gettext(str(resource["resourceType"]))
    )
    context = {
        "title": title,
        "patient_id": patient_id,
        "doc": resource,
        "narrative": narrative_text(resource),
        "attachments": attachments(resource),
    }
    return render(request, "staff/document.html", context)


def _filename(title: str, fallback: str, extension: str) -> tuple[str, str]:
    """An ASCII file name and the RFC 5987 ``filename*`` value of ``title``."""
    base = title.strip() or fallback
    if not base.lower().endswith(extension):
        base += extension
    ascii_name = _UNSAFE_NAME.sub("_", base).strip("._") or f"document{extension}"
    return ascii_name[:100], "UTF-8''" + quote(base[:150], safe="")


async def attachment_download(request: Request) -> Response:
    _, resource = await _document(request)
    index = int(request.path_params["index"])
    chosen = next((a for a in attachments(resource) if a["index"] == index), None)
    if chosen is None or not chosen["downloadable"]:
        raise PageError(404, "This attachment cannot be downloaded here.")
    try:
        content = base64.b64decode(str(chosen["raw"]["data"]), validate=False)
    except (binascii.Error, ValueError):
        raise PageError(404, "This attachment cannot be downloaded here.") from None
    kind = _base_type(chosen["content_type"])
    media_type = (
        str(chosen["content_type"])
        if kind != "text/plain" or "charset" in chosen["content_type"]
        else "text/plain; charset=utf-8"
    )
    name, starred = _filename(
        chosen["title"], f"{resource['resourceType']}-{resource.get('id', '')}", DOWNLOADABLE[kind]
    )
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"; filename*={starred}',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return Response(content, media_type=media_type, headers=headers)


ROUTES = [
    Route(
        "/app/patients/{patient_id:str}/documents/{res_type:str}/{res_id:str}", document_page, methods=["GET"]
    ),
    Route(
        "/app/patients/{patient_id:str}/documents/{res_type:str}/{res_id:str}/attachments/{index:int}",
        attachment_download,
        methods=["GET"],
    ),
]
