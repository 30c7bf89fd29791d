"""Break-the-glass from the pages: emergency access with a reason, for 30 minutes, and its review.

Spec: https://hl7.org/fhir/R4/security.html#break-glass ; rules: ../shared/reference/vietnam.md §2
(role-based access with an audited emergency override) and §7 (health data is sensitive). The token and
the review rules are :mod:`senhealth.security.break_glass`; the pages only ask and show.

- ``GET /app/break-glass/start`` (the same form is offered on the search page and on a chart the user may
  not see), ``POST /app/break-glass/start``: a care role (doctor, nurse, commune health worker) gives a
  reason (10 characters or more); the session then holds an emergency token beside its normal one for 30
  minutes, and every FHIR request of the pages goes with it (audited with the reason); a red banner shows
  the time left.
- ``POST /app/break-glass/end``: ends it early (the token is revoked).
- ``GET /app/break-glass``, ``POST /app/break-glass/review``: the facility administrator's review of the
  emergency accesses of their facility's users (from the audit log), each session marked "reviewed" with
  a note.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.security import accounts, break_glass
from senhealth.web.context import (
    PageError,
    csrf_protected,
    end_break_glass,
    lang_of,
    render,
    require_staff,
    start_break_glass,
)
from senhealth.web.i18n import N_
from senhealth.web.labels import role_label
from senhealth.web.sessions import Session

__all__ = ["ROUTES", "form_context"]

_FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REASON_ERRORS: Final = {
    "reason": N_("Give a reason of at least 10 characters (at most 500)."),
    "role": N_("Emergency access is for doctors, nurses and commune health workers."),
    "facility": N_("Your account has no facility: emergency access is not possible."),
}


def _patient_id(value: object) -> str | None:
    text = str(value or "").strip()
    return text if _FHIR_ID.match(text) else None


def form_context(
    patient: str | None = None, q: str = "", reason: str = "", error: str | None = None
) -> dict[str, Any]:
    """What ``partials/break_glass_form.html`` needs."""
    return {"bg_patient": patient or "", "bg_q": q, "bg_reason": reason, "bg_error": error}


async def _care_role(request: Request) -> Session:
    found = await require_staff(request)
    if found.role not in break_glass.BREAK_GLASS_ROLES:
        raise PageError(403, str(_REASON_ERRORS["role"]))
    return found


async def start_page(request: Request) -> Response:
    await _care_role(request)
    patient = _patient_id(request.query_params.get("patient"))
    q = request.query_params.get("q", "")[:200]
    return render(request, "staff/break_glass_start.html", form_context(patient, q))


@csrf_protected
async def start_submit(request: Request, form: FormData) -> Response:
    found = await _care_role(request)
    patient = _patient_id(form.get("patient"))
    q = str(form.get("q") or "")[:200]
    reason = str(form.get("reason") or "")
    try:
        await start_break_glass(request, found, reason, patient)
    except break_glass.BreakGlassError as e:
        message = _REASON_ERRORS.get(e.reason_code, _REASON_ERRORS["reason"])
        context = form_context(patient, q, reason[: break_glass.MAX_REASON], message)
        return render(request, "staff/break_glass_start.html", context, status=400)
    if patient:
        target = f"/app/patients/{patient}"
    else:
        target = "/app/patients" + (f"?{urlencode({'q': q})}" if q.strip() else "")
    return RedirectResponse(target, status_code=303)


@csrf_protected
async def end_submit(request: Request, form: FormData) -> Response:
    found = await require_staff(request)
    await end_break_glass(request, found)
    return RedirectResponse("/app/patients?ended=1", status_code=303)


async def _admin(request: Request) -> Session:
    found = await require_staff(request)
    if found.role != "facility_admin" or not found.facility:
        raise PageError(403, "The review of emergency accesses is for facility administrators.")
    return found


async def _names(subjects: set[str]) -> dict[str, tuple[str, str]]:
    """Account id -> (display name, username) of the users concerned."""
    out: dict[str, tuple[str, str]] = {}
    for subject in subjects:
        user = await accounts.get_user(subject) if subject else None
        if user is not None:
            out[subject] = (user.display_name or user.username, user.username)
    return out


async def review_page(request: Request) -> Response:
    found = await _admin(request)
    assert found.facility is not None
    async with transaction() as conn:
        found_sessions = await break_glass.sessions_for_review(conn, found.facility)
    names = await _names({s.subject for s in found_sessions})
    lang = lang_of(request)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for s in found_sessions:
        name, username = names.get(s.subject, (s.username or s.subject, s.username))
        rows.append(
            {
                "s": s,
                "name": name,
                "username": username,
                "role": ", ".join(role_label(r, lang) for r in s.role.split(",") if r),
                "patients": sorted(s.patients.values(), key=lambda p: (p.patient == "", p.patient)),
                "active": s.active(now),
            }
        )
    unreviewed = sum(not s.reviewed for s in found_sessions)
    context = {"rows": rows, "unreviewed": unreviewed, "done": request.query_params.get("done")}
    return render(request, "staff/break_glass_review.html", context)


@csrf_protected
async def review_submit(request: Request, form: FormData) -> Response:
    found = await _admin(request)
    assert found.facility is not None
    try:
        async with transaction() as conn:
            await break_glass.mark_reviewed(
                conn,
                facility=found.facility,
                session_key=str(form.get("session") or ""),
                subject=str(form.get("subject") or ""),
                reviewer=found.account_id,
                reviewer_name=found.display_name or found.username,
                note=str(form.get("note") or ""),
            )
    except break_glass.BreakGlassError:
        raise PageError(404, "No such emergency access to review.") from None
    return RedirectResponse("/app/break-glass?done=1", status_code=303)


ROUTES = [
    Route("/app/break-glass", review_page, methods=["GET"]),
    Route("/app/break-glass/review", review_submit, methods=["POST"]),
    Route("/app/break-glass/start", start_page, methods=["GET"]),
    Route("/app/break-glass/start", start_submit, methods=["POST"]),
    Route("/app/break-glass/end", end_submit, methods=["POST"]),
]
