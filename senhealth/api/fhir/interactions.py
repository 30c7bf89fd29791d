"""The FHIR RESTful interactions on the store, free of HTTP: create, update, patch, delete, their
conditional forms, and the searches they use.

Spec: https://hl7.org/fhir/R4/http.html: #create (and #ccreate, ``If-None-Exist``), #update
(update-as-create, #cond-update), #patch, #delete (#3.1.0.7.1 conditional delete), #concurrency
(``If-Match``: 412 on a version conflict), and https://hl7.org/fhir/R4/search.html for the criteria
of the conditional forms.

Both the HTTP routers and the batch / transaction executor (:mod:`senhealth.api.fhir.dispatch`, used
by :mod:`senhealth.fhir.bundle`) call these, each inside a :class:`~senhealth.fhir.store.StoreTx`, so
a conditional search and the write it decides run in one database transaction. Concurrent conditional
writes with the same criteria are serialised by a transaction-scoped advisory lock on the criteria.

Choices where the spec leaves room:

- a conditional create / update / delete with criteria that select nothing (no parameter at all, or
  only result parameters such as ``_count``) is refused with 400: it would match every resource;
- criteria are parsed with strict handling: an unknown parameter is a 400, never silently ignored;
- conditional delete: 0 matches is a no-op (204, like deleting a deleted resource), 1 deletes it,
  several are 412 (``conditionalDelete: single``);
- conditional update with 0 matches creates (with the body's id as an update-as-create when it has
  one); with 1 match the body's id, if any, must be the match's (400 otherwise);
- a patch without ``If-Match`` that loses a race with another writer is 409 (with ``If-Match``, 412).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from senhealth.api.fhir.errors import FhirError
from senhealth.core.errors import operation_outcome
from senhealth.fhir.patch import apply_patch
from senhealth.fhir.search.execute import Row, search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound, Stored, StoreTx, VersionConflict

__all__ = [
    "ID_PATTERN",
    "Interactions",
    "Result",
    "check_id",
    "check_type",
    "parse_version",
    "resource_types",
]

ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def resource_types() -> frozenset[str]:
    """The concrete R4 resource types (the ones with an endpoint)."""
    from senhealth.fhir.search.request import resource_types as types

    return types()


_RESERVED: Final = frozenset({"metadata", "_history", "_search"})


def check_type(res_type: str) -> str:
    """404 unless ``res_type`` is a concrete FHIR R4 resource type (405 for ``metadata`` & co.:
    a path that exists, with another method)."""
    if res_type in _RESERVED:
        raise FhirError(405, f"This method is not allowed on {res_type}")
    if res_type not in resource_types():
        raise FhirError(404, f"Unknown resource type {res_type[:64]!r}", code="not-supported")
    return res_type


def check_id(res_id: str) -> str:
    """400 unless ``res_id`` is a valid FHIR id (``[A-Za-z0-9\\-.]{1,64}``)."""
    if not ID_PATTERN.match(res_id):
        raise FhirError(400, f"{res_id[:70]!r} is not a valid resource id", code="value")
    return res_id


def parse_version(vid: str, header: str | None = None) -> int:
    """A version id as the store's integer; a version this server cannot have issued gives ``-1``
    (it then matches nothing: 404 on a vread, 412 on If-Match)."""
    text = vid.strip()
    if text.isdigit() and len(text) < 10:
        return int(text)
    if header is not None and not ID_PATTERN.match(text):
        raise FhirError(400, f"{header}: {text[:70]!r} is not a version id", code="value")
    return -1


@dataclass(slots=True)
class Result:
    """The outcome of one interaction: HTTP status, the version concerned, and what to answer."""

    status: int
    stored: Stored | None = None  # the version written, read or matched: ETag, Last-Modified, Location
    body: dict[str, Any] | None = None  # the representation (a resource, or a Bundle for a search)
    outcome: dict[str, Any] | None = None  # an OperationOutcome saying what was done

    @property
    def location(self) -> str | None:
        return self.stored.location if self.stored is not None and not self.stored.deleted else None


def _info(message: str) -> dict[str, Any]:
    return operation_outcome("information", "informational", message)


def criteria_of(value: str) -> str:
    """The query part of conditional criteria given as ``identifier=x``, ``?identifier=x`` or
    ``Patient?identifier=x`` (clients send all three in ``If-None-Exist``)."""
    return value.split("?", 1)[1] if "?" in value else value


def _criteria(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=100)
    except ValueError as e:
        raise FhirError(400, f"Malformed search criteria: {e}", code="invalid") from None


class Interactions:
    """The interactions on one store transaction ``tx``."""

    def __init__(self, store: FhirStore, tx: StoreTx) -> None:
        self.store = store
        self.tx = tx

    # -- conditional matching ----------------------------------------------------------------------

    async def match(self, res_type: str, query: str, what: str) -> list[Row]:
        """At most two resources of ``res_type`` matching the search ``query`` (conditional criteria)."""
        check_type(res_type)
        params = _criteria(query)
        request = parse_search(res_type, params, strict=True, base_urls=self.store.base_urls)
        if not request.clauses:
            raise FhirError(400, f"{what} needs search criteria that select resources: {query[:100]!r}")
        request.count, request.total, request.cursor = 2, "none", None
        request.includes, request.revincludes, request.summary, request.elements = (), (), None, ()
        key = f"{res_type}?{sorted(params)!r}"
        await self.tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
        result = await search(self.tx.conn, request, await self.store.param_ids())
        return result.matches

    # -- create ------------------------------------------------------------------------------------

    async def create(
        self,
        res_type: str,
        resource: dict[str, Any],
        *,
        if_none_exist: str | None = None,
        res_id: str | None = None,
    ) -> Result:
        """Create (201); with ``If-None-Exist``: 200 with the match when there is one, 412 for several."""
        self._check_body(res_type, resource)
        if if_none_exist is not None:
            found = await self.match(res_type, criteria_of(if_none_exist), "If-None-Exist")
            if len(found) > 1:
                raise FhirError(412, f"If-None-Exist: {if_none_exist[:100]} matches more than one {res_type}")
            if found:
                stored = await self.tx.read(res_type, found[0].res_id)
                return Result(
                    200, stored, stored.content, _info(f"{res_type}/{stored.res_id} already exists")
                )
        stored = await self.tx.create(resource, res_id=res_id)
        return Result(201, stored, stored.content, _info(f"Created {stored.location}"))

    # -- update ------------------------------------------------------------------------------------

    async def update(
        self, res_type: str, res_id: str, resource: dict[str, Any], *, if_match: int | None = None
    ) -> Result:
        """Update, or create with that id (201); If-Match: 412 when the version is not the current one."""
        self._check_body(res_type, resource)
        check_id(res_id)
        body_id = resource.get("id")
        if body_id is None:
            raise FhirError(
                400, "An update needs the resource's id in the body", code="required", expression="id"
            )
        if body_id != res_id:
            raise FhirError(
                400,
                f"The id in the body ({str(body_id)[:70]!r}) is not the id in the URL ({res_id})",
                expression="id",
            )
        stored, created = await self.tx.update(resource, if_match=if_match)
        if created:
            return Result(201, stored, stored.content, _info(f"Created {stored.location}"))
        return Result(200, stored, stored.content, _info(f"Updated {stored.location}"))

    async def conditional_update(
        self, res_type: str, query: str, resource: dict[str, Any], *, if_match: int | None = None
    ) -> Result:
        """``PUT [type]?criteria``: create on no match, update the one match, 412 for several."""
        self._check_body(res_type, resource)
        found = await self.match(res_type, query, "A conditional update")
        if len(found) > 1:
            raise FhirError(412, f"The criteria {query[:100]} match more than one {res_type}")
        body_id = resource.get("id")
        if not found:
            if body_id is not None:
                return await self.update(res_type, str(body_id), resource, if_match=if_match)
            return await self.create(res_type, resource)
        match_id = found[0].res_id
        if body_id is not None and body_id != match_id:
            raise FhirError(
                400,
                f"The body's id {str(body_id)[:70]!r} is not the id of the match ({match_id})",
                expression="id",
            )
        return await self.update(res_type, match_id, {**resource, "id": match_id}, if_match=if_match)

    # -- patch -------------------------------------------------------------------------------------

    async def patch(
        self, res_type: str, res_id: str, patch: Any, fmt: str, *, if_match: int | None = None
    ) -> Result:
        """Apply a JSON Patch or FHIRPath Patch to the current version; the result is validated and
        stored as a new version like any update (nothing is written when it is invalid)."""
        check_type(res_type)
        check_id(res_id)
        current = await self.tx.read(res_type, res_id)
        if if_match is not None and if_match != current.version:
            raise VersionConflict(
                f"{res_type}/{res_id} is at version {current.version}, not {if_match}", current.version
            )
        assert current.content is not None
        patched = apply_patch(current.content, patch, fmt)
        if patched.get("resourceType") != res_type:
            raise FhirError(
                422, "A patch cannot change the resourceType", code="processing", expression="resourceType"
            )
        if patched.get("id") != res_id:
            raise FhirError(422, "A patch cannot change the id", code="processing", expression="id")
        try:
            stored, _ = await self.tx.update(patched, if_match=current.version, method="PATCH")
        except VersionConflict:
            if if_match is not None:
                raise
            raise FhirError(
                409, f"{res_type}/{res_id} was changed by another request meanwhile; retry"
            ) from None
        return Result(200, stored, stored.content, _info(f"Patched {stored.location}"))

    async def conditional_patch(
        self, res_type: str, query: str, patch: Any, fmt: str, *, if_match: int | None = None
    ) -> Result:
        """``PATCH [type]?criteria``: patch the one match; 404 for none, 412 for several."""
        found = await self.match(res_type, query, "A conditional patch")
        if not found:
            raise FhirError(404, f"No {res_type} matches {query[:100]}")
        if len(found) > 1:
            raise FhirError(412, f"The criteria {query[:100]} match more than one {res_type}")
        return await self.patch(res_type, found[0].res_id, patch, fmt, if_match=if_match)

    # -- delete ------------------------------------------------------------------------------------

    async def delete(self, res_type: str, res_id: str, *, if_match: int | None = None) -> Result:
        """Delete (kept in history): 200 with an OperationOutcome; 204 when there was nothing to delete."""
        check_type(res_type)
        check_id(res_id)
        if if_match is not None:
            try:
                await self.tx.read(res_type, res_id)
            except (NotFound, Gone):
                raise VersionConflict(f"{res_type}/{res_id} does not exist (If-Match {if_match})") from None
        stored = await self.tx.delete(res_type, res_id, if_match=if_match)
        if stored is None:
            return Result(204, None, None, _info(f"{res_type}/{res_id} was not there: nothing to delete"))
        return Result(200, stored, None, _info(f"Deleted {res_type}/{res_id}"))

    async def conditional_delete(self, res_type: str, query: str) -> Result:
        """``DELETE [type]?criteria``: delete the one match; nothing for none (204), 412 for several."""
        found = await self.match(res_type, query, "A conditional delete")
        if len(found) > 1:
            raise FhirError(412, f"The criteria {query[:100]} match more than one {res_type}")
        if not found:
            return Result(204, None, None, _info(f"No {res_type} matches {query[:100]}: nothing to delete"))
        return await self.delete(res_type, found[0].res_id)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _check_body(res_type: str, resource: dict[str, Any]) -> None:
        check_type(res_type)
        rt = resource.get("resourceType")
        if rt != res_type:
            raise FhirError(
                400, f"The body is a {str(rt)[:64]}, but the URL names {res_type}", expression="resourceType"
            )
