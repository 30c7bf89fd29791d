"""SQL for a parsed FHIR search over the store's tables (``senhealth/migrations/0002_fhir_store.sql``).

Spec: https://hl7.org/fhir/R4/search.html: parameter types (§3.1.1.4), modifiers (§3.1.1.5), chaining
(§3.1.1.5.11), reverse chaining ``_has`` (§3.1.1.5.12), ``_list`` (§3.1.1.5.13), ``_sort``
(§3.1.1.5.5), ``_include`` / ``_revinclude`` (§3.1.1.5.4), compartments
(https://hl7.org/fhir/R4/compartmentdefinition.html#search).

Shapes (``r`` is ``fhir_resource``; every join between a resource and its index rows is on
``(pkey, rid)``, the partition key plus the row key, so it stays inside one patient's partition):

- one condition: ``EXISTS (SELECT 1 FROM idx_<type> i WHERE i.pkey = r.pkey AND i.rid = r.rid AND
  i.param_id = $p AND (<value 1> OR <value 2>))``; the planner turns it into a semi-join driven by the
  ``(param_id, value...)`` index. ``:not`` and ``:missing=true`` are ``NOT EXISTS``.
- ``_id`` and ``_lastUpdated`` test ``r.res_id`` / ``r.last_updated`` directly.
- chain ``subject:Patient.name=x``: the reference row's ``(target_type, target_id)`` must be in
  ``SELECT c.res_type, c.res_id FROM fhir_resource c WHERE c.res_type = 'Patient' AND <name on c>``.
- ``_has:Observation:patient:code=x``: ``EXISTS`` an ``idx_reference`` row of ``Observation.patient``
  whose target is ``(r.res_type, r.res_id)`` and whose resource matches ``code``.
- a compartment (``Patient/123/Observation``): ``r.compartments @> ARRAY['123']`` (GIN).
- the page: keys computed per row (``_id`` -> ``r.res_id``, ``_lastUpdated`` -> ``r.last_updated``, a
  parameter -> ``min``/``max`` of its index values, NULL = no value, sorted last either way), a keyset
  condition after the cursor's position, ``ORDER BY keys, rid LIMIT n + 1``; the content is joined
  afterwards, for the page's rows only.

Every user value is a bind parameter; the SQL text comes from constants and validated codes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from senhealth.fhir.access import Restriction
from senhealth.fhir.model.search_parameters import search_params_for
from senhealth.fhir.search.cursor import Position
from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.query.predicates import (
    FALSE,
    TRUE,
    Col,
    Params,
    and_,
    date_predicate,
    or_,
    table_cols,
    value_predicate,
)
from senhealth.fhir.search.query.values import CodeSetQuery, DateQuery, ReferenceQuery, TokenQuery
from senhealth.fhir.search.request import TERMINOLOGY_MODIFIERS, Condition, SearchRequest, SortKey, param_info
from senhealth.fhir.store.read import content_sql

__all__ = [
    "INDEX_TABLES",
    "JOINED_CLAUSES",
    "ParamIds",
    "SortColumn",
    "SqlBuilder",
    "Statement",
    "build_count",
    "build_has_count",
    "build_include",
    "build_page",
    "build_revinclude",
    "reference_params",
]

INDEX_TABLES = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "quantity": "idx_quantity",
    "number": "idx_number",
    "uri": "idx_uri",
    "composite": "idx_composite",
    "special": "idx_special",
}
#: Conditions beyond this many (in request order) are fenced probes, not semi-joins: PostgreSQL's
#: planning time grows steeply with the number of semi-joins (a Patient search with 10 ``name``
#: clauses plans in 17 ms, 50 in 1.2 s, 100 in 11 s), while a probe costs one index lookup per row
#: that the first conditions let through.
JOINED_CLAUSES = 8
_PAST = "0001-01-01 00:00:00+00"
_FUTURE = "9999-12-31 23:59:59.999999+00"
#: the SQL type of a parameter's sort key, and the index column it is taken from (ascending, descending)
_SORT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "string": ("text", "value_norm", "value_norm"),
    "token": ("text", "code", "code"),
    "uri": ("text", "value", "value"),
    # an open end sorts as the far past / future (an ongoing period is the latest when descending)
    "date": ("timestamptz", f"coalesce(s.low, '{_PAST}')", f"coalesce(s.high, '{_FUTURE}')"),
    "number": ("numeric", "coalesce(s.low, -1e300)", "coalesce(s.high, 1e300)"),
    "quantity": (
        "numeric",
        "coalesce(s.canon_low, s.low, -1e300)",
        "coalesce(s.canon_high, s.high, 1e300)",
    ),
    "reference": ("text", "coalesce(s.target_type || '/' || s.target_id, s.url)", ""),
}
_RESOURCE_COLUMNS = sql.SQL("r.pkey, r.rid, r.res_type, r.res_id")
#: modifiers that match resources with no matching index row (``:not``; ``:not-in``, a value set)
_NEGATED = frozenset({"not", "not-in"})


@dataclass(frozen=True, slots=True)
class Statement:
    """A query and its named bind parameters, ready for ``cursor.execute(query, params)``."""

    query: sql.Composed
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SortColumn:
    expr: sql.Composable  # over ``r``
    descending: bool
    kind: str  # text | timestamptz | numeric | bigint
    nullable: bool


#: The reference parameters that make a care relationship between a patient and an Organization
#: (:class:`senhealth.fhir.access.Restriction`): the index rows of these carry the patient as ``pkey``.
CARE_PARAMS: tuple[tuple[str, str], ...] = (
    ("Encounter", "service-provider"),
    ("EpisodeOfCare", "organization"),
    ("Patient", "organization"),
    ("Patient", "general-practitioner"),
)


def build_visible(pkeys: Sequence[str], restriction: Restriction, param_ids: ParamIds) -> Statement:
    """Which of ``pkeys`` (patient partition keys; ``""``: no patient) ``restriction`` lets through."""
    b = SqlBuilder(param_ids)
    query = sql.SQL("SELECT r.pkey FROM unnest({keys}) AS r(pkey) WHERE {ok}").format(
        keys=b.p.add(list(pkeys), "text[]"), ok=b.restricted("r", restriction)
    )
    return Statement(query, b.p.values)


class ParamIds:
    """``(resource type, code) -> param_id`` of ``fhir_search_param``, looked up per condition.

    A Resource-level parameter may be registered per type or once under ``Resource``; both work.
    """

    def __init__(self, mapping: Mapping[tuple[str, str], int]) -> None:
        self.mapping = mapping
        self._by_code: dict[str, list[int]] = {}
        for (_, code), pid in mapping.items():
            self._by_code.setdefault(code, []).append(pid)

    @classmethod
    def of(cls, mapping: Mapping[tuple[str, str], int]) -> ParamIds:
        """The ``ParamIds`` of ``mapping``, built once per mapping object (the store hands out the same
        dict for the life of the process; building one from its 3,023 entries costs 250–440 µs).

        A cached entry is reused only for the very same object with the same length: a new mapping
        (another store, parameters numbered again) gets a new one.
        """
        key = id(mapping)
        hit = _PARAM_IDS.get(key)
        if hit is not None and hit[0] is mapping and hit[1] == len(mapping):
            return hit[2]
        made = cls(mapping)
        if len(_PARAM_IDS) >= _PARAM_IDS_KEPT:
            _PARAM_IDS.pop(next(iter(_PARAM_IDS)))
        _PARAM_IDS[key] = (mapping, len(mapping), made)
        return made

    def ids(self, types: Sequence[str], code: str) -> list[int]:
        if not types:
            return sorted(set(self._by_code.get(code, ())))
        out: list[int] = []
        for t in types:
            pid = self.mapping.get((t, code))
            if pid is None:
                pid = self.mapping.get(("Resource", code), self.mapping.get(("DomainResource", code)))
            if pid is not None and pid not in out:
                out.append(pid)
        return out


#: ``id(mapping) -> (mapping, its length, ParamIds)``: the mapping is kept so that its id is not reused.
_PARAM_IDS: dict[int, tuple[Mapping[tuple[str, str], int], int, ParamIds]] = {}
_PARAM_IDS_KEPT = 8


@cache
def reference_params(res_type: str) -> tuple[str, ...]:
    """The codes of every reference parameter of a type (what ``_include=Type:*`` follows)."""
    return tuple(sorted(c for c, p in search_params_for(res_type).items() if p.type == "reference"))


class SqlBuilder:
    """Builds the WHERE conditions of one statement; holds its bind parameters and aliases."""

    def __init__(
        self, param_ids: ParamIds, now: datetime | None = None, probes: Collection[int] = ()
    ) -> None:
        self.param_ids = param_ids
        self.p = Params()
        self.now = now or datetime.now(UTC)
        self.probes = frozenset(probes)  # top-level conditions to test as fenced probes
        self._n = 0

    def alias(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def param_filter(self, alias: str, types: Sequence[str], code: str) -> sql.Composable | None:
        """``alias.param_id = ...`` for ``code`` on ``types``; ``None`` when no such parameter is indexed."""
        ids = self.param_ids.ids(types, code)
        if not ids:
            return None
        col = sql.Identifier(alias, "param_id")
        if len(ids) == 1:
            return sql.SQL("{} = {}").format(col, self.p.add(ids[0], "smallint"))
        return sql.SQL("{} = ANY({})").format(col, self.p.add(ids, "smallint[]"))

    def types_filter(self, alias: str, types: Sequence[str]) -> sql.Composable:
        col = sql.Identifier(alias, "res_type")
        if not types:
            return TRUE
        if len(types) == 1:
            return sql.SQL("{} = {}").format(col, self.p.add(types[0]))
        return sql.SQL("{} = ANY({})").format(col, self.p.add(list(types), "text[]"))

    def restricted(self, r: str, restriction: Restriction) -> sql.Composable:
        """``r`` is visible under ``restriction`` (:class:`senhealth.fhir.access.Restriction`): no
        patient's data, or a listed patient's, or a patient cared for at a listed facility."""
        pkey = sql.Identifier(r, "pkey")
        parts: list[sql.Composable] = [sql.SQL("{} = ''").format(pkey)]
        if restriction.patients:
            parts.append(
                sql.SQL("{} = ANY({})").format(pkey, self.p.add(sorted(restriction.patients), "text[]"))
            )
        if restriction.facilities:
            pids = [pid for t, c in CARE_PARAMS for pid in self.param_ids.ids((t,), c)]
            if pids:
                c = self.alias("care")
                parts.append(
                    sql.SQL(
                        "{pkey} IN (SELECT {c}.pkey FROM idx_reference {c} WHERE {c}.param_id = ANY({pids})"
                        " AND {c}.target_type = 'Organization' AND {c}.target_id = ANY({orgs}))"
                    ).format(
                        pkey=pkey,
                        c=sql.Identifier(c),
                        pids=self.p.add(pids, "smallint[]"),
                        orgs=self.p.add(list(restriction.facilities), "text[]"),
                    )
                )
                if restriction.network:
                    parts.append(self._network(pkey, pids, restriction))
        if restriction.conditions:
            parts.append(self._with_condition(pkey, restriction.conditions))
        if restriction.consented:
            parts.append(self._opted_in(pkey, restriction.consented))
        return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))

    def _opted_in(self, pkey: sql.Composable, purpose: str) -> sql.Composable:
        """Patients with an active Consent permitting ``purpose`` and none denying it."""
        k = sql.Identifier(self.alias("optin"))

        def provision(kind: str) -> sql.Composable:
            return self.p.add(
                Jsonb({"status": "active", "provision": {"type": kind, "purpose": [{"code": purpose}]}}),
                "jsonb",
            )

        return sql.SQL(
            "({pkey} IN (SELECT {k}.pkey FROM fhir_resource {k} WHERE {k}.res_type = 'Consent'"
            " AND {k}.content @> {permit}) AND NOT EXISTS (SELECT 1 FROM fhir_resource {k} WHERE"
            " {k}.pkey = {pkey} AND {k}.res_type = 'Consent' AND {k}.content @> {deny}))"
        ).format(pkey=pkey, k=k, permit=provision("permit"), deny=provision("deny"))

    def _with_condition(self, pkey: sql.Composable, codes: Sequence[str]) -> sql.Composable:
        """Patients with a Condition coded under one of ``codes`` (ICD-10 codes or prefixes; the
        system is not compared: a Condition's ICD-10 code may carry the WHO or the national system)."""
        pids = self.param_ids.ids(("Condition",), "code")
        if not pids:
            return sql.SQL("false")
        exact = sorted({c.strip().upper() for c in codes if c.strip()})
        patterns = [c.replace("\\", "").replace("%", "").replace("_", "") + "%" for c in exact]
        t = sql.Identifier(self.alias("cond"))
        return sql.SQL(
            "{pkey} IN (SELECT {t}.pkey FROM idx_token {t} WHERE {t}.param_id = ANY({pids})"
            " AND {t}.code LIKE ANY({patterns}))"
        ).format(pkey=pkey, t=t, pids=self.p.add(pids, "smallint[]"), patterns=self.p.add(patterns, "text[]"))

    def _network(self, pkey: sql.Composable, care: list[int], restriction: Restriction) -> sql.Composable:
        """Patients cared for at the referral network of the restriction's facilities (one ``partOf``
        step up or down), unless an active Consent of theirs denies sharing for the network purpose
        (the rule: :class:`senhealth.fhir.access.Restriction`)."""
        part_of = self.param_ids.ids(("Organization",), "partof")
        if not part_of:
            return sql.SQL("false")
        orgs = self.p.add(list(restriction.facilities), "text[]")
        refs = self.p.add([f"Organization/{f}" for f in restriction.facilities], "text[]")
        denial = self.p.add(
            Jsonb(
                {
                    "status": "active",
                    "provision": {"type": "deny", "purpose": [{"code": restriction.network_purpose}]},
                }
            ),
            "jsonb",
        )
        po = self.p.add(part_of, "smallint[]")
        c, n, k = (sql.Identifier(self.alias(x)) for x in ("net", "org", "consent"))
        return sql.SQL(
            "({pkey} IN (SELECT {c}.pkey FROM idx_reference {c} WHERE {c}.param_id = ANY({care})"
            " AND {c}.target_type = 'Organization' AND {c}.target_id IN ("
            "SELECT l.res_id FROM idx_reference {n} JOIN fhir_locator l ON l.rid = {n}.rid"
            " WHERE {n}.param_id = ANY({po}) AND {n}.target_type = 'Organization' AND {n}.target_id = ANY({orgs})"
            " UNION SELECT {n}.target_id FROM idx_reference {n} JOIN fhir_locator l ON l.rid = {n}.rid"
            " WHERE {n}.param_id = ANY({po}) AND l.res_type = 'Organization' AND l.res_id = ANY({orgs})))"
            " AND NOT EXISTS (SELECT 1 FROM fhir_resource {k} WHERE {k}.pkey = {pkey} AND {k}.res_type = 'Consent'"
            " AND {k}.content @> {denial} AND (NOT ({k}.content -> 'provision' ? 'actor')"
            " OR EXISTS (SELECT 1 FROM jsonb_array_elements({k}.content -> 'provision' -> 'actor') a"
            " WHERE a -> 'reference' ->> 'reference' = ANY({refs})))))"
        ).format(
            pkey=pkey,
            c=c,
            n=n,
            k=k,
            care=self.p.add(care, "smallint[]"),
            po=po,
            orgs=orgs,
            refs=refs,
            denial=denial,
        )

    def filters(
        self,
        request: SearchRequest,
        r: str = "r",
        compartment: tuple[str, str] | None = None,
        restriction: Restriction | None = None,
    ) -> sql.Composable:
        """Everything a resource ``r`` must satisfy to match ``request`` (in ``compartment``, if given).

        The first :data:`JOINED_CLAUSES` conditions are plain ``EXISTS``, which PostgreSQL turns into
        semi-joins and orders; the others, and those whose index is in ``probes``, are fenced probes
        (see :data:`JOINED_CLAUSES` and :meth:`condition`).
        """
        parts = [self.types_filter(r, request.types)]
        if compartment is not None:
            parts.append(
                sql.SQL("{} @> {}").format(
                    sql.Identifier(r, "compartments"), self.p.add([compartment[1]], "text[]")
                )
            )
        if restriction is not None:
            parts.append(self.restricted(r, restriction))
        parts.extend(
            self.condition(c, r, probe=n >= JOINED_CLAUSES or n in self.probes)
            for n, c in enumerate(request.clauses)
        )
        return and_([x for x in parts if x is not TRUE])

    # --- conditions --------------------------------------------------------------------------------

    def condition(self, cond: Condition, r: str, probe: bool = False) -> sql.Composable:
        """One condition on the resource row ``r`` (a ``fhir_resource`` alias).

        ``probe``: fence the subquery (``OFFSET 0``) so that PostgreSQL keeps it as a per-row test of the
        rows the other conditions found instead of planning it as one more semi-join.
        """
        if cond.has is not None:
            return self._has(cond, r, probe)
        if cond.type == "list":
            return self._list(cond, r, probe)
        if cond.param == "_id":
            return self._id(cond, r)
        if cond.param == "_lastUpdated":
            return self._last_updated(cond, r)
        table = INDEX_TABLES[cond.type]
        a = self.alias("i")
        pid = self.param_filter(a, cond.types, cond.param)
        if pid is None:  # not indexed here: nothing has a value
            return TRUE if cond.missing is True or cond.modifier in _NEGATED else FALSE
        head = sql.SQL(
            "SELECT 1 FROM {t} {a} WHERE {a}.pkey = {r}.pkey AND {a}.rid = {r}.rid AND {pid}"
        ).format(t=sql.Identifier(table), a=sql.Identifier(a), r=sql.Identifier(r), pid=pid)
        if cond.missing is not None:
            return _exists(head, negate=cond.missing, probe=probe)
        test = self._chain(cond, a) if cond.chain is not None else self._values(cond, a)
        return _exists(sql.SQL("{} AND {}").format(head, test), negate=cond.modifier in _NEGATED, probe=probe)

    def _values(self, cond: Condition, a: str) -> sql.Composable:
        """The OR of a condition's values on the index row ``a``."""
        unresolved = cond.type == "token" and cond.modifier in TERMINOLOGY_MODIFIERS
        if unresolved and not all(isinstance(v, CodeSetQuery) for v in cond.values):
            raise SearchError(
                f"{cond.param}:{cond.modifier} was not resolved by the terminology service: run the search"
                " through senhealth.fhir.search.execute",
                f"{cond.param}:{cond.modifier}",
                code="not-supported",
            )
        col = table_cols(a)
        return or_(
            [
                value_predicate(cond.type, v, cond.modifier, col, self.p, self.now, cond.components, a)
                for v in cond.values
            ]
        )

    def value_rows(self, cond: Condition) -> sql.Composable | None:
        """``SELECT 1 FROM idx_<type> i WHERE param_id AND (values)``: the index rows of a plain value
        condition (no chain, ``:missing``, ``:not``, ``_has``, ``_list``, ``_id``, ``_lastUpdated``), one
        per matching value of a resource; ``None`` for any other condition."""
        if (
            cond.has is not None
            or cond.chain is not None
            or cond.missing is not None
            or cond.modifier in _NEGATED
            or cond.type not in INDEX_TABLES
            or cond.param in ("_id", "_lastUpdated")
        ):
            return None
        a = self.alias("i")
        pid = self.param_filter(a, cond.types, cond.param)
        if pid is None:
            return None
        return sql.SQL("SELECT 1 FROM {t} {a} WHERE {pid} AND {test}").format(
            t=sql.Identifier(INDEX_TABLES[cond.type]),
            a=sql.Identifier(a),
            pid=pid,
            test=self._values(cond, a),
        )

    def _chain(self, cond: Condition, a: str) -> sql.Composable:
        assert cond.chain is not None
        c = self.alias("c")
        inner = and_([self.types_filter(c, cond.chain.target_types), self.condition(cond.chain.condition, c)])
        return sql.SQL(
            "{a}.url IS NULL AND {tt} AND ({a}.target_type, {a}.target_id) IN "
            "(SELECT {c}.res_type, {c}.res_id FROM fhir_resource {c} WHERE {inner})"
        ).format(
            a=sql.Identifier(a),
            c=sql.Identifier(c),
            tt=self.target_types_filter(a, cond.chain.target_types),
            inner=inner,
        )

    def target_types_filter(self, a: str, types: Sequence[str]) -> sql.Composable:
        col = sql.Identifier(a, "target_type")
        if len(types) == 1:
            return sql.SQL("{} = {}").format(col, self.p.add(types[0]))
        return sql.SQL("{} = ANY({})").format(col, self.p.add(list(types), "text[]"))

    def _has(self, cond: Condition, r: str, probe: bool = False) -> sql.Composable:
        """``EXISTS`` a reference row of the other type's parameter pointing at ``r``, whose resource
        matches the inner condition (see :meth:`has_rows`)."""
        found = self.has_rows(cond, probe=probe)
        if found is None:
            return FALSE
        h, rows = found
        body = sql.SQL("{rows} AND {h}.target_id = {r}.res_id AND {h}.target_type = {r}.res_type").format(
            rows=rows, h=sql.Identifier(h), r=sql.Identifier(r)
        )
        return _exists(body, negate=False, probe=probe)

    def has_rows(self, cond: Condition, probe: bool = False) -> tuple[str, sql.Composable] | None:
        """``SELECT 1 FROM idx_reference h ... WHERE ...``: the reference rows of a ``_has`` condition
        whose resource matches its inner condition, and the alias ``h``; ``None`` if nothing can match.

        Index rows exist only for live resources and a ``param_id`` names one resource type, so the
        inner condition is tested on the reference row's ``(pkey, rid)`` directly; the other resource's
        ``fhir_resource`` row is joined only when the inner condition reads it (``_id``,
        ``_lastUpdated``, a nested ``_has``, ``_list``). ``probe``: the inner condition is fenced too, so
        that each reference row is tested with one index lookup on its ``(pkey, rid)``: joined instead,
        PostgreSQL may scan the whole range of the inner value for every reference row when it
        misjudges that range as tiny (``Condition.code`` E78.5: 4,500 rows taken for 1, 1.4 s at 2
        million resources).
        """
        assert cond.has is not None
        h = self.alias("h")
        pid = self.param_filter(h, (cond.has.res_type,), cond.has.reference)
        if pid is None:
            return None
        inner = cond.has.condition
        if _reads_resource_row(inner):
            o = self.alias("o")
            source = sql.SQL(
                "idx_reference {h} JOIN fhir_resource {o} ON {o}.pkey = {h}.pkey AND {o}.rid = {h}.rid"
            ).format(h=sql.Identifier(h), o=sql.Identifier(o))
            test = and_([self.types_filter(o, (cond.has.res_type,)), self.condition(inner, o, probe=probe)])
        else:
            source = sql.SQL("idx_reference {h}").format(h=sql.Identifier(h))
            test = self.condition(inner, h, probe=probe)
        rows = sql.SQL("SELECT 1 FROM {source} WHERE {pid} AND {h}.url IS NULL AND {test}").format(
            source=source, h=sql.Identifier(h), pid=pid, test=test
        )
        return h, rows

    def _list(self, cond: Condition, r: str, probe: bool = False) -> sql.Composable:
        li = self.alias("l")
        pid = self.param_filter(li, ("List",), "item")
        ids = [v.target_id for v in cond.values if isinstance(v, ReferenceQuery)]
        if pid is None or not ids:
            return FALSE
        body = sql.SQL(
            "SELECT 1 FROM idx_reference {li} WHERE {pid} AND ({li}.pkey, {li}.rid) IN"
            " (SELECT pkey, rid FROM fhir_locator WHERE res_type = 'List' AND res_id = ANY({ids}) AND NOT deleted)"
            " AND {li}.target_id = {r}.res_id AND {li}.target_type = {r}.res_type AND {li}.url IS NULL"
        ).format(li=sql.Identifier(li), pid=pid, ids=self.p.add(ids, "text[]"), r=sql.Identifier(r))
        return _exists(body, negate=False, probe=probe)

    def _id(self, cond: Condition, r: str) -> sql.Composable:
        if cond.missing is not None:
            return FALSE if cond.missing else TRUE
        ids = [v.code for v in cond.values if isinstance(v, TokenQuery) and v.code is not None]
        test = sql.SQL("{} = ANY({})").format(sql.Identifier(r, "res_id"), self.p.add(ids, "text[]"))
        return sql.SQL("NOT ({})").format(test) if cond.modifier == "not" else test

    def _last_updated(self, cond: Condition, r: str) -> sql.Composable:
        if cond.missing is not None:
            return FALSE if cond.missing else TRUE
        col: Col = lambda _name: sql.Identifier(r, "last_updated")  # noqa: E731 - a point: low = high
        return or_(
            [date_predicate(v, col, self.p, self.now) for v in cond.values if isinstance(v, DateQuery)]
        )

    # --- sorting -----------------------------------------------------------------------------------

    def sort_columns(self, request: SearchRequest, r: str = "r") -> list[SortColumn]:
        """The ORDER BY keys: the requested ones (default ``_id``), then ``rid`` unless already unique."""
        keys = list(request.sort) or [SortKey("_id", False)]
        out: list[SortColumn] = []
        for key in keys:
            if key.param == "_id":
                out.append(SortColumn(sql.Identifier(r, "res_id"), key.descending, "text", False))
            elif key.param == "_lastUpdated":
                out.append(
                    SortColumn(sql.Identifier(r, "last_updated"), key.descending, "timestamptz", False)
                )
            else:
                out.append(self._param_sort(request, key, r))
        if not (len(request.types) == 1 and keys[-1].param == "_id"):  # res_id is unique within a type
            out.append(SortColumn(sql.Identifier(r, "rid"), keys[-1].descending, "bigint", False))
        return out

    def _param_sort(self, request: SearchRequest, key: SortKey, r: str) -> SortColumn:
        info = param_info(request.types, key.param)
        assert info is not None
        kind, asc_col, desc_col = _SORT_COLUMNS[info.type]
        column = desc_col if key.descending and desc_col else asc_col
        col_sql: sql.Composable = sql.SQL(column) if "(" in column else sql.Identifier("s", column)
        pid = self.param_filter("s", request.types, key.param) or FALSE
        agg = sql.SQL("max" if key.descending else "min")
        expr = sql.SQL(
            "(SELECT {agg}({col}) FROM {t} s WHERE s.pkey = {r}.pkey AND s.rid = {r}.rid AND {pid})"
        ).format(
            agg=agg, col=col_sql, t=sql.Identifier(INDEX_TABLES[info.type]), r=sql.Identifier(r), pid=pid
        )
        return SortColumn(expr, key.descending, kind, True)

    def after(
        self, columns: Sequence[sql.Composable], sort: Sequence[SortColumn], position: Position
    ) -> sql.Composable:
        """Rows strictly after ``position`` in the ORDER BY of ``sort`` (NULLs last in both directions)."""
        values = position.values
        if all(not s.nullable for s in sort) and len({s.descending for s in sort}) == 1:
            op = sql.SQL("<" if sort[0].descending else ">")
            left = sql.SQL("(") + sql.SQL(", ").join(columns) + sql.SQL(")")
            right = (
                sql.SQL("(")
                + sql.SQL(", ").join(self.p.add(v, s.kind) for v, s in zip(values, sort, strict=True))
                + sql.SQL(")")
            )
            return sql.SQL("{} {} {}").format(left, op, right)
        alternatives: list[sql.Composable] = []
        for i, (col, s) in enumerate(zip(columns, sort, strict=True)):
            v = values[i]
            if v is None:
                continue  # NULL sorts last: nothing comes after it on this key
            cmp = "<" if s.descending else ">"
            later = sql.SQL("{} " + cmp + " {}").format(col, self.p.add(v, s.kind))
            if s.nullable:
                later = sql.SQL("({} OR {} IS NULL)").format(later, col)
            same = [
                sql.SQL("{} IS NULL").format(c)
                if values[j] is None
                else sql.SQL("{} = {}").format(c, self.p.add(values[j], sort[j].kind))
                for j, c in enumerate(columns[:i])
            ]
            alternatives.append(and_([*same, later]))
        return or_(alternatives)


def _exists(body: sql.Composable, *, negate: bool, probe: bool) -> sql.Composable:
    """``[NOT] EXISTS (body)``; a probe is fenced with ``OFFSET 0``, which keeps PostgreSQL from pulling
    the subquery up into a semi-join: it stays a per-row test (a SubPlan) of the candidate rows."""
    return sql.SQL("{} ({}{})").format(
        sql.SQL("NOT EXISTS" if negate else "EXISTS"), body, sql.SQL(" OFFSET 0" if probe else "")
    )


def _reads_resource_row(cond: Condition) -> bool:
    """Whether a condition reads its resource's ``fhir_resource`` row (not only index rows by
    ``(pkey, rid)``)."""
    return cond.has is not None or cond.type == "list" or cond.param in ("_id", "_lastUpdated")


def _order(columns: Sequence[sql.Composable], sort: Sequence[SortColumn]) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} {} NULLS LAST").format(c, sql.SQL("DESC" if s.descending else "ASC"))
        for c, s in zip(columns, sort, strict=True)
    )


