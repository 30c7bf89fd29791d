"""``$meta``, ``$meta-add``, ``$meta-delete``: the tags, profiles and security labels of resources.

Spec: https://hl7.org/fhir/R4/resource-operation-meta.html (system, type and instance level: the
union of the ``meta.tag`` / ``meta.profile`` / ``meta.security`` in use),
https://hl7.org/fhir/R4/resource-operation-meta-add.html and
https://hl7.org/fhir/R4/resource-operation-meta-delete.html (instance level; input ``meta``, output
``return``: the resulting Meta), and https://hl7.org/fhir/R4/resource.html#tag.

Deviation: the spec lets ``$meta-add`` / ``$meta-delete`` change the meta without a new version.
Here they write a new version through the store like any update, so that the search index
(``_tag``, ``_profile``, ``_security``) and the history stay exact; a call that changes nothing makes
no version (the store skips identical updates).

``$meta`` at type and system level reads the ``meta`` of the current resources with one SQL query per
element (PostgreSQL ``jsonb_array_elements`` over ``fhir_resource.content``): a full scan of the type (or
of everything), meant for administration, not for a hot path.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from senhealth.core.db import transaction
from senhealth.fhir.operations.parameters import parameters
from senhealth.fhir.operations.registry import Operation, OperationCall, OperationError, OperationResult

__all__ = ["META", "META_ADD", "META_DELETE"]

_CODING_LISTS: Final = ("tag", "security")
_SQL: Final = (
    "SELECT DISTINCT e.value::text FROM fhir_resource r, "
    "jsonb_array_elements(CASE WHEN jsonb_typeof(r.content->'meta'->%(el)s) = 'array' "
    "THEN r.content->'meta'->%(el)s ELSE '[]'::jsonb END) AS e(value) "
    "WHERE %(type)s::text IS NULL OR r.res_type = %(type)s LIMIT 10000"
)


def _key(coding: Any) -> tuple[Any, Any]:
    if isinstance(coding, dict):
        return (coding.get("system"), coding.get("code"))
    return (None, coding)


def _subset(meta: Any) -> dict[str, Any]:
    """A resource's Meta as these operations answer it: versionId, lastUpdated, profile, security, tag."""
    out: dict[str, Any] = {}
    if isinstance(meta, dict):
        for name in ("versionId", "lastUpdated", "profile", "security", "tag"):
            if meta.get(name):
                out[name] = meta[name]
    return out


def _result(meta: dict[str, Any]) -> OperationResult:
    return OperationResult(parameters([("return", "Meta", meta)]))


async def _collect(call: OperationCall) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with transaction(call.store.pool) as conn:
        for element in ("profile", "security", "tag"):
            cur = await conn.execute(_SQL, {"el": element, "type": call.resource_type})
            values = [orjson.loads(row[0]) for row in await cur.fetchall()]
            values.sort(key=lambda v: tuple(str(x) for x in _key(v)))
            if values:
                out[element] = values
    return out


async def run_meta(call: OperationCall) -> OperationResult:
    """The Meta of one resource, or the union of the metas of a type / of the whole server."""
    if call.level == "instance":
        assert call.resource_type is not None and call.resource_id is not None
        stored = await call.store.read(call.resource_type, call.resource_id)
        return _result(_subset((stored.content or {}).get("meta")))
    return _result(await _collect(call))


def _given_meta(call: OperationCall) -> dict[str, Any]:
    meta = call.first("meta")
    if not isinstance(meta, dict):
        raise OperationError(400, "The operation takes a 'meta' parameter (valueMeta)", expression="meta")
    for name in ("profile", *_CODING_LISTS):
        if name in meta and not isinstance(meta[name], list):
            raise OperationError(400, f"meta.{name} must be an array", expression=f"meta.{name}")
    return meta


async def _change(call: OperationCall, add: bool) -> OperationResult:
    assert call.resource_type is not None and call.resource_id is not None
    given = _given_meta(call)
    store = call.store
    current = await store.read(call.resource_type, call.resource_id)
    resource = dict(current.content or {})
    meta = dict(resource.get("meta") or {})
    for name in ("profile", *_CODING_LISTS):
        items = list(meta.get(name) or [])
        changes = given.get(name) or []
        if add:
            seen = {_key(x) for x in items}
            for item in changes:
                if _key(item) not in seen:
                    items.append(item)
                    seen.add(_key(item))
        else:
            drop = {_key(x) for x in changes}
            items = [x for x in items if _key(x) not in drop]
        if items:
            meta[name] = items
        else:
            meta.pop(name, None)
    resource["meta"] = meta
    stored, _ = await store.update(resource, if_match=current.version, method="PUT")
    return _result(_subset((stored.content or {}).get("meta")))


async def run_meta_add(call: OperationCall) -> OperationResult:
    """Add profiles, tags and security labels (those already there are kept once)."""
    return await _change(call, add=True)


async def run_meta_delete(call: OperationCall) -> OperationResult:
    """Remove profiles, tags and security labels (codings matched on system and code)."""
    return await _change(call, add=False)


META: Final = Operation(
    name="meta",
    handler=run_meta,
    levels=frozenset({"system", "type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/Resource-meta",
    documentation="The profiles, tags and security labels of a resource, or in use on a type / the server.",
)
META_ADD: Final = Operation(
    name="meta-add",
    handler=run_meta_add,
    levels=frozenset({"instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/Resource-meta-add",
    affects_state=True,
    documentation="Add profiles, tags and security labels to a resource (makes a new version).",
)
META_DELETE: Final = Operation(
    name="meta-delete",
    handler=run_meta_delete,
    levels=frozenset({"instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/Resource-meta-delete",
    affects_state=True,
    documentation="Remove profiles, tags and security labels from a resource (makes a new version).",
)
