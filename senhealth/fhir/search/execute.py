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
  that takes the planner's row estimate; ``none`` gives ``None``. Without ``_total`` only what is free:
  the number of matches when the first page holds them all, else ``None`` (R4 leaves the default to the
  server, and an exact count visits every match: 0.8 s for a ``_has`` on a common code at 2 million
  resources). ``_summary=count`` (or ``_count=0``) returns only the total, counted;
- ``included``: the ``_include`` / ``_revinclude`` resources of the page (``:iterate`` ones applied
  again to what was included, until nothing new comes or :data:`MAX_INCLUDED` is reached), without
  duplicates or matches;
- ``warnings``: the parser's, plus any added here (includes cut short).

Every statement of a search runs under ``statement_timeout`` = ``Settings.search_timeout_s`` (default
:data:`STATEMENT_TIMEOUT_S`, 30 s; the environment variable ``SENHEALTH_SEARCH_TIMEOUT_S`` changes it,
``0`` turns it off; an existing lower timeout is kept), set with ``SET LOCAL`` semantics and restored afterwards, so a caller's transaction
(a conditional write) keeps its own. A search on a connection outside a transaction runs in one. A
cancelled statement is a :class:`SearchError` with the issue code ``too-costly`` (HTTP 400).

``_summary`` (``true`` / ``text`` / ``data``) and ``_elements`` are applied to the matches' content, which
is then tagged ``SUBSETTED`` as the spec asks. Deleted resources have no ``fhir_resource`` row and never
match. Content is read as text and parsed with :func:`senhealth.fhir.store.content_from_text`, so decimals
keep their digits.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import AsyncConnection, errors, pq, sql
from psycopg.rows import TupleRow

from senhealth.core.config import get_settings
from senhealth.fhir.access import Restriction
from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.search.cursor import Position, decode_cursor, encode_cursor
from senhealth.fhir.search.query.errors import SearchError, warning_issue
from senhealth.fhir.search.request import Include, SearchRequest, resource_types
from senhealth.fhir.search.sql import (
    JOINED_CLAUSES,
    ParamIds,
    SqlBuilder,
    Statement,
    build_count,
    build_has_count,
    build_include,
    build_page,
    build_revinclude,
    build_visible,
    reference_params,
)
from senhealth.fhir.search.terminology import resolve_terminology
from senhealth.fhir.store import content_from_text

__all__ = [
    "EXACT_UP_TO",
    "MAX_INCLUDED",
    "STATEMENT_TIMEOUT_S",
    "SUBSETTED",
    "Row",
    "SearchResult",
    "clear_caches",
    "search",
    "subset",
    "visible_pkeys",
]

#: Included resources are cut off (with a warning) beyond this many.
MAX_INCLUDED = 1000
#: ``_total=estimate`` counts exactly up to this many matches, then takes the planner's estimate.
EXACT_UP_TO = 10_000
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _default_timeout() -> float:
    """``Settings.search_timeout_s`` (``SENHEALTH_SEARCH_TIMEOUT_S``), read once per process."""
    return get_settings().search_timeout_s


#: Seconds a search statement may run before PostgreSQL cancels it, unless the settings say otherwise.
STATEMENT_TIMEOUT_S = 30.0


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
    timeout_s: float | None = None,
    restriction: Restriction | None = None,
) -> SearchResult:
    """Run ``request`` (see the module docstring). ``param_ids`` is ``FhirStore.param_ids()``;
    ``compartment`` (``("Patient", id)``) restricts the search to that patient's compartment; ``now``
    anchors ``ap`` on dates (default: the current time); ``timeout_s`` bounds each statement (default
    :data:`STATEMENT_TIMEOUT_S`; 0: no bound of its own). Raises
    :class:`~senhealth.fhir.search.request.SearchError` for a cursor that does not fit the request, and
    with the code ``too-costly`` when a statement ran out of time."""
    seconds = _default_timeout() if timeout_s is None else timeout_s
    try:
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            async with conn.transaction():
                return await _timed(conn, request, param_ids, compartment, now, seconds, restriction)
        return await _timed(conn, request, param_ids, compartment, now, seconds, restriction)
    except errors.QueryCanceled as exc:
        if "statement timeout" not in str(exc):
            raise  # cancelled by someone else (shutdown, an administrator): not the search's fault
        raise SearchError(
            f"the search took longer than {seconds:g} s and was stopped: narrow it (more selective"
            " parameters, fewer conditions or _include, no _total=accurate) and try again",
            code="too-costly",
        ) from None


