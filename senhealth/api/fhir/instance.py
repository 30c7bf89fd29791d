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
from senhealth.fhir.access import Action
from senhealth.fhir.patch import patch_format

__all__ = ["instance_router", "write"]


router = APIRouter(tags=["instance"])


_WRITES: dict[str, Action] = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


async def write(request: Request, action: Callable[[Interactions], Awaitable[Result]]) -> Result:
    """Run one write interaction in its own store transaction (its audit record in the same one)."""
    store = get_store(request)
    async with store.transaction() as tx:
        result = await action(Interactions(store, tx))
        if auditing():
            stored = result.stored
            await record_access(
                request.scope,
                store,
                _WRITES.get(request.method, "update"),
                stored.res_type if stored is not None else None,
                stored.res_id if stored is not None else None,
                conn=tx.conn,
                patients=[stored.pkey] if stored is not None else (),
                status=result.status,
            )
        return result


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
    stored = await store.vread(res_type, res_id, version)
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
    stored = await store.read(res_type, res_id)
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
    result = await write(request, lambda i: i.update(res_type, res_id, body, if_match=version))
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
    result = await write(request, lambda i: i.patch(res_type, res_id, body, fmt, if_match=version))
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
    result = await write(request, lambda i: i.delete(res_type, res_id, if_match=version))
    return result_response(request, result)


def instance_router() -> APIRouter:
    return router
