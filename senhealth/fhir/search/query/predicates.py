"""SQL predicates for one search value against one index row, per parameter type.

Spec: https://hl7.org/fhir/R4/search.html, per type: number (§3.1.1.4.1), date (§3.1.1.4.2), string
(§3.1.1.4.3), uri (§3.1.1.4.4), token (§3.1.1.4.5), quantity (§3.1.1.4.6), reference (§3.1.1.4.7),
composite (§3.1.1.4.8), special ``near`` (§3.1.1.4.9), and the prefix semantics of §3.1.1.4.4.

Text values are cut to the store's ``MAX_TEXT`` (256) characters, as the index rows hold them
(``senhealth.fhir.store.index_rows``): a longer value matches on its first 256 characters.

Every builder takes a *column accessor* ``col(name)`` instead of a table alias, so the same code serves an
index table (``i.low``) and a component of a composite row (``(c.parts->1->>'low')::numeric``). User values
only ever become bind parameters (:class:`Params`); the SQL text is built from constants.

Ranges: a stored value is the inclusive range ``[low, high]`` of ``idx_date`` / ``idx_number`` /
``idx_quantity`` (``NULL`` = unbounded). Against a search range ``[sl, sh]`` (dates, inclusive) or
``[sl, sh)`` (numbers at their implicit precision):

======  =============================================================================================
prefix  matches when
======  =============================================================================================
eq      the stored range lies within the search range: ``low >= sl AND high <= sh``
ne      not ``eq`` (an open range is never within)
gt      the stored range reaches above the search value: ``high > sh`` (numbers: ``high > v``) or open
lt      it reaches below: ``low < sl`` (numbers: ``low < v``) or open
ge, le  ``gt`` / ``lt``, or ``eq``
sa, eb  it lies entirely after / before: ``low > sh`` / ``high < sl`` (numbers: ``> v`` / ``< v``)
ap      it overlaps the search range widened by 10 % (dates: of the distance from now)
======  =============================================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from math import cos, radians
from typing import Any

from psycopg import sql

from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.query.values import (
    CodeSetQuery,
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
    ValueSetQuery,
)
from senhealth.fhir.store.index_rows import MAX_TEXT, cut
from senhealth.fhir.ucum import UCUM_SYSTEM, canonical

__all__ = [
    "FALSE",
    "TRUE",
    "Col",
    "Params",
    "and_",
    "code_set_predicate",
    "composite_cols",
    "like_escape",
    "or_",
    "table_cols",
    "value_predicate",
]

Col = Callable[[str], sql.Composable]
TRUE = sql.SQL("TRUE")
FALSE = sql.SQL("FALSE")
EARTH_RADIUS_M = 6371008.8
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/?")


class Params:
    """The named bind parameters of one statement: ``add(value)`` returns its placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, cast: str | None = None) -> sql.Composable:
        name = f"p{len(self.values)}"
        self.values[name] = value
        ph = sql.Placeholder(name)
        return sql.SQL("{}::{}").format(ph, sql.SQL(cast)) if cast else ph

    def text(self, value: str | None) -> sql.Composable:
        """A text value compared with an index column: cut to the store's :data:`MAX_TEXT`, as stored."""
        return self.add(cut(value))


def and_(parts: Sequence[sql.Composable]) -> sql.Composable:
    if not parts:
        return TRUE
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("(") + sql.SQL(" AND ").join(parts) + sql.SQL(")")


def or_(parts: Sequence[sql.Composable]) -> sql.Composable:
    if not parts:
        return FALSE
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("(") + sql.SQL(" OR ").join(parts) + sql.SQL(")")


def like_escape(text: str) -> str:
    """Cut to :data:`MAX_TEXT` (as stored) and escape ``LIKE`` wildcards (backslash is PostgreSQL's
    default escape character)."""
    text = text[:MAX_TEXT]
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def table_cols(alias: str) -> Col:
    """Columns of an index table row under ``alias``."""
    return lambda name: sql.Identifier(alias, name)


#: index-table column -> (key in the composite part's JSON, SQL type), per part type
_JSON_NAMES = {"value_norm": "normalized", "canon_code": "canonical_code"}
_JSON_NAMES |= {"canon_low": "canonical_low", "canon_high": "canonical_high"}


