"""The FHIR R4 REST API under ``/fhir``: one router per interaction family.

Spec: https://hl7.org/fhir/R4/http.html

- :mod:`.system`: ``metadata`` (capabilities), batch / transaction (``POST /fhir``);
- :mod:`.history`: ``_history`` at system, type and instance level;
- :mod:`.search`: search at system and type level, ``_search`` by POST, compartment search;
- :mod:`.type_level`: create, conditional create / update / patch / delete;
- :mod:`.instance`: read, vread, update, patch, delete;
- :mod:`.operations`: ``$operations`` from :mod:`senhealth.fhir.operations.registry`.

Shared pieces: :mod:`.negotiation` (JSON only, bodies), :mod:`.headers` (ETag, dates, Prefer),
:mod:`.context` (store, base URL, answers with headers), :mod:`.responses` (the FHIR JSON response),
:mod:`.errors` (OperationOutcome for every error), :mod:`.interactions` (the interactions on a store
transaction), :mod:`.dispatch` (Bundle entries), :mod:`.bundles` (searchset / history Bundles) and
:mod:`.openapi` (the schema's descriptions).

Routes are registered literal paths first (``metadata``, ``_history``, ``_search``, ``$op``), so that
``/fhir/{type}/{id}`` never swallows them.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.routing import APIRouter

from senhealth.api.fhir.context import FHIR_PREFIX
from senhealth.api.fhir.history import history_router
from senhealth.api.fhir.instance import instance_router
from senhealth.api.fhir.negotiation import check_accept
from senhealth.api.fhir.operations import operation_router
from senhealth.api.fhir.search import search_router
from senhealth.api.fhir.system import system_router
from senhealth.api.fhir.type_level import type_router

__all__ = ["FHIR_PREFIX", "fhir_routers", "install_fhir_api"]


def fhir_routers() -> list[APIRouter]:
    """Every FHIR router, in matching order (paths relative to ``/fhir``)."""
    return [
        system_router(),
        operation_router(),
        history_router(),
        search_router(),
        type_router(),
        instance_router(),
    ]


def install_fhir_api(app: FastAPI) -> None:
    """Mount the FHIR REST API on ``app`` under ``/fhir`` (JSON only: ``check_accept`` on every route)."""
    for router in fhir_routers():
        app.include_router(router, prefix=FHIR_PREFIX, dependencies=[Depends(check_accept)])
