"""The FHIRPath functions the SQL compiler translates, one small compiler each.

Spec: FHIRPath http://hl7.org/fhirpath/N1/ section 5 (functions), the SQL-on-FHIR v2 required subset
https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html#required-fhirpath-expressionsfunctions
(``getResourceKey``, ``getReferenceKey``, ``extension``, ``join``, ``lowBoundary``, ``highBoundary``...)
and FHIRPath 2.1's boundary functions
https://build.fhir.org/ig/HL7/FHIRPath/#lowboundaryprecision-integer-decimal--date--datetime--time.

Each function is ``f(compiler, input, argument trees, scope) -> Val`` registered in :data:`FUNCTIONS`
under its FHIRPath name; :class:`~.expressions.ExprCompiler` looks functions up there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from senhealth.fhir.fhirpath import ast_nodes as ast

from .dialects import NUMBER_KINDS, Dialect, Kind
from .values import FHIR_KIND, Scope, Val, model, type_name

if TYPE_CHECKING:
    from .expressions import ExprCompiler

Fn = Callable[["ExprCompiler", Val, tuple[ast.Expr, ...], Scope], Val]
FUNCTIONS: dict[str, Fn] = {}


def _fn(name: str, nargs: tuple[int, ...] = (0,)) -> Callable[[Fn], Fn]:
    def register(f: Fn) -> Fn:
        def checked(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
            if len(args) not in nargs:
                raise c.unsupported(f"{name}() with {len(args)} argument(s)")
            return f(c, t, args, s)

        FUNCTIONS[name] = checked
        return checked

    return register


@_fn("where", (1,))
def _where(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.empty:
        return t
    lst, params, crit = c.lambda_over(t, args[0], s)
    cond = f"coalesce({c.boolean(crit, 'where()')}, false)"
    return Val(t.kind if not t.choices else "json", c.d.filter(lst, params, cond), many=True, fhir=t.fhir)


@_fn("exists", (0, 1))
def _exists(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if args:
        t = _where(c, t, args, s)
    if t.empty:
        return Val("boolean", "false")
    m = c.v.materialize(t)
    if m.many:
        return Val("boolean", f"({c.d.size(m.sql)} > 0)")
    miss = c.d.json_is_null(m.sql) if m.kind == "json" else f"{m.sql} IS NULL"
    return Val("boolean", f"(NOT {miss})")


@_fn("hasValue")
def _has_value(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if not t.primitive:
        return Val("boolean", "false")
    return _exists(c, t, args, s)


@_fn("empty")
def _empty(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return Val("boolean", f"(NOT {_exists(c, t, args, s).sql})")


@_fn("all", (1,))
def _all(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.empty:
        return Val("boolean", "true")
    lst, params, crit = c.lambda_over(t, args[0], s)
    failing = c.d.filter(lst, params, f"NOT coalesce({c.boolean(crit, 'all()')}, false)")
    return Val("boolean", f"({c.d.size(failing)} = 0)")


@_fn("select", (1,))
def _select(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.empty:
        return t
    lst, params, proj = c.lambda_over(t, args[0], s)
    if proj.choices:
        raise c.unsupported("select() giving a choice element without ofType()")
    inner = c.v.as_list(proj)
    return Val(proj.kind, c.d.flatten(c.d.transform(lst, params, inner)), many=True, fhir=proj.fhir)


@_fn("first")
def _first(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return c.nth(t, 0)


@_fn("last")
def _last(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return c.nth(t, -1)


@_fn("count")
def _count(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.empty:
        return Val("integer", c.d.number_lit(0, "integer"))
    return Val("integer", c.d.cast(c.d.size(c.v.as_list(t)), "integer"))


@_fn("not")
def _not(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return Val("boolean", f"(NOT {c.boolean(t, 'not()')})")


@_fn("iif", (2, 3))
def _iif(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    cond = c.boolean(c.expr(args[0], s), "iif()")
    a = c.expr(args[1], s)
    b = c.expr(args[2], s) if len(args) > 2 else c.v.empty(a.kind)
    kind = c.v.common_kind(a, b, "iif")
    if kind is None or kind == "json":
        raise c.unsupported("iif() giving values that are not primitives")
    x, y = c.v.as_scalar(c.v.typed(a, kind), "iif()"), c.v.as_scalar(c.v.typed(b, kind), "iif()")
    return Val(kind, f"CASE WHEN coalesce({cond}, false) THEN {x} ELSE {y} END")


@_fn("ofType", (1,))
def _of_type(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return c.of_type(t, type_name(args[0]))


@_fn("extension", (1,))
def _extension(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    url = c.expr(args[0], s)
    if url.kind != "string" or url.many:
        raise c.unsupported("extension() with a url that is not a string")
    if t.empty:
        return t
    if t.kind == "json" and t.fhir in FHIR_KIND:
        raise c.unsupported("extension() on a primitive element")
    exts = c.child(t, "extension")
    lst, params, _ = c.lambda_over(exts, ast.Literal(0, True), s)
    x = params[0]
    test = f"{c.d.json_get(x, ['url'], 'string')} = {url.sql}"
    return Val("json", c.d.filter(lst, params, test), many=True, fhir="Extension")


@_fn("join", (0, 1))
def _join(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    sep = c.expr(args[0], s) if args else Val("string", "''")
    if sep.kind != "string" or sep.many:
        raise c.unsupported("join() with a separator that is not a string")
    if t.empty:
        return Val("string", "''")
    k = t.static_kind
    if k is None or k == "json":
        raise c.unsupported("join() on values that are not strings")
    return Val("string", c.d.join(c.v.as_list(c.v.typed(t, "string")), sep.sql))


@_fn("getResourceKey")
def _resource_key(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.kind != "json" or t.fhir is None or not model().is_resource(t.fhir):
        raise c.unsupported("getResourceKey() on something that is not a resource")
    return c.v.typed(c.child(t, "id"), "string")


@_fn("getReferenceKey", (0, 1))
def _reference_key(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    type_ = type_name(args[0]) if args else None
    if t.empty:
        return c.v.empty("string")
    d = c.d
    if t.kind == "json" and t.fhir == "Reference":
        refs = c.v.typed(c.child(t, "reference"), "string")
    elif t.static_kind == "string":
        refs = c.v.typed(t, "string")
    else:
        raise c.unsupported("getReferenceKey() on something that is not a Reference")
    r = d.fresh("r")
    # the last two non-empty segments of the reference without its /_history/ part: type and id
    bare = d.split_part(r, "/_history/", 1)
    last_two = r"([^/]+)/+([^/]+)/*$"
    rid, rtype = d.regexp_extract(bare, last_two, 2), d.regexp_extract(bare, last_two, 1)
    urn, hash_ = d.str_lit("urn:uuid:"), d.str_lit("#")
    type_test = f" WHEN {rtype} <> {d.str_lit(type_)} THEN NULL" if type_ else ""
    key = (
        f"CASE WHEN {r} IS NULL THEN NULL WHEN {d.starts_with(r, urn)} THEN {d.substr(r, '10')} "
        f"WHEN {d.starts_with(r, hash_)} OR {rid} = '' THEN NULL{type_test} ELSE {rid} END"
    )
    if not refs.many:
        sql = refs.sql
        # a scalar: bind it through a one-item list so the reference text is extracted once
        one = d.elem(d.transform(d.array([sql], "string"), [r], key), "1")
        return Val("string", one)
    keys = d.transform(refs.sql, [r], key)
    k2 = d.fresh("k")
    return Val("string", d.filter(keys, [k2], f"{k2} IS NOT NULL"), many=True)


def _string_fn(
    name: str, nargs: tuple[int, ...], out: Kind, body: Callable[[Dialect, str, list[str]], str]
) -> None:
    @_fn(name, nargs)
    def compiled(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
        if t.empty:
            return c.v.empty(out)
        x = c.text(t, f"{name}()")
        extra = [c.text(c.expr(a, s), f"the argument of {name}()") for a in args]
        return Val(out, body(c.d, x, extra))


_string_fn("startsWith", (1,), "boolean", lambda d, x, a: d.starts_with(x, a[0]))
_string_fn("endsWith", (1,), "boolean", lambda d, x, a: d.ends_with(x, a[0]))
_string_fn("contains", (1,), "boolean", lambda d, x, a: d.contains_text(x, a[0]))
_string_fn("lower", (0,), "string", lambda d, x, a: f"lower({x})")
_string_fn("upper", (0,), "string", lambda d, x, a: f"upper({x})")
_string_fn("length", (0,), "integer", lambda d, x, a: d.cast(d.length(x), "integer"))
_string_fn("toString", (0,), "string", lambda d, x, a: x)


@_fn("substring", (1, 2))
def _substring(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    if t.empty:
        return c.v.empty("string")
    x = c.text(t, "substring()")
    start = c.v.as_scalar(c.v.typed(c.expr(args[0], s), "integer"), "substring()")
    length = c.v.as_scalar(c.v.typed(c.expr(args[1], s), "integer"), "substring()") if len(args) > 1 else None
    body = c.d.substr(x, f"({start}) + 1", length)
    return Val("string", f"CASE WHEN {start} < 0 OR {start} >= {c.d.length(x)} THEN NULL ELSE {body} END")


# -- lowBoundary() / highBoundary(): https://build.fhir.org/ig/HL7/FHIRPath/#lowboundaryprecision-integer-decimal--date--datetime--time

_TZ = r"(Z|[+-][0-9][0-9]:[0-9][0-9])$"
_LOW_DT = "0001-01-01T00:00:00.000"
_LOW_TIME = "00:00:00.000"
_HIGH_TIME = "23:59:59.999"


def _boundary(c: ExprCompiler, t: Val, high: bool) -> Val:
    d = c.d
    if t.empty:
        return t
    k = t.static_kind
    if k in NUMBER_KINDS:
        if d.name == "spark":
            raise c.unsupported(
                "lowBoundary()/highBoundary() of a decimal (Spark's VARIANT drops trailing zeros, "
                "the precision these depend on)"
            )
        m = c.v.materialize(t)
        if m.kind != "json":
            raise c.unsupported("lowBoundary()/highBoundary() of a computed number")
        item = c.v.as_scalar(m, "lowBoundary()")
        text = d.json_text(item)
        dot = d.str_lit(".")
        digits = (
            f"CASE WHEN {d.contains_text(text, dot)} THEN {d.length(text)} - strpos({text}, '.') ELSE 0 END"
        )
        half = f"(0.5 / pow(10, {digits}))"
        return Val("decimal", f"(CAST({item} AS DOUBLE) {'+' if high else '-'} {half})")
    if k not in ("date", "datetime", "time"):
        raise c.unsupported(f"lowBoundary()/highBoundary() of a {k or 'value of unknown type'}")
    x = c.v.as_scalar(c.v.typed(t, k), "lowBoundary()")
    if k == "time":
        fill = _HIGH_TIME if high else _LOW_TIME
        return Val("time", _fill(d, x, fill), computed=True)
    tz = d.regexp_extract(x, _TZ)
    bare = d.substr(x, "1", f"{d.length(x)} - {d.length(tz)}")
    if high:
        # the date part first: the last day of the month / year
        date_part = (
            f"CASE WHEN {d.length(bare)} = 4 THEN {bare} || '-12-31' "
            f"WHEN {d.length(bare)} = 7 THEN {d.last_day(bare)} ELSE {bare} END"
        )
        full = _fill(d, date_part, "0000-00-00T" + _HIGH_TIME)
        zone = f"CASE WHEN {tz} = '' THEN '-12:00' ELSE {tz} END"
    else:
        full = _fill(d, bare, _LOW_DT)
        zone = f"CASE WHEN {tz} = '' THEN '+14:00' ELSE {tz} END"
    return Val("datetime", f"CASE WHEN {x} IS NULL THEN NULL ELSE {full} || {zone} END", computed=True)


def _fill(d: Dialect, x: str, template: str) -> str:
    """``x`` completed with the rest of ``template`` (positions line up: dates, times)."""
    return f"({x} || {d.substr(d.str_lit(template), f'{d.length(x)} + 1')})"


@_fn("lowBoundary")
def _low(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return _boundary(c, t, False)


@_fn("highBoundary")
def _high(c: ExprCompiler, t: Val, args: tuple[ast.Expr, ...], s: Scope) -> Val:
    return _boundary(c, t, True)
