"""Routes for ``$operations`` at system, type and instance level, dispatched to the registry.

Spec: https://hl7.org/fhir/R4/operations.html (``POST [base]/$op``, ``[base]/[type]/$op``,
``[base]/[type]/[id]/$op``; GET with primitive parameters for operations that do not change state,
else 405) and https://hl7.org/fhir/R4/operationslist.html.

Each operation registered at app creation gets its own documented routes (``/fhir/Patient/{id}/$everything``,
``/fhir/{type}/$validate``...) so that the OpenAPI schema lists it; the generic routes of the other
routers (``/fhir/{type}/{id}`` when ``{id}`` starts with ``$``...) dispatch operations registered later
the same way, through :func:`run_operation`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.auditing import auditing, record_access
from senhealth.api.fhir.authz import authorize, can_see, hide
from senhealth.api.fhir.context import base_url, get_store, respond
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.interactions import check_id, check_type
from senhealth.api.fhir.negotiation import check_content_type, parse_json, read_body
from senhealth.api.fhir.openapi import OPERATION_BODY, IdParam, TypeParam, errors, query
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.access import current_principal
from senhealth.fhir.operations.parameters import from_body, from_query
from senhealth.fhir.operations.registry import Level, Operation, OperationCall, all_operations, find_operation
from senhealth.fhir.store import Gone, NotFound

__all__ = ["operation_router", "run_operation"]


def _query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        out.setdefault(name, []).append(value)
    return out


async def run_operation(
    request: Request, level: Level, res_type: str | None, res_id: str | None, name: str
) -> Response:
    """Run ``$name`` at ``level``: check the target, gather the parameters, call the handler."""
    if not name.startswith("$"):
        raise FhirError(404, f"Unknown path {request.url.path}")
    if res_type is not None:
        check_type(res_type)
    if res_id is not None:
        check_id(res_id)
    op = find_operation(name[1:], level, res_type)
    restriction = authorize("operation", res_type)
    if op.affects_state and res_type is not None and not op.authorizes_writes:
        # it writes: the caller must also be allowed that write (unless the operation decides that itself)
        authorize("update" if level == "instance" else "create", res_type)
    pkey: str | None = None
    if res_type is not None and res_id is not None and (restriction is not None or auditing()):
        store = get_store(request)
        try:
            pkey = (await store.read(res_type, res_id)).pkey
        except (NotFound, Gone):
            pkey = None
        if restriction is not None and pkey is not None and not await can_see(store, restriction, pkey):
            raise hide(res_type, res_id)
    elif restriction is not None and op.affects_state and not op.authorizes_writes:
        raise FhirError(403, f"${op.name} is not available to your role", code="forbidden")
    query_params = _query(request)
    params = from_query(query_params)
    body: dict[str, Any] | None = None
    raw_body: bytes | None = None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower() or None
    if request.method == "GET":
        if op.affects_state:
            raise FhirError(405, f"${op.name} changes data: invoke it with POST", headers={"Allow": "POST"})
    else:
        raw = await read_body(request)
        if content_type is not None and content_type in op.raw_body_types:
            raw_body = raw
        elif raw.strip():
            check_content_type(request)
            parsed = parse_json(raw)
            if not isinstance(parsed, dict):
                raise FhirError(
                    400, "The body of an operation must be a JSON object (Parameters or a resource)"
                )
            body = parsed
            for key, values in from_body(parsed).items():
                params.setdefault(key, []).extend(values)
    call = OperationCall(
        name=op.name,
        level=level,
        resource_type=res_type,
        resource_id=res_id,
        params=params,
        store=get_store(request),
        base_url=base_url(request),
        body=body,
        query=query_params,
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        restriction=restriction,
        principal=current_principal().get(),
        raw_body=raw_body,
        content_type=content_type,
    )
    result = await op.handler(call)
    await record_access(
        request.scope,
        call.store,
        "operation",
        res_type,
        res_id,
        patients=[pkey or (res_id if res_type == "Patient" else None)],
        status=result.status,
        details={"operation": op.name},
    )
    if result.content is not None:
        return Response(result.content, result.status, headers=result.headers, media_type=result.media_type)
    if result.resource is None:
        return Response(status_code=result.status if result.status != 200 else 204, headers=result.headers)
    return respond(request, result.resource, result.status, result.headers)


Endpoint = Callable[..., Awaitable[Response]]


def _endpoint(level: Level, name: str, fixed: str | None) -> Endpoint:
    """The route function of ``$name`` at ``level`` (``fixed``: the one type it is defined on)."""
    if level == "system":

        async def system(request: Request) -> Response:
            return await run_operation(request, "system", None, None, name)

        return system
    if level == "type":
        if fixed is not None:

            async def on_fixed_type(request: Request) -> Response:
                return await run_operation(request, "type", fixed, None, name)

            return on_fixed_type

        async def on_type(request: Request, res_type: TypeParam) -> Response:
            return await run_operation(request, "type", res_type, None, name)

        return on_type
    if fixed is not None:

        async def on_fixed_instance(request: Request, res_id: IdParam) -> Response:
            return await run_operation(request, "instance", fixed, res_id, name)

        return on_fixed_instance

    async def on_instance(request: Request, res_type: TypeParam, res_id: IdParam) -> Response:
        return await run_operation(request, "instance", res_type, res_id, name)

    return on_instance


def _paths(op: Operation) -> list[tuple[str, Level, str | None]]:
    name = f"${op.name}"
    out: list[tuple[str, Level, str | None]] = []
    if "system" in op.levels:
        out.append((f"/{name}", "system", None))
    fixed_types: list[str | None] = [*sorted(op.resource_types)] if op.resource_types is not None else [None]
    for fixed in fixed_types:
        prefix = f"/{fixed}" if fixed else "/{type}"
        if "type" in op.levels:
            out.append((f"{prefix}/{name}", "type", fixed))
        if "instance" in op.levels:
            out.append((f"{prefix}/{{id}}/{name}", "instance", fixed))
    return out


def operation_router() -> APIRouter:
    """Documented routes for every operation registered now (GET too when it changes nothing)."""
    router = APIRouter(tags=["operations"])
    for op in all_operations():
        for path, level, fixed in _paths(op):
            endpoint = _endpoint(level, f"${op.name}", fixed)
            common: dict[str, Any] = {
                "response_class": FhirResponse,
                "summary": f"${op.name} ({level} level)",
                "description": op.documentation or op.definition,
                "responses": errors(405, 410, 412, 422),
            }
            router.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                openapi_extra={**OPERATION_BODY, **query("_format", "_pretty")},
                name=f"{op.name}-{level}-post",
                **common,
            )
            if not op.affects_state:
                router.add_api_route(
                    path,
                    endpoint,
                    methods=["GET"],
                    openapi_extra=query("_format", "_pretty"),
                    name=f"{op.name}-{level}-get",
                    **common,
                )
    return router
