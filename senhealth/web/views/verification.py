"""The public verification page of printed copies: ``/verify/{code}`` (the target of the QR code printed on
every page of a paper copy), and ``/verify`` to type a code read off the paper.

No sign-in: anyone holding the paper may check it. The page shows what
:func:`senhealth.emr.printing.copy_verification.verify_copy` returns (document type, facility, date,
the signatures verified now, whether the document was corrected or destroyed, the SHA-256 of the PDF)
and no clinical content: the patient appears only as initials and year of birth. An unknown or
malformed code answers a 404 page. Answers are not cached (``Cache-Control: no-store``: the state of a
document changes) and not indexed by search engines (``X-Robots-Tag: noindex``).

Spec: e-Transactions Law 2023 Art. 12, Decree 137/2024 (vietnam.md §2); Robots meta / header:
https://developers.google.com/search/docs/crawling-indexing/robots-meta-tag
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.emr.pki.errors import PkiError
from senhealth.emr.printing.copy_verification import verify_copy
from senhealth.emr.printing.lookup_code import normalise_code
from senhealth.emr.signatures.services import PkiServices, pki_services
from senhealth.web.context import render, state

__all__ = ["PREFIX", "ROUTES", "verify_form", "verify_page"]

PREFIX: Final = "/verify"
_HEADERS: Final = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def _services(request: Request) -> PkiServices | None:
    try:
        return pki_services(state(request).settings)
    except PkiError:
        return None


async def verify_page(request: Request) -> Response:
    """``GET /verify/{code}``: one printed copy, or the 404 page."""
    code = str(request.path_params.get("code", ""))
    result = await verify_copy(state(request).fhir_store, code, services=_services(request))
    if result is None:
        return render(
            request, "verify/not_found.html", {"code": code[:40]}, status=404, headers=dict(_HEADERS)
        )
    return render(request, "verify/copy.html", {"copy": result}, headers=dict(_HEADERS))


async def verify_form(request: Request) -> Response:
    """``GET /verify``: a form to type a code; ``?code=`` goes to that copy's page."""
    typed = request.query_params.get("code")
    if typed:
        normal = normalise_code(typed)
        if normal is not None:
            return RedirectResponse(f"{PREFIX}/{quote(normal)}", status_code=303, headers=dict(_HEADERS))
        return render(
            request, "verify/not_found.html", {"code": typed[:40]}, status=404, headers=dict(_HEADERS)
        )
    return render(request, "verify/form.html", {}, headers=dict(_HEADERS))


ROUTES = [
    Route(PREFIX, verify_form, methods=["GET"]),
    Route(PREFIX + "/", verify_form, methods=["GET"]),
    Route(PREFIX + "/{code}", verify_page, methods=["GET"]),
]
