"""SQL-on-FHIR v2 over HTTP: stored ViewDefinitions and ``ViewDefinition/$run``.

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html (``$run``, also
answered as ``$viewdefinition-run``, the name later builds of the specification use, and at system
level ``[base]/$viewdefinition-run``, its R4 form), https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html
(the resource) and https://hl7.org/fhir/R4/http.html (create, read, update, delete, search).

ViewDefinition is not an R4 resource type, so these routes are their own (:func:`views_router`,
included before the generic FHIR routes) and views are kept by :mod:`senhealth.analytics.view_store`:

- ``POST /fhir/ViewDefinition``, ``PUT / GET / DELETE /fhir/ViewDefinition/{id}``,
  ``GET /fhir/ViewDefinition?name=&url=&resource=&_count=`` (a searchset Bundle). A view is checked on
  every write; an invalid one is a 400 OperationOutcome with one issue per problem, each naming its
  path (``select[0].column[1].path``). ``If-Match`` is honoured on PUT and DELETE.
- ``POST /fhir/ViewDefinition/$run`` with a Parameters body (``viewResource`` or ``viewReference``),
  ``GET|POST /fhir/ViewDefinition/{id}/$run``. Parameters (body, or query string): ``_format``
  (``json``, ``ndjson``, ``csv``, ``parquet``, or a media type; else from ``Accept``; else ndjson),
  ``header`` (CSV), ``_limit``, ``_since`` (resources last updated at or after it), ``patient`` and
  ``group`` (0..*; resources in those patients' compartments; both: the intersection; an unknown or
  invisible patient or group is a 400 naming the parameter), ``resource`` (0..*, run over these
  instead of the store). ``source`` is not supported (400). The answer streams (chunked), batch by
  batch (:class:`senhealth.analytics.view_run.ViewRun`); a view that fails on the data fails on the
  first batch with a 422 OperationOutcome naming the place in the view, later on by cutting the
  stream short.

Access: ``$run`` asks the policy for ``search`` on the view's resource type (403 when refused), reads
only what the caller's restriction lets through (the search engine's SQL), de-identifies each resource
first for a de-identified caller, and records one audit event per 1,000 patients whose data made rows
(BALP: the patients concerned). Writes of views need ``create`` / ``update`` / ``delete`` on
``ViewDefinition``, reads ``read`` / ``search``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from senhealth.analytics.view_run import ViewRun
from senhealth.analytics.view_source import Source, existing_patients, group_patients
from senhealth.analytics.view_store import (
    InvalidView,
    StoredView,
    ViewNotFound,
    create_view,
    delete_view,
    find_view,
    get_view,
    list_views,
    put_view,
    view_problems,
)
from senhealth.analytics.viewdef import ViewDefinitionError, compile_view
from senhealth.analytics.viewdef.formats import FORMATS, format_from_accept, normalise_format
from senhealth.api.fhir.auditing import record_access
from senhealth.api.fhir.authz import authorize, can_see
from senhealth.api.fhir.context import base_url, get_store, if_match, respond
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.headers import http_date
from senhealth.api.fhir.interactions import check_id
from senhealth.api.fhir.negotiation import check_content_type, parse_json, read_body, read_resource_body
from senhealth.api.fhir.openapi import OPERATION_BODY, RESOURCE_BODY, IdParam, errors
from senhealth.core.db import transaction
from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.parameters import from_body
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = ["AUDIT_PATIENTS", "views_router"]

#: Patients per audit event of a ``$run`` (an event per this many patients whose data made rows).
AUDIT_PATIENTS: Final = 1000
_TYPE: Final = "ViewDefinition"
_RUN_PARAMS: Final = frozenset(
    {"viewResource", "viewReference", "_format", "header", "_limit", "_since", "patient", "group", "resource"}
)
_IGNORED: Final = frozenset({"_pretty"})
_RUN_NAMES: Final = ("$run", "$viewdefinition-run")


@dataclass(slots=True)
class _RunParams:
    view: dict[str, Any] | None = None
    reference: str | None = None
    fmt: str | None = None
    header: bool = True
    limit: int | None = None
    since: datetime | None = None
    patients: list[str] | None = None
    groups: list[str] | None = None
    resources: list[dict[str, Any]] | None = None
    given: set[str] = field(default_factory=set)


def _bad(message: str, expression: str, code: str = "invalid", status: int = 400) -> FhirError:
    return FhirError(status, message, code=code, expression=expression)


def _one(name: str, values: list[Any]) -> Any:
    if len(values) != 1:
        raise _bad(f"{name} may be given once, not {len(values)} times", name)
    return values[0]


def _text(name: str, value: Any) -> str:
    if isinstance(value, dict):  # a Reference
        value = value.get("reference")
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{name}: expected a string or a Reference, not {str(value)[:80]!r}", name)
    return value.strip()


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"{name}: expected true or false, not {str(value)[:40]!r}", name)


def _int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise _bad(f"{name}: expected a whole number, not {str(value)[:40]!r}", name)
    if n < 1:
        raise _bad(f"{name} must be at least 1", name)
    return n


def _instant(name: str, value: Any) -> datetime:
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name}: {str(value)[:60]!r} is not an instant (2024-01-31T00:00:00Z)", name) from None
    if when.tzinfo is None:
        raise _bad(f"{name}: an instant needs a time zone (Z or +07:00)", name)
    return when


def _ref_id(name: str, value: Any, res_type: str) -> str:
    text = _text(name, value)
    ident = text.rsplit(f"{res_type}/", 1)[1] if f"{res_type}/" in text else text
    ident = ident.split("/", 1)[0]
    try:
        return check_id(ident)
    except FhirError:
        raise _bad(f"{name}: {text[:80]!r} is not a {res_type} reference", name) from None


def _run_params(values: Mapping[str, list[Any]], accept: str | None) -> _RunParams:
    out = _RunParams(given=set(values))
    unknown = sorted(set(values) - _RUN_PARAMS - _IGNORED - {"source"})
    if unknown:
        raise _bad(f"Unknown parameter {unknown[0]!r} of $run", unknown[0], code="not-supported")
    if "source" in values:
        raise _bad(
            "The source parameter is not supported: views run over this server's data",
            "source",
            "not-supported",
        )
    if "viewResource" in values:
        view = _one("viewResource", values["viewResource"])
        if not isinstance(view, dict):
            raise _bad("viewResource must be a ViewDefinition resource", "viewResource")
        out.view = view
    if "viewReference" in values:
        out.reference = _text("viewReference", _one("viewReference", values["viewReference"]))
    if "_format" in values:
        raw = _text("_format", _one("_format", values["_format"]))
        out.fmt = normalise_format(raw)
        if out.fmt is None:
            raise _bad(
                f"Format {raw[:40]!r} is not supported. Supported formats: {', '.join(FORMATS)}",
                "_format",
                "not-supported",
            )
    else:
        out.fmt = format_from_accept(accept) or "ndjson"
    if "header" in values:
        out.header = _bool("header", _one("header", values["header"]))
    if "_limit" in values:
        out.limit = _int("_limit", _one("_limit", values["_limit"]))
    if "_since" in values:
        out.since = _instant("_since", _one("_since", values["_since"]))
    if "patient" in values:
        out.patients = [_ref_id("patient", v, "Patient") for v in values["patient"]]
    if "group" in values:
        out.groups = [_ref_id("group", v, "Group") for v in values["group"]]
    if "resource" in values:
        resources = values["resource"]
        for i, r in enumerate(resources):
            if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
                raise _bad(f"resource[{i}] must be a FHIR resource", f"resource[{i}]")
        out.resources = list(resources)
    return out


async def _gather(request: Request) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    if request.method == "POST":
        raw = await read_body(request)
        if raw.strip():
            check_content_type(request)
            body = parse_json(raw)
            if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
                raise FhirError(
                    400, "The body of $run must be a Parameters resource", expression="Parameters"
                )
            for key, values in from_body(body).items():
                params.setdefault(key, []).extend(values)
    return params


async def _visible_patients(store: FhirStore, restriction: Restriction | None, ids: list[str]) -> None:
    async with store.pool.connection() as conn:
        known = await existing_patients(conn, ids)
        for pid in ids:
            if pid not in known or not await can_see(store, restriction, pid, conn):
                raise _bad(f"Patient/{pid} is not known", "patient", "not-found")


async def _patients_of_groups(store: FhirStore, restriction: Restriction | None, ids: list[str]) -> set[str]:
    members: set[str] = set()
    for gid in ids:
        try:
            stored = await store.read("Group", gid)
        except (NotFound, Gone):
            raise _bad(f"Group/{gid} is not known", "group", "not-found") from None
        if not await can_see(store, restriction, stored.pkey):
            raise _bad(f"Group/{gid} is not known", "group", "not-found")
        members.update(group_patients(stored.content or {}))
    return members


async def _audit(request: Request, store: FhirStore, run: ViewRun, view: Mapping[str, Any]) -> None:
    patients = sorted(run.patients)
    details = {"operation": "run", "view": view.get("name") or view.get("id"), "rows": run.rows}
    chunks = [patients[i : i + AUDIT_PATIENTS] for i in range(0, len(patients), AUDIT_PATIENTS)] or [[]]
    for part, chunk in enumerate(chunks):
        await record_access(
            request.scope,
            store,
            "operation",
            str(view.get("resource") or "") or None,
            None,
            patients=chunk,
            details={**details, "part": part + 1, "parts": len(chunks)},
        )


async def _run(request: Request, view_id: str | None) -> Response:
    store = get_store(request)
    params = _run_params(await _gather(request), request.headers.get("accept"))
    prefix = "viewResource"
    if view_id is not None:
        if params.view is not None or params.reference is not None:
            raise _bad(
                "At instance level the view is the one in the URL: no viewResource or viewReference",
                "viewResource",
            )
        async with store.pool.connection() as conn:
            view = (await get_view(conn, view_id)).content
        prefix = ""
    elif params.view is not None and params.reference is not None:
        raise _bad("Give viewResource or viewReference, not both", "viewReference")
    elif params.view is not None:
        view = params.view
    elif params.reference is not None:
        async with store.pool.connection() as conn:
            try:
                view = (await find_view(conn, params.reference)).content
            except ViewNotFound as e:
                raise _bad(str(e), "viewReference", "not-found") from None
        prefix = ""
    else:
        raise _bad(
            "Either viewReference or viewResource parameter is required when invoking at type level",
            "viewResource",
            "required",
        )
    problems = view_problems(view)
    if problems:
        raise InvalidView(problems, prefix)
    compiled = compile_view(view)
    restriction = authorize("search", compiled.resource)
    assert params.fmt is not None
    if params.resources is not None:
        run = ViewRun(
            compiled, params.fmt, header=params.header, limit=params.limit, resources=params.resources
        )
    else:
        patients: set[str] | None = None
        if params.patients is not None:
            await _visible_patients(store, restriction, params.patients)
            patients = set(params.patients)
        if params.groups is not None:
            members = await _patients_of_groups(store, restriction, params.groups)
            patients = members if patients is None else patients & members
        source = Source(
            since=params.since,
            patients=tuple(sorted(patients)) if patients is not None else None,
            restriction=restriction,
        )
        run = ViewRun(
            compiled,
            params.fmt,
            header=params.header,
            limit=params.limit,
            source=source,
            pool=store.pool,
            param_ids=await store.param_ids(),
        )
    try:
        head = await run.start()
    except BaseException as e:
        await run.close()
        if not isinstance(e, ViewDefinitionError):
            raise
        where = f"{prefix}.{e.path}" if prefix and e.path else (e.path or prefix or None)
        raise FhirError(
            422, f"The view failed on the data: {e}", code="processing", expression=where
        ) from None

    async def body() -> AsyncIterator[bytes]:
        try:
            yield head
            async for chunk in run.rest():
                yield chunk
        finally:
            await _audit(request, store, run, view)

    return StreamingResponse(body(), media_type=run.media_type, headers={"Cache-Control": "no-store"})


# --- stored views ------------------------------------------------------------------------------------


def _headers(request: Request, stored: StoredView, *, location: bool = False) -> dict[str, str]:
    headers = {"ETag": stored.etag}
    modified = http_date(stored.last_updated)
    if modified:
        headers["Last-Modified"] = modified
    if location:
        headers["Location"] = f"{base_url(request)}/{_TYPE}/{stored.id}/_history/{stored.version}"
    return headers


async def _create(request: Request) -> Response:
    authorize("create", _TYPE)
    view = await read_resource_body(request, _TYPE)
    store = get_store(request)
    async with transaction(store.pool) as conn:
        stored = await create_view(conn, view)
        await record_access(request.scope, store, "create", _TYPE, stored.id, conn=conn, status=201)
    return respond(request, stored.content, 201, _headers(request, stored, location=True))


async def _put(request: Request, view_id: str) -> Response:
    check_id(view_id)
    authorize("update", _TYPE)
    view = await read_resource_body(request, _TYPE)
    store = get_store(request)
    async with transaction(store.pool) as conn:
        stored, created = await put_view(conn, view_id, view, if_match=if_match(request))
        status = 201 if created else 200
        await record_access(request.scope, store, "update", _TYPE, view_id, conn=conn, status=status)
    return respond(request, stored.content, status, _headers(request, stored, location=created))


async def _read(request: Request, view_id: str) -> Response:
    check_id(view_id)
    authorize("read", _TYPE)
    store = get_store(request)
    async with store.pool.connection() as conn:
        stored = await get_view(conn, view_id)
    await record_access(request.scope, store, "read", _TYPE, view_id)
    return respond(request, stored.content, 200, _headers(request, stored))


async def _delete(request: Request, view_id: str) -> Response:
    check_id(view_id)
    authorize("delete", _TYPE)
    store = get_store(request)
    async with transaction(store.pool) as conn:
        await delete_view(conn, view_id, if_match=if_match(request))
        await record_access(request.scope, store, "delete", _TYPE, view_id, conn=conn, status=204)
    return Response(status_code=204)


async def _list(request: Request) -> Response:
    authorize("search", _TYPE)
    q = request.query_params
    unknown = sorted(set(q) - {"name", "url", "resource", "_count", "_pretty", "_format"})
    if unknown:
        raise _bad(f"Unknown search parameter {unknown[0]!r} for ViewDefinition", unknown[0], "not-supported")
    count = min(_int("_count", q["_count"]), 1000) if "_count" in q else 100
    store = get_store(request)
    async with store.pool.connection() as conn:
        found = await list_views(
            conn, name=q.get("name"), url=q.get("url"), resource=q.get("resource"), limit=count
        )
    await record_access(request.scope, store, "search", _TYPE)
    base = base_url(request)
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found) if len(found) < count else None,
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {"fullUrl": f"{base}/{_TYPE}/{v.id}", "resource": v.content, "search": {"mode": "match"}}
            for v in found
        ],
    }
    if bundle["total"] is None:
        del bundle["total"]
    return respond(request, bundle)


def views_router() -> APIRouter:
    """The routes of this module (include before the generic FHIR routes)."""
    router = APIRouter(prefix="/fhir", tags=["SQL on FHIR views"])

    async def run_type(request: Request) -> Response:
        return await _run(request, None)

    async def run_instance(request: Request, view_id: IdParam) -> Response:
        check_id(view_id)
        return await _run(request, view_id)

    for name in _RUN_NAMES:
        slug = name.strip("$").replace("-", "_")
        router.add_api_route(
            f"/{_TYPE}/{name}",
            run_type,
            methods=["POST"],
            operation_id=f"viewdefinition_type_{slug}",
            summary=f"ViewDefinition/{name}: run an inline or referenced view",
            responses=errors(404, 415, 422),
            openapi_extra={**OPERATION_BODY},
        )
        for method in ("GET", "POST"):
            router.add_api_route(
                f"/{_TYPE}/{{id}}/{name}",
                run_instance,
                methods=[method],
                operation_id=f"viewdefinition_instance_{slug}_{method.lower()}",
                summary=f"ViewDefinition/[id]/{name}: run a stored view",
                responses=errors(404, 415, 422),
            )
    router.add_api_route(
        "/$viewdefinition-run",
        run_type,
        methods=["POST"],
        operation_id="system_viewdefinition_run",
        summary="$viewdefinition-run at system level (the R4 form)",
        responses=errors(404, 415, 422),
        openapi_extra={**OPERATION_BODY},
    )

    async def create(request: Request) -> Response:
        return await _create(request)

    async def search(request: Request) -> Response:
        return await _list(request)

    async def read(request: Request, view_id: IdParam) -> Response:
        return await _read(request, view_id)

    async def update(request: Request, view_id: IdParam) -> Response:
        return await _put(request, view_id)

    async def delete(request: Request, view_id: IdParam) -> Response:
        return await _delete(request, view_id)

    router.add_api_route(
        f"/{_TYPE}", create, methods=["POST"], status_code=201, summary="store a ViewDefinition",
        responses=errors(415), openapi_extra={**RESOURCE_BODY},
    )  # fmt: skip
    router.add_api_route(
        f"/{_TYPE}", search, methods=["GET"], summary="list stored ViewDefinitions", responses=errors()
    )
    router.add_api_route(
        f"/{_TYPE}/{{id}}", read, methods=["GET"], summary="read a ViewDefinition", responses=errors(404)
    )
    router.add_api_route(
        f"/{_TYPE}/{{id}}", update, methods=["PUT"], summary="update (or create) a ViewDefinition",
        responses=errors(412, 415), openapi_extra={**RESOURCE_BODY},
    )  # fmt: skip
    router.add_api_route(
        f"/{_TYPE}/{{id}}", delete, methods=["DELETE"], status_code=204, summary="delete a ViewDefinition",
        responses=errors(412),
    )  # fmt: skip
    return router
