"""System-level interactions: capabilities (``GET [base]/metadata``) and batch / transaction
(``POST [base]`` with a Bundle).

Spec: https://hl7.org/fhir/R4/http.html#capabilities (the CapabilityStatement; ``mode=full`` only),
https://hl7.org/fhir/R4/http.html#transaction (batch and transaction: the logic is
:mod:`senhealth.fhir.bundle`, the entries are run by :mod:`senhealth.api.fhir.dispatch`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.api.fhir.authz import restricted
from senhealth.api.fhir.context import base_url, get_store, prefer, respond
from senhealth.api.fhir.dispatch import RestExecutor
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.negotiation import read_resource_body
from senhealth.api.fhir.openapi import BUNDLE_BODY, errors, extra, query
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.bundle import process_bundle
from senhealth.fhir.capabilities import RestFeatures, build_capability_statement

__all__ = ["FEATURES", "system_router"]

#: What this REST layer implements; the CapabilityStatement is generated from it.
FEATURES = RestFeatures()

router = APIRouter(tags=["system"])
_MODE = {
    "parameters": [
        {
            "name": "mode",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["full", "normative", "terminology"]},
        }
    ]
}


@router.get(
    "/metadata",
    response_class=FhirResponse,
    summary="capabilities: the CapabilityStatement",
    responses=errors(),
    openapi_extra=extra(query("_format", "_pretty", "_summary"), _MODE),
)
async def metadata(request: Request) -> Response:
    mode = request.query_params.get("mode", "full")
    if mode == "terminology":
        raise FhirError(
            400, "mode=terminology (TerminologyCapabilities) is not supported", code="not-supported"
        )
    if mode not in ("full", "normative"):
        raise FhirError(400, f"mode={mode[:40]!r}: expected full, normative or terminology")
    cache: dict[str, dict[str, Any]] = request.app.state.capability_cache
    base = base_url(request)
    statement = cache.get(base)
    if statement is None:
        statement = cache[base] = build_capability_statement(base, FEATURES)
    return respond(request, statement)


@router.post(
    "",
    response_class=FhirResponse,
    summary="batch or transaction",
    responses=errors(409, 412, 413, 415, 422),
    openapi_extra={**BUNDLE_BODY, **query("_format", "_pretty")},
)
async def batch_or_transaction(request: Request) -> Response:
    bundle = await read_resource_body(request, "Bundle")
    store = get_store(request)
    base = base_url(request)
    prefs = prefer(request)
    executor = RestExecutor(store, base, strict=prefs.strict, restricted=restricted())
    answer = await process_bundle(
        store, bundle, executor, bases=(base, *store.base_urls), base=base, return_pref=prefs.return_
    )
    return respond(request, answer)


def system_router() -> APIRouter:
    return router