def build_page(
    request: SearchRequest,
    param_ids: ParamIds,
    *,
    limit: int,
    compartment: tuple[str, str] | None = None,
    position: Position | None = None,
    now: datetime | None = None,
    probes: Collection[int] = (),
    restriction: Restriction | None = None,
) -> tuple[Statement, list[SortColumn]]:
    """The page query: ``limit`` rows after ``position``, with their sort keys (to make the next cursor).

    Columns: res_type, res_id, version, last_updated, content, rid, pkey, k0, k1, ...
    ``probes``: the indexes of ``request.clauses`` to test per row rather than join (see
    :meth:`SqlBuilder.condition`).
    """
    b = SqlBuilder(param_ids, now, probes)
    sort = b.sort_columns(request)
    keys = [sql.Identifier(f"k{i}") for i in range(len(sort))]
    inner = sql.SQL("SELECT {cols}, {keys} FROM fhir_resource r WHERE {where}").format(
        cols=_RESOURCE_COLUMNS,
        keys=sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(s.expr, k) for s, k in zip(sort, keys, strict=True)
        ),
        where=b.filters(request, "r", compartment, restriction),
    )
    qcols = [sql.Identifier("q", f"k{i}") for i in range(len(sort))]
    after = b.after(qcols, sort, position) if position is not None else TRUE
    pcols = [sql.Identifier("p", f"k{i}") for i in range(len(sort))]
    query = sql.SQL(
        "SELECT p.res_type, p.res_id, f.version, f.last_updated, {content}, p.rid, p.pkey, {pkeys} FROM"
        " (SELECT q.* FROM ({inner}) q WHERE {after} ORDER BY {qorder} LIMIT {limit}) p"
        " JOIN fhir_resource f ON f.pkey = p.pkey AND f.rid = p.rid ORDER BY {porder}"
    ).format(
        content=sql.SQL(content_sql("f")),
        pkeys=sql.SQL(", ").join(pcols),
        inner=inner,
        after=after,
        qorder=_order(qcols, sort),
        limit=b.p.add(limit, "bigint"),
        porder=_order(pcols, sort),
    )
    return Statement(query, b.p.values), sort


