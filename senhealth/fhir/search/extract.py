"""Search-parameter extraction: the index values of every R4 search parameter of a resource.

Spec: https://hl7.org/fhir/R4/search.html and https://hl7.org/fhir/R4/searchparameter-registry.html

``extract(resource)`` returns a :class:`~senhealth.fhir.search.index.SearchIndex`. Per resource type an
:class:`Extractor` is built once (and cached): every parameter with an expression is compiled to the fast
path (:mod:`senhealth.fhir.search.compiler`) where possible, else handed to the general FHIRPath engine
(:mod:`senhealth.fhir.search.fallback`). The compiled terms are keyed by the first element they read, so
extraction walks the resource's own top-level keys once and runs only the terms whose data is present;
the cost follows what the resource holds, not how many parameters its type has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from functools import cache
from typing import Any, Literal, TypeAlias

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import SearchParam, all_search_params, search_params_for
from senhealth.fhir.search.compiler import COMPONENT_ERRATA, Chain, Compiler
from senhealth.fhir.search.context import DEFAULT_TZ, ExtractContext, TypeResolver
from senhealth.fhir.search.fallback import engine_entries
from senhealth.fhir.search.index import PARAM_TYPES, SearchIndex
from senhealth.fhir.search.pathexpr import Child, Exists, First, Index, Path, Union, Unsupported, parse

__all__ = [
    "CompileReport",
    "Extractor",
    "Mode",
    "compile_report",
    "extract",
    "extract_to_json",
    "extractor_for",
]

log = logging.getLogger(__name__)

Mode: TypeAlias = Literal["auto", "fast", "engine"]


@dataclass(frozen=True, slots=True)
class CompileReport:
    """How the parameters of the R4 definitions compile (each parameter counted once, over all bases)."""

    total: int  # parameters with an expression
    fast: int  # compiled to the fast path for every base type
    engine: int  # need the FHIRPath engine for at least one base type
    failed: tuple[tuple[str, str], ...]  # (url, reason): neither path available


class Extractor:
    """Extracts every search parameter of one resource type.

    ``mode``: ``"auto"`` (fast path, engine where needed), ``"fast"`` (fast path only; parameters it cannot
    compile are skipped and listed in :attr:`skipped`) or ``"engine"`` (everything through the general
    FHIRPath engine, composites excepted: the reference the tests compare against).
    """

    def __init__(
        self,
        resource_type: str,
        params: Iterable[SearchParam] | None = None,
        *,
        mode: Mode = "auto",
    ) -> None:
        if mode not in ("auto", "fast", "engine"):
            raise ValueError(f"unknown mode {mode!r}")
        self.resource_type = resource_type
        self.mode = mode
        chosen = list(params) if params is not None else list(search_params_for(resource_type).values())
        compiler = Compiler(resource_type, get_model())
        self.params: dict[str, SearchParam] = {}
        self.fast: set[str] = set()
        self.engine: set[str] = set()
        self.skipped: dict[str, str] = {}  # code -> reason
        self._by_key: dict[str, list[tuple[str, Chain]]] = {}
        # (code, chain, gate): a gate lists, per component of a composite over the whole resource, the
        # top-level keys it reads; the chain cannot produce anything unless each has one present
        self._always: list[tuple[str, Chain, tuple[frozenset[str], ...] | None]] = []
        self._slot: dict[str, int] = {}
        for p in chosen:
            if not p.expression:
                continue
            try:
                entries = self._compile(compiler, p)
            except Unsupported as exc:
                self.skipped[p.code] = str(exc)
                log.debug("search parameter %s skipped on %s: %s", p.code, resource_type, exc)
                continue
            self.params[p.code] = p
            self._slot[p.code] = PARAM_TYPES.index(p.type)
            for key, chain in entries:
                if key is None:
                    gate = _gate(compiler, p) if p.code in self.fast else None
                    self._always.append((p.code, chain, gate))
                else:
                    self._by_key.setdefault(key, []).append((p.code, chain))

    def _compile(self, compiler: Compiler, p: SearchParam) -> list[tuple[str | None, Chain]]:
        if self.mode == "engine" and p.type != "composite":
            self.engine.add(p.code)
            return engine_entries(p, self.resource_type)
        try:
            assert p.expression is not None
            entries = compiler.entries(parse(p.expression), compiler.sinks_for(p))
        except Unsupported:
            if self.mode == "fast":
                raise
            entries = engine_entries(p, self.resource_type)
            self.engine.add(p.code)
            return entries
        self.fast.add(p.code)
        return entries

    def extract(
        self,
        resource: dict[str, Any],
        *,
        resolver: TypeResolver | None = None,
        tz: tzinfo = DEFAULT_TZ,
        base_urls: tuple[str, ...] = (),
    ) -> SearchIndex:
        ctx = ExtractContext(resource, tz=tz, resolver=resolver, base_urls=base_urls)
        found: dict[str, list[Any]] = {}
        by_key = self._by_key
        for key, value in resource.items():
            entries = by_key.get(key)
            if entries is None:
                continue
            for code, chain in entries:
                buf = found.get(code)
                if buf is None:
                    buf = found[code] = []
                chain(value, ctx, buf)
        for code, chain, gate in self._always:
            if gate is not None and not _open(gate, resource):
                continue  # a component has nothing to read: the composite has no value
            buf = found.get(code)
            if buf is None:
                buf = found[code] = []
            chain(resource, ctx, buf)
        index = SearchIndex(self.resource_type)
        groups = (
            index.token,
            index.string,
            index.date,
            index.reference,
            index.quantity,
            index.number,
            index.uri,
            index.composite,
            index.special,
        )
        slot = self._slot
        for code, buf in found.items():
            if buf:
                n = len(buf)
                if n == 2:  # the common case: one comparison instead of two hashes
                    first = buf[0]
                    if first is buf[1] or first == buf[1]:
                        buf = [first]
                elif n > 2:
                    buf = list(dict.fromkeys(buf))
                groups[slot[code]][code] = buf
        return index


def _open(gate: tuple[frozenset[str], ...], resource: dict[str, Any]) -> bool:
    """Whether each component of the gate has a key in the resource."""
    for keys in gate:
        for key in keys:
            if key in resource:
                break
        else:
            return False
    return True


def _gate(compiler: Compiler, param: SearchParam) -> tuple[frozenset[str], ...] | None:
    """For a composite evaluated on the whole resource: per component, the top-level keys its
    expression reads (the keys of its own fast-path entries); None when a component reads the resource
    as a whole (an entry without a key) or cannot be compiled (then the composite always runs)."""
    if param.type != "composite" or param.expression is None:
        return None
    node = parse(param.expression)
    for term in node.terms if isinstance(node, Union) else (node,):
        # each term must be the resource itself ("Observation": the entry without a key, whose
        # components read the resource's own keys) or a path from one of its keys (an entry with a key)
        if not isinstance(term, Path) or any(isinstance(s, Index | First | Exists) for s in term.steps):
            return None
        steps = term.steps
        if steps and isinstance(steps[0], Child) and steps[0].name[:1].isupper():
            if steps[0].name != compiler.resource_type:
                return None
            steps = steps[1:]
        if steps and not isinstance(steps[0], Child):
            return None
    by_url = {p.url: p for p in all_search_params()}
    gate: list[frozenset[str]] = []
    for url, expression in COMPONENT_ERRATA.get(param.url, param.components):
        component = by_url.get(url)
        if component is None:
            return None
        try:
            entries = compiler.entries(parse(expression), compiler.sinks_for(component))
        except Unsupported:
            return None
        keys = [key for key, _ in entries]
        if not keys or None in keys:
            return None
        gate.append(frozenset(k for k in keys if k is not None))
    return tuple(gate) if gate else None


@cache
def extractor_for(resource_type: str) -> Extractor:
    """The cached extractor (mode ``auto``) for a resource type's R4 search parameters."""
    if not get_model().is_resource(resource_type):
        raise ValueError(f"not a FHIR R4 resource type: {resource_type!r}")
    return Extractor(resource_type)