def composite_cols(alias: str, index: int, part_type: str) -> Col:
    """Columns of component ``index`` of an ``idx_composite`` row (``parts`` as ``value_to_json`` writes)."""
    cast = {"date": "timestamptz", "number": "numeric", "quantity": "numeric"}.get(part_type)

    def col(name: str) -> sql.Composable:
        key = _JSON_NAMES.get(name, name)
        expr = sql.SQL("({}->{}->>{})").format(
            sql.Identifier(alias, "parts"), sql.Literal(index), sql.Literal(key)
        )
        if cast is not None and name in ("low", "high", "canon_low", "canon_high"):
            return sql.SQL("{}::{}").format(expr, sql.SQL(cast))
        return sql.SQL("left({}, {})").format(expr, sql.Literal(MAX_TEXT))  # parts are stored whole

    return col


# --- ranges ----------------------------------------------------------------------------------------


def _eq(
    lo: sql.Composable, hi: sql.Composable, sl: sql.Composable, sh: sql.Composable, hi_op: str
) -> sql.Composable:
    # ``lo <= sh`` is implied (lo <= hi) but bounds the index range scan on (param_id, low, ...).
    return sql.SQL("({lo} >= {sl} AND {lo} <= {sh} AND {hi} " + hi_op + " {sh})").format(
        lo=lo, hi=hi, sl=sl, sh=sh
    )


def date_predicate(q: DateQuery, col: Col, p: Params, now: datetime) -> sql.Composable:
    """A date value against ``col('low')`` / ``col('high')`` (inclusive instants, NULL = open)."""
    lo, hi = col("low"), col("high")
    if q.prefix == "ap":
        gap = (now - q.low if q.low <= now else q.high - now) / 10
        al, ah = p.add(q.low - gap, "timestamptz"), p.add(q.high + gap, "timestamptz")
        return sql.SQL("(({lo} IS NULL OR {lo} <= {ah}) AND ({hi} IS NULL OR {hi} >= {al}))").format(
            lo=lo, hi=hi, al=al, ah=ah
        )
    sl, sh = p.add(q.low, "timestamptz"), p.add(q.high, "timestamptz")
    eq = _eq(lo, hi, sl, sh, "<=")
    gt = sql.SQL("({hi} > {sh} OR {hi} IS NULL)").format(hi=hi, sh=sh)
    lt = sql.SQL("({lo} < {sl} OR {lo} IS NULL)").format(lo=lo, sl=sl)
    return _by_prefix(
        q.prefix, eq, gt, lt, sql.SQL("{} > {}").format(lo, sh), sql.SQL("{} < {}").format(hi, sl)
    )


def _by_prefix(
    prefix: str,
    eq: sql.Composable,
    gt: sql.Composable,
    lt: sql.Composable,
    sa: sql.Composable,
    eb: sql.Composable,
) -> sql.Composable:
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return sql.SQL("NOT coalesce({}, FALSE)").format(eq)
    if prefix == "gt":
        return gt
    if prefix == "lt":
        return lt
    if prefix == "ge":
        return or_([gt, eq])
    if prefix == "le":
        return or_([lt, eq])
    if prefix == "sa":
        return sa
    if prefix == "eb":
        return eb
    raise ValueError(prefix)  # pragma: no cover - the parser admits only these


def number_range_predicate(
    prefix: str,
    value: Decimal,
    low: Decimal,
    high: Decimal,
    lo: sql.Composable,
    hi: sql.Composable,
    p: Params,
) -> sql.Composable:
    """A number at its implicit precision ``[low, high)`` against stored ``[lo, hi]`` (NULL = open)."""
    if prefix == "ap":
        spread = abs(value) / 10
        al, ah = p.add(min(value - spread, low), "numeric"), p.add(max(value + spread, high), "numeric")
        return sql.SQL("(({lo} IS NULL OR {lo} <= {ah}) AND ({hi} IS NULL OR {hi} >= {al}))").format(
            lo=lo, hi=hi, al=al, ah=ah
        )
    if prefix in ("eq", "ne"):
        sl, sh = p.add(low, "numeric"), p.add(high, "numeric")
        eq = _eq(lo, hi, sl, sh, "<")
        return _by_prefix(prefix, eq, eq, eq, eq, eq)
    v = p.add(value, "numeric")
    gt = sql.SQL("({hi} > {v} OR {hi} IS NULL)").format(hi=hi, v=v)
    lt = sql.SQL("({lo} < {v} OR {lo} IS NULL)").format(lo=lo, v=v)
    ge = sql.SQL("({hi} >= {v} OR {hi} IS NULL)").format(hi=hi, v=v)
    le = sql.SQL("({lo} <= {v} OR {lo} IS NULL)").format(lo=lo, v=v)
    found = {
        "gt": gt,
        "lt": lt,
        "ge": ge,
        "le": le,
        "sa": sql.SQL("{} > {}").format(lo, v),
        "eb": sql.SQL("{} < {}").format(hi, v),
    }
    return found[prefix]