def build_count(
    request: SearchRequest,
    param_ids: ParamIds,
    *,
    compartment: tuple[str, str] | None = None,
    now: datetime | None = None,
    cap: int | None = None,
    estimate: bool = False,
    restriction: Restriction | None = None,
) -> Statement:
    """``SELECT count(*)`` of every match (``_total=accurate``); with ``cap``, counting stops there;
    with ``estimate``, the plain ``SELECT 1 ...`` whose EXPLAIN gives the planner's estimate."""
    b = SqlBuilder(param_ids, now)
    where = b.filters(request, "r", compartment, restriction)
    if estimate:
        query = sql.SQL("SELECT 1 FROM fhir_resource r WHERE {}").format(where)
    elif cap is not None:
        query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM fhir_resource r WHERE {} LIMIT {}) c").format(
            where, b.p.add(cap, "bigint")
        )
    else:
        query = sql.SQL("SELECT count(*) FROM fhir_resource r WHERE {}").format(where)
    return Statement(query, b.p.values)


def build_has_count(
    cond: Condition,
    target_types: Sequence[str],
    param_ids: ParamIds,
    *,
    cap: int,
    now: datetime | None = None,
) -> Statement:
    """About how many resources (at most ``cap``) a ``_has`` condition finds: whether its matches are few
    enough to collect, or so many that walking the page order and probing each resource stops sooner.

    A plain value condition inside counts its own index rows (``Condition.code`` rows of J00: an index
    range, no join); any other counts the reference rows pointing at ``target_types`` whose resource
    matches."""
    assert cond.has is not None
    b = SqlBuilder(param_ids, now)
    rows = b.value_rows(cond.has.condition)
    if rows is None:
        found = b.has_rows(cond)
        if found is None:
            return Statement(sql.Composed([sql.SQL("SELECT 0")]), {})
        h, has_rows = found
        rows = sql.SQL("{} AND {}").format(has_rows, b.target_types_filter(h, target_types))
    query = sql.SQL("SELECT count(*) FROM ({rows} LIMIT {cap}) c").format(
        rows=rows, cap=b.p.add(cap, "bigint")
    )
    return Statement(query, b.p.values)


