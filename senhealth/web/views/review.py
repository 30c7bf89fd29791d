"""The duplicate-review queue (roles ``facility_admin`` and ``doctor``): open pairs of
:mod:`senhealth.mpi.review`, both records side by side, decided "same person" or "different people".

Both records are read through the FHIR API as the user: a pair the user may not see both records of is
not listed, and cannot be decided. "Same person" merges with :func:`senhealth.mpi.link.link` (the
record with the lower id survives unless the reviewer picks the other) and records the decision in the
same transaction; the merge's audit event names the user (their principal is set for the call).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.core.request_context import client_address
from senhealth.fhir.access import current_principal
from senhealth.mpi import review
from senhealth.mpi.link import LinkError, link
from senhealth.security.oauth.bearer import principal_from_claims
from senhealth.web.context import (
    PageError,
    client_ip,
    csrf_protected,
    fhir,
    render,
    require_staff,
    session_token,
    state,
)
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.record import BHYT, CCCD, identifier, patient_name
from senhealth.web.sessions import Session

__all__ = ["REVIEWER_ROLES", "ROUTES"]

REVIEWER_ROLES: Final = frozenset({"facility_admin", "doctor"})


async def _reviewer(request: Request) -> Session:
    found = await require_staff(request)
    if found.role not in REVIEWER_ROLES:
        raise PageError(403, "The duplicate-review queue is for doctors and facility administrators.")
    return found


def _card(patient: dict[str, Any]) -> dict[str, Any]:
    address: dict[str, Any] = next(iter(patient.get("address", []) or []), {}) or {}
    phone = next((c.get("value") for c in patient.get("telecom", []) or [] if c.get("system") == "phone"), "")
    return {
        "id": patient.get("id"),
        "name": patient_name(patient),
        "birth": patient.get("birthDate", ""),
        "gender": patient.get("gender", ""),
        "cccd": identifier(patient, CCCD),
        "bhyt": identifier(patient, BHYT),
        "address": address.get("text") or ", ".join(str(p) for p in address.get("line", []) or []),
        "phone": phone or "",
    }


async def _both(client: FhirClient, item: review.ReviewItem) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        return await client.read("Patient", item.patient_a), await client.read("Patient", item.patient_b)
    except FhirError:
        return None


async def queue_page(request: Request) -> Response:
    found = await _reviewer(request)
    async with transaction() as conn:
        items = await review.list_open(conn, limit=50)
    pairs = []
    async with fhir(request, found) as client:
        for item in items:
            both = await _both(client, item)
            if both is not None:
                pairs.append({"item": item, "a": _card(both[0]), "b": _card(both[1])})
    return render(request, "staff/review.html", {"pairs": pairs, "done": request.query_params.get("done")})


@contextlib.contextmanager
def _acting_as(request: Request, token: str) -> Iterator[None]:
    claims = state(request).tokens.verify(token)
    principal = current_principal().set(principal_from_claims(claims))
    address = client_address.set(client_ip(request))
    try:
        yield
    finally:
        client_address.reset(address)
        current_principal().reset(principal)


@csrf_protected
async def decide(request: Request, form: FormData) -> Response:
    found = await _reviewer(request)
    pair_id = int(request.path_params["pair_id"])
    decision = str(form.get("decision") or "")
    if decision not in ("linked", "distinct"):
        raise PageError(400, "Choose same person or different people.")
    async with transaction() as conn:
        item = await review.get_pair(conn, pair_id)
    if item is None or item.status != "open":
        raise PageError(409, "This pair was already decided or does not exist.")
    async with fhir(request, found) as client:
        if await _both(client, item) is None:
            raise PageError(404, "No such patient, or you may not see this patient's record.")
    by = f"{found.username} ({found.account_id})"
    try:
        if decision == "linked":
            survivor = item.patient_b if form.get("survivor") == item.patient_b else item.patient_a
            duplicate = item.patient_a if survivor == item.patient_b else item.patient_b
            store = state(request).fhir_store
            with _acting_as(request, await session_token(request, found)):
                async with store.transaction() as tx:
                    await link(store, survivor, duplicate, by=by)
                    await review.decide(tx.conn, pair_id, "linked", by=by)
        else:
            async with transaction() as conn:
                await review.decide(conn, pair_id, "distinct", by=by)
    except (review.ReviewError, LinkError) as e:
        raise PageError(409, "This pair could not be decided: {reason}", reason=str(e)) from None
    if request.headers.get("hx-request"):
        return render(request, "partials/decided.html", {"decision": decision})
    return RedirectResponse(f"/app/review?done={pair_id}", status_code=303)


ROUTES = [
    Route("/app/review", queue_page, methods=["GET"]),
    Route("/app/review/{pair_id:int}", decide, methods=["POST"]),
]
