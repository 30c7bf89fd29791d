"""FHIRPath, the subset ViewDefinitions use, compiled to SQL expressions.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html#required-fhirpath-expressionsfunctions
(the required subset), FHIRPath http://hl7.org/fhirpath/N1/ and the FHIR R4 mapping
https://hl7.org/fhir/R4/fhirpath.html. The parse tree is the project's own
(:mod:`senhealth.fhir.fhirpath.parser`); types come from the R4 model (:mod:`senhealth.fhir.model`).

Compiled: paths (choice elements through ``ofType()``, a leading resource type name), indexers,
``where`` ``exists`` ``empty`` ``first`` ``last`` ``count`` ``not`` ``select`` ``all`` ``iif``
``ofType`` ``extension(url)`` ``join`` ``getResourceKey`` ``getReferenceKey([type])``
``lowBoundary`` ``highBoundary`` ``startsWith`` ``endsWith`` ``contains`` ``lower`` ``upper``
``length`` ``substring`` ``toString`` ``hasValue`` (each in :mod:`.functions`); literals (string, number, boolean, date, time,
``{}``); ``%constant``, ``%rowIndex``, ``%resource``, ``$this``, ``$index``; ``= != < > <= >=``, ``and or
xor implies``, ``+ - * / div mod &``, ``in contains``. Anything else raises :class:`Unsupported`
naming it (``|``, ``~``, ``is``/``as``, ``resolve()``, ``memberOf()``, quantities, ...).

Semantics kept from FHIRPath: empty propagates as SQL NULL (three-valued ``and``/``or`` are SQL's);
``=`` on collections compares them item by item; dates and times are compared as text when both have
the same precision and are empty otherwise (time-zone offsets are not normalised).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath import ast_nodes as ast
from senhealth.fhir.fhirpath.parser import parse

from .dialects import NUMBER_KINDS, TEXT_KINDS, Dialect, Kind
from .errors import Unsupported
from .functions import FUNCTIONS
from .values import FHIR_KIND, Scope, Val, Values, model

#: ``%ucum`` and friends (FHIRPath 2.0 section 9 "Environment variables").
_WELL_KNOWN = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


class ExprCompiler:
    """Compiles FHIRPath text to :class:`Val` in one dialect; ``constants`` are the view's ``%name``s."""

    def __init__(self, d: Dialect, constants: Mapping[str, Val]) -> None:
        self.d = d
        self.constants = constants
        self.v = Values(d, "")

    # -- entry points --------------------------------------------------------------------------------

    def compile(self, text: str, scope: Scope, where: str) -> Val:
        self.v.where = where
        try:
            tree = parse(text)
        except fhirpath.FHIRPathError as e:  # validate_view reports it first; here for direct callers
            raise Unsupported(f"invalid FHIRPath {text!r}: {e}", where, self.d.name) from e
        try:
            return self.expr(tree, scope)
        except Unsupported as e:
            if not e.where:
                raise Unsupported(e.construct, where, self.d.name) from None
            raise

    def unsupported(self, construct: str) -> Unsupported:
        return self.v.unsupported(construct)

    # -- the tree --------------------------------------------------------------------------------------

    def expr(self, node: ast.Expr, scope: Scope) -> Val:
        if isinstance(node, ast.Member):
            return self.member(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.Literal):
            return self.literal(node.value)
        if isinstance(node, ast.EmptyLiteral):
            return self.v.empty()
        if isinstance(node, ast.Index):
            return self.index(node, scope)
        if isinstance(node, ast.Binary):
            return self.binary(node, scope)
        if isinstance(node, ast.Unary):
            operand = self.expr(node.operand, scope)
            if node.op == "+":
                return operand
            k = operand.static_kind
            if k not in NUMBER_KINDS:
                raise self.unsupported("unary minus on a non-number")
            assert k is not None
            return Val(k, f"(- {self.v.as_scalar(self.v.typed(operand, k), 'unary minus')})")
        if isinstance(node, ast.Special):
            if node.name == "this":
                return scope.focus
            if node.name == "index" and scope.lambda_index is not None:
                return Val("integer", scope.lambda_index)
            raise self.unsupported(f"${node.name}")
        if isinstance(node, ast.External):
            return self.external(node.name, scope)
        if isinstance(node, ast.TypeOp):
            raise self.unsupported(f"the '{node.op}' operator")
        raise self.unsupported(type(node).__name__)

    def external(self, name: str, scope: Scope) -> Val:
        if name == "rowIndex":
            return Val("integer", scope.index)
        if name in ("resource", "rootResource"):
            return scope.resource
        if name in self.constants:
            return self.constants[name]
        if name in _WELL_KNOWN:
            return Val("string", self.d.str_lit(_WELL_KNOWN[name]))
        raise self.unsupported(f"%{name}")

    def literal(self, value: Any) -> Val:
        d = self.d
        if isinstance(value, bool):
            return Val("boolean", "true" if value else "false")
        if isinstance(value, int):
            return Val("integer", d.number_lit(value, "integer"))
        if isinstance(value, Decimal):
            return Val("decimal", d.number_lit(value, "decimal"))
        if isinstance(value, str):
            return Val("string", d.str_lit(value))
        if isinstance(value, fhirpath.FPDateTime):
            return Val("datetime", d.str_lit(value.isoformat()))
        if isinstance(value, fhirpath.FPDate):
            return Val("date", d.str_lit(value.isoformat()))
        if isinstance(value, fhirpath.FPTime):
            return Val("time", d.str_lit(value.isoformat()))
        raise self.unsupported(f"the literal {value}")

    # -- paths -----------------------------------------------------------------------------------------

    def member(self, node: ast.Member, scope: Scope) -> Val:
        if node.target is None:
            focus = scope.focus
            if focus.fhir == node.name and model().is_resource(node.name):
                return focus  # ``Patient.name`` on a Patient
            return self.child(focus, node.name)
        return self.child(self.expr(node.target, scope), node.name)

    def child(self, v: Val, name: str) -> Val:
        if v.empty:
            return self.v.empty()
        if v.choices:
            raise self.unsupported(f"'.{name}' on a choice element without ofType()")
        if v.kind != "json":
            raise self.unsupported(f"'.{name}' on a {v.kind} value")
        if v.fhir is None:
            raise self.unsupported(f"'.{name}' on a value of unknown type")
        if v.fhir in FHIR_KIND:
            raise self.unsupported(f"'.{name}' on a primitive (its id and extensions)")
        e = model().child(v.fhir, name)
        if e is None:
            return self.v.empty()  # the reference engine answers empty for a name the type lacks
        array = e.max != 1
        if e.choice:
            choices = tuple(e.json_names())
            return replace(self._extend(v, []), choices=choices, choice_array=array, fhir=None)
        t = e.types[0] if e.types else "BackboneElement"
        fhir = t if t in FHIR_KIND else (e.type_path or t)
        return replace(self._extend(v, [(name, array)]), fhir=fhir)

    def _extend(self, v: Val, steps: list[tuple[str | int, bool]]) -> Val:
        if v.lazy:
            return replace(v, steps=(*v.steps, *steps))
        return Val("json", base=v.sql, base_many=v.many, steps=tuple(steps), fhir=v.fhir)

    def of_type(self, v: Val, type_name: str) -> Val:
        if v.empty:
            return v
        if v.choices:
            for key, t in v.choices:
                if t == type_name:
                    return replace(v, choices=(), steps=(*v.steps, (key, v.choice_array)), fhir=t)
            return self.v.empty()
        if v.kind == "json" and v.fhir is not None:
            m = model()
            if v.fhir == type_name or (v.fhir not in FHIR_KIND and m.is_subtype(v.fhir, type_name)):
                return v
            return self.v.empty()
        if v.kind != "json" and FHIR_KIND.get(type_name) == v.kind:
            return v
        raise self.unsupported(f"ofType({type_name}) on a value of unknown type")

    def index(self, node: ast.Index, scope: Scope) -> Val:
        target = self.expr(node.target, scope)
        if isinstance(node.index, ast.Literal) and isinstance(node.index.value, int):
            return self.nth(target, node.index.value)
        idx = self.expr(node.index, scope)
        if idx.static_kind != "integer":
            raise self.unsupported("an index that is not an integer")
        pos = self.v.as_scalar(self.v.typed(idx, "integer"), "index")
        return self.nth(target, None, f"({pos}) + 1")

    def nth(self, v: Val, n: int | None, pos_sql: str | None = None) -> Val:
        """Item ``n`` (0-based; -1 is the last) of ``v``, or at the 1-based SQL position ``pos_sql``."""
        if v.empty:
            return v
        one_array_last = v.lazy and v.steps and v.steps[-1][1] and not any(a for _, a in v.steps[:-1])
        if n is not None and n >= 0 and one_array_last and not v.base_many:
            # ``name.first().family`` is the path ``$.name[0].family``
            key = v.steps[-1][0]
            return replace(v, steps=(*v.steps[:-1], (key, False), (n, False)))
        m = self.v.materialize(v)
        if not m.many:
            if n in (0, -1):
                return m
            if pos_sql is not None:
                return replace(m, sql=f"CASE WHEN {pos_sql} = 1 THEN {m.sql} END")
            return self.v.empty(m.kind)
        pos = pos_sql if pos_sql is not None else (str(n + 1) if n is not None and n >= 0 else "-1")
        return Val(m.kind, self.d.elem(m.sql, pos), fhir=m.fhir, computed=m.computed)

    # -- functions -------------------------------------------------------------------------------------

    def call(self, node: ast.Call, scope: Scope) -> Val:
        name, args = node.name, node.args
        target = self.expr(node.target, scope) if node.target is not None else scope.focus
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise self.unsupported(f"the function {name}()")
        return fn(self, target, args, scope)

    def lambda_over(self, target: Val, body: ast.Expr, scope: Scope) -> tuple[str, list[str], Val]:
        """The list of ``target``, lambda parameters and ``body`` compiled on one item."""
        lst = self.v.as_list(target)
        x, i = self.d.fresh("x"), self.d.fresh("i")
        item_kind = target.kind if not target.choices else "json"
        item = Val(item_kind, x, fhir=target.fhir if not target.choices else None)
        index = i if self.d.lambda_index_base == 0 else f"({i} - 1)"
        inner = Scope(item, scope.index, scope.resource, index)
        return lst, [x, i], self.expr(body, inner)

    def boolean(self, v: Val, what: str) -> str:
        """FHIRPath singleton evaluation of ``v`` as a Boolean: SQL BOOLEAN, NULL when empty."""
        k = v.static_kind
        if k == "boolean":
            return self.v.as_scalar(self.v.typed(v, "boolean"), what)
        if k is not None:  # a single non-Boolean item counts as true
            m = self.v.materialize(v)
            if not m.many:
                miss = self.d.json_is_null(m.sql) if m.kind == "json" else f"{m.sql} IS NULL"
                return f"CASE WHEN {miss} THEN NULL ELSE true END"
            size = self.d.size(m.sql)
            err = self.d.error(f"{self.v.where}: {what} gave several values where one Boolean is needed")
            return f"CASE WHEN {size} = 0 THEN NULL WHEN {size} = 1 THEN true ELSE {err} END"
        m = self.v.materialize(v)
        item = self.v.as_scalar(m, what)
        return (
            f"CASE WHEN {self.d.json_is_null(item)} THEN NULL WHEN {self.d.json_is(item, 'boolean')} "
            f"THEN {self.d.json_to(item, 'boolean')} ELSE true END"
        )

    def text(self, v: Val, what: str) -> str:
        k = v.static_kind
        if k is None or k == "json":
            raise self.unsupported(f"{what} on a value that is not a string")
        return self.v.as_scalar(self.v.typed(v, "string"), what)

    # -- operators -------------------------------------------------------------------------------------

    def binary(self, node: ast.Binary, scope: Scope) -> Val:
        op = node.op
        a, b = self.expr(node.left, scope), self.expr(node.right, scope)
        if op in ("and", "or", "xor", "implies"):
            x, y = (
                self.boolean(a, f"the left operand of '{op}'"),
                self.boolean(b, f"the right operand of '{op}'"),
            )
            sql = {
                "and": f"({x} AND {y})",
                "or": f"({x} OR {y})",
                "xor": f"({x} <> {y})",
                "implies": f"((NOT {x}) OR {y})",
            }[op]
            return Val("boolean", sql)
        if op in ("=", "!="):
            eq = self.equals(a, b)
            return Val("boolean", eq if op == "=" else f"(NOT {eq})")
        if op in ("<", ">", "<=", ">="):
            return self.compare(a, b, op)
        if op in ("+", "-", "*", "/", "div", "mod", "&"):
            return self.arithmetic(a, b, op)
        if op in ("in", "contains"):
            item, coll = (a, b) if op == "in" else (b, a)
            return self.membership(item, coll)
        raise self.unsupported(f"the '{op}' operator")

    def equals(self, a: Val, b: Val) -> str:
        d = self.d
        if a.empty or b.empty:
            return "CAST(NULL AS BOOLEAN)"
        kind = self.v.common_kind(a, b, "=")
        if kind is None or kind == "json":
            ta, tb = self._json_texts(a), self._json_texts(b)
        else:
            ta, tb = self.v.typed(a, kind), self.v.typed(b, kind)
        if not ta.many and not tb.many:
            if kind in ("date", "datetime", "time"):
                return f"CASE WHEN {d.length(ta.sql)} = {d.length(tb.sql)} THEN {ta.sql} = {tb.sql} END"
            return f"({ta.sql} = {tb.sql})"
        la, lb = self.v.as_list(ta), self.v.as_list(tb)
        return f"CASE WHEN {d.size(la)} = 0 OR {d.size(lb)} = 0 THEN NULL ELSE {la} = {lb} END"

    def _json_texts(self, v: Val) -> Val:
        m = self.v.materialize(v)
        if m.kind != "json":
            raise self.unsupported("'=' between a JSON value and a typed value")
        if not m.many:
            return Val("string", self.d.json_text(m.sql))
        x = self.d.fresh("x")
        return Val("string", self.d.transform(m.sql, [x], self.d.json_text(x)), many=True)

    def compare(self, a: Val, b: Val, op: str) -> Val:
        if a.empty or b.empty:
            return Val("boolean", "CAST(NULL AS BOOLEAN)")
        kind = self.v.common_kind(a, b, op)
        if kind is None or kind == "json" or kind == "boolean":
            raise self.unsupported(f"'{op}' on values of type {kind or 'unknown'}")
        x = self.v.as_scalar(self.v.typed(a, kind), f"the left operand of '{op}'")
        y = self.v.as_scalar(self.v.typed(b, kind), f"the right operand of '{op}'")
        if kind in ("date", "datetime", "time"):
            d = self.d
            return Val("boolean", f"CASE WHEN {d.length(x)} = {d.length(y)} THEN {x} {op} {y} END")
        return Val("boolean", f"({x} {op} {y})")

    def arithmetic(self, a: Val, b: Val, op: str) -> Val:
        d = self.d
        if op == "&":
            x, y = self.text(a, "'&'"), self.text(b, "'&'")
            return Val("string", d.concat_text([f"coalesce({x}, '')", f"coalesce({y}, '')"]))
        if a.empty or b.empty:
            return self.v.empty("decimal")
        ka, kb = a.static_kind, b.static_kind
        if op == "+" and ka in TEXT_KINDS and kb in TEXT_KINDS and "string" in (ka, kb):
            x, y = self.text(a, "'+'"), self.text(b, "'+'")
            return Val("string", d.concat_text([x, y]))
        if ka not in NUMBER_KINDS or kb not in NUMBER_KINDS:
            raise self.unsupported(f"'{op}' on {ka or 'unknown'} and {kb or 'unknown'} values")
        kind: Kind = "integer" if ka == kb == "integer" and op != "/" else "decimal"
        x = self.v.as_scalar(self.v.typed(a, kind), f"the left operand of '{op}'")
        y = self.v.as_scalar(self.v.typed(b, kind), f"the right operand of '{op}'")
        if op == "/":
            return Val("decimal", d.divide(x, y))
        if op == "div":
            return Val(kind, d.int_div(x, y) if kind == "integer" else f"trunc({d.divide(x, y)})")
        if op == "mod":
            return Val(kind, d.mod(x, y))
        return Val(kind, f"({x} {op} {y})")

    def membership(self, item: Val, coll: Val) -> Val:
        if item.empty:
            return Val("boolean", "CAST(NULL AS BOOLEAN)")
        if coll.empty:
            return Val("boolean", "false")
        kind = self.v.common_kind(item, coll, "in")
        if kind is None or kind == "json":
            raise self.unsupported("'in'/'contains' on values that are not primitives")
        x = self.v.as_scalar(self.v.typed(item, kind), "the item of 'in'")
        lst = self.v.as_list(self.v.typed(coll, kind))
        return Val("boolean", f"CASE WHEN {x} IS NULL THEN NULL ELSE {self.d.contains(lst, x)} END")


def constant_val(d: Dialect, key: str, value: Any) -> Val:
    """The :class:`Val` of a view constant ``{"name": ..., key: value}`` (``valueString``...)."""
    primitive = key[5].lower() + key[6:]
    kind = FHIR_KIND.get(primitive)
    if kind is None:
        if isinstance(value, dict):
            return Val("json", d.json_literal(value), fhir=key[5:])
        raise Unsupported(f"the constant type {key}", dialect=d.name)
    if kind == "boolean":
        return Val("boolean", "true" if value else "false", fhir=primitive)
    if kind in NUMBER_KINDS:
        return Val(kind, d.number_lit(value, kind), fhir=primitive)
    return Val(kind, d.str_lit(str(value)), fhir=primitive)
