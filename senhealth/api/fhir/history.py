"""History at instance, type and system level.

Spec: https://hl7.org/fhir/R4/http.html#history (``GET [base]/[type]/[id]/_history``,
``[base]/[type]/_history``, ``[base]/_history``; ``_count``, ``_since`` (an instant: versions at or
after it), ``_at`` (a dateTime: the versions current at that time), ``_list`` not supported; a
``history`` Bundle, newest first, deletes as entries without a resource). Pages follow the ``next``
link (an opaque ``_cursor``; see :mod:`senhealth.fhir.store.history`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.auditing import record_access
from senhealth.api.fhir.authz import authorize, can_see, hide
from senhealth.api.fhir.bundles import history_bundle
from senhealth.api.fhir.context import apply_subset, base_url, get_store, prefer, respond, subset_params
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.headers import parse_instant
from senhealth.api.fhir.interactions import check_id, check_type
from senhealth.api.fhir.openapi import IdParam, TypeParam, errors, query
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.search.execute import visible_pkeys
from senhealth.fhir.store import Gone, HistoryPage
from senhealth.fhir.store.history import MAX_COUNT

__all__ = ["history_router", "parse_at"]


DEFAULT_COUNT: Final = 50
_KNOWN: Final = frozenset(
    {"_count", "_since", "_at", "_cursor", "_format", "_pretty", "_summary", "_elements"}
)
_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_QUERY = query("_count", "_since", "_at", "_cursor", "_summary", "_elements", "_format", "_pretty")

router = APIRouter(tags=["history"])


def parse_at(value: str, name: str) -> datetime:
    """A FHIR dateTime; a partial one (``2024``, ``2024-05``, ``2024-05-01``) means the end of that period."""
    m = _PARTIAL.match(value.strip())
    if m is not None:
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        try:
            if day is not None:
                start = datetime(year, int(month or 1), int(day), tzinfo=UTC)
                return start + timedelta(days=1) - timedelta(microseconds=1)
            if month is not None:
                start = datetime(year, int(month), 1, tzinfo=UTC)
                nxt = datetime(year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)
                return nxt - timedelta(microseconds=1)
            return datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
        except ValueError:
            pass
    else:
        parsed = parse_instant(value)
        if parsed is not None:
            return parsed
    raise FhirError(400, f"{name}={value[:40]!r} is not a FHIR dateTime", code="value", expression=name)


def _count(request: Request) -> int:
    raw = request.query_params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or len(raw) > 9:
        raise FhirError(400, f"_count must be a whole number from 0, not {raw[:20]!r}", expression="_count")
    return min(int(raw), MAX_COUNT)


async def _history(request: Request, res_type: str | None, res_id: str | None, path: str) -> Response:
    params = request.query_params
    unknown = sorted({name for name in params if name not in _KNOWN})
    if unknown and prefer(request).strict:
        raise FhirError(400, f"History does not take the parameter(s) {', '.join(unknown)[:200]}")
    since_raw, at_raw = params.get("_since"), params.get("_at")
    since = None
    if since_raw is not None:
        since = parse_instant(since_raw)
        if since is None:
            raise FhirError(
                400, f"_since={since_raw[:40]!r} is not a FHIR instant", code="value", expression="_since"
            )
    at = parse_at(at_raw, "_at") if at_raw is not None else None
    count = _count(request)
    wanted = subset_params(request)
    store = get_store(request)
    restriction = authorize("history", res_type)
    if res_type is not None and res_id is not None:
        try:  # a deleted resource still has its history; an unknown one is 404
            pkey = (await store.read(res_type, res_id)).pkey
        except Gone as gone:
            pkey = gone.stored.pkey
        if not await can_see(store, restriction, pkey):
            raise hide(res_type, res_id)
    page = await store.history(
        res_type, res_id, since=since, at=at, count=count, cursor=params.get("_cursor")
    )
    if restriction is not None and page.entries:  # type and system history: only what may be seen
        async with store.pool.connection() as conn:
            seen = await visible_pkeys(
                conn, restriction, [s.pkey for s in page.entries], await store.param_ids()
            )
        page = HistoryPage([s for s in page.entries if s.pkey in seen], page.next_cursor, None)
    own = [(k, v) for k, v in params.multi_items() if k != "_cursor"]
    await record_access(
        request.scope, store, "history", res_type, res_id, patients=[s.pkey for s in page.entries]
    )

    def shape(resource: dict[str, Any]) -> dict[str, Any]:
        return apply_subset(resource, wanted)

    return respond(request, history_bundle(base_url(request), path, own, page, shape))


@router.get(
    "/_history",
    response_class=FhirResponse,
    summary="history of every resource",
    responses=errors(),
    openapi_extra=_QUERY,
)
async def history_system(request: Request) -> Response:
    return await _history(request, None, None, "_history")


@router.get(
    "/{type}/_history",
    response_class=FhirResponse,
    summary="history of one resource type",
    responses=errors(),
    openapi_extra=_QUERY,
)
async def history_type(request: Request, res_type: TypeParam) -> Response:
    check_type(res_type)
    return await _history(request, res_type, None, f"{res_type}/_history")


@router.get(
    "/{type}/{id}/_history",
    response_class=FhirResponse,
    summary="history of one resource",
    responses=errors(),
    openapi_extra=_QUERY,
)
async def history_instance(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    check_type(res_type)
    check_id(res_id)
    return await _history(request, res_type, res_id, f"{res_type}/{res_id}/_history")


def history_router() -> APIRouter:
    return router
