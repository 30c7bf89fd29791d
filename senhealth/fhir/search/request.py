"""Search requests: the query parameters of a FHIR search, parsed and checked, with no database access.

Spec: https://hl7.org/fhir/R4/search.html: parameter types and modifiers (§3.1.1.4–§3.1.1.5), chaining
(§3.1.1.5.11) and reverse chaining ``_has`` (§3.1.1.5.12), ``_list`` (§3.1.1.5.13), ``_include`` /
``_revinclude`` with ``:iterate`` (§3.1.1.5.4), ``_sort`` (§3.1.1.5.5), ``_count`` (§3.1.1.5.6),
``_total`` (§3.1.1.5.7), ``_summary`` (§3.1.1.5.8), ``_elements`` (§3.1.1.5.9), ``_contained``
(§3.1.1.5.10), and "Handling errors" (§3.1.1.2.1: ``handling=strict|lenient``).

``parse_search(res_type, params, strict=...)`` turns ``[(name, value), ...]`` (as decoded from the URL or
a form body, in order) into a :class:`SearchRequest`:

- ``clauses``: an AND of :class:`Condition` (one per occurrence of a parameter); each condition holds an
  OR of parsed values (the comma-separated alternatives), a ``:missing`` flag, a chain to the target of a
  reference, or a reverse chain (``_has``);
- result parameters: ``includes`` / ``revincludes``, ``sort``, ``count``, ``total``, ``summary``,
  ``elements``, ``cursor`` (``_cursor``, the opaque paging token this server puts in ``next`` links).

Malformed values (bad prefix or number, unknown modifier on a known parameter, bad ``_count``) always
raise :class:`SearchError` naming the parameter. Unknown or unsupported parameters raise under strict
handling; under lenient handling (the default) they are ignored and described in ``warnings``
(OperationOutcome issues of severity ``warning``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import SearchParam, all_search_params, search_params_for
from senhealth.fhir.search.query.errors import SearchError, warning_issue
from senhealth.fhir.search.query.values import (
    CompositeQuery,
    DateQuery,
    NearQuery,
    NumberQuery,
    QuantityQuery,
    ReferenceQuery,
    StringQuery,
    TokenQuery,
    UriQuery,
    ValueQuery,
    parse_value,
    split_escaped,
    unescape,
)

__all__ = [
    "DEFAULT_COUNT",
    "MAX_CLAUSES",
    "MAX_COUNT",
    "MAX_INCLUDES",
    "MAX_VALUES",
    "Chain",
    "CompositeQuery",
    "Condition",
    "DateQuery",
    "Has",
    "Include",
    "NearQuery",
    "NumberQuery",
    "ParamInfo",
    "QuantityQuery",
    "ReferenceQuery",
    "SearchError",
    "SearchRequest",
    "SortKey",
    "StringQuery",
    "TokenQuery",
    "UriQuery",
    "ValueQuery",
    "param_info",
    "parse_search",
]

DEFAULT_COUNT = 20
MAX_COUNT = 1000
#: At most this many search conditions (parameter occurrences, AND-ed) in one search.
MAX_CLAUSES = 50
#: At most this many comma-separated alternatives (OR-ed) in one parameter occurrence.
MAX_VALUES = 100
#: At most this many ``_include`` and ``_revinclude`` parameters together.
MAX_INCLUDES = 50

#: Modifiers each parameter type accepts (§3.1.1.5); a reference also takes a resource type.
MODIFIERS: dict[str, frozenset[str]] = {
    "number": frozenset({"missing"}),
    "date": frozenset({"missing"}),
    "string": frozenset({"missing", "exact", "contains"}),
    "token": frozenset({"missing", "not", "text", "of-type", "above", "below", "in", "not-in"}),
    "reference": frozenset({"missing", "identifier"}),
    "composite": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "uri": frozenset({"missing", "above", "below"}),
    "special": frozenset(),
}
#: Modifiers that need the terminology service: resolved to code sets before the SQL is built
#: (:mod:`senhealth.fhir.search.terminology`).
TERMINOLOGY_MODIFIERS = frozenset({"above", "below", "in", "not-in"})
#: Modifiers the spec defines that are not built yet.
LATER_MODIFIERS: dict[str, frozenset[str]] = {
    "reference": frozenset({"above", "below"}),
}
SORTABLE = frozenset({"string", "date", "token", "number", "quantity", "uri", "reference"})
SUMMARY = frozenset({"true", "text", "data", "count", "false"})
TOTAL = frozenset({"none", "estimate", "accurate"})
#: Parameters the spec defines that this server does not implement.
UNSUPPORTED = frozenset({"_text", "_content", "_query", "_filter", "_containedType", "_score"})
#: Handled by the HTTP layer, not by search.
TRANSPORT = frozenset({"_format", "_pretty"})
_ELEMENT = re.compile(r"(?:[A-Z][A-Za-z]+\.)?([a-z][A-Za-z0-9]*)")


class SortKey(NamedTuple):
    param: str  # a search parameter code, or _id / _lastUpdated
    descending: bool


@dataclass(frozen=True, slots=True)
class Chain:
    """``param:Type.next=...``: the reference must point at a resource of ``target_types`` matching
    ``condition`` (§3.1.1.5.11)."""

    target_types: tuple[str, ...]
    condition: Condition


@dataclass(frozen=True, slots=True)
class Has:
    """``_has:Type:reference:condition``: some ``Type`` refers to the resource through ``reference`` and
    matches ``condition`` (§3.1.1.5.12)."""

    res_type: str
    reference: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class Condition:
    """One parameter occurrence: the resource matches if it matches any of ``values`` (OR).

    ``param`` is the code (``_has`` for a reverse chain, ``_list`` for list membership), ``type`` the
    parameter type (``has`` / ``list`` for those two), ``types`` the resource types it is evaluated on
    (empty: every type). Exactly one of ``values``, ``missing``, ``chain`` and ``has`` says what to test.
    """

    param: str
    type: str
    types: tuple[str, ...]
    modifier: str | None = None
    values: tuple[ValueQuery, ...] = ()
    missing: bool | None = None
    chain: Chain | None = None
    has: Has | None = None
    components: tuple[str, ...] = ()  # composite: the component parameter types


@dataclass(frozen=True, slots=True)
class Include:
    """``_include`` / ``_revinclude`` ``Source:param[:Target]``; ``*`` gives ``None`` (§3.1.1.5.4)."""

    source_type: str | None
    param: str | None
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """A search parameter as seen from a set of resource types (the types agree on it)."""

    code: str
    type: str
    targets: tuple[str, ...] = ()
    components: tuple[str, ...] = ()


@dataclass(slots=True)
class SearchRequest:
    """A parsed search; see the module docstring. ``types`` is empty for a search of every type."""

    res_type: str | None
    types: tuple[str, ...]
    clauses: tuple[Condition, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = DEFAULT_COUNT
    total: str | None = None  # None: the server default (see execute.search)
    summary: str | None = None
    elements: tuple[str, ...] = ()
    cursor: str | None = None
    contained: str = "false"
    strict: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)
    params: tuple[tuple[str, str], ...] = ()  # what was asked, minus _cursor: for self / next links

    def fingerprint(self) -> str:
        """A digest of what decides the matches and their order; a paging cursor is only valid for it."""
        key = repr((self.types, self.clauses, self.sort))
        return hashlib.sha256(key.encode()).hexdigest()[:16]


# --- parameter lookup -------------------------------------------------------------------------------


@cache
def _by_url() -> dict[str, SearchParam]:
    return {p.url: p for p in all_search_params()}


@cache
def resource_types() -> frozenset[str]:
    return frozenset(get_model().resource_types())


def _info(p: SearchParam) -> ParamInfo:
    comps = tuple(_by_url()[url].type if url in _by_url() else "token" for url, _ in p.components)
    return ParamInfo(p.code, p.type, p.target, comps)


@cache
def param_info(types: tuple[str, ...], code: str) -> ParamInfo | None:
    """The parameter ``code`` on every one of ``types`` (empty: all types, so Resource-level only).

    ``None`` if some type lacks it. Raises :class:`SearchError` when the types disagree on its type.
    """
    if not types:
        p = search_params_for("Resource").get(code)
        return None if p is None or "DomainResource" in p.base else _info(p)
    found: list[SearchParam] = []
    for t in types:
        p = search_params_for(t).get(code)
        if p is None:
            return None
        found.append(p)
    kinds = {p.type for p in found}
    if len(kinds) > 1:
        raise SearchError(f"{code} has different types on {', '.join(types)}: search one type", code)
    targets = tuple(dict.fromkeys(t for p in found for t in p.target))
    return ParamInfo(code, found[0].type, targets, _info(found[0]).components)


# --- the parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, strict: bool, base_urls: tuple[str, ...]) -> None:
        self.strict = strict
        self.base_urls = base_urls
        self.warnings: list[dict[str, Any]] = []

    def unknown(self, message: str, expr: str) -> None:
        """An unknown or unsupported parameter: an error under strict handling, else a warning."""
        if self.strict:
            raise SearchError(message, expr, code="not-supported")
        self.warnings.append(warning_issue(message + "; ignored", expr))

    def condition(self, types: tuple[str, ...], key: str, value: str, expr: str) -> Condition | None:
        if key.startswith("_has:"):
            return self._has(types, key, value, expr)
        segments = key.split(".")
        return self._chain(types, segments, value, expr)

    def _has(self, types: tuple[str, ...], key: str, value: str, expr: str) -> Condition | None:
        parts = key.split(":", 3)
        if len(parts) < 4 or not all(parts):
            raise SearchError("_has is _has:Type:reference:parameter=value", expr)
        _, src, ref, rest = parts
        if src not in resource_types():
            raise SearchError(f"_has: {src!r} is not a resource type", expr)
        info = param_info((src,), ref)
        if info is None or info.type != "reference":
            raise SearchError(f"_has: {src} has no reference parameter {ref!r}", expr)
        if types and info.targets and not set(types) & set(info.targets):
            raise SearchError(f"_has: {src}.{ref} does not reference {', '.join(types)}", expr)
        inner = self.condition((src,), rest, value, expr)
        if inner is None:
            return None
        return Condition("_has", "has", types, has=Has(src, ref, inner))

    def _chain(self, types: tuple[str, ...], segments: list[str], value: str, expr: str) -> Condition | None:
        code, _, modifier = segments[0].partition(":")
        mod: str | None = modifier or None
        if code == "_list":
            return self._list(types, mod, value, expr, len(segments) > 1)
        if code in UNSUPPORTED:
            self.unknown(f"{code} is not supported", expr)
            return None
        info = param_info(types, code)
        if info is None:
            where = ", ".join(types) if types else "every resource type"
            self.unknown(f"unknown search parameter {code!r} for {where}", expr)
            return None
        if len(segments) > 1:
            return self._chained(types, info, mod, segments, value, expr)
        return self._leaf(types, info, mod, value, expr)

    def _list(
        self, types: tuple[str, ...], mod: str | None, value: str, expr: str, chained: bool
    ) -> Condition | None:
        if mod is not None or chained:
            raise SearchError("_list takes no modifier and cannot be chained", expr)
        ids = [unescape(v) for v in _alternatives(value, expr)]
        if any(i.startswith("$") for i in ids):
            raise SearchError("functional lists ($current-...) are not supported", expr, code="not-supported")
        if not ids:
            return None  # an empty value is ignored
        return Condition("_list", "list", types, values=tuple(ReferenceQuery("List", i) for i in ids))

    def _chained(
        self,
        types: tuple[str, ...],
        info: ParamInfo,
        mod: str | None,
        segments: list[str],
        value: str,
        expr: str,
    ) -> Condition | None:
        if info.type != "reference":
            raise SearchError(f"{info.code} is a {info.type} parameter: only references can be chained", expr)
        next_code = segments[1].partition(":")[0]
        if mod is not None:
            if mod not in resource_types():
                raise SearchError(f"{info.code}:{mod}: chain through a resource type modifier", expr)
            if info.targets and mod not in info.targets:
                raise SearchError(f"{info.code} does not reference {mod}", expr)
            candidates: tuple[str, ...] = (mod,)
        else:
            candidates = info.targets or tuple(sorted(resource_types()))
        targets = tuple(t for t in candidates if param_info((t,), next_code) is not None)
        if not targets:
            self.unknown(f"no target of {info.code} has a search parameter {next_code!r}", expr)
            return None
        if len(targets) > 1:
            kinds = {p.type for t in targets if (p := param_info((t,), next_code)) is not None}
            if len(kinds) > 1:
                raise SearchError(f"{next_code} differs between the targets of {info.code}: add :Type", expr)
        inner = self._chain(targets, segments[1:], value, expr)
        if inner is None:
            return None
        return Condition(info.code, "reference", types, chain=Chain(targets, inner))

    def _leaf(
        self, types: tuple[str, ...], info: ParamInfo, mod: str | None, value: str, expr: str
    ) -> Condition | None:
        ptype = info.type
        if mod is not None and mod not in MODIFIERS.get(ptype, frozenset()):
            if ptype == "reference" and mod in resource_types():
                if info.targets and mod not in info.targets:
                    raise SearchError(f"{info.code} does not reference {mod}", expr)
            elif mod in LATER_MODIFIERS.get(ptype, frozenset()):
                raise SearchError(
                    f":{mod} on {ptype} parameters is not supported yet",
                    expr,
                    code="not-supported",
                )
            else:
                raise SearchError(f"unknown modifier :{mod} for the {ptype} parameter {info.code}", expr)
        if info.code in ("_id", "_lastUpdated") and mod not in (None, "missing", "not"):
            raise SearchError(f"{info.code} takes no :{mod} modifier", expr)
        if mod == "missing":
            if not value:
                return None  # an empty value is ignored
            if value not in ("true", "false"):
                raise SearchError(":missing takes true or false", expr)
            return Condition(info.code, ptype, types, mod, missing=value == "true")
        raws = _alternatives(value, expr)
        if not raws:
            return None  # an empty value is ignored
        values = tuple(
            parse_value(
                ptype,
                raw,
                mod,
                expr=expr,
                targets=info.targets,
                components=info.components,
                base_urls=self.base_urls,
            )
            for raw in raws
        )
        return Condition(info.code, ptype, types, mod, values, components=info.components)

    def include(self, name: str, value: str) -> Include | None:
        base, _, modifier = name.partition(":")
        if modifier not in ("", "iterate", "recurse"):
            raise SearchError(f"{base} takes :iterate as its only modifier", name)
        iterate = modifier in ("iterate", "recurse")
        if value == "*":
            return Include(None, None, None, iterate)
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise SearchError(f"{value!r}: {base} is SourceType:parameter[:TargetType] or *", name)
        src, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        for t in (src, target):
            if t is not None and t not in resource_types():
                raise SearchError(f"{value!r}: {t!r} is not a resource type", name)
        if code != "*":
            info = param_info((src,), code)
            if info is None or info.type != "reference":
                self.unknown(f"{src} has no reference parameter {code!r}", name)
                return None
            if target is not None and info.targets and target not in info.targets:
                raise SearchError(f"{value!r}: {src}.{code} does not reference {target}", name)
        return Include(src, None if code == "*" else code, target, iterate)

    def sort(self, value: str, types: tuple[str, ...], name: str) -> list[SortKey]:
        keys: list[SortKey] = []
        descending_all = name == "_sort:desc"
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            desc = item.startswith("-") or descending_all
            code = item.lstrip("-")
            if code in ("_id", "_lastUpdated"):
                keys.append(SortKey(code, desc))
                continue
            info = param_info(types, code)
            if info is None:
                self.unknown(f"cannot sort on unknown parameter {code!r}", name)
                continue
            if info.type not in SORTABLE:
                raise SearchError(f"cannot sort on the {info.type} parameter {code}", name)
            keys.append(SortKey(code, desc))
        return keys


def _alternatives(value: str, expr: str) -> list[str]:
    """The non-empty comma-separated alternatives of a value; at most :data:`MAX_VALUES`."""
    raws = [v for v in split_escaped(value, ",") if v]
    if len(raws) > MAX_VALUES:
        raise SearchError(
            f"too many search parameter values: {len(raws)} alternatives in one parameter, at most"
            f" {MAX_VALUES} are allowed",
            expr,
            code="too-costly",
        )
    return raws


def _check_nul(params: list[tuple[str, str]]) -> None:
    """PostgreSQL text cannot hold U+0000, and no FHIR value contains it: reject it before anything."""
    for name, value in params:
        if "\x00" in name:
            shown = name.replace("\x00", "\\u0000")
            raise SearchError(f"the parameter name {shown!r} contains the character U+0000 (NUL)", shown)
        if "\x00" in value:
            raise SearchError(f"the value of {name} contains the character U+0000 (NUL)", name)


def _types(res_type: str | None, params: list[tuple[str, str]], parser: _Parser) -> tuple[str, ...]:
    if res_type is not None:
        if res_type not in resource_types():
            raise SearchError(f"{res_type!r} is not a FHIR R4 resource type", code="not-supported")
        for name, value in params:
            if name == "_type" and {v for v in value.split(",") if v} - {res_type}:
                raise SearchError("_type only applies to a search of every type", "_type")
        return (res_type,)
    listed: list[str] = []
    for name, value in params:
        if name == "_type":
            for t in value.split(","):
                t = t.strip()
                if not t:
                    continue
                if t not in resource_types():
                    raise SearchError(f"_type: {t!r} is not a FHIR R4 resource type", "_type")
                listed.append(t)
    return tuple(dict.fromkeys(listed))


def _count(value: str) -> int:
    if not value.isdigit():
        raise SearchError(f"_count must be a whole number from 0, not {value!r}", "_count")
    return int(value)


def parse_search(
    res_type: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool = False,
    base_urls: tuple[str, ...] = (),
) -> SearchRequest:
    """Parse a search on ``res_type`` (``None``: every type, narrowed by ``_type``).

    ``params`` are the decoded query parameters in order (repetition means AND). ``strict`` is
    ``handling=strict``. ``base_urls`` are this server's bases: an absolute reference under one of them
    searches the local resource. Raises :class:`SearchError`.
    """
    _check_nul(params)
    parser = _Parser(strict, tuple(b.rstrip("/") for b in base_urls))
    types = _types(res_type, params, parser)
    req = SearchRequest(res_type, types, strict=strict)
    clauses: list[Condition] = []
    seen: set[Condition] = set()
    includes: list[Include] = []
    revincludes: list[Include] = []
    kept: list[tuple[str, str]] = []
    for name, value in params:
        if name != "_cursor":
            kept.append((name, value))
        base = name.partition(":")[0]
        if base == "_type" or name in TRANSPORT:
            continue
        if name == "_cursor":
            req.cursor = value or None
        elif name == "_count":
            req.count = _count(value)
            if req.count > MAX_COUNT:
                parser.warnings.append(
                    warning_issue(f"_count is at most {MAX_COUNT}; using {MAX_COUNT}", "_count", "too-costly")
                )
                req.count = MAX_COUNT
        elif name == "_total":
            if value not in TOTAL:
                raise SearchError("_total is none, estimate or accurate", "_total")
            req.total = value
        elif name == "_summary":
            if value not in SUMMARY:
                raise SearchError("_summary is true, text, data, count or false", "_summary")
            req.summary = value
        elif name == "_elements":
            req.elements = _elements(value)
        elif name == "_contained":
            if value not in ("false", "true", "both"):
                raise SearchError("_contained is false, true or both", "_contained")
            if value != "false":
                parser.unknown("searching contained resources is not supported", "_contained")
        elif base in ("_sort",):
            if name not in ("_sort", "_sort:asc", "_sort:desc"):
                raise SearchError("_sort takes no modifier", name)
            req.sort = tuple(parser.sort(value, types, name))
        elif base in ("_include", "_revinclude"):
            inc = parser.include(name, value)
            if inc is not None:
                if len(includes) + len(revincludes) >= MAX_INCLUDES:
                    raise SearchError(
                        f"too many search parameters: at most {MAX_INCLUDES} _include and _revinclude"
                        " are allowed",
                        name,
                        code="too-costly",
                    )
                (revincludes if base == "_revinclude" else includes).append(inc)
        elif base in UNSUPPORTED:
            parser.unknown(f"{base} is not supported", name)
        else:
            cond = parser.condition(types, name, value, name)
            if cond is not None and cond not in seen:  # a repeated condition adds nothing to an AND
                seen.add(cond)
                if len(clauses) >= MAX_CLAUSES:
                    raise SearchError(
                        f"too many search parameters: at most {MAX_CLAUSES} search conditions (AND-ed"
                        " parameters) are allowed in one search",
                        name,
                        code="too-costly",
                    )
                clauses.append(cond)
    req.clauses = tuple(clauses)
    req.includes = tuple(includes)
    req.revincludes = tuple(revincludes)
    req.warnings = parser.warnings
    req.params = tuple(kept)
    return req


def _elements(value: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        m = _ELEMENT.fullmatch(item)
        if m is None:
            raise SearchError(f"_elements: {item!r} is not an element name", "_elements")
        out.append(m.group(1))
    return tuple(dict.fromkeys(out))
