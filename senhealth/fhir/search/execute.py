"""Running a parsed search on PostgreSQL: the page of matches, the next cursor, the total, the includes.

Spec: https://hl7.org/fhir/R4/search.html: paging (§3.1.1.5.6 ``_count``), ``_total`` (§3.1.1.5.7),
``_summary`` (§3.1.1.5.8), ``_elements`` (§3.1.1.5.9), ``_include`` / ``_revinclude`` and ``:iterate``
(§3.1.1.5.4), compartment search (https://hl7.org/fhir/R4/http.html#vsearch).

``await search(conn, request, param_ids, compartment=("Patient", "123"))`` returns a
:class:`SearchResult`:

- ``matches``: at most ``request.count`` rows in the requested order (default ``_id``), after
  ``request.cursor``; ``next_cursor`` is set when more rows follow (keyset paging, see
  :mod:`senhealth.fhir.search.cursor`);
- ``total``: ``_total=accurate`` counts; ``estimate`` counts up to :data:`EXACT_UP_TO` and beyond
  that takes the planner's row estimate; ``none`` gives ``None``. Without ``_total``: the exact count on the first page (free when the page holds everything,
  else a ``count(*)``), ``None`` on later pages. ``_summary=count`` (or ``_count=0``) returns only the
  total;
- ``included``: the ``_include`` / ``_revinclude`` resources of the page (``:iterate`` ones applied
  again to what was included, until nothing new comes or :data:`MAX_INCLUDED` is reached), without
  duplicates or matches;
- ``warnings``: the parser's, plus any added here (includes cut short).

``_summary`` (``true`` / ``text`` / ``data``) and ``_elements`` are applied to the matches' content, which
is then tagged ``SUBSETTED`` as the spec asks. Deleted resources have no ``fhir_resource`` row and never
match. Content is read as text and parsed with :func:`senhealth.fhir.store.content_from_text`, so decimals
keep their digits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.search.cursor import Position, decode_cursor, encode_cursor
from senhealth.fhir.search.query.errors import SearchError, warning_issue
from senhealth.fhir.search.request import Include, SearchRequest, resource_types
from senhealth.fhir.search.sql import (
    ParamIds,
    SqlBuilder,
    Statement,
    build_count,
    build_include,
    build_page,
    build_revinclude,
    reference_params,
)
from senhealth.fhir.store import content_from_text

__all__ = ["EXACT_UP_TO", "MAX_INCLUDED", "SUBSETTED", "Row", "SearchResult", "search", "subset"]

#: Included resources are cut off (with a warning) beyond this many.
MAX_INCLUDED = 1000
#: ``_total=estimate`` counts exactly up to this many matches, then takes the planner's estimate.
EXACT_UP_TO = 10_000
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


@dataclass(frozen=True, slots=True)
class Row:
    """One resource of a result (its current version)."""

    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    content: dict[str, Any]
    rid: int = 0  # the store's resource key
    pkey: str = ""  # its partition (patient-compartment) key


@dataclass(slots=True)
class SearchResult:
    matches: list[Row]
    included: list[Row] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)


def _fingerprint(request: SearchRequest, compartment: tuple[str, str] | None) -> str:
    return hashlib.sha256(f"{request.fingerprint()}|{compartment!r}".encode()).hexdigest()[:16]


async def _rows(conn: AsyncConnection[TupleRow], stmt: Statement) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(stmt.query, stmt.params, prepare=False)
        return await cur.fetchall()


def _row(t: Sequence[Any]) -> Row:
    when = t[3] if t[3].tzinfo is not None else t[3].replace(tzinfo=UTC)
    return Row(t[0], t[1], int(t[2]), when.astimezone(UTC), content_from_text(t[4]), int(t[5]), t[6])


async def search(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    param_ids: Mapping[tuple[str, str], int],
    *,
    compartment: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> SearchResult:
    """Run ``request`` (see the module docstring). ``param_ids`` is ``FhirStore.param_ids()``;
    ``compartment`` (``("Patient", id)``) restricts the search to that patient's compartment; ``now``
    anchors ``ap`` on dates (default: the current time). Raises
    :class:`~senhealth.fhir.search.request.SearchError` for a cursor that does not fit the request."""
    ids = ParamIds(param_ids)
    now = now or datetime.now(UTC)
    result = SearchResult([], warnings=list(request.warnings))
    if compartment is not None:
        if compartment[0] != "Patient":
            raise SearchError(
                f"{compartment[0]} compartments are not supported: only Patient", code="not-supported"
            )
        outside = [t for t in request.types or (request.res_type,) if t and not patient_compartment().get(t)]
        if outside:
            raise SearchError(f"{', '.join(outside)} is not in the Patient compartment")
    fingerprint = _fingerprint(request, compartment)
    position: Position | None = None
    if request.cursor:
        kinds = tuple(s.kind for s in SqlBuilder(ids, now).sort_columns(request))
        position = decode_cursor(request.cursor, fingerprint, kinds)
    only_count = request.summary == "count" or request.count == 0
    complete = False
    if not only_count:
        stmt, sort = build_page(
            request, ids, limit=request.count + 1, compartment=compartment, position=position, now=now
        )
        rows = await _rows(conn, stmt)
        if len(rows) > request.count:
            last = rows[request.count - 1]
            result.next_cursor = encode_cursor(fingerprint, tuple(last[7 : 7 + len(sort)]))
            rows = rows[: request.count]
        else:
            complete = position is None
        result.matches = [_row(r) for r in rows]
    result.total = await _total(
        conn, request, ids, compartment, now, only_count, complete, len(result.matches)
    )
    if result.matches and (request.includes or request.revincludes):
        result.included = await _includes(conn, request, ids, result.matches, result.warnings)
    if request.summary in ("true", "text", "data") or request.elements:
        result.matches = [
            Row(
                m.res_type,
                m.res_id,
                m.version,
                m.last_updated,
                subset(m.content, request.summary, request.elements),
                m.rid,
                m.pkey,
            )
            for m in result.matches
        ]
    return result


async def _total(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    ids: ParamIds,
    compartment: tuple[str, str] | None,
    now: datetime,
    only_count: bool,
    complete: bool,
    found: int,
) -> int | None:
    mode = request.total
    if mode == "none" and not only_count:
        return None
    if complete:
        return found
    if mode is None and not only_count and request.cursor:
        return None  # later pages: the first page said it
    if mode == "estimate":
        # exact up to a bound (planner estimates of these semi-joins are rough), the planner's beyond
        capped = await _rows(
            conn, build_count(request, ids, compartment=compartment, now=now, cap=EXACT_UP_TO + 1)
        )
        counted = int(capped[0][0])
        if counted <= EXACT_UP_TO:
            return counted
        stmt = build_count(request, ids, compartment=compartment, now=now, estimate=True)
        async with conn.cursor() as cur:
            await cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + stmt.query, stmt.params, prepare=False)
            row = await cur.fetchone()
        plan = row[0] if row else None
        return max(counted, int(plan[0]["Plan"]["Plan Rows"])) if plan else counted
    stmt = build_count(request, ids, compartment=compartment, now=now)
    rows = await _rows(conn, stmt)
    return int(rows[0][0])


# --- includes --------------------------------------------------------------------------------------


def _forward_pids(inc: Include, types: set[str], ids: ParamIds) -> list[int]:
    sources = [inc.source_type] if inc.source_type else sorted(types)
    out: list[int] = []
    for src in sources:
        codes = [inc.param] if inc.param else list(reference_params(src))
        for code in codes:
            out.extend(ids.ids((src,), code))
    return sorted(set(out))


def _reverse_pids(inc: Include, ids: ParamIds) -> list[int]:
    sources = [inc.source_type] if inc.source_type else sorted(resource_types())
    out: list[int] = []
    for src in sources:
        codes = [inc.param] if inc.param else list(reference_params(src))
        for code in codes:
            out.extend(ids.ids((src,), code))
    return sorted(set(out))


async def _includes(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    ids: ParamIds,
    matches: list[Row],
    warnings: list[dict[str, Any]],
) -> list[Row]:
    seen = {m.rid for m in matches}
    out: list[Row] = []
    frontier = matches
    first = True
    while frontier:
        new: list[Row] = []
        for inc in request.includes:
            if not (first or inc.iterate):
                continue
            rows = [r for r in frontier if inc.source_type in (None, r.res_type)]
            pids = _forward_pids(inc, {r.res_type for r in rows}, ids)
            if rows and pids:
                stmt = build_include([(r.rid, r.pkey) for r in rows], pids, inc.target_type)
                new.extend(_row(t) for t in await _rows(conn, stmt))
        for inc in request.revincludes:
            if not (first or inc.iterate):
                continue
            targets = [(r.res_type, r.res_id) for r in frontier if inc.target_type in (None, r.res_type)]
            pids = _reverse_pids(inc, ids)
            if targets and pids:
                new.extend(_row(t) for t in await _rows(conn, build_revinclude(targets, pids)))
        fresh: list[Row] = []
        for row in new:
            if row.rid not in seen:
                seen.add(row.rid)
                fresh.append(row)
        if len(out) + len(fresh) > MAX_INCLUDED:
            out.extend(fresh[: MAX_INCLUDED - len(out)])
            warnings.append(
                warning_issue(
                    f"more than {MAX_INCLUDED} included resources: the rest were left out",
                    "_include",
                    "too-costly",
                )
            )
            break
        out.extend(fresh)
        frontier = fresh
        first = False
    return out


# --- _summary and _elements ------------------------------------------------------------------------


@cache
def _elements_of(res_type: str) -> dict[str, tuple[str, bool, bool]]:
    """JSON key -> (element name, in the summary, mandatory) for the top level of a resource type."""
    out: dict[str, tuple[str, bool, bool]] = {}
    for el in get_model().children(res_type).values():
        for key, _ in el.json_names():
            out[key] = out["_" + key] = (el.name, el.summary, el.min > 0)
    return out


_ALWAYS = frozenset({"resourceType", "id", "meta"})


def subset(content: dict[str, Any], summary: str | None, elements: Sequence[str]) -> dict[str, Any]:
    """The content reduced as ``_summary`` (true, text, data) or ``_elements`` ask, tagged SUBSETTED.

    Only top-level elements are chosen; ``id``, ``meta`` and mandatory elements are always kept.
    """
    rtype = content.get("resourceType")
    info = _elements_of(rtype) if isinstance(rtype, str) else {}
    wanted = set(elements)
    out: dict[str, Any] = {}
    for key, value in content.items():
        name, in_summary, mandatory = info.get(key, (key.lstrip("_"), False, False))
        if key in _ALWAYS:
            keep = True
        elif summary == "true":
            keep = in_summary or mandatory
        elif summary == "text":
            keep = name == "text" or mandatory
        elif summary == "data":
            keep = name != "text"
        else:
            keep = name in wanted or key in wanted or mandatory
        if keep:
            out[key] = value
    if len(out) < len(content):
        meta = dict(out.get("meta") or {})
        tags = list(meta.get("tag") or [])
        if not any(isinstance(t, dict) and t.get("code") == "SUBSETTED" for t in tags):
            tags.append(dict(SUBSETTED))
        meta["tag"] = tags
        out["meta"] = meta
    return out
