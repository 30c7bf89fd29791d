"""Expanding a ValueSet: its ``compose`` evaluated against the code systems the service knows.

Spec: https://hl7.org/fhir/R4/valueset.html#compose (include / exclude by system, version, concept
lists, filters, ``valueSet`` imports; "the value set is the union of the includes, less the union of the
excludes"; an include with both a system and value sets is their intersection),
https://hl7.org/fhir/R4/valueset-filter-operator.html and
https://hl7.org/fhir/R4/valueset-operation-expand.html.

:func:`expand` is synchronous and pure: it asks a :class:`Resolver` for code systems and imported value
sets. The packaged registry is one resolver; the service (:mod:`.service`) first fetches what a stored
value set refers to from the FHIR store and then expands through a resolver holding both. Expansion
rules:

- an include of a whole code system, or with filters, needs the code system and that it be enumerable
  (UCUM is not); an unknown code system is an error (``not-found``) naming the include;
- an include listing concepts keeps each listed code the code system has (its display when the include
  gives none); a listed code the code system does not have is dropped with a warning when the code
  system is ``complete``, and kept as listed when the code system is a fragment or unknown (SNOMED CT
  codes in R4 value sets, LOINC codes beyond Sen Health's fragment);
- filters of one include are AND-ed; :meth:`CodeSystem.filter` implements ``=``, ``is-a``,
  ``descendent-of``, ``is-not-a``, ``regex``, ``in``, ``not-in``, ``generalizes``, ``exists``;
- ``valueSet`` imports are expanded recursively (a cycle is an error) and intersected;
- ``activeOnly`` drops inactive concepts; ``limit`` stops with :class:`TooCostly` beyond that many codes.

A ValueSet with an ``expansion`` and no ``compose`` (some R4 value sets) expands to that expansion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept, FilterError

__all__ = [
    "ExpandError",
    "Expansion",
    "Item",
    "Resolver",
    "TooCostly",
    "expand",
]

#: No expansion holds more than this many codes (12,137 ICD-10 codes fit; a whole LOINC would not).
DEFAULT_LIMIT = 100_000


class ExpandError(ValueError):
    """A value set that cannot be expanded: ``code`` is the OperationOutcome issue type."""

    def __init__(self, message: str, code: str = "invalid", expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.expression = expression


class TooCostly(ExpandError):
    """More codes than the caller's limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "too-costly")


class Resolver(Protocol):
    """Where an expansion finds code systems and imported value sets."""

    def code_system(self, url: str, version: str | None) -> CodeSystem | None: ...

    def value_set(self, url: str, version: str | None) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Item:
    """One code of an expansion."""

    system: str
    code: str
    display: str
    version: str | None = None
    abstract: bool = False
    inactive: bool = False
    designations: tuple[tuple[str, str], ...] = ()  # (language, value)

    @property
    def key(self) -> tuple[str, str]:
        return self.system, self.code


@dataclass(slots=True)
class Expansion:
    """The codes of a value set, in order, and what was used to expand it."""

    items: list[Item]
    used_systems: dict[str, str | None] = field(default_factory=dict)  # system -> version used
    warnings: list[str] = field(default_factory=list)
    #: the words of each item's displays, for text filters (:mod:`.text_match`), made on first use
    words: tuple[list[str], list[list[str]]] | None = None

    def keys(self) -> set[tuple[str, str]]:
        return {i.key for i in self.items}


@dataclass(slots=True)
class _Run:
    resolver: Resolver
    active_only: bool
    limit: int
    used: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)


def _split_canonical(ref: str) -> tuple[str, str | None]:
    url, _, version = ref.partition("|")
    return url, version or None


def _item(cs: CodeSystem, c: Concept, display: str | None = None) -> Item:
    designations = tuple((lang, v) for lang, v in c.designations.items() if v)
    return Item(cs.url, c.code, display or c.display, cs.version, c.abstract, c.inactive, designations)


def _include(run: _Run, inc: dict[str, Any], where: str) -> list[Item] | None:
    """The items of one include (or exclude); None when it names no system (value sets only)."""
    system = inc.get("system")
    if system is None:
        return None
    if not isinstance(system, str) or not system:
        raise ExpandError("include.system must be a URI", expression=f"{where}.system")
    version = inc.get("version") if isinstance(inc.get("version"), str) else None
    cs = run.resolver.code_system(system, version)
    if cs is None and version is not None:
        cs = run.resolver.code_system(system, None)
        if cs is not None:  # R4 itself pins versions it does not ship (task-code 3.6.0)
            run.warnings.append(f"{system} version {version} is not held: version {cs.version} used")
    concepts = inc.get("concept")
    filters = inc.get("filter")
    if cs is not None:
        run.used.setdefault(cs.url, cs.version)
    if isinstance(concepts, list) and concepts:
        out: list[Item] = []
        for i, raw in enumerate(concepts):
            if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
                raise ExpandError("each include.concept needs a code", expression=f"{where}.concept[{i}]")
            given = raw.get("display") if isinstance(raw.get("display"), str) else None
            found = cs.find(raw["code"]) if cs is not None else None
            if found is not None and cs is not None:
                out.append(_item(cs, found, given))
            elif cs is not None and cs.enumerable and cs.content == "complete":
                run.warnings.append(f"{system}#{raw['code']} is not in the code system: left out")
            else:
                out.append(Item(system, raw["code"], given or "", version))
        return out
    if cs is None:
        raise ExpandError(
            f"The code system {system} is not known to this server", "not-found", f"{where}.system"
        )
    if not cs.enumerable:
        raise ExpandError(
            f"The code system {system} cannot be enumerated (a grammar): list its codes in the include",
            "too-costly",
            f"{where}.system",
        )
    preds: list[Callable[[Concept], bool]] = []
    if isinstance(filters, list):
        for i, f in enumerate(filters):
            if not isinstance(f, dict) or not all(
                isinstance(f.get(k), str) for k in ("property", "op", "value")
            ):
                raise ExpandError(
                    "a filter needs a property, an op and a value", expression=f"{where}.filter[{i}]"
                )
            try:
                preds.append(cs.filter(f["property"], f["op"], f["value"]))
            except FilterError as exc:
                raise ExpandError(str(exc), "not-supported", f"{where}.filter[{i}]") from None
    return [_item(cs, c) for c in cs.select(preds)]