def quantity_predicate(q: QuantityQuery, col: Col, p: Params) -> sql.Composable:
    """``number|system|code``: UCUM units compare in canonical form (``mg/dL`` finds ``g/L`` values)."""
    conv = canonical(q.code) if q.code is not None and q.system in (None, UCUM_SYSTEM) else None
    if conv is not None:
        factor, offset, ccode = conv
        rng = number_range_predicate(
            q.prefix,
            q.value * factor + offset,
            q.low * factor + offset,
            q.high * factor + offset,
            col("canon_low"),
            col("canon_high"),
            p,
        )
        return and_([sql.SQL("{} = {}").format(col("canon_code"), p.text(ccode)), rng])
    parts: list[sql.Composable] = []
    if q.system is not None:
        parts.append(sql.SQL("{} = {}").format(col("system"), p.text(q.system)))
    if q.code is not None:
        code = p.text(q.code)
        if q.system is None:
            parts.append(sql.SQL("({} = {} OR {} = {})").format(col("code"), code, col("unit"), code))
        else:
            parts.append(sql.SQL("{} = {}").format(col("code"), code))
    parts.append(number_range_predicate(q.prefix, q.value, q.low, q.high, col("low"), col("high"), p))
    return and_(parts)


# --- the other types -------------------------------------------------------------------------------


def code_set_predicate(q: CodeSetQuery, col: Col, p: Params) -> sql.Composable:
    """One of a set of (system, code): per system, ``system = s AND code = ANY(codes)`` (the
    ``(param_id, code, system)`` index); an empty set matches nothing."""
    by_system: dict[str, list[str]] = {}
    for system, code in q.codes:
        by_system.setdefault(system, []).append(cut(code) or "")
    parts = [
        sql.SQL("({} = ANY({}) AND {} = {})").format(
            col("code"), p.add(sorted(set(codes)), "text[]"), col("system"), p.text(system)
        )
        for system, codes in sorted(by_system.items())
    ]
    return or_(parts)


def token_predicate(q: TokenQuery, col: Col, p: Params) -> sql.Composable:
    if q.text is not None:
        return sql.SQL("{} LIKE {}").format(col("text"), p.add(like_escape(q.text) + "%"))
    parts: list[sql.Composable] = []
    if q.code is not None:
        parts.append(sql.SQL("{} = {}").format(col("code"), p.text(q.code)))
    if q.type_code is not None:
        parts.append(sql.SQL("{} = {}").format(col("type_code"), p.text(q.type_code)))
        parts.append(sql.SQL("{} = {}").format(col("type_system"), p.text(q.type_system)))
    if q.system_given:
        if q.system is None:
            parts.append(sql.SQL("{} IS NULL").format(col("system")))
        else:
            parts.append(sql.SQL("{} = {}").format(col("system"), p.text(q.system)))
    return and_(parts)


def string_predicate(q: StringQuery, modifier: str | None, col: Col, p: Params) -> sql.Composable:
    if modifier == "exact":
        # value_norm = normalize(value) holds for every row, so the normalised test only adds an index path
        return sql.SQL("({} = {} AND {} = {})").format(
            col("value_norm"), p.text(q.normalized), col("value"), p.text(q.value)
        )
    pattern = like_escape(q.normalized)
    if modifier == "contains":
        return sql.SQL("{} LIKE {}").format(col("value_norm"), p.add("%" + pattern + "%"))
    return sql.SQL("{} LIKE {}").format(col("value_norm"), p.add(pattern + "%"))


def uri_predicate(q: UriQuery, modifier: str | None, col: Col, p: Params) -> sql.Composable:
    if modifier == "below":
        return sql.SQL("{} LIKE {}").format(col("value"), p.add(like_escape(q.value) + "%"))
    if modifier == "above":
        # the stored URI is the value or one of its parents, cut at '/' boundaries
        pieces = q.value.rstrip("/").split("/")
        prefixes = [q.value] + ["/".join(pieces[:i]) for i in range(len(pieces), 0, -1)]
        prefixes = [x for x in dict.fromkeys(prefixes) if x and not _SCHEME.fullmatch(x)]
        return sql.SQL("{} = ANY({})").format(col("value"), p.add([cut(x) for x in prefixes], "text[]"))
    return sql.SQL("{} = {}").format(col("value"), p.text(q.value))


