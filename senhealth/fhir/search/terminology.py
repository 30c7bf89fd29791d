"""The token modifiers that need terminology: ``:below``, ``:above``, ``:in``, ``:not-in``.

Spec: https://hl7.org/fhir/R4/search.html#token (modifiers ``:above`` / ``:below``: "the search
parameter is a concept with the form [system]|[code], and the search parameter tests whether the coding
in a resource subsumes / is subsumed by the specified search code"; ``:in`` / ``:not-in``: "the search
parameter is a URI (relative or absolute) that identifies a value set, and the search parameter tests
whether the coding is (not) in the specified value set").

The parser (:mod:`.request`) keeps these conditions as written; before any SQL is built,
:func:`resolve_terminology` (called by :func:`senhealth.fhir.search.execute.search`) turns each into a
:class:`~.query.values.CodeSetQuery`, a set of ``(system, code)`` that the SQL tests with
``code = ANY(...) AND system = ...`` over the token index:

- ``:below=system|code``: the code and its descendants in the code system's hierarchy
  (``icd10-vn|I``: the 941 concepts of chapter I; ``icd10-vn|A97``: ``A97`` and ``A97.0`` … ``A97.9``);
  for ICD-10 (the Ministry's and WHO's) a code that is not a concept is read as a code prefix
  (``http://hl7.org/fhir/sid/icd-10|A9``: every code beginning with ``A9``);
- ``:above=system|code``: the code and its ancestors;
- ``:in=url`` / ``:not-in=url``: the value set's expansion (packaged, stored in the store, or implicit:
  ``<system>?fhir_vs=isa/<code>``; ``ValueSet/[id]`` names a stored one by id). ``:not-in`` matches
  resources with no coding in it, as ``:not`` does.

Codes are compared with the system the search names (a Condition coded in WHO ICD-10 is not below a
code of the Ministry's system). A set beyond :data:`MAX_CODES` is a 400 ``too-costly``; an unknown code
system or value set is a 400 naming the parameter. Look-ups of stored resources go through the search's
own connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.query.values import CodeSetQuery, TokenQuery, ValueSetQuery
from senhealth.fhir.search.request import TERMINOLOGY_MODIFIERS, Chain, Condition, Has, SearchRequest
from senhealth.fhir.terminology import icd10_editions, icd10_who
from senhealth.fhir.terminology.service import Terminology
from senhealth.fhir.terminology.stored import ConnectionSource
from senhealth.fhir.terminology.valueset_expand import ExpandError, TooCostly

__all__ = ["MAX_CODES", "needs_terminology", "resolve_terminology"]

#: At most this many codes in one ``:below`` / ``:above`` / ``:in`` / ``:not-in`` condition.
MAX_CODES: Final = 10_000
_PREFIX_SYSTEMS: Final = frozenset({icd10_editions.SYSTEM, icd10_who.WHO_SYSTEM})


def needs_terminology(cond: Condition) -> bool:
    """Whether a condition (or one inside its chain or ``_has``) uses a terminology modifier."""
    if cond.chain is not None:
        return needs_terminology(cond.chain.condition)
    if cond.has is not None:
        return needs_terminology(cond.has.condition)
    return cond.type == "token" and cond.modifier in TERMINOLOGY_MODIFIERS


async def resolve_terminology(
    conn: AsyncConnection[TupleRow], request: SearchRequest, param_ids: Mapping[tuple[str, str], int]
) -> SearchRequest:
    """``request`` with every terminology condition resolved to a code set (the same object when there
    is none). Raises :class:`SearchError`."""
    if not any(needs_terminology(c) for c in request.clauses):
        return request
    service = Terminology(ConnectionSource(conn, param_ids))
    clauses = tuple([await _resolve(c, service) for c in request.clauses])
    return replace(request, clauses=clauses)


async def _resolve(cond: Condition, service: Terminology) -> Condition:
    if cond.chain is not None:
        inner = await _resolve(cond.chain.condition, service)
        return replace(cond, chain=Chain(cond.chain.target_types, inner))
    if cond.has is not None:
        inner = await _resolve(cond.has.condition, service)
        return replace(cond, has=Has(cond.has.res_type, cond.has.reference, inner))
    if not (cond.type == "token" and cond.modifier in TERMINOLOGY_MODIFIERS):
        return cond
    expr = f"{cond.param}:{cond.modifier}"
    codes: set[tuple[str, str]] = set()
    for value in cond.values:
        if isinstance(value, ValueSetQuery):
            codes |= await _value_set(value.url, service, expr)
        elif isinstance(value, TokenQuery) and value.system and value.code:
            codes |= await _hierarchy(value.system, value.code, cond.modifier == "above", service, expr)
        elif isinstance(value, CodeSetQuery):
            codes |= set(value.codes)
        else:  # pragma: no cover - the parser only makes the kinds above for these modifiers
            raise SearchError(f":{cond.modifier} cannot take {value!r}", expr)
        if len(codes) > MAX_CODES:
            raise SearchError(_too_many(expr), expr, code="too-costly")
    return replace(cond, values=(CodeSetQuery(tuple(sorted(codes))),))


def _too_many(expr: str) -> str:
    return f"{expr} stands for more than {MAX_CODES:,} codes: use a narrower code or value set"


async def _value_set(ref: str, service: Terminology, expr: str) -> set[tuple[str, str]]:
    if ref.startswith("ValueSet/") and "|" not in ref:
        found = await service.value_set_by_id(ref.removeprefix("ValueSet/"))
    else:
        url, _, version = ref.partition("|")
        found = await service.value_set(url, version or None)
    if found is None:
        raise SearchError(f"{expr}: the value set {ref} is not known to this server", expr)
    vs, key = found
    try:
        expansion = await service.expand(vs, key, limit=MAX_CODES)
    except TooCostly:
        raise SearchError(_too_many(expr), expr, code="too-costly") from None
    except ExpandError as exc:
        raise SearchError(f"{expr}: the value set {ref} cannot be expanded: {exc.message}", expr) from None
    return {item.key for item in expansion.items}


async def _hierarchy(
    system: str, code: str, above: bool, service: Terminology, expr: str
) -> set[tuple[str, str]]:
    cs = await service.code_system(system)
    if cs is None:
        raise SearchError(f"{expr}: the code system {system} is not known to this server", expr)
    if not cs.enumerable:
        raise SearchError(f"{expr}: the code system {system} has no hierarchy to search", expr)
    concept = cs.find(code)
    if concept is None:
        if system in _PREFIX_SYSTEMS and not above:
            prefix = code.strip().upper()
            found = {(system, c.code) for c in cs.iter_concepts() if c.code.startswith(prefix)}
            return found or {(system, code)}
        return {(system, code)}
    related = cs.ancestors(concept.code) if above else cs.descendants(concept.code)
    if len(related) >= MAX_CODES:
        raise SearchError(_too_many(expr), expr, code="too-costly")
    return {(system, concept.code), *((system, c) for c in related)}