async def _timed(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    param_ids: Mapping[tuple[str, str], int],
    compartment: tuple[str, str] | None,
    now: datetime | None,
    seconds: float,
    restriction: Restriction | None = None,
) -> SearchResult:
    """The search under ``statement_timeout`` (the lower of ``seconds`` and the session's), then the
    transaction's own setting back."""
    if seconds <= 0:
        return await _search(conn, request, param_ids, compartment, now, restriction)
    async with conn.cursor() as cur:
        await cur.execute(_SET_TIMEOUT, {"ms": max(1, round(seconds * 1000))}, prepare=False)
        row = await cur.fetchone()
    result = await _search(conn, request, param_ids, compartment, now, restriction)
    if row is not None and row[0] != row[1]:
        await conn.execute("SELECT set_config('statement_timeout', %s, true)", (row[0],), prepare=False)
    return result


#: the session's statement_timeout before, and after setting it to the lower of it and ``ms`` (for the
#: transaction only: ``set_config(..., true)`` is ``SET LOCAL``)
_SET_TIMEOUT = sql.SQL(
    "SELECT s.old, set_config('statement_timeout',"
    " CASE WHEN s.t = interval '0' OR s.t > make_interval(secs => %(ms)s / 1000.0)"
    " THEN %(ms)s::text ELSE s.old END, true)"
    " FROM (SELECT current_setting('statement_timeout') AS old,"
    " current_setting('statement_timeout')::interval AS t) s"
)


async def _search(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    param_ids: Mapping[tuple[str, str], int],
    compartment: tuple[str, str] | None,
    now: datetime | None,
    restriction: Restriction | None = None,
) -> SearchResult:
    ids = ParamIds.of(param_ids)
    now = now or datetime.now(UTC)
    request = await resolve_terminology(conn, request, param_ids)  # :below :above :in :not-in
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
        probes = await _probes(conn, request, ids, compartment, now)
        stmt, sort = build_page(
            request,
            ids,
            limit=request.count + 1,
            compartment=compartment,
            position=position,
            now=now,
            probes=probes,
            restriction=restriction,
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
        conn, request, ids, compartment, now, only_count, complete, len(result.matches), restriction
    )
    if result.matches and (request.includes or request.revincludes):
        result.included = await _includes(conn, request, ids, result.matches, result.warnings)
        if restriction is not None and result.included:
            seen = await visible_pkeys(conn, restriction, [row.pkey for row in result.included], ids)
            result.included = [row for row in result.included if row.pkey in seen]
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
    restriction: Restriction | None = None,
) -> int | None:
    mode = request.total
    if mode == "none" and not only_count:
        return None
    if complete:
        return found
    if mode is None and not only_count:
        return None  # the default: only a free total (the first page holds every match)
    if mode == "estimate":
        # exact up to a bound (planner estimates of these semi-joins are rough), the planner's beyond
        capped = await _rows(
            conn,
            build_count(
                request, ids, compartment=compartment, now=now, cap=EXACT_UP_TO + 1, restriction=restriction
            ),
        )
        counted = int(capped[0][0])
        if counted <= EXACT_UP_TO:
            return counted
        stmt = build_count(
            request, ids, compartment=compartment, now=now, estimate=True, restriction=restriction
        )
        async with conn.cursor() as cur:
            await cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + stmt.query, stmt.params, prepare=False)
            row = await cur.fetchone()
        plan = row[0] if row else None
        return max(counted, int(plan[0]["Plan"]["Plan Rows"])) if plan else counted
    stmt = build_count(request, ids, compartment=compartment, now=now, restriction=restriction)
    rows = await _rows(conn, stmt)
    return int(rows[0][0])


async def visible_pkeys(
    conn: AsyncConnection[TupleRow],
    restriction: Restriction,
    pkeys: Sequence[str],
    param_ids: Mapping[tuple[str, str], int] | ParamIds,
) -> set[str]:
    """Which of the patient partition keys ``pkeys`` (``""``: no patient) ``restriction`` lets through."""
    ids = param_ids if isinstance(param_ids, ParamIds) else ParamIds.of(param_ids)
    rows = await _rows(conn, build_visible(sorted(set(pkeys)), restriction, ids))
    return {str(r[0]) for r in rows}


