"""Compile-time values: what a FHIRPath sub-expression is in SQL, with its static type.

Spec: http://hl7.org/fhirpath/N1/ section 4 "Collections" (every FHIRPath value is an ordered
collection; empty propagates) and https://hl7.org/fhir/R4/fhirpath.html (FHIR types of paths).

A :class:`Val` is either *materialised* (``sql`` is a scalar, NULL meaning the empty collection, or
a list when ``many``) or a *lazy path* (``base`` plus ``steps``: object keys, each flagged when the
element repeats), kept lazy so that consecutive steps become one JSON path (``$.code.coding[*]``)
and a final conversion folds into the extraction (``json_extract_string(r, '$.id')``).

``kind`` is the SQL representation: ``json`` (a JSON/VARIANT value, with ``fhir`` its FHIR type or
backbone path as the R4 model names it, so that navigation knows keys, arrays and choice types) or a
typed kind (``string``, ``boolean``, ``integer``, ``decimal``, ``date``, ``datetime``, ``time``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Final

from senhealth.fhir.fhirpath import ast_nodes as ast
from senhealth.fhir.model import FhirModel, get_model

from .dialects import NUMBER_KINDS, TEXT_KINDS, Dialect, Kind, Step
from .errors import Unsupported

#: FHIR primitive type -> the kind its JSON value converts to.
FHIR_KIND: Final[dict[str, Kind]] = {
    "boolean": "boolean",
    "string": "string",
    "code": "string",
    "id": "string",
    "uri": "string",
    "url": "string",
    "canonical": "string",
    "oid": "string",
    "uuid": "string",
    "markdown": "string",
    "base64Binary": "string",
    "xhtml": "string",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "integer64": "integer",
    "decimal": "decimal",
    "date": "date",
    "dateTime": "datetime",
    "instant": "datetime",
    "time": "time",
}


@dataclass(frozen=True)
class Val:
    kind: Kind
    sql: str = ""
    many: bool = False
    fhir: str | None = None
    base: str | None = None
    base_many: bool = False
    steps: tuple[Step, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()  # an unnarrowed choice element: (JSON key, FHIR type)
    choice_array: bool = False
    computed: bool = False  # a date/time the engine made (lowBoundary()), not text read from JSON
    empty: bool = False  # statically empty

    @property
    def lazy(self) -> bool:
        return self.base is not None

    @property
    def static_kind(self) -> Kind | None:
        """The typed kind of the items, ``json`` for complex values, None when unknown."""
        if self.kind != "json":
            return self.kind
        if self.fhir is None:
            return None
        return FHIR_KIND.get(self.fhir, "json")

    @property
    def primitive(self) -> bool:
        return self.kind != "json" or (self.fhir is not None and self.fhir in FHIR_KIND)


class Values:
    """Materialising and converting :class:`Val` objects in one dialect."""

    def __init__(self, d: Dialect, where: str) -> None:
        self.d = d
        self.where = where

    def unsupported(self, construct: str) -> Unsupported:
        return Unsupported(construct, self.where, self.d.name)

    def empty(self, kind: Kind = "json") -> Val:
        return Val(kind, self.d.null(kind), empty=True)

    def materialize(self, v: Val) -> Val:
        d = self.d
        if v.choices:
            lists = [self.as_list(replace(v, choices=(), fhir=t, steps=(*v.steps, (k, v.choice_array))))
                     for k, t in v.choices]  # fmt: skip
            return Val("json", d.concat(lists), many=True, fhir=None)
        if v.base is None:
            return v
        segs = [s for s, _ in v.steps]
        arrays = any(a for _, a in v.steps)
        if not v.base_many:
            if not v.steps:
                return Val(v.kind, v.base, fhir=v.fhir)
            if not arrays:
                return Val("json", d.json_get(v.base, segs, "json"), fhir=v.fhir)
            return Val("json", d.json_items(v.base, v.steps, v.primitive), many=True, fhir=v.fhir)
        if not v.steps:
            return Val(v.kind, v.base, many=True, fhir=v.fhir)
        x = d.fresh("x")
        if arrays:
            sql = d.flatten(d.transform(v.base, [x], d.json_items(x, v.steps, v.primitive)))
        else:
            y = d.fresh("y")
            sql = d.filter(
                d.transform(v.base, [x], d.json_get(x, segs, "json")), [y], f"NOT {d.json_is_null(y)}"
            )
        return Val("json", sql, many=True, fhir=v.fhir)

    def as_list(self, v: Val) -> str:
        """The SQL list of ``v``'s items (never NULL)."""
        m = self.materialize(v)
        if m.many:
            return m.sql
        d = self.d
        if m.empty:
            return d.array([], m.kind)
        missing = d.json_is_null(m.sql) if m.kind == "json" else f"{m.sql} IS NULL"
        return f"CASE WHEN {missing} THEN {d.array([], m.kind)} ELSE {d.array([m.sql], m.kind)} END"

    def as_scalar(self, v: Val, what: str) -> str:
        """``v`` as a scalar (NULL when empty); several items raise a run-time error naming ``what``."""
        m = self.materialize(v)
        if not m.many:
            return m.sql
        d = self.d
        message = f"{self.where}: {what} gave several values where one is needed"
        return f"CASE WHEN {d.size(m.sql)} > 1 THEN {d.error(message)} ELSE {d.elem(m.sql, '1')} END"

    def typed(self, v: Val, kind: Kind) -> Val:
        """``v`` with its items converted to ``kind`` (same cardinality)."""
        d = self.d
        if v.empty:
            return self.empty(kind)
        if v.kind == kind:
            return self.materialize(v) if kind == "json" else v
        if v.kind == "json":
            if v.choices:
                raise self.unsupported("a choice element used without ofType()")
            if v.base is not None and not v.base_many and not any(a for _, a in v.steps):
                return Val(kind, d.json_get(v.base, [s for s, _ in v.steps], kind), fhir=v.fhir)
            m = self.materialize(v)
            if not m.many:
                return Val(kind, d.json_to(m.sql, kind), fhir=v.fhir)
            x = d.fresh("x")
            return Val(kind, d.transform(m.sql, [x], d.json_to(x, kind)), many=True, fhir=v.fhir)
        if kind == "json":
            raise self.unsupported(f"a {v.kind} value where a FHIR element is needed")
        same_sql = (v.kind in TEXT_KINDS and kind in TEXT_KINDS) or (
            v.kind == "integer" and kind == "decimal"
        )
        if same_sql or kind == "string":
            if not v.many:
                return replace(v, kind=kind, sql=d.cast(v.sql, kind))
            x = d.fresh("x")
            return replace(v, kind=kind, sql=d.transform(v.sql, [x], d.cast(x, kind)))
        raise self.unsupported(f"converting a {v.kind} value to {kind}")

    def common_kind(self, a: Val, b: Val, op: str) -> Kind | None:
        """The kind two operands are compared in; None when both are JSON of unknown type."""
        ka, kb = a.static_kind, b.static_kind
        if ka is None and kb is None:
            return None
        if ka is None or kb is None:
            k = ka or kb
            assert k is not None
            return k
        if ka == kb:
            return ka
        if ka in NUMBER_KINDS and kb in NUMBER_KINDS:
            return "decimal"
        if ka in TEXT_KINDS and kb in TEXT_KINDS:
            return "string" if "string" in (ka, kb) else "datetime"
        raise self.unsupported(f"'{op}' between a {ka} and a {kb}")


@dataclass(frozen=True)
class Scope:
    """What an expression is evaluated on: ``$this``, ``%rowIndex``, ``%resource``, ``$index``."""

    focus: Val
    index: str
    resource: Val
    lambda_index: str | None = None


@cache
def model() -> FhirModel:
    return get_model()


def type_name(node: ast.Expr) -> str:
    """The type name of a type-specifier argument (``Quantity``, ``FHIR.string``)."""
    if isinstance(node, ast.Member):
        if node.target is None:
            return node.name
        if (
            isinstance(node.target, ast.Member)
            and node.target.target is None
            and node.target.name in ("FHIR",)
        ):
            return node.name
    raise Unsupported("a type specifier other than a FHIR type name")
