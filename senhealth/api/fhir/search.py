"""Search: type level, system level and compartment, by GET or by POST to ``_search``.

Spec: https://hl7.org/fhir/R4/http.html#search (``GET [base]/[type]?``, ``POST [base]/[type]/_search``
with an ``application/x-www-form-urlencoded`` body, ``GET [base]?``, ``POST [base]/_search``),
https://hl7.org/fhir/R4/http.html#vsearch (compartment search ``GET [base]/Patient/[id]/[type]?`` and
``[base]/Patient/[id]/*?``), https://hl7.org/fhir/R4/search.html (the parameters) and
https://hl7.org/fhir/R4/search.html#errors (``Prefer: handling=strict | lenient``: strict turns
unknown parameters into 400; lenient, the default, ignores them and says so in an OperationOutcome
entry).

Parsing is :func:`senhealth.fhir.search.request.parse_search`, execution
:func:`senhealth.fhir.search.execute.search`; this module only adapts HTTP and builds the Bundle.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.auditing import auditing, record_access
from senhealth.api.fhir.authz import authorize, can_see, check_search_params, hide
from senhealth.api.fhir.bundles import searchset_bundle
from senhealth.api.fhir.context import base_url, get_store, prefer, respond
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.interactions import check_id, check_type
from senhealth.api.fhir.negotiation import media_type, read_body
from senhealth.api.fhir.openapi import FORM_BODY, CompartmentParam, IdParam, TypeParam, errors, query
from senhealth.api.fhir.operations import run_operation
from senhealth.api.fhir.responses import FhirResponse
from senhealth.core.db import transaction
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search

__all__ = ["run_search", "search_router"]


_NAMES = (
    "_format",
    "_pretty",
    "_summary",
    "_elements",
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_total",
    "_cursor",
    "_id",
    "_lastUpdated",
)
_SEARCH_QUERY = query(*_NAMES)
_COMPARTMENTS = frozenset({"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"})

router = APIRouter(tags=["search"])


async def run_search(
    request: Request,
    res_type: str | None,
    params: list[tuple[str, str]],
    path: str,
    compartment: tuple[str, str] | None = None,
) -> Response:
    """Parse, run, and answer a search as a ``searchset`` Bundle."""
    store = get_store(request)
    restriction = authorize("search", res_type)
    check_search_params(restriction, [name for name, _ in params])
    parsed = parse_search(res_type, params, strict=prefer(request).strict, base_urls=store.base_urls)
    param_ids = await store.param_ids()
    async with transaction(store.pool) as conn:
        if compartment is not None and not await can_see(store, restriction, compartment[1], conn):
            raise hide(*compartment)
        result = await search(conn, parsed, param_ids, compartment=compartment, restriction=restriction)
        if auditing():
            rows = [*result.matches, *result.included]
            await record_access(
                request.scope,
                store,
                "search",
                res_type,
                compartment[1] if compartment else None,
                conn=conn,
                patients=[row.pkey for row in rows],
            )
    bundle = searchset_bundle(
        base_url(request), path, parsed.params, result, include_entries=parsed.summary != "count"
    )
    return respond(request, bundle)


async def form_params(request: Request) -> list[tuple[str, str]]:
    """The query string's parameters followed by those of a form body (``POST _search``)."""
    params = list(request.query_params.multi_items())
    raw = await read_body(request)
    if not raw.strip():
        return params
    mt = media_type(request.headers.get("content-type"))
    if mt != "application/x-www-form-urlencoded":
        raise FhirError(
            415, "POST _search takes an application/x-www-form-urlencoded body", code="not-supported"
        )
    try:
        text = raw.decode("utf-8")
        params.extend(parse_qsl(text, keep_blank_values=True, max_num_fields=1000))
    except (UnicodeDecodeError, ValueError) as e:
        raise FhirError(400, f"The form body cannot be read: {e}") from None
    return params


@router.get(
    "",
    response_class=FhirResponse,
    summary="search every resource type (narrow with _type)",
    responses=errors(),
    openapi_extra=query("_type", *_NAMES),
)
async def search_system(request: Request) -> Response:
    return await run_search(request, None, list(request.query_params.multi_items()), "")


@router.post(
    "/_search",
    response_class=FhirResponse,
    summary="search every resource type, parameters in a form body",
    responses=errors(415),
    openapi_extra={**FORM_BODY},
)
async def search_system_post(request: Request) -> Response:
    return await run_search(request, None, await form_params(request), "")


@router.post(
    "/{type}/_search",
    response_class=FhirResponse,
    summary="search one resource type, parameters in a form body",
    responses=errors(415),
    openapi_extra={**FORM_BODY},
)
async def search_type_post(request: Request, res_type: TypeParam) -> Response:
    check_type(res_type)
    return await run_search(request, res_type, await form_params(request), res_type)


@router.get(
    "/{type}",
    response_class=FhirResponse,
    summary="search one resource type",
    responses=errors(),
    openapi_extra=_SEARCH_QUERY,
)
async def search_type(request: Request, res_type: TypeParam) -> Response:
    if res_type.startswith("$"):
        return await run_operation(request, "system", None, None, res_type)
    check_type(res_type)
    return await run_search(request, res_type, list(request.query_params.multi_items()), res_type)


def _compartment(res_type: str, res_id: str, target: str) -> tuple[str, str] | None:
    check_type(res_type)
    check_id(res_id)
    if res_type not in _COMPARTMENTS:
        raise FhirError(
            400, f"{res_type} is not a compartment (https://hl7.org/fhir/R4/compartmentdefinition.html)"
        )
    if res_type != "Patient":
        raise FhirError(
            400, f"Search in the {res_type} compartment is not supported; Patient is", code="not-supported"
        )
    if target != "*":
        check_type(target)
        if not patient_compartment().get(target):
            raise FhirError(400, f"{target} is not in the Patient compartment")
    return (res_type, res_id)


@router.get(
    "/{type}/{id}/{compartment}",
    response_class=FhirResponse,
    summary="compartment search: /Patient/{id}/Observation, /Patient/{id}/*",
    responses=errors(),
    openapi_extra=_SEARCH_QUERY,
)
async def search_compartment(
    request: Request, res_type: TypeParam, res_id: IdParam, target: CompartmentParam
) -> Response:
    if target.startswith("$"):
        return await run_operation(request, "instance", res_type, res_id, target)
    compartment = _compartment(res_type, res_id, target)
    params = list(request.query_params.multi_items())
    return await run_search(
        request, None if target == "*" else target, params, f"{res_type}/{res_id}/{target}", compartment
    )


@router.post(
    "/{type}/{id}/{compartment}/_search",
    response_class=FhirResponse,
    summary="compartment search, parameters in a form body",
    responses=errors(415),
    openapi_extra={**FORM_BODY},
)
async def search_compartment_post(
    request: Request, res_type: TypeParam, res_id: IdParam, target: CompartmentParam
) -> Response:
    compartment = _compartment(res_type, res_id, target)
    params = await form_params(request)
    return await run_search(
        request, None if target == "*" else target, params, f"{res_type}/{res_id}/{target}", compartment
    )


@router.post(
    "/{type}/{id}/{compartment}",
    response_class=FhirResponse,
    include_in_schema=False,
)
async def post_instance_operation(
    request: Request, res_type: TypeParam, res_id: IdParam, target: CompartmentParam
) -> Response:
    if target.startswith("$"):
        return await run_operation(request, "instance", res_type, res_id, target)
    raise FhirError(405, f"POST is not allowed on {request.url.path}", headers={"Allow": "GET"})


def search_router() -> APIRouter:
    return router
