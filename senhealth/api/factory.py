"""The FastAPI application: the FHIR REST API, its error handlers and the database pool's lifetime.

Spec: https://hl7.org/fhir/R4/http.html; FastAPI: https://fastapi.tiangolo.com/advanced/events/
(lifespan) and https://fastapi.tiangolo.com/advanced/custom-response/ (the default response class).

``create_app(settings)`` builds the app; its lifespan opens the process's pool
(:func:`senhealth.core.db.open_pool`) on ``settings.database_url`` and closes it at shutdown, unless a
pool is already open (the caller then owns it). The OpenAPI schema is at ``/openapi.json``, the
interactive docs at ``/docs``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI

from senhealth.api.authn import Authenticate, Authentication
from senhealth.api.fhir import install_fhir_api
from senhealth.api.fhir.auditing import drain
from senhealth.api.fhir.errors import install_error_handlers
from senhealth.api.fhir.fast_read import FastRead
from senhealth.api.fhir.negotiation import DEFAULT_MAX_BODY
from senhealth.api.fhir.responses import FhirResponse
from senhealth.api.jobs import router as jobs_router
from senhealth.core import db
from senhealth.core.config import Settings, get_settings
from senhealth.fhir.access import Principal
from senhealth.fhir.operations import register_core_operations
from senhealth.fhir.store import FhirStore
from senhealth.fhir.terminology.operations import register_terminology_operations

__all__ = ["create_app"]


def _version() -> str:
    try:
        return version("senhealth")
    except PackageNotFoundError:
        return "0.0.0"


def _settle_heap() -> None:
    """Load the FHIR model, the validator and the search parameters now, then move everything alive
    into the garbage collector's permanent generation (``gc.freeze``).

    They are hundreds of thousands of long-lived objects; left in the collected generations, every
    full collection walks them all, a pause of tens of milliseconds in the middle of some request
    (the read benchmark's p99). Frozen, collections only walk what requests allocate.
    https://docs.python.org/3/library/gc.html#gc.freeze
    """
    from senhealth.fhir.search.request import resource_types
    from senhealth.fhir.validation import precompile

    resource_types()
    precompile()
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    base_urls: tuple[str, ...] = (),
    authenticate: Authenticate | None = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The Sen Health API application.

    ``max_body_bytes`` bounds request bodies (413 beyond); ``base_urls`` are the public base URLs of
    the FHIR endpoint (absolute references under them count as local); ``authenticate`` turns a
    request's headers into its principal (:mod:`senhealth.api.authn`); ``extra_routers`` are included before
    the generic FHIR routes (``/fhir/{type}/{id}``), so that their fixed paths win. When the settings require sign-in
    (production) and no ``authenticate`` is given, every FHIR request is refused with 401: fail closed.
    """
    cfg = settings or get_settings()
    register_core_operations()
    register_terminology_operations()  # $lookup $expand $validate-code $subsumes $translate, memberOf()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            db.get_pool()
            owned = False
        except RuntimeError:
            await db.open_pool(cfg.database_url)
            owned = True
        _settle_heap()
        try:
            yield
        finally:
            try:
                await drain(app.state.fhir_store)  # the read records still buffered
            finally:
                if owned:
                    await db.close_pool()

    app = FastAPI(
        title="Sen Health FHIR R4 API",
        version=_version(),
        description="FHIR R4 (4.0.1) REST API, JSON only: https://hl7.org/fhir/R4/http.html",
        lifespan=lifespan,
        default_response_class=FhirResponse,
    )
    app.state.settings = cfg
    app.state.fhir_store = FhirStore(base_urls=base_urls)
    app.state.max_body_bytes = max_body_bytes
    app.state.capability_cache = {}
    install_error_handlers(app)
    for router in extra_routers:
        app.include_router(router)
    install_fhir_api(app)
    app.include_router(jobs_router)
    app.add_middleware(FastRead, store_of=app)
    if authenticate is not None or cfg.requires_auth:
        app.add_middleware(Authentication, authenticate=authenticate or _nobody, required=cfg.requires_auth)
    return app


async def _nobody(headers: Mapping[str, str]) -> Principal | None:
    return None