def _value_sets(run: _Run, refs: Iterable[Any], where: str) -> set[tuple[str, str]] | None:
    """The intersection of the imported value sets' codes (None when there are none)."""
    result: set[tuple[str, str]] | None = None
    for i, ref in enumerate(refs):
        if not isinstance(ref, str):
            raise ExpandError("include.valueSet must be canonical URLs", expression=f"{where}.valueSet[{i}]")
        url, version = _split_canonical(ref)
        vs = run.resolver.value_set(url, version)
        if vs is None:
            raise ExpandError(
                f"The value set {ref} is not known to this server", "not-found", f"{where}.valueSet[{i}]"
            )
        keys = {item.key for item in _expand(run, vs, url)}
        result = keys if result is None else result & keys
    return result


def _part(run: _Run, inc: Any, where: str) -> tuple[list[Item], set[tuple[str, str]] | None]:
    if not isinstance(inc, dict):
        raise ExpandError("an include is an object", expression=where)
    items = _include(run, inc, where)
    imported = _value_sets(run, inc.get("valueSet") or (), where)
    return items or [], imported


def _expand(run: _Run, vs: dict[str, Any], url: str) -> list[Item]:
    if url in run.stack:
        raise ExpandError(
            f"The value set {url} imports itself (through {' > '.join(run.stack)})", "processing"
        )
    run.stack.append(url)
    try:
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            contains = (vs.get("expansion") or {}).get("contains")
            if isinstance(contains, list):
                return _flatten(contains)
            raise ExpandError(
                f"The value set {url or '(inline)'} has no compose to expand", "invalid", "ValueSet.compose"
            )
        ordered: list[Item] = []
        seen: set[tuple[str, str]] = set()
        for i, inc in enumerate(compose.get("include") or ()):
            where = f"ValueSet.compose.include[{i}]"
            items, imported = _part(run, inc, where)
            if "system" not in inc and imported is not None:
                # value sets only: their codes, displays from their own expansions
                items = [it for ref in inc.get("valueSet") or () for it in _imported_items(run, ref)]
                items = [it for it in items if it.key in imported]
            elif imported is not None:
                items = [it for it in items if it.key in imported]
            for it in items:
                if it.key in seen or (run.active_only and it.inactive):
                    continue
                seen.add(it.key)
                ordered.append(it)
                if len(ordered) > run.limit:
                    raise TooCostly(
                        f"The value set {url or '(inline)'} has more than {run.limit:,} codes: narrow it"
                    )
        excluded: set[tuple[str, str]] = set()
        for i, exc in enumerate(compose.get("exclude") or ()):
            where = f"ValueSet.compose.exclude[{i}]"
            items, imported = _part(run, exc, where)
            keys = {it.key for it in items}
            if imported is not None:
                keys = (keys & imported) if "system" in exc else (keys | imported)
            excluded |= keys
        if compose.get("inactive") is False:
            ordered = [it for it in ordered if not it.inactive]
        return [it for it in ordered if it.key not in excluded]
    finally:
        run.stack.pop()


def _imported_items(run: _Run, ref: Any) -> list[Item]:
    url, version = _split_canonical(str(ref))
    vs = run.resolver.value_set(url, version)
    return _expand(run, vs, url) if vs is not None else []


def _flatten(contains: list[Any]) -> list[Item]:
    out: list[Item] = []
    for c in contains:
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("code"), str) and isinstance(c.get("system"), str):
            out.append(
                Item(
                    c["system"],
                    c["code"],
                    str(c.get("display") or ""),
                    c.get("version"),
                    bool(c.get("abstract")),
                    bool(c.get("inactive")),
                )
            )
        if isinstance(c.get("contains"), list):
            out.extend(_flatten(c["contains"]))
    return out


def expand(
    value_set: dict[str, Any],
    resolver: Resolver,
    *,
    active_only: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> Expansion:
    """Every code of ``value_set`` (a ValueSet resource), in compose order; raises :class:`ExpandError`."""
    run = _Run(resolver, active_only, limit)
    url = value_set.get("url") if isinstance(value_set.get("url"), str) else ""
    items = _expand(run, value_set, str(url))
    if active_only:
        items = [it for it in items if not it.inactive]
    return Expansion(items, run.used, run.warnings)
