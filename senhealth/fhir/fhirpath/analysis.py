"""Compile-time checks that need the type of the input: names that cannot exist, strict-mode rules.

Spec: http://hl7.org/fhirpath/N1/ section 3 "Path selection" (with a known type, a name that is not an
element of it is an error), section 6.3 (``as``/``ofType`` narrow the type) and the *strict* mode of
the official test suite (a type name that can never match the input, ordered functions such as
``skip()`` applied to the unordered result of ``children()``, a non-Boolean ``iif`` criterion).

The checker follows types along paths: it starts from ``base_type`` (or from a leading type name such
as ``Observation.``), follows the R4 model through names, ``where``/``first``/``select``...,
``as``/``ofType``/``is``, and gives up ("unknown") wherever the type cannot be known statically. It
only ever raises :class:`FHIRPathSemanticError`; evaluation does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import ast_nodes as a
from .compiler import type_name_of
from .errors import FHIRPathSemanticError
from .typemodel import TypeModel, get_type_model
from .typespec import resolve_type

_PASS_THROUGH: Final = frozenset(
    {"where", "distinct", "trace", "defineVariable", "intersect", "exclude", "sort", "single"}
)
_ORDERED: Final = frozenset({"first", "last", "tail", "skip", "take", "single"})
# Functions whose arguments are evaluated on the input items rather than on the enclosing $this.
_ITERATING: Final = frozenset(
    {"where", "select", "all", "exists", "repeat", "sort", "aggregate", "trace", "defineVariable"}
)


@dataclass(frozen=True, slots=True)
class T:
    types: frozenset[str] | None  # type paths; None: unknown
    unordered: bool = False


UNKNOWN: Final = T(None)


class Analyzer:
    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.tm: TypeModel = get_type_model()
        # ids of leading type names that can never match the input (``Encounter.x`` on a Patient):
        # the compiler replaces them by the empty collection.
        self.dead: set[int] = set()

    def check(self, expr: a.Expr, base_type: str | None) -> T:
        scope = T(frozenset({base_type})) if base_type else UNKNOWN
        return self.visit(expr, scope)

    def visit(self, e: a.Expr, scope: T) -> T:
        if isinstance(e, a.Member):
            src = scope if e.target is None else self.visit(e.target, scope)
            return self.member(src, e, root=e.target is None)
        if isinstance(e, a.Call):
            return self.call(e, scope)
        if isinstance(e, a.Special):
            return scope if e.name == "this" else UNKNOWN
        if isinstance(e, a.Index):
            src = self.visit(e.target, scope)
            self.visit(e.index, scope)
            self._ordered(src, "[]", e.pos)
            return T(src.types)
        if isinstance(e, a.TypeOp):
            src = self.visit(e.operand, scope)
            spec_t = self.narrow(src, e.type_name, e.pos, lenient=e.op == "is")
            return spec_t if e.op == "as" else UNKNOWN
        if isinstance(e, a.Binary):
            left = self.visit(e.left, scope)
            right = self.visit(e.right, scope)
            if e.op == "|" and left.types is not None and right.types is not None:
                return T(left.types | right.types)
            return UNKNOWN
        if isinstance(e, a.Unary):
            self.visit(e.operand, scope)
        return UNKNOWN

    # -- names -------------------------------------------------------------------------------------

    def member(self, src: T, e: a.Member, root: bool) -> T:
        tm = self.tm
        name = e.name
        if root and name[:1].isupper() and tm.has_type(name):
            if src.types is None:
                return T(frozenset({name}))
            matching = frozenset(
                name if tm.is_subtype(name, self._type_name(t)) else t
                for t in src.types
                if tm.is_subtype(self._type_name(t), name) or tm.is_subtype(name, self._type_name(t))
            )
            if matching:
                return T(matching, src.unordered)
            if self.strict:
                raise FHIRPathSemanticError(
                    f"{name} can never match the input ({', '.join(sorted(src.types))})", e.pos
                )
            self.dead.add(id(e))
            return T(frozenset())
        if src.types is None:
            return UNKNOWN
        out: set[str] = set()
        found = False
        for t in src.types:
            specs = tm.children_named(t, name)
            if specs is None:
                if not tm.known(t) or tm.is_abstract(t):  # an abstract type: a subtype may have it
                    return UNKNOWN
                continue
            found = True
            for spec in specs:
                if spec.resource:
                    return T(None, src.unordered)
                out.add(spec.path)
        if not found and src.types:
            raise FHIRPathSemanticError(
                f"{name!r} is not an element of {', '.join(sorted(src.types))}", e.pos
            )
        return T(frozenset(out), src.unordered)

    def _type_name(self, type_path: str) -> str:
        return "BackboneElement" if "." in type_path else type_path

    def narrow(self, src: T, type_name: str, pos: int, lenient: bool = False) -> T:
        spec = resolve_type(type_name, pos, lenient)
        if not spec.fhir or not self.tm.has_type(spec.name):
            return UNKNOWN
        if src.types is None:
            return T(frozenset({spec.name}))
        tm = self.tm
        keep = [
            t
            for t in src.types
            if tm.is_subtype(self._type_name(t), spec.name) or tm.is_subtype(spec.name, self._type_name(t))
        ]
        if not keep:
            return T(frozenset(), src.unordered)
        return T(frozenset({spec.name}), src.unordered)

    # -- functions ---------------------------------------------------------------------------------

    def _ordered(self, src: T, name: str, pos: int) -> None:
        if self.strict and src.unordered:
            raise FHIRPathSemanticError(
                f"{name} needs an ordered input; children()/descendants() are not", pos
            )

    def call(self, e: a.Call, scope: T) -> T:
        src = scope if e.target is None else self.visit(e.target, scope)
        name = e.name
        if name in ("ofType", "as", "is") and e.args:
            narrowed = self.narrow(src, type_name_of(e.args[0]), e.args[0].pos, lenient=name == "is")
            return UNKNOWN if name == "is" else narrowed
        if name == "getReferenceKey":
            return UNKNOWN
        item_scope = T(src.types)
        results: list[T] = []
        for i, arg in enumerate(e.args):
            if name in _ITERATING or (name == "iif" and e.target is not None):
                results.append(self.visit(arg, item_scope))
            else:
                results.append(self.visit(arg, scope))
            if (
                name == "iif"
                and i == 0
                and self.strict
                and isinstance(arg, a.Literal)
                and arg.value.__class__ is not bool
            ):
                raise FHIRPathSemanticError("the criterion of iif() must be a Boolean", arg.pos)
        if name in _ORDERED:
            self._ordered(src, name + "()", e.pos)
        if name in _PASS_THROUGH or name in _ORDERED:
            return src
        if name == "select" and results:
            return T(results[0].types, src.unordered)
        if (
            name in ("union", "combine")
            and results
            and src.types is not None
            and results[0].types is not None
        ):
            return T(src.types | results[0].types)
        if name == "extension":
            return T(frozenset({"Extension"}))
        if name in ("children", "descendants"):
            return T(None, unordered=True)
        return UNKNOWN
