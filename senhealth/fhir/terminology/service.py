"""The terminology service: packaged and stored code systems, value sets and concept maps, one API.

Spec: https://hl7.org/fhir/R4/terminology-service.html and https://hl7.org/fhir/R4/terminologies.html.

:class:`Terminology` is what the operations (:mod:`.operations`) and the search modifiers
(:mod:`senhealth.fhir.search.terminology`) use. A canonical URL is answered from the packaged registry
(:mod:`.registry`) first, then from the FHIR store (:mod:`.stored`): a user cannot shadow a packaged
code system, but can add any other, and a ValueSet stored by a user may draw on both. Stored resources
are compiled once per ``(id, versionId)``: every look-up runs the one indexed query that finds the
current version, and a new version (an update) replaces the compiled copy.

Expansions are cached per value set, version (for a stored one: its id and versionId), date and
``activeOnly`` (packaged value sets expand to the same codes every time: ICD-10 chapter I costs
~0.1 s the first time, nothing after).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from senhealth.fhir.terminology import registry
from senhealth.fhir.terminology.codesystem import CodeSystem, from_resource
from senhealth.fhir.terminology.stored import Source, StoredResource
from senhealth.fhir.terminology.valueset_expand import DEFAULT_LIMIT, ExpandError, Expansion, expand

__all__ = ["Terminology", "clear_caches"]

_LOCK = threading.Lock()
#: url -> (res_id, versionId, compiled): stored code systems, compiled once per version
_STORED_CS: dict[str, tuple[str, int, CodeSystem]] = {}
#: expansion cache key -> Expansion (bounded, least recently used dropped)
_EXPANSIONS: OrderedDict[tuple[Any, ...], Expansion] = OrderedDict()
_EXPANSIONS_KEPT = 64


def clear_caches() -> None:
    """Forget compiled stored code systems and cached expansions (tests; an edition loaded)."""
    with _LOCK:
        _STORED_CS.clear()
        _EXPANSIONS.clear()
    registry.clear_caches()


def _split(ref: str) -> tuple[str, str | None]:
    url, _, version = ref.partition("|")
    return url, version or None


@dataclass(slots=True)
class _Prefetched:
    """A resolver over what was fetched before a synchronous expansion."""

    when: date | None
    code_systems: dict[tuple[str, str | None], CodeSystem | None] = field(default_factory=dict)
    value_sets: dict[tuple[str, str | None], dict[str, Any] | None] = field(default_factory=dict)

    def code_system(self, url: str, version: str | None) -> CodeSystem | None:
        if (url, version) in self.code_systems:
            return self.code_systems[(url, version)]
        return registry.code_system(url, version, self.when)

    def value_set(self, url: str, version: str | None) -> dict[str, Any] | None:
        if (url, version) in self.value_sets:
            return self.value_sets[(url, version)]
        return registry.value_set(url, version)


class Terminology:
    """Terminology look-ups for one request: ``source`` reads stored resources (None: packaged only);
    ``when`` chooses editions (None: today)."""

    def __init__(self, source: Source | None = None, when: date | None = None) -> None:
        self.source = source
        self.when = when

    # --- code systems --------------------------------------------------------------------------

    async def code_system(self, url: str, version: str | None = None) -> CodeSystem | None:
        """The code system ``url`` (at ``version``): packaged, else stored; None when unknown."""
        packaged = registry.code_system(url, version, self.when)
        if packaged is not None or self.source is None:
            return packaged
        found = await self.source.by_url("CodeSystem", url, version)
        return self._compiled(found) if found is not None else None

    async def code_system_by_id(self, res_id: str) -> CodeSystem | None:
        """The code system a ``CodeSystem/[id]`` names: stored first (ids are the store's), else packaged."""
        if self.source is not None:
            found = await self.source.by_id("CodeSystem", res_id)
            if found is not None:
                return self._compiled(found)
        return registry.code_system_by_id(res_id, self.when)

    def _compiled(self, found: StoredResource) -> CodeSystem:
        url = str(found.content.get("url") or f"CodeSystem/{found.res_id}")
        key = f"{url}|{found.content.get('version') or ''}"
        with _LOCK:
            hit = _STORED_CS.get(key)
        if hit is not None and hit[0] == found.res_id and hit[1] == found.version_id:
            return hit[2]
        cs = from_resource(found.content)
        with _LOCK:
            _STORED_CS[key] = (found.res_id, found.version_id, cs)
        return cs

    # --- value sets ----------------------------------------------------------------------------

    async def value_set(
        self, url: str, version: str | None = None
    ) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
        """``(ValueSet, cache key)`` for ``url``: packaged, implicit, else stored; None when unknown."""
        packaged = registry.value_set(url, version)
        if packaged is not None:
            return packaged, ("packaged", url, version)
        if self.source is None:
            return None
        found = await self.source.by_url("ValueSet", url, version)
        if found is not None:
            return found.content, ("stored", found.res_id, found.version_id)
        implicit = registry.implicit_value_set(url)
        if implicit is not None:
            cs = await self.code_system(implicit[0])
            if cs is not None:
                return implicit[1], ("implicit", url, cs.url, cs.version, cs.resource_id)
        return None

    async def value_set_by_id(self, res_id: str) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
        if self.source is not None:
            found = await self.source.by_id("ValueSet", res_id)
            if found is not None:
                return found.content, ("stored", found.res_id, found.version_id)
        packaged = registry.value_set_by_id(res_id)
        if packaged is not None:
            return packaged, ("packaged", packaged.get("url"), None)
        return None

    # --- concept maps --------------------------------------------------------------------------

    async def concept_map(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        packaged = registry.concept_map(url, version)
        if packaged is not None or self.source is None:
            return packaged
        found = await self.source.by_url("ConceptMap", url, version)
        return found.content if found is not None else None

    async def concept_map_by_id(self, res_id: str) -> dict[str, Any] | None:
        if self.source is not None:
            found = await self.source.by_id("ConceptMap", res_id)
            if found is not None:
                return found.content
        return registry.concept_map_by_id(res_id)

    # --- expansion -----------------------------------------------------------------------------

    async def _prefetch(self, vs: dict[str, Any], into: _Prefetched, seen: set[str]) -> None:
        """Fetch what ``vs`` refers to that is not packaged (stored code systems, imported value sets)."""
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            return
        for part in [*(compose.get("include") or ()), *(compose.get("exclude") or ())]:
            if not isinstance(part, dict):
                continue
            system = part.get("system")
            version = part.get("version") if isinstance(part.get("version"), str) else None
            if isinstance(system, str) and (system, version) not in into.code_systems:
                into.code_systems[(system, version)] = await self.code_system(system, version)
            for ref in part.get("valueSet") or ():
                if not isinstance(ref, str) or ref in seen:
                    continue
                seen.add(ref)
                url, v = _split(ref)
                found = await self.value_set(url, v)
                into.value_sets[(url, v)] = found[0] if found is not None else None
                if found is not None:
                    await self._prefetch(found[0], into, seen)

    async def expand(
        self,
        vs: dict[str, Any],
        key: tuple[Any, ...] | None = None,
        *,
        active_only: bool = False,
        limit: int = DEFAULT_LIMIT,
    ) -> Expansion:
        """Every code of ``vs`` (raises :class:`~.valueset_expand.ExpandError`); cached under ``key``."""
        full_key = (*key, self.when, active_only) if key is not None else None
        if full_key is not None:
            with _LOCK:
                hit = _EXPANSIONS.get(full_key)
                if hit is not None:
                    _EXPANSIONS.move_to_end(full_key)
            if hit is not None:
                if len(hit.items) > limit:
                    raise_too_costly(vs, limit)
                return hit
        resolver = _Prefetched(self.when)
        await self._prefetch(vs, resolver, set())
        result = expand(vs, resolver, active_only=active_only, limit=max(limit, DEFAULT_LIMIT))
        if full_key is not None:
            with _LOCK:
                _EXPANSIONS[full_key] = result
                while len(_EXPANSIONS) > _EXPANSIONS_KEPT:
                    _EXPANSIONS.popitem(last=False)
        if len(result.items) > limit:
            raise_too_costly(vs, limit)
        return result


def raise_too_costly(vs: dict[str, Any], limit: int) -> None:
    from senhealth.fhir.terminology.valueset_expand import TooCostly

    raise TooCostly(f"The value set {vs.get('url') or '(inline)'} has more than {limit:,} codes: narrow it")


__all__ += ["ExpandError"]
