"""Print preview of a signed clinical document: the printed copy itself, shown as page images.

``GET .../clinical-documents/{cid}/print`` is a light page; its pages load after it (htmx, or the link
without script) from ``GET .../print/pages``, which asks the FHIR API for the **printed copy**
(``Composition/{cid}/$pdf?print=true``: the conversion marking, a new look-up code and its QR code, the
time and the person who printed, PAdES-signed; the print is logged and audited by the printing service).
Each page of that PDF is rendered to a PNG (PDFium, through pypdfium2) and shown as an image: an inline
PDF viewer is not available everywhere (headless browsers, many phones) and the pages' own security
policy forbids framing. The same PDF (the very copy that was logged) can then be opened or printed from
``/app/printed/{token}.pdf``, and the look-up code links to the public verification page
``/verify/{code}`` that the QR code encodes.

The rendered copy is kept in memory for :data:`KEEP_S` seconds (at most :data:`KEEP_MAX` copies), bound to
the session that asked for it: a token of another session, or an expired one, answers a page that says to
open the preview again (which makes, and logs, a new printed copy).

Spec: the ``$pdf`` operation of docs/printing.md; PDFium rendering: https://pypdfium2.readthedocs.io/
"""

from __future__ import annotations

import asyncio
import io
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import PageError, fhir, lang_of, render, require_staff, state
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.emr_records import STATUS_LABELS, document_path, document_title, load_composition

__all__ = ["KEEP_MAX", "KEEP_S", "ROUTES", "PrintedCopy", "render_pages", "verification_link"]

KEEP_S: Final = 15 * 60
KEEP_MAX: Final = 32
#: Rendering scale: 1.5 × 72 dpi = 108 dpi, an A4 page of 893 × 1263 pixels (the QR code stays sharp).
SCALE: Final = 1.5
_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe


@dataclass(frozen=True, slots=True)
class PrintedCopy:
    session_id: str
    created: float
    patient_id: str
    composition_id: str
    code: str
    url: str
    pdf: bytes
    pages: tuple[bytes, ...]
    filename: str


_COPIES: OrderedDict[str, PrintedCopy] = OrderedDict()
_COPIES_LOCK = threading.Lock()


def _keep(copy: PrintedCopy) -> str:
    token = secrets.token_urlsafe(24)
    with _COPIES_LOCK:
        now = time.monotonic()
        for old in [k for k, v in _COPIES.items() if now - v.created > KEEP_S]:
            del _COPIES[old]
        _COPIES[token] = copy
        while len(_COPIES) > KEEP_MAX:
            _COPIES.popitem(last=False)
    return token


def _kept(token: str, session_id: str) -> PrintedCopy | None:
    with _COPIES_LOCK:
        copy = _COPIES.get(token)
    if copy is None or copy.session_id != session_id or time.monotonic() - copy.created > KEEP_S:
        return None
    return copy


def render_pages(pdf: bytes, scale: float = SCALE) -> tuple[bytes, ...]:
    """Every page of ``pdf`` as a PNG (a palette of at most 256 colours, which keeps text and the QR code
    exact and the files small)."""
    out: list[bytes] = []
    with _PDFIUM_LOCK:
        document = pdfium.PdfDocument(pdf)
        try:
            for index in range(len(document)):
                page = document[index]
                try:
                    image = page.render(scale=scale).to_pil()
                finally:
                    page.close()
                buffer = io.BytesIO()
                image.convert("RGB").quantize(colors=256).save(buffer, format="PNG", optimize=True)
                out.append(buffer.getvalue())
        finally:
            document.close()
    return tuple(out)


def verification_link(settings: Any, request: Request, code: str) -> str:
    """The public verification page of ``code``, as the printing service writes it in the QR code: the
    configured public address (``public_url``, else ``issuer_url``), else the address this page was
    reached at."""
    base = getattr(settings, "public_url", None) or getattr(settings, "issuer_url", None)
    root = str(base).rstrip("/") if base else f"{request.url.scheme}://{request.url.netloc}"
    return f"{root}/verify/{code}"


async def print_page(request: Request) -> Response:
    """``GET .../print``: the preview page (its pages load from ``.../print/pages``)."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    async with fhir(request, found) as client:
        comp = await load_composition(client, patient_id, composition_id)
    context = {
        "patient_id": patient_id,
        "composition_id": composition_id,
        "title": document_title(comp, lang_of(request)),
        "status_labels": STATUS_LABELS,
        "path": document_path(patient_id, composition_id),
    }
    return render(request, "emr/print.html", context)


async def print_pages(request: Request) -> Response:
    """``GET .../print/pages``: make the printed copy and show its pages (see the module docstring)."""
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    composition_id = request.path_params["composition_id"]
    lang = lang_of(request)
    async with fhir(request, found) as client:
        comp = await load_composition(client, patient_id, composition_id)
    async with emr_fhir(request, found) as api:
        answer = await api.get(f"Composition/{composition_id}/$pdf", [("print", "true")])
    context: dict[str, Any] = {
        "patient_id": patient_id,
        "composition_id": composition_id,
        "title": document_title(comp, lang),
        "path": document_path(patient_id, composition_id),
        "errors": [],
        "copy": None,
        "token": None,
    }
    partial = bool(request.headers.get("hx-request"))
    template = "emr/print_pages.html" if partial else "emr/print_pages_page.html"
    if not answer.ok or answer.media_type != "application/pdf":
        context["errors"] = [
            {"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues
        ]
        context["status"] = answer.status
        return render(request, template, context, status=200 if partial else min(answer.status, 502))
    code = answer.headers.get("x-lookup-code", "")
    pages = await asyncio.to_thread(render_pages, answer.content)
    disposition = answer.headers.get("content-disposition", "")
    filename = disposition.split('filename="', 1)[1].split('"', 1)[0] if 'filename="' in disposition else ""
    copy = PrintedCopy(
        session_id=found.id,
        created=time.monotonic(),
        patient_id=patient_id,
        composition_id=composition_id,
        code=code,
        url=verification_link(state(request).settings, request, code) if code else "",
        pdf=answer.content,
        pages=pages,
        filename=filename or f"document-{composition_id}.pdf",
    )
    context["copy"] = copy
    context["token"] = _keep(copy)
    return render(request, template, context)


async def _copy(request: Request) -> PrintedCopy:
    found = await require_staff(request)
    copy = _kept(request.path_params["token"], found.id)
    if copy is None:
        raise PageError(
            404, "This printed copy is no longer kept here. Open the print preview again to make a new one."
        )
    return copy


async def printed_page_image(request: Request) -> Response:
    copy = await _copy(request)
    index = int(request.path_params["page"]) - 1
    if not 0 <= index < len(copy.pages):
        raise PageError(404, "This page does not exist.")
    headers = {"Cache-Control": "private, no-store"}  # patient data, as every page
    return Response(copy.pages[index], media_type="image/png", headers=headers)


async def printed_pdf(request: Request) -> Response:
    copy = await _copy(request)
    headers = {
        "Content-Disposition": f'inline; filename="{copy.filename}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
    return Response(copy.pdf, media_type="application/pdf", headers=headers)


_ONE: Final = "/app/patients/{patient_id:str}/clinical-documents/{composition_id:str}"

ROUTES = [
    Route(_ONE + "/print", print_page, methods=["GET"]),
    Route(_ONE + "/print/pages", print_pages, methods=["GET"]),
    Route("/app/printed/{token:str}/page-{page:int}.png", printed_page_image, methods=["GET"]),
    Route("/app/printed/{token:str}.pdf", printed_pdf, methods=["GET"]),
]