_ROW = sql.SQL("f.res_type, f.res_id, f.version, f.last_updated, " + content_sql("f") + ", f.rid, f.pkey")


def build_include(rows: Sequence[tuple[int, str]], pids: Sequence[int], target_type: str | None) -> Statement:
    """The resources that the rows ``(rid, pkey)`` reference through the parameters ``pids``."""
    p = Params()
    target = sql.SQL(" AND i.target_type = {}").format(p.add(target_type)) if target_type else sql.SQL("")
    query = sql.SQL(
        "SELECT DISTINCT ON (f.rid) {row} FROM unnest({rids}, {pkeys}) AS m(rid, pkey)"
        " JOIN idx_reference i ON i.pkey = m.pkey AND i.rid = m.rid"
        " JOIN fhir_locator l ON l.res_type = i.target_type AND l.res_id = i.target_id AND NOT l.deleted"
        " JOIN fhir_resource f ON f.pkey = l.pkey AND f.rid = l.rid"
        " WHERE i.param_id = ANY({pids}) AND i.url IS NULL AND i.target_id IS NOT NULL{target}"
    ).format(
        row=_ROW,
        rids=p.add([r for r, _ in rows], "bigint[]"),
        pkeys=p.add([k for _, k in rows], "text[]"),
        pids=p.add(list(pids), "smallint[]"),
        target=target,
    )
    return Statement(query, p.values)


def build_revinclude(targets: Sequence[tuple[str, str]], pids: Sequence[int]) -> Statement:
    """The resources that reference any of ``targets`` ``(type, id)`` through the parameters ``pids``."""
    p = Params()
    query = sql.SQL(
        "SELECT DISTINCT ON (f.rid) {row} FROM unnest({types}, {ids}) AS m(t, id)"
        " JOIN idx_reference i ON i.target_id = m.id AND i.target_type = m.t"
        " JOIN fhir_resource f ON f.pkey = i.pkey AND f.rid = i.rid"
        " WHERE i.param_id = ANY({pids}) AND i.url IS NULL"
    ).format(
        row=_ROW,
        types=p.add([t for t, _ in targets], "text[]"),
        ids=p.add([i for _, i in targets], "text[]"),
        pids=p.add(list(pids), "smallint[]"),
    )
    return Statement(query, p.values)
