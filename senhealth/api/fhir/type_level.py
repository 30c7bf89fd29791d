"""Type-level writes: create (and conditional create), conditional update, patch and delete.

Spec: https://hl7.org/fhir/R4/http.html#create (201 with ``Location``, ``ETag``, ``Last-Modified``; a
client's id is ignored), https://hl7.org/fhir/R4/http.html#ccreate (``If-None-Exist``: 200 with the
match, 412 for several), https://hl7.org/fhir/R4/http.html#cond-update (``PUT [type]?criteria``),
https://hl7.org/fhir/R4/http.html#patch (``PATCH [type]?criteria``) and
https://hl7.org/fhir/R4/http.html#3.1.0.7.1 (conditional delete, ``DELETE [type]?criteria``).

``POST [base]/$op`` reaches ``POST /{type}`` too (``{type}`` starting with ``$``): it is handed to
the operation router.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.context import if_match, result_response
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.instance import write
from senhealth.api.fhir.interactions import check_type
from senhealth.api.fhir.negotiation import parse_json, read_body, read_resource_body
from senhealth.api.fhir.openapi import PATCH_BODY, RESOURCE_BODY, TypeParam, errors, extra, headers, query
from senhealth.api.fhir.operations import run_operation
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.patch import patch_format

__all__ = ["type_router"]


router = APIRouter(tags=["type"])


def _criteria(request: Request, what: str) -> str:
    criteria = request.url.query
    if not criteria.strip():
        raise FhirError(400, f"{what} needs search criteria in the URL ([type]?param=value)")
    return criteria


@router.post(
    "/{type}",
    response_class=FhirResponse,
    status_code=201,
    summary="create (conditional with If-None-Exist)",
    responses={
        200: {"description": "If-None-Exist matched an existing resource"},
        **errors(412, 413, 415, 422),
    },
    openapi_extra=extra(RESOURCE_BODY, query("_format", "_pretty"), headers("If-None-Exist", "Prefer")),
)
async def create(request: Request, res_type: TypeParam) -> Response:
    if res_type.startswith("$"):
        return await run_operation(request, "system", None, None, res_type)
    check_type(res_type)
    condition = request.headers.get("if-none-exist")
    body = await read_resource_body(request, res_type)
    result = await write(request, lambda i: i.create(res_type, body, if_none_exist=condition), res_type)
    return result_response(request, result)


@router.put(
    "/{type}",
    response_class=FhirResponse,
    summary="conditional update: PUT [type]?criteria",
    responses={201: {"description": "Created (no match)"}, **errors(409, 412, 413, 415, 422)},
    openapi_extra=extra(RESOURCE_BODY, query("_format", "_pretty"), headers("If-Match", "Prefer")),
)
async def conditional_update(request: Request, res_type: TypeParam) -> Response:
    check_type(res_type)
    criteria = _criteria(request, "A conditional update")
    version = if_match(request)
    body = await read_resource_body(request, res_type)
    result = await write(
        request, lambda i: i.conditional_update(res_type, criteria, body, if_match=version), res_type
    )
    return result_response(request, result)


@router.patch(
    "/{type}",
    response_class=FhirResponse,
    summary="conditional patch: PATCH [type]?criteria",
    responses=errors(409, 412, 413, 415, 422),
    openapi_extra=extra(PATCH_BODY, query("_format", "_pretty"), headers("If-Match", "Prefer")),
)
async def conditional_patch(request: Request, res_type: TypeParam) -> Response:
    check_type(res_type)
    criteria = _criteria(request, "A conditional patch")
    fmt = patch_format(request.headers.get("content-type"))
    if fmt is None:
        raise FhirError(
            415, "A patch is application/json-patch+json or application/fhir+json", code="not-supported"
        )
    version = if_match(request)
    body = parse_json(await read_body(request))
    result = await write(
        request, lambda i: i.conditional_patch(res_type, criteria, body, fmt, if_match=version), res_type
    )
    return result_response(request, result)


@router.delete(
    "/{type}",
    response_class=FhirResponse,
    summary="conditional delete: DELETE [type]?criteria",
    responses={204: {"description": "Nothing matched, or Prefer: return=minimal"}, **errors(412)},
    openapi_extra=query("_format", "_pretty"),
)
async def conditional_delete(request: Request, res_type: TypeParam) -> Response:
    check_type(res_type)
    criteria = _criteria(request, "A conditional delete")
    result = await write(request, lambda i: i.conditional_delete(res_type, criteria), res_type)
    return result_response(request, result)


def type_router() -> APIRouter:
    return router
