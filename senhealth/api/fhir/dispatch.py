"""The entries of batch and transaction Bundles, carried out as the REST interactions they name.

Spec: https://hl7.org/fhir/R4/http.html#transaction ("each entry ... an HTTP request: method, url
relative to the base, the headers as ``ifMatch``, ``ifNoneMatch``, ``ifModifiedSince``,
``ifNoneExist``") and https://hl7.org/fhir/R4/bundle.html#patch (a PATCH entry carries a FHIRPath
Patch ``Parameters``, or a ``Binary`` holding a JSON Patch).

:class:`RestExecutor` is the :class:`senhealth.fhir.bundle.EntryExecutor` of the REST API: it parses
an entry's URL (``Patient/1``, ``Patient?identifier=x``, ``Patient/1/_history/2``,
``Patient/1/Observation``, ``Patient/$validate``...) and runs the same
:class:`~senhealth.api.fhir.interactions.Interactions`, searches and operations as the HTTP routes, on
the Bundle's store transaction.

Under an access policy (:mod:`senhealth.api.fhir.authz`) each entry is checked as its own HTTP
interaction would be: the role must be allowed it (403 for the entry: a transaction fails whole, a batch
answers that entry); a read outside the caller's patients answers 404 like an unknown resource; searches
carry the restriction in their SQL; a write must touch, and leave, a resource the caller may see
(updates of an unseen resource 404, creations outside the caller's patients 403). History and
operation entries are refused to restricted callers (send them on their own), and such a transaction
never takes the bulk COPY path, which checks nothing per entry.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl

from senhealth.api.fhir.authz import authorize, can_see, check_search_params, hide
from senhealth.api.fhir.bundles import history_bundle, searchset_bundle
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.headers import matches_etag, parse_etag, parse_http_date
from senhealth.api.fhir.interactions import Interactions, Result, check_id, check_type, parse_version
from senhealth.fhir.access import Action, Restriction
from senhealth.fhir.bundle import EntryRequest, EntryResponse
from senhealth.fhir.json import JSONDecodeError, parse
from senhealth.fhir.operations.parameters import from_body
from senhealth.fhir.operations.registry import Level, OperationCall, find_operation
from senhealth.fhir.patch import FHIRPATH_PATCH, JSON_PATCH
from senhealth.fhir.search.execute import search, subset
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound, Stored, StoreTx
from senhealth.fhir.store.meta import instant

__all__ = ["RestExecutor"]


def _response(result: Result, target: tuple[str, str] | None) -> EntryResponse:
    stored = result.stored
    return EntryResponse(
        status=result.status,
        resource=result.body,
        location=result.location,
        etag=stored.etag if stored is not None else None,
        last_modified=instant(stored.last_updated) if stored is not None else None,
        outcome=result.outcome,
        target=(stored.res_type, stored.res_id) if stored is not None else target,
    )


def _patch_body(resource: dict[str, Any] | None) -> tuple[Any, str]:
    if resource is None:
        raise FhirError(400, "A PATCH entry needs a Parameters (FHIRPath Patch) or a Binary (JSON Patch)")
    if resource.get("resourceType") == "Parameters":
        return resource, FHIRPATH_PATCH
    if resource.get("resourceType") == "Binary" and resource.get("contentType") == JSON_PATCH:
        try:
            return parse(base64.b64decode(str(resource.get("data", "")), validate=True)), JSON_PATCH
        except (binascii.Error, JSONDecodeError, ValueError) as e:
            raise FhirError(400, f"The Binary does not hold a JSON Patch: {e}") from None
    raise FhirError(400, "A PATCH entry carries a Parameters or a Binary of type application/json-patch+json")


def _version(value: str | None, header: str) -> int | None:
    return None if value is None else parse_version(parse_etag(value, header), header)


_WRITE_ACTIONS: dict[str, Action] = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
_ON_ITS_OWN = "send it on its own, outside the Bundle"


def entry_action(method: str, parts: list[str]) -> tuple[Action, str | None]:
    """The interaction an entry is (for the policy) and the resource type it concerns."""
    res_type = parts[0] if parts and parts[0][:1].isupper() else None
    if any(p.startswith("$") for p in parts):
        return "operation", res_type
    if method in ("GET", "HEAD"):
        if parts[-1:] == ["_history"]:
            return "history", res_type
        if len(parts) in (2, 4):
            return "read", res_type
        if len(parts) == 3:
            return "search", None if parts[2] == "*" else parts[2]
        return "search", res_type
    return _WRITE_ACTIONS.get(method, "update"), res_type


class RestExecutor:
    """Runs one Bundle entry (see the module docstring); ``base`` is the base URL for links.

    ``restricted``: an access policy restricts the caller (checked per entry; no bulk path)."""

    def __init__(
        self, store: FhirStore, base: str, *, strict: bool = False, restricted: bool = False
    ) -> None:
        self.store = store
        self.base = base
        self.strict = strict
        self.restricted = restricted
        self.allows_bulk = not restricted

    async def match(self, tx: StoreTx, res_type: str, query: str) -> list[str]:
        rows = await Interactions(self.store, tx).match(res_type, query, "A conditional reference")
        if self.restricted:
            restriction = authorize("search", res_type)
            rows = [r for r in rows if await can_see(self.store, restriction, r.pkey, tx.conn)]
        return [row.res_id for row in rows]

    async def execute(self, tx: StoreTx, request: EntryRequest) -> EntryResponse:
        path, _, query = request.url.partition("?")
        parts = [p for p in path.split("/") if p]
        if self.restricted:
            return await self._checked(tx, request, parts, query)
        return await self._execute(tx, request, parts, query, None)

    async def _checked(
        self, tx: StoreTx, request: EntryRequest, parts: list[str], query: str
    ) -> EntryResponse:
        """One entry under the access policy (the module docstring)."""
        action, res_type = entry_action(request.method, parts)
        restriction = authorize(action, res_type)
        if restriction is None:
            return await self._execute(tx, request, parts, query, None)
        if action in ("history", "operation"):
            raise FhirError(
                403,
                f"A {action} entry is not available in a Bundle to a role limited to some patients: {_ON_ITS_OWN}",
                code="forbidden",
            )
        if action in ("update", "delete") and len(parts) == 2 and res_type is not None:
            try:
                before = await tx.read(res_type, parts[1])
            except (NotFound, Gone):
                before = None
            if before is not None and not await can_see(self.store, restriction, before.pkey, tx.conn):
                raise hide(res_type, parts[1])
        response = await self._execute(tx, request, parts, query, restriction)
        if action in ("create", "update", "delete") and response.target is not None:
            written = await _pkey(tx, *response.target)
            if written is not None and not await can_see(self.store, restriction, written, tx.conn):
                if action == "create" or len(parts) != 2:
                    raise FhirError(
                        403,
                        "You may only record data of patients in your care (an encounter at your facility)",
                        code="forbidden",
                    )
                raise hide(*response.target)
        return response

    async def _execute(
        self,
        tx: StoreTx,
        request: EntryRequest,
        parts: list[str],
        query: str,
        restriction: Restriction | None,
    ) -> EntryResponse:
        op_at = next((n for n, p in enumerate(parts) if p.startswith("$")), None)
        if op_at is not None:
            return await self._operation(tx, request, parts, op_at, query)
        if request.method in ("GET", "HEAD"):
            response = await self._get(tx, request, parts, query, restriction)
            if request.method == "HEAD":
                response.resource = None
            return response
        actions = Interactions(self.store, tx)
        method = request.method
        resource = request.resource
        if method == "POST" and len(parts) == 1 and resource is not None:
            result = await actions.create(
                parts[0], resource, if_none_exist=request.if_none_exist, res_id=request.res_id
            )
            return _response(result, None)
        if len(parts) == 2 and method in ("PUT", "PATCH", "DELETE"):
            res_type, res_id = parts
            version = _version(request.if_match, "ifMatch")
            if method == "PUT" and resource is not None:
                result = await actions.update(res_type, res_id, resource, if_match=version)
            elif method == "PATCH":
                body, fmt = _patch_body(resource)
                result = await actions.patch(res_type, res_id, body, fmt, if_match=version)
            else:
                result = await actions.delete(res_type, res_id, if_match=version)
            return _response(result, (res_type, res_id))
        if len(parts) == 1 and query and method in ("PUT", "PATCH", "DELETE"):
            version = _version(request.if_match, "ifMatch")
            if method == "PUT" and resource is not None:
                result = await actions.conditional_update(parts[0], query, resource, if_match=version)
            elif method == "PATCH":
                body, fmt = _patch_body(resource)
                result = await actions.conditional_patch(parts[0], query, body, fmt, if_match=version)
            else:
                result = await actions.conditional_delete(parts[0], query)
            return _response(result, None)
        raise FhirError(400, f"{method} {request.url[:100]} is not an interaction this server supports")

    # -- reads ------------------------------------------------------------------------------------

    async def _get(
        self,
        tx: StoreTx,
        request: EntryRequest,
        parts: list[str],
        query: str,
        restriction: Restriction | None,
    ) -> EntryResponse:
        params = parse_qsl(query, keep_blank_values=True)
        n = len(parts)
        if parts[-1:] == ["_history"] and n <= 3:
            return await self._history(tx, parts[:-1], params)
        if n == 2 or (n == 4 and parts[2] == "_history"):
            res_type, res_id = check_type(parts[0]), check_id(parts[1])
            if n == 2:
                stored = await tx.read(res_type, res_id)
            else:
                version = parse_version(parts[3])
                if version < 1:
                    raise FhirError(404, f"{res_type}/{res_id} has no version {parts[3][:40]!r}")
                stored = await tx.vread(res_type, res_id, version)
            if restriction is not None and not await can_see(self.store, restriction, stored.pkey, tx.conn):
                raise hide(res_type, res_id)
            return self._read(stored, request, dict(params))
        if n <= 1:
            searched = check_type(parts[0]) if parts else None
            return await self._search(tx, searched, params, parts[0] if parts else "", None, restriction)
        if n == 3:
            if parts[0] != "Patient":
                raise FhirError(400, "Only the Patient compartment can be searched", code="not-supported")
            target = None if parts[2] == "*" else check_type(parts[2])
            compartment = ("Patient", check_id(parts[1]))
            if restriction is not None and not await can_see(
                self.store, restriction, compartment[1], tx.conn
            ):
                raise hide("Patient", compartment[1])
            return await self._search(tx, target, params, "/".join(parts), compartment, restriction)
        raise FhirError(400, f"GET {request.url[:100]} is not an interaction this server supports")

    def _read(self, stored: Stored, request: EntryRequest, params: dict[str, str]) -> EntryResponse:
        response = EntryResponse(
            200, None, stored.location, stored.etag, instant(stored.last_updated), None, None
        )
        if request.if_none_match is not None and matches_etag(request.if_none_match, str(stored.version)):
            response.status = 304
            return response
        if request.if_modified_since is not None:
            when = parse_http_date(request.if_modified_since)
            if when is not None and stored.last_updated.replace(microsecond=0) <= when:
                response.status = 304
                return response
        content = stored.content or {}
        summary, elements = params.get("_summary"), params.get("_elements")
        if summary in ("true", "text", "data") or elements:
            content = subset(content, summary, tuple((elements or "").split(",")) if elements else ())
        response.resource = content
        return response

    async def _search(
        self,
        tx: StoreTx,
        res_type: str | None,
        params: list[tuple[str, str]],
        path: str,
        compartment: tuple[str, str] | None,
        restriction: Restriction | None = None,
    ) -> EntryResponse:
        check_search_params(restriction, [name for name, _ in params])
        parsed = parse_search(res_type, params, strict=self.strict, base_urls=self.store.base_urls)
        result = await search(
            tx.conn, parsed, await self.store.param_ids(), compartment=compartment, restriction=restriction
        )
        bundle = searchset_bundle(
            self.base, path, parsed.params, result, include_entries=parsed.summary != "count"
        )
        return EntryResponse(200, bundle)

    async def _history(self, tx: StoreTx, parts: list[str], params: list[tuple[str, str]]) -> EntryResponse:
        from senhealth.api.fhir.history import parse_at

        values = dict(params)
        res_type = check_type(parts[0]) if parts else None
        res_id = check_id(parts[1]) if len(parts) > 1 else None
        count_raw = values.get("_count", "50")
        if not count_raw.isdigit() or len(count_raw) > 9:
            raise FhirError(400, "_count must be a whole number", expression="_count")
        since = parse_at(values["_since"], "_since") if "_since" in values else None
        at = parse_at(values["_at"], "_at") if "_at" in values else None
        page = await tx.history(
            res_type,
            res_id,
            since=since,
            at=at,
            count=min(int(count_raw), 1000),
            cursor=values.get("_cursor"),
        )
        path = "/".join([*parts, "_history"])
        own = [(k, v) for k, v in params if k != "_cursor"]
        return EntryResponse(200, history_bundle(self.base, path, own, page))

    # -- operations -------------------------------------------------------------------------------

    async def _operation(
        self, tx: StoreTx, request: EntryRequest, parts: list[str], op_at: int, query: str
    ) -> EntryResponse:
        levels: dict[int, Level] = {0: "system", 1: "type", 2: "instance"}
        if op_at != len(parts) - 1 or op_at not in levels:
            raise FhirError(400, f"{request.url[:100]} is not an operation URL")
        level = levels[op_at]
        res_type = check_type(parts[0]) if op_at >= 1 else None
        res_id = check_id(parts[1]) if op_at == 2 else None
        op = find_operation(parts[op_at][1:], level, res_type)
        if request.method not in ("GET", "POST") or (request.method == "GET" and op.affects_state):
            raise FhirError(405, f"${op.name} cannot be invoked with {request.method}")
        params: dict[str, list[Any]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params.setdefault(name, []).append(value)
        if request.resource is not None:
            for name, values in from_body(request.resource).items():
                params.setdefault(name, []).extend(values)
        call = OperationCall(
            name=op.name,
            level=level,
            resource_type=res_type,
            resource_id=res_id,
            params=params,
            store=self.store,
            base_url=self.base,
            body=request.resource,
            method=request.method,
        )
        result = await op.handler(call)
        return EntryResponse(result.status, result.resource)


async def _pkey(tx: StoreTx, res_type: str, res_id: str) -> str | None:
    """The patient key of a resource as the transaction now sees it (None: gone)."""
    cur = await tx.conn.execute(
        "SELECT pkey FROM fhir_locator WHERE res_type = %s AND res_id = %s", (res_type, res_id)
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])