def reference_predicate(q: ReferenceQuery | TokenQuery, col: Col, p: Params) -> sql.Composable:
    if isinstance(q, TokenQuery):  # :identifier
        parts = [sql.SQL("{} = {}").format(col("identifier_value"), p.text(q.code))] if q.code else []
        if q.system_given:
            if q.system is None:
                parts.append(sql.SQL("{} IS NULL").format(col("identifier_system")))
            else:
                parts.append(sql.SQL("{} = {}").format(col("identifier_system"), p.text(q.system)))
        return and_(parts)
    parts = []
    if q.url is not None:
        parts.append(sql.SQL("{} = {}").format(col("url"), p.text(q.url)))
    else:
        parts.append(sql.SQL("{} = {}").format(col("target_id"), p.text(q.target_id)))
        if q.target_type is not None:
            parts.append(sql.SQL("{} = {}").format(col("target_type"), p.text(q.target_type)))
        parts.append(sql.SQL("{} IS NULL").format(col("url")))
    if q.version is not None:
        parts.append(sql.SQL("{} = {}").format(col("version"), p.text(q.version)))
    return and_(parts)


def near_predicate(q: NearQuery, col: Col, p: Params) -> sql.Composable:
    """Within ``distance_m`` of a point: a latitude/longitude box (index) then the haversine distance."""
    dlat = q.distance_m / 111_320.0
    cos_lat = cos(radians(q.latitude))
    dlon = 360.0 if cos_lat < 1e-6 else min(360.0, q.distance_m / (111_320.0 * cos_lat))
    lat, lon = col("latitude"), col("longitude")
    box = sql.SQL("{lat} BETWEEN {a} AND {b} AND {lon} BETWEEN {c} AND {d}").format(
        lat=lat,
        lon=lon,
        a=p.add(q.latitude - dlat, "float8"),
        b=p.add(q.latitude + dlat, "float8"),
        c=p.add(q.longitude - dlon, "float8"),
        d=p.add(q.longitude + dlon, "float8"),
    )
    plat, plon = p.add(q.latitude, "float8"), p.add(q.longitude, "float8")
    dist = sql.SQL(
        "2 * {r} * asin(sqrt(power(sin(radians({lat} - {plat}) / 2), 2)"
        " + cos(radians({plat})) * cos(radians({lat})) * power(sin(radians({lon} - {plon}) / 2), 2)))"
    ).format(r=sql.Literal(EARTH_RADIUS_M), lat=lat, lon=lon, plat=plat, plon=plon)
    return sql.SQL("({} AND {} <= {})").format(box, dist, p.add(q.distance_m, "float8"))


def value_predicate(
    param_type: str,
    q: ValueQuery,
    modifier: str | None,
    col: Col,
    p: Params,
    now: datetime,
    components: tuple[str, ...] = (),
    composite_alias: str | None = None,
) -> sql.Composable:
    """The predicate for one value of a parameter of ``param_type`` (see the module docstring)."""
    if isinstance(q, TokenQuery) and param_type == "token":
        return token_predicate(q, col, p)
    if isinstance(q, CodeSetQuery):
        return code_set_predicate(q, col, p)
    if isinstance(q, ValueSetQuery):
        raise SearchError(
            f"the value set {q.url} was not expanded: run the search through senhealth.fhir.search.execute",
            code="not-supported",
        )
    if isinstance(q, StringQuery):
        return string_predicate(q, modifier, col, p)
    if isinstance(q, DateQuery):
        return date_predicate(q, col, p, now)
    if isinstance(q, NumberQuery):
        return number_range_predicate(q.prefix, q.value, q.low, q.high, col("low"), col("high"), p)
    if isinstance(q, QuantityQuery):
        return quantity_predicate(q, col, p)
    if isinstance(q, ReferenceQuery | TokenQuery):
        return reference_predicate(q, col, p)
    if isinstance(q, UriQuery):
        return uri_predicate(q, modifier, col, p)
    if isinstance(q, NearQuery):
        return near_predicate(q, col, p)
    if isinstance(q, CompositeQuery):
        assert composite_alias is not None
        return and_(
            [
                value_predicate(t, part, None, composite_cols(composite_alias, i, t), p, now)
                for i, (t, part) in enumerate(zip(components, q.parts, strict=True))
            ]
        )
    raise TypeError(f"no predicate for {q!r}")  # pragma: no cover