# --- _has: collect the matches, or probe each resource in page order ------------------------------

#: A top-level ``_has`` condition whose reference rows number at least ``sqrt(PROBE_FACTOR * n)`` (``n``:
#: the planner's estimate of the searched type's resources; never less than :data:`PROBE_MIN`) is
#: tested per resource while the page walks the ``_id`` / ``_lastUpdated`` index, stopping at the page
#: size, instead of being collected whole and sorted. Walking costs about ``page * n / matches``
#: probes and collecting about ``matches`` lookups: on the 20,000-citizen demo province (50,730
#: Conditions) the two cross near 1,100 Conditions per code (``sqrt(64 * 20,000)`` = 1,131).
PROBE_FACTOR = 64
PROBE_MIN = 200
_TYPE_ROWS_TTL_S = 600.0
_type_rows_cache: dict[tuple[str, str], tuple[float, float]] = {}
# (dsn, count statement, its parameters) -> (when, whether the _has value has "many" matches)
_many_cache: dict[tuple[str, str, str], tuple[float, bool]] = {}


def clear_caches() -> None:
    """Forget the planner row counts and the ``_has`` decisions kept for a few minutes (tests that
    rebuild a database under the same name call this)."""
    _type_rows_cache.clear()
    _many_cache.clear()


def _database_key(conn: AsyncConnection[TupleRow]) -> str:
    """Which database ``conn`` is on, for the caches below (``conn.info.dsn`` costs ~0.2 ms: libpq
    rebuilds the whole connection string)."""
    pg = conn.pgconn
    return f"{(pg.host or b'').decode()}:{(pg.port or b'').decode()}/{(pg.db or b'').decode()}"


def _walkable(request: SearchRequest) -> bool:
    """Whether the page order is an index walk of one type (``_id`` or ``_lastUpdated`` first)."""
    return len(request.types) == 1 and (not request.sort or request.sort[0].param in ("_id", "_lastUpdated"))


async def _type_rows(conn: AsyncConnection[TupleRow], res_type: str) -> float:
    """The planner's estimate of the number of resources of ``res_type`` (cached for a few minutes)."""
    key = (_database_key(conn), res_type)
    hit = _type_rows_cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _TYPE_ROWS_TTL_S:
        return hit[1]
    async with conn.cursor() as cur:
        await cur.execute(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM fhir_resource r WHERE r.res_type = %s",
            (res_type,),
            prepare=False,
        )
        row = await cur.fetchone()
    rows = float(row[0][0]["Plan"]["Plan Rows"]) if row else 0.0
    if len(_type_rows_cache) > 1000:
        _type_rows_cache.clear()
    _type_rows_cache[key] = (now, rows)
    return rows


async def _probes(
    conn: AsyncConnection[TupleRow],
    request: SearchRequest,
    ids: ParamIds,
    compartment: tuple[str, str] | None,
    now: datetime,
) -> frozenset[int]:
    """The top-level ``_has`` conditions with so many matches that the page should probe them."""
    found = [n for n, c in enumerate(request.clauses[:JOINED_CLAUSES]) if c.has is not None]
    if not found or compartment is not None or not _walkable(request):
        return frozenset()
    cap = max(PROBE_MIN, math.ceil(math.sqrt(PROBE_FACTOR * await _type_rows(conn, request.types[0]))))
    out: set[int] = set()
    for n in found:
        stmt = build_has_count(request.clauses[n], request.types, ids, cap=cap, now=now)
        key = (_database_key(conn), stmt.query.as_string(conn), repr(sorted(stmt.params.items())))
        hit = _many_cache.get(key)
        stamp = time.monotonic()
        if hit is not None and stamp - hit[0] < _TYPE_ROWS_TTL_S:
            many = hit[1]
        else:  # how common a value is changes slowly: the capped count is kept for a few minutes
            counted = await _rows(conn, stmt)
            many = int(counted[0][0]) >= cap
            if len(_many_cache) > 10_000:
                _many_cache.clear()
            _many_cache[key] = (stamp, many)
        if many:
            out.add(n)
    return frozenset(out)


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
