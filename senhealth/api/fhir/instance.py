"""Instance-level interactions: read, vread, update (and update-as-create), patch, delete.

Spec: https://hl7.org/fhir/R4/http.html#read (200, 404 unknown, 410 deleted; ``ETag``,
``Last-Modified``; conditional read with ``If-None-Match`` / ``If-Modified-Since``: 304),
https://hl7.org/fhir/R4/http.html#vread, https://hl7.org/fhir/R4/http.html#update (200 / 201, 400
when the body's id differs from the URL's, 409/412 on a version conflict with ``If-Match``),
https://hl7.org/fhir/R4/http.html#patch (``application/json-patch+json`` or a FHIRPath Patch
``Parameters``) and https://hl7.org/fhir/R4/http.html#delete (kept in history; 200 with an
OperationOutcome, 204 when there was nothing to delete).

``GET``/``POST [base]/[type]/$op`` reach these paths too (``{id}`` starting with ``$``): they are
handed to the operation router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.auditing import auditing, record_access
from senhealth.api.fhir.authz import authorize, can_see, hide
from senhealth.api.fhir.context import get_store, if_match, read_response, result_response
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.interactions import Interactions, Result, check_id, check_type, parse_version
from senhealth.api.fhir.negotiation import parse_json, read_body, read_resource_body
from senhealth.api.fhir.openapi import (
    PATCH_BODY,
    RESOURCE_BODY,
    IdParam,
    TypeParam,
    VidParam,
    errors,
    extra,
    headers,
    query,
)
from senhealth.api.fhir.operations import run_operation
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.access import Action, Restriction
from senhealth.fhir.patch import patch_format
from senhealth.fhir.store import FhirStore, Gone, NotFound, Stored

__all__ = ["instance_router", "write"]


router = APIRouter(tags=["instance"])


_WRITES: dict[str, Action] = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


async def write(
    request: Request,
    action: Callable[[Interactions], Awaitable[Result]],
    res_type: str | None = None,
    target: str | None = None,
) -> Result:
    """Run one write interaction in its own store transaction (its audit record in the same one).

    Under an access policy (:mod:`senhealth.api.fhir.authz`): the role must be allowed the interaction
    on ``res_type``; the resource ``target`` (its id, for update, patch, delete) must be one the caller
    may see (else 404, as for an unknown one), and so must the version written (else the transaction
    is rolled back: 404 for a change, 403 for a creation outside the caller's patients)."""
    store = get_store(request)
    kind = _WRITES.get(request.method, "update")
    restriction = authorize(kind, res_type) if res_type is not None else None
    async with store.transaction() as tx:
        if restriction is not None and res_type is not None and target is not None:
            try:
                before = await tx.read(res_type, target)
            except (NotFound, Gone):
                before = None
            if before is not None and not await can_see(store, restriction, before.pkey, tx.conn):
                raise hide(res_type, target)
        result = await action(Interactions(store, tx))
        stored = result.stored
        if (
            restriction is not None
            and stored is not None
            and not await can_see(store, restriction, stored.pkey, tx.conn)
        ):
            if kind == "create" or target is None:
                raise FhirError(
                    403,
                    "You may only record data of patients in your care (an encounter at your facility)",
                    code="forbidden",
                )
            raise hide(stored.res_type, stored.res_id)
        if auditing():
            await record_access(
                request.scope,
                store,
                kind,
                stored.res_type if stored is not None else None,
                stored.res_id if stored is not None else None,
                conn=tx.conn,
                patients=[stored.pkey] if stored is not None else (),
                status=result.status,
            )
        return result


async def _visible(
    store: FhirStore,
    restriction: Restriction | None,
    res_type: str,
    res_id: str,
    fetch: Callable[[], Awaitable[Stored]],
) -> Stored:
    """``fetch()`` (a read or vread), answered as unknown when the caller may not see the resource
    (a deleted one included: its 410 would tell that it existed)."""
    try:
        stored = await fetch()
    except Gone as gone:
        if restriction is not None and not await can_see(store, restriction, gone.stored.pkey):
            raise hide(res_type, res_id) from None
        raise
    if restriction is not None and not await can_see(store, restriction, stored.pkey):
        raise hide(res_type, res_id)
    return stored


@router.get(
    "/{type}/{id}/_history/{vid}",
    response_class=FhirResponse,
    summary="vread: one version of a resource",
    responses=errors(304, 410),
    openapi_extra=extra(
        query("_format", "_pretty", "_summary", "_elements"), headers("If-None-Match", "If-Modified-Since")
    ),
)
async def vread(request: Request, res_type: TypeParam, res_id: IdParam, vid: VidParam) -> Response:
    check_type(res_type)
    check_id(res_id)
    version = parse_version(vid)
    if version < 1:
        raise FhirError(404, f"{res_type}/{res_id} has no version {vid[:70]!r}")
    store = get_store(request)
    restriction = authorize("read", res_type)
    stored = await _visible(
        store, restriction, res_type, res_id, lambda: store.vread(res_type, res_id, version)
    )
    await record_access(request.scope, store, "read", res_type, res_id, patients=[stored.pkey])
    return read_response(request, stored)


@router.get(
    "/{type}/{id}",
    response_class=FhirResponse,
    summary="read: the current version of a resource",
    responses=errors(304, 410),
    openapi_extra=extra(
        query("_format", "_pretty", "_summary", "_elements"), headers("If-None-Match", "If-Modified-Since")
    ),
)
async def read(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    if res_id.startswith("$"):
        return await run_operation(request, "type", res_type, None, res_id)
    check_type(res_type)
    check_id(res_id)
    store = get_store(request)
    restriction = authorize("read", res_type)
    stored = await _visible(store, restriction, res_type, res_id, lambda: store.read(res_type, res_id))
    await record_access(request.scope, store, "read", res_type, res_id, patients=[stored.pkey])
    return read_response(request, stored)


@router.post(
    "/{type}/{id}",
    response_class=FhirResponse,
    summary="a type-level $operation (POST [type]/$name)",
    responses=errors(405, 412, 422),
    include_in_schema=False,
)
async def post_type_operation(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    if res_id.startswith("$"):
        return await run_operation(request, "type", res_type, None, res_id)
    raise FhirError(
        405,
        "POST is not allowed on a resource instance: use PUT to update it",
        headers={"Allow": "GET, PUT, PATCH, DELETE"},
    )


@router.put(
    "/{type}/{id}",
    response_class=FhirResponse,
    summary="update (or create with this id)",
    status_code=200,
    responses={201: {"description": "Created (update as create)"}, **errors(409, 412, 413, 415, 422)},
    openapi_extra=extra(RESOURCE_BODY, query("_format", "_pretty"), headers("If-Match", "Prefer")),
)
async def update(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    check_type(res_type)
    check_id(res_id)
    version = if_match(request)
    body = await read_resource_body(request, res_type)
    result = await write(
        request, lambda i: i.update(res_type, res_id, body, if_match=version), res_type, res_id
    )
    return result_response(request, result)


@router.patch(
    "/{type}/{id}",
    response_class=FhirResponse,
    summary="patch: JSON Patch or FHIRPath Patch",
    responses=errors(409, 410, 412, 413, 415, 422),
    openapi_extra=extra(PATCH_BODY, query("_format", "_pretty"), headers("If-Match", "Prefer")),
)
async def patch(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    check_type(res_type)
    check_id(res_id)
    fmt = patch_format(request.headers.get("content-type"))
    if fmt is None:
        raise FhirError(
            415,
            "A patch is application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch)",
            code="not-supported",
        )
    version = if_match(request)
    body = parse_json(await read_body(request))
    result = await write(
        request, lambda i: i.patch(res_type, res_id, body, fmt, if_match=version), res_type, res_id
    )
    return result_response(request, result)


@router.delete(
    "/{type}/{id}",
    response_class=FhirResponse,
    summary="delete (kept in history)",
    responses={204: {"description": "Nothing to delete, or Prefer: return=minimal"}, **errors(409, 412)},
    openapi_extra=extra(query("_format", "_pretty"), headers("If-Match", "Prefer")),
)
async def delete(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
    check_type(res_type)
    check_id(res_id)
    version = if_match(request)
    result = await write(request, lambda i: i.delete(res_type, res_id, if_match=version), res_type, res_id)
    return result_response(request, result)


def instance_router() -> APIRouter:
    return router