def extract(
    resource: dict[str, Any],
    *,
    resolver: TypeResolver | None = None,
    tz: tzinfo = DEFAULT_TZ,
    base_urls: tuple[str, ...] = (),
) -> SearchIndex:
    """The search index of a resource (a FHIR JSON dict with ``resourceType``).

    ``resolver`` types references the resource cannot type itself (``urn:uuid:...``), for
    ``where(resolve() is X)`` and :attr:`ReferenceValue.target_type`; ``tz`` is the zone for values without
    an offset; ``base_urls`` are this server's own bases, whose absolute references count as local.
    """
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise ValueError("resource has no resourceType")
    return extractor_for(rtype).extract(resource, resolver=resolver, tz=tz, base_urls=base_urls)


def extract_to_json(resource: dict[str, Any], **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
    """:func:`extract` as JSON-ready data (parameter code -> values), for the CLI and debugging."""
    return extract(resource, **kwargs).to_json()


def compile_report() -> CompileReport:
    """Compile every R4 parameter with an expression for each of its base types, and count the paths."""
    model = get_model()
    fast = engine = 0
    failed: list[tuple[str, str]] = []
    compilers: dict[str, Compiler] = {}
    params = [p for p in all_search_params() if p.expression]
    for p in params:
        bases = model.resource_types() if set(p.base) & {"Resource", "DomainResource"} else p.base
        ok = True
        for base in bases:
            compiler = compilers.setdefault(base, Compiler(base, model))
            try:
                assert p.expression is not None
                compiler.entries(parse(p.expression), compiler.sinks_for(p))
            except Unsupported as exc:
                ok = False
                reason = str(exc)
                break
        if ok:
            fast += 1
            continue
        try:
            engine_entries(p)
            engine += 1
        except Unsupported as exc:
            failed.append((p.url, f"{reason}; engine: {exc}"))
    return CompileReport(len(params), fast, engine, tuple(failed))
