"""The referral board: the facility's referrals, both directions, in columns by step, with the step actions.

docs/web-telehealth.md; the steps are docs/telehealth-referrals.md.

- ``GET /app/telehealth/referrals``: columns requested, accepted, summary sent, arrived, returned (and the
  declined apart), outgoing and incoming cards marked (:func:`senhealth.telehealth.referrals.board.referral_board`:
  the facility's referrals, audited);
- ``POST /app/telehealth/referrals/{task}/{action}``: one step as the user through the FHIR API:
  ``accept`` / ``decline`` (``$referral-accept`` with ``decision``), ``draft-summary``, ``send-summary``
  (the drafted paper, once signed on the document's signing page), ``arrive``, ``draft-return`` (course and
  advice), ``return`` (the signed letter). The operations check who may take which step when; a refusal
  shows the board again with the server's reason and status.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.telehealth.referrals.board import COLUMNS, referral_board
from senhealth.web.context import PageError, Redirect, csrf_protected, lang_of, render, state
from senhealth.web.sessions import Session
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.telehealth_common import fhir_id, require_clinician, text_of

__all__ = ["ACTIONS", "ROUTES"]

BASE: Final = "/app/telehealth/referrals"
#: action → (operation, parameters from the form)
ACTIONS: Final = {
    "accept": "$referral-accept",
    "decline": "$referral-accept",
    "draft-summary": "$referral-draft-summary",
    "send-summary": "$referral-send-summary",
    "arrive": "$referral-arrive",
    "draft-return": "$referral-draft-return",
    "return": "$referral-return",
}


async def _context(request: Request, found: Session, principal: Any) -> dict[str, Any]:
    facility = (found.facility or "").removeprefix("Organization/")
    board = await referral_board(state(request).fhir_store, principal, facility)
    return {
        "tx": text_of(request),
        "section": "referrals",
        "base": BASE,
        "board": board,
        "columns": COLUMNS,
        "done": request.query_params.get("done"),
        "errors": [],
    }


async def board_page(request: Request) -> Response:
    found, principal = await require_clinician(request)
    return render(request, "telehealth/referrals.html", await _context(request, found, principal))


def _parameters(action: str, form: FormData) -> list[dict[str, Any]]:
    note = str(form.get("note") or "").strip()
    params: list[dict[str, Any]] = []
    if action in ("accept", "decline"):
        params.append({"name": "decision", "valueCode": action})
    if action == "send-summary":
        params.append(
            {
                "name": "summary",
                "valueReference": {"reference": f"Composition/{fhir_id(form.get('composition'))}"},
            }
        )
    if action == "return":
        params.append(
            {
                "name": "letter",
                "valueReference": {"reference": f"Composition/{fhir_id(form.get('composition'))}"},
            }
        )
    if action == "draft-return":
        for name in ("course", "advice"):
            value = str(form.get(name) or "").strip()
            if value:
                params.append({"name": name, "valueString": value})
    if note and action not in ("draft-summary", "draft-return"):
        params.append({"name": "note", "valueString": note})
    return params


@csrf_protected
async def step_submit(request: Request, form: FormData) -> Response:
    found, principal = await require_clinician(request)
    task_id = fhir_id(request.path_params["task_id"])
    action = str(request.path_params["action"])
    if action not in ACTIONS:
        raise PageError(404, "This page does not exist.")
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters(f"Task/{task_id}/{ACTIONS[action]}", _parameters(action, form))
    if answer.ok:
        raise Redirect(f"{BASE}?" + urlencode({"done": action}) + f"#card-{task_id}")
    context = await _context(request, found, principal)
    context["errors"] = [
        {"where": i.expression, "text": in_language(i.text, lang_of(request))} for i in answer.issues
    ]
    context["failed"] = task_id
    return render(
        request, "telehealth/referrals.html", context, status=answer.status if answer.status < 500 else 502
    )


ROUTES = [
    Route(BASE, board_page, methods=["GET"]),
    Route(BASE + "/{task_id:str}/{action:str}", step_submit, methods=["POST"]),
]
