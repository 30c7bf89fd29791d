"""Compiler: the syntax tree becomes a tree of Python closures, built once per expression.

Spec: http://hl7.org/fhirpath/N1/ sections 3-6 (evaluation of paths, functions and operators) and
section 4.1 (functions that iterate evaluate their argument once per input item with ``$this`` bound).

Every closure has the shape ``fn(ctx, focus) -> list``: ``focus`` is the collection the expression is
applied to; ``ctx`` (:class:`~.context.Context`) holds ``$this``/``$index``/``$total``, variables and
services. Evaluation calls closures only: no tree is walked and nothing is parsed again. Arguments of a
function that does not iterate are evaluated against ``$this`` of the enclosing scope (so
``name.given.combine(name.family)`` reads ``name`` from the resource); arguments of functions that
iterate are handed over as closures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast_nodes as a
from .context import Context, Fn
from .errors import FHIRPathEvaluationError, FHIRPathSemanticError
from .functions import FUNCTIONS, FunctionDef
from .navigation import STRINGS, make_navigator, make_root_navigator
from .operators import BINARY_OPS, negate, op_equal, op_not_equal, positive, singleton, to_boolean
from .typemodel import STRING_TYPES
from .typespec import TypeSpec, is_type, resolve_type
from .values import Collection, Node


def _empty(ctx: Context, focus: Collection) -> Collection:
    return []


def _focus(ctx: Context, focus: Collection) -> Collection:
    return focus


def type_name_of(expr: a.Expr) -> str:
    """The qualified name written as a function argument: ``Quantity``, ``FHIR.boolean``."""
    if isinstance(expr, a.Member):
        if expr.target is None:
            return expr.name
        return type_name_of(expr.target) + "." + expr.name
    raise FHIRPathSemanticError("expected a type name", expr.pos)


def defines_variable(expr: a.Expr) -> bool:
    """Whether ``defineVariable()`` is called anywhere in ``expr``."""
    if isinstance(expr, a.Call) and expr.name == "defineVariable":
        return True
    for name in expr.__slots__:
        v = getattr(expr, name)
        if isinstance(v, a.Expr) and defines_variable(v):
            return True
        if isinstance(v, tuple) and any(isinstance(x, a.Expr) and defines_variable(x) for x in v):
            return True
    return False


def _scoped(fn: Fn) -> Fn:
    """Variables defined while ``fn`` runs are forgotten afterwards (a function argument, an operand)."""

    def scoped(ctx: Context, focus: Collection) -> Collection:
        saved = ctx.vars
        try:
            return fn(ctx, focus)
        finally:
            ctx.vars = saved

    return scoped


class Compiler:
    def __init__(self, dead: set[int] | None = None) -> None:
        self.dead = dead or set()  # ids of Member nodes the analysis proved empty

    def compile_scoped(self, node: a.Expr) -> Fn:
        fn = self.compile(node)
        return _scoped(fn) if defines_variable(node) else fn

    def compile_output(self, node: a.Expr) -> Fn:
        """Like :meth:`compile`, but a final path step yields JSON values for the API directly."""
        if isinstance(node, a.Member) and node.target is not None:
            target = self.compile(node.target)
            if target is _empty:
                return _empty
            nav = make_navigator(node.name, raw=True)

            def output(ctx: Context, focus: Collection) -> Collection:
                return nav(ctx, target(ctx, focus))

            return output
        return self.compile(node)

    def compile(self, node: a.Expr) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, "_" + type(node).__name__)
        return method(node)

    # -- terms -------------------------------------------------------------------------------------

    def _Literal(self, node: a.Literal) -> Fn:
        value = node.value

        def literal(ctx: Context, focus: Collection) -> Collection:
            return [value]

        return literal

    def _EmptyLiteral(self, node: a.EmptyLiteral) -> Fn:
        return _empty

    def _Special(self, node: a.Special) -> Fn:
        if node.name == "this":

            def this(ctx: Context, focus: Collection) -> Collection:
                return ctx.this

            return this
        if node.name == "index":

            def index(ctx: Context, focus: Collection) -> Collection:
                return [] if ctx.index is None else [ctx.index]

            return index

        def total(ctx: Context, focus: Collection) -> Collection:
            return ctx.total if ctx.total is not None else []

        return total

    def _External(self, node: a.External) -> Fn:
        name = node.name

        def external(ctx: Context, focus: Collection) -> Collection:
            return ctx.variable(name)

        return external

    def _Member(self, node: a.Member) -> Fn:
        if id(node) in self.dead:
            return _empty
        if node.target is None:
            return make_root_navigator(node.name)
        target = self.compile(node.target)
        if target is _empty:
            return _empty
        nav = make_navigator(node.name)

        def path(ctx: Context, focus: Collection) -> Collection:
            return nav(ctx, target(ctx, focus))

        return path

    def _Index(self, node: a.Index) -> Fn:
        target = self.compile(node.target)
        index = self.compile(node.index)

        def indexer(ctx: Context, focus: Collection) -> Collection:
            items = target(ctx, focus)
            i = singleton(index(ctx, ctx.this), "index")
            if i is None:
                return []
            if i.__class__ is not int:
                raise FHIRPathEvaluationError("an index must be an Integer")
            return [items[i]] if 0 <= i < len(items) else []

        return indexer

    # -- operators ---------------------------------------------------------------------------------

    def _Unary(self, node: a.Unary) -> Fn:
        operand = self.compile(node.operand)
        op = negate if node.op == "-" else positive

        def unary(ctx: Context, focus: Collection) -> Collection:
            return op(operand(ctx, focus))

        return unary

    def _Binary(self, node: a.Binary) -> Fn:
        left = self.compile_scoped(node.left)
        right = self.compile_scoped(node.right)
        op = node.op
        if op in _LOGIC:
            return _LOGIC[op](left, right)
        if op in ("=", "!=") and isinstance(node.right, a.Literal) and node.right.value.__class__ is str:
            if isinstance(node.left, a.Member):  # read string values without making nodes
                target = self.compile(node.left.target) if node.left.target is not None else None
                left = _string_path(target, node.left.name)
            return _equals_string(left, node.right.value, op == "=")
        fn = BINARY_OPS[op]

        def binary(ctx: Context, focus: Collection) -> Collection:
            return fn(left(ctx, focus), right(ctx, focus))

        return binary

    def _TypeOp(self, node: a.TypeOp) -> Fn:
        operand = self.compile(node.operand)
        spec = resolve_type(node.type_name, node.pos, lenient=node.op == "is")
        if node.op == "is":

            def is_(ctx: Context, focus: Collection) -> Collection:
                return is_type(operand(ctx, focus), spec)

            return is_

        def as_(ctx: Context, focus: Collection) -> Collection:
            # The operator filters (R4 search expressions apply it to repeating elements).
            return [x for x in operand(ctx, focus) if spec.matches(x, exact=True)]

        return as_

    # -- functions ---------------------------------------------------------------------------------

    def _Call(self, node: a.Call) -> Fn:
        fd = FUNCTIONS.get(node.name)
        if fd is None:
            raise FHIRPathSemanticError(f"unknown function {node.name}()", node.pos)
        n = len(node.args)
        if n < fd.min_args or (fd.max_args is not None and n > fd.max_args):
            raise FHIRPathSemanticError(f"wrong number of arguments for {node.name}(): {n}", node.pos)
        target = self.compile(node.target) if node.target is not None else None
        if fd.mode == "type":
            spec = (
                resolve_type(type_name_of(node.args[0]), node.args[0].pos, lenient=node.name == "is")
                if node.args
                else None
            )
            return _call_type(fd, target, spec)
        if node.name == "where" and _is_name_equals_string(node.args[0]):
            crit = node.args[0]
            assert isinstance(crit, a.Binary) and isinstance(crit.left, a.Member)
            assert isinstance(crit.right, a.Literal)
            return _where_name_equals(target, crit.left.name, crit.right.value)
        if fd.mode == "sort":
            keys = tuple(
                (self.compile_scoped(x.operand), True)
                if isinstance(x, a.Unary) and x.op == "-"
                else (self.compile_scoped(x), False)
                for x in node.args
            )
            return _call_lazy(fd, target, keys)
        args = tuple(self.compile_scoped(x) for x in node.args)
        if fd.mode == "lazy":
            return _call_lazy(fd, target, args)
        return _call_value(fd, target, args)


def _call_type(fd: FunctionDef, target: Fn | None, spec: TypeSpec | None) -> Fn:
    impl = fd.impl
    if target is None:

        def call(ctx: Context, focus: Collection) -> Collection:
            return impl(ctx, focus, spec)

        return call

    def call_on(ctx: Context, focus: Collection) -> Collection:
        return impl(ctx, target(ctx, focus), spec)

    return call_on


def _call_lazy(fd: FunctionDef, target: Fn | None, args: tuple[Any, ...]) -> Fn:
    impl = fd.impl
    if target is None:

        def call(ctx: Context, focus: Collection) -> Collection:
            return impl(ctx, focus, *args)

        return call

    def call_on(ctx: Context, focus: Collection) -> Collection:
        return impl(ctx, target(ctx, focus), *args)

    return call_on


def _call_value(fd: FunctionDef, target: Fn | None, args: tuple[Fn, ...]) -> Fn:
    impl = fd.impl
    t: Fn = target if target is not None else _focus
    if not args:

        def call0(ctx: Context, focus: Collection) -> Collection:
            return impl(ctx, t(ctx, focus))

        return call0
    if len(args) == 1:
        a0 = args[0]

        def call1(ctx: Context, focus: Collection) -> Collection:
            src = t(ctx, focus)
            return impl(ctx, src, a0(ctx, ctx.this))

        return call1

    def calln(ctx: Context, focus: Collection) -> Collection:
        src = t(ctx, focus)
        this = ctx.this
        return impl(ctx, src, *[f(ctx, this) for f in args])

    return calln


def _is_name_equals_string(e: a.Expr) -> bool:
    """``name = 'text'``: the commonest ``where()`` criterion in search parameters."""
    return (
        isinstance(e, a.Binary)
        and e.op == "="
        and isinstance(e.left, a.Member)
        and e.left.target is None
        and not e.left.name[:1].isupper()
        and isinstance(e.right, a.Literal)
        and e.right.value.__class__ is str
    )


def _where_name_equals(target: Fn | None, name: str, literal: str) -> Fn:
    """``where(name = 'text')`` without binding ``$this``: the criterion does not use it."""
    nav = make_navigator(name, STRINGS)
    right = [literal]

    def where_name_equals(ctx: Context, focus: Collection) -> Collection:
        src = focus if target is None else target(ctx, focus)
        out: Collection = []
        for item in src:
            values = nav(ctx, [item])
            if len(values) == 1 and values[0].__class__ is str:
                if values[0] == literal:
                    out.append(item)
            elif values:
                r = op_equal(values, right)
                if r and r[0] is True:
                    out.append(item)
        return out

    return where_name_equals


def _string_path(target: Fn | None, name: str) -> Fn:
    if target is None:
        return make_root_navigator(name, STRINGS)
    nav = make_navigator(name, STRINGS)

    def string_path(ctx: Context, focus: Collection) -> Collection:
        return nav(ctx, target(ctx, focus))

    return string_path


def _equals_string(left: Fn, literal: str, positive: bool) -> Fn:
    """``path = 'text'``, the commonest criterion of ``where()``: compare string values directly."""
    right = [literal]
    general = op_equal if positive else op_not_equal

    def equals_string(ctx: Context, focus: Collection) -> Collection:
        items = left(ctx, focus)
        if len(items) == 1:
            x = items[0]
            if x.__class__ is Node:
                v = x.value
                if v.__class__ is str and x.type in STRING_TYPES:
                    return [(v == literal) is positive]
            elif x.__class__ is str:
                return [(x == literal) is positive]
        return general(items, right)

    return equals_string


# -- Boolean logic (6.5): three-valued, short-circuit where the result is known ------------------------


def _and(left: Fn, right: Fn) -> Fn:
    def and_(ctx: Context, focus: Collection) -> Collection:
        x = to_boolean(left(ctx, focus), "operand of 'and'")
        if x is False:
            return [False]
        y = to_boolean(right(ctx, focus), "operand of 'and'")
        if y is False:
            return [False]
        if x is None or y is None:
            return []
        return [True]

    return and_


def _or(left: Fn, right: Fn) -> Fn:
    def or_(ctx: Context, focus: Collection) -> Collection:
        x = to_boolean(left(ctx, focus), "operand of 'or'")
        if x is True:
            return [True]
        y = to_boolean(right(ctx, focus), "operand of 'or'")
        if y is True:
            return [True]
        if x is None or y is None:
            return []
        return [False]

    return or_


def _xor(left: Fn, right: Fn) -> Fn:
    def xor(ctx: Context, focus: Collection) -> Collection:
        x = to_boolean(left(ctx, focus), "operand of 'xor'")
        y = to_boolean(right(ctx, focus), "operand of 'xor'")
        if x is None or y is None:
            return []
        return [x != y]

    return xor


def _implies(left: Fn, right: Fn) -> Fn:
    def implies(ctx: Context, focus: Collection) -> Collection:
        x = to_boolean(left(ctx, focus), "operand of 'implies'")
        if x is False:
            return [True]
        y = to_boolean(right(ctx, focus), "operand of 'implies'")
        if y is True:
            return [True]
        if x is None:
            return []
        return [] if y is None else [False]

    return implies


_LOGIC: dict[str, Callable[[Fn, Fn], Fn]] = {"and": _and, "or": _or, "xor": _xor, "implies": _implies}
