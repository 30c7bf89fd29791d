"""CDS Hooks 1.0 over HTTP: ``GET /cds-services`` (discovery) and ``POST /cds-services/{id}``.

Spec: https://cds-hooks.hl7.org/1.0/. The services and their rules live in
:mod:`senhealth.checkup.cds`; these routes only move JSON (docs/cds-hooks.md).

- Language: the cards' ``summary`` is Vietnamese unless ``Accept-Language`` prefers English; the
  ``detail`` carries both.
- Errors: ``application/json`` ``{"error": {"status", "message", "field"}}``: 400 for a request that is
  not a CDS Hooks request of the service's hook (the field named), 404 for an unknown service, 412 when
  required prefetch data is missing and cannot be read (no ``fhirAuthorization``, a foreign
  ``fhirServer``, or a token the FHIR server refuses).
- Reading the FHIR store: when prefetch keys are missing and ``fhirServer`` is this platform's own FHIR
  base (``{this server}/fhir``), each template is run in process against the application itself
  (:class:`httpx.ASGITransport`), with ``Authorization: Bearer <fhirAuthorization.access_token>``: the FHIR
  API's authentication, access policy, consent and audit apply exactly as to any client holding that
  token.
- Authentication of the call itself: the application's middleware (:mod:`senhealth.api.authn`); the
  discovery document holds no patient data and may be listed among its open paths.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.checkup.cds import CdsError, call_service, discovery
from senhealth.checkup.cds.cards import language

__all__ = ["cds_hooks_router"]

_JSON = "application/json"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON)


def _error(exc: CdsError) -> Response:
    error: dict[str, Any] = {"status": exc.status, "message": exc.message}
    if exc.field:
        error["field"] = exc.field
    return _json({"error": error}, exc.status)


def _fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def cds_hooks_router() -> APIRouter:
    """The CDS Hooks routes (see the module docstring)."""
    router = APIRouter(tags=["CDS Hooks"])

    @router.get("/cds-services", summary="CDS Hooks discovery")
    async def services() -> Response:
        return _json(discovery())

    @router.post("/cds-services/{service_id}", summary="Call a CDS service")
    async def call(service_id: str, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError as exc:
            return _error(CdsError(400, f"The request body is not JSON: {exc}"))
        own = _fhir_base(request)

        def is_local(url: str) -> bool:
            return url.rstrip("/") == own

        async def fetch(url: str, access_token: str) -> tuple[int, Any]:
            transport = httpx.ASGITransport(app=request.app)
            async with httpx.AsyncClient(transport=transport, base_url=own + "/") as client:
                r = await client.get(
                    url,
                    headers={"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"},
                )
            try:
                return r.status_code, r.json()
            except ValueError:
                return r.status_code, None

        try:
            answer = await call_service(
                service_id,
                body,
                lang=language(request.headers.get("accept-language")),
                fetch=fetch,
                is_local=is_local,
            )
        except CdsError as exc:
            return _error(exc)
        return _json(answer)

    return router
