"""Compiles search-parameter expressions into direct accessors over FHIR JSON (the fast path).

Spec: https://hl7.org/fhir/R4/searchparameter.html (``SearchParameter.expression``) and
https://hl7.org/fhirpath/N1/ (the semantics reproduced here for the subset).

An expression parsed by :mod:`senhealth.fhir.search.pathexpr` is compiled, for one resource type, into a
chain of closures: each step takes one JSON node and calls the next step for every child it finds, and
the last step is the parameter type's normaliser for the element's FHIR type, known statically from the
R4 model. Choice elements (``Observation.value[x]``) become one branch per JSON name (``valueQuantity``,
``valueCodeableConcept``, ...) so the type of a value is known from the key it was found under;
``ofType(X)`` simply keeps the ``X`` branch. ``where(resolve() is Patient)`` types the reference from its
string (see :mod:`senhealth.fhir.search.params.reference`); ``where(system = 'phone')`` compares a child.

A top-level path term is exposed as an *entry*: the JSON key of the resource it starts at plus the chain
for the value under that key, so that the per-type extractor can walk the resource's own keys once and
run only the terms whose first element is present. Terms that need a whole collection (``[0]``,
``first()``, ``exists()``, ``and``, ``=``) are evaluated on collected (value, type) pairs instead.

Normalised values of complex elements are memoised per resource (``ExtractContext.memo``), so an element
that several parameters read (``Observation.code``: ``code``, ``combo-code`` and six composites) is
normalised once. Two slips in the R4 definitions are corrected: ``ofType(DateTime)`` (Observation
``code-value-date``) matches the FHIR ``dateTime`` choice case-insensitively, and the swapped component
definitions of DocumentReference ``relationship`` are fixed in :data:`COMPONENT_ERRATA`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from senhealth.fhir.model import FhirModel, get_model
from senhealth.fhir.model.search_parameters import SearchParam, all_search_params
from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params import SINKS_BY_PARAM_TYPE, CompositeValue
from senhealth.fhir.search.params.reference import reference_type
from senhealth.fhir.search.pathexpr import (
    And,
    Child,
    Compare,
    Exists,
    First,
    Index,
    Literal,
    Node,
    OfType,
    Path,
    Step,
    Union,
    Unsupported,
    WhereEquals,
    WhereResolveIs,
    parse,
)

__all__ = ["COMPONENT_ERRATA", "Chain", "Compiler", "Entry", "compile_entries", "param_by_url"]

#: Applied to one JSON node; appends index values (or collected items) to the list.
Chain: TypeAlias = Callable[[Any, ExtractContext, list[Any]], None]
#: (top-level JSON key, chain over the raw value under it), or (None, chain over the resource).
Entry: TypeAlias = tuple[str | None, Chain]
SinkFactory: TypeAlias = Callable[[str], Chain | None]
Typed: TypeAlias = tuple[Any, str]  # (JSON value, type path)
Evaluator: TypeAlias = Callable[[Any, ExtractContext], list[Typed]]

_BARRIERS = (Index, First, Exists)

_SP = "http://hl7.org/fhir/SearchParameter/"
#: Component definitions R4 got wrong, corrected. DocumentReference ``relationship`` pairs the ``code``
#: expression with the reference parameter ``relatesto`` and ``target`` with the token ``relation``; each
#: expression is given the definition whose type fits it (so the parts are: relation code, target).
COMPONENT_ERRATA: dict[str, tuple[tuple[str, str], ...]] = {
    _SP + "DocumentReference-relationship": (
        (_SP + "DocumentReference-relation", "code"),
        (_SP + "DocumentReference-relatesto", "target"),
    ),
}


def param_by_url() -> dict[str, SearchParam]:
    return {p.url: p for p in all_search_params()}


# -- runtime steps -----------------------------------------------------------------------------------


def _each(nxt: Chain) -> Chain:
    def each(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
        if value.__class__ is list:
            for item in value:
                if item is not None:
                    nxt(item, ctx, out)
        else:
            nxt(value, ctx, out)

    return each


def _child(key: str, nxt: Chain) -> Chain:
    def child(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        if node.__class__ is not dict:
            return
        value = node.get(key)
        if value is None:
            return
        if value.__class__ is list:
            for item in value:
                if item is not None:
                    nxt(item, ctx, out)
        else:
            nxt(value, ctx, out)

    return child


def _children(branches: list[tuple[str, Chain]]) -> Chain:
    chains = [_child(key, nxt) for key, nxt in branches]

    def children(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        if node.__class__ is not dict:
            return
        for chain in chains:
            chain(node, ctx, out)

    return children


def _where_resolve(type_name: str, nxt: Chain) -> Chain:
    def where_resolve(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        if reference_type(node, ctx) == type_name:
            nxt(node, ctx, out)

    return where_resolve


def _where_equals(fields: tuple[str, ...], literal: object, nxt: Chain) -> Chain:
    def where_equals(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        items = [node]
        for f in fields:
            found: list[Any] = []
            for it in items:
                v = it.get(f) if it.__class__ is dict else None
                if v.__class__ is list:
                    found.extend(x for x in v if x is not None)
                elif v is not None:
                    found.append(v)
            items = found
        if len(items) == 1 and items[0] == literal and type(items[0]) is type(literal):
            nxt(node, ctx, out)

    return where_equals


def _resource_filter(type_name: str, model: FhirModel, nxt: Chain) -> Chain:
    def resource_filter(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        rtype = node.get("resourceType") if node.__class__ is dict else None
        if isinstance(rtype, str) and model.is_subtype(rtype, type_name):
            nxt(node, ctx, out)

    return resource_filter


def _memo(sink: Chain) -> Chain:
    def memo(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
        key = (id(value), sink)
        hit = ctx.memo.get(key)
        if hit is None:
            hit = ctx.memo[key] = []
            sink(value, ctx, hit)
        out.extend(hit)

    return memo


def _on_root(nxt: Chain) -> Chain:
    def on_root(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        nxt(ctx.root, ctx, out)

    return on_root


# -- compiler ----------------------------------------------------------------------------------------


class Compiler:
    """Compiles expressions for one resource type against the R4 model."""

    def __init__(self, resource_type: str, model: FhirModel | None = None) -> None:
        self.model = model or get_model()
        self.resource_type = resource_type
        self._by_url: dict[str, SearchParam] | None = None
        self._memos: dict[Chain, Chain] = {}

    # -- static typing helpers

    def type_name(self, type_path: str) -> str:
        if "." not in type_path:
            return type_path
        elem = self.model.element(type_path)
        return elem.types[0] if elem is not None and elem.types else "BackboneElement"

    def _strip_type_filter(self, type_path: str, steps: tuple[Step, ...]) -> tuple[Step, ...] | None:
        """Drop a leading ``Observation.`` type filter; None when it excludes this type."""
        if steps and isinstance(steps[0], Child) and steps[0].name[:1].isupper():
            name = steps[0].name
            if self.model.type_info(name) is None:
                raise Unsupported(f"unknown type {name}")
            return steps[1:] if self.model.is_subtype(self.type_name(type_path), name) else None
        return steps

    def branches(self, type_path: str, steps: Sequence[Step]) -> list[tuple[str, str, Sequence[Step]]]:
        """For a Child first step: (JSON key, type path of the value, remaining steps) per branch."""
        step = steps[0]
        assert isinstance(step, Child)
        elem = self.model.child(type_path, step.name)
        if elem is None:
            raise Unsupported(f"{type_path} has no element {step.name!r}")
        if elem.choice:
            rest: Sequence[Step] = steps[1:]
            types = list(elem.types)
            if rest and isinstance(rest[0], OfType):
                wanted = rest[0].type_name
                types = [t for t in types if t == wanted] or [t for t in types if t.lower() == wanted.lower()]
                rest = rest[1:]
            return [(step.name + t[0].upper() + t[1:], t, rest) for t in types]
        if elem.type_path is None:
            raise Unsupported(f"{elem.path} has no single type")
        return [(step.name, elem.type_path, steps[1:])]

    # -- push chains

    def chain(self, type_path: str, steps: Sequence[Step], sinks: SinkFactory) -> Chain | None:
        """A chain over one node of ``type_path``; None when it can never produce anything."""
        if not steps:
            return sinks(type_path)
        step = steps[0]
        if isinstance(step, Child):
            compiled = [
                (key, c)
                for key, tp, rest in self.branches(type_path, steps)
                if (c := self.chain(tp, rest, sinks))
            ]
            if not compiled:
                return None
            return _child(*compiled[0]) if len(compiled) == 1 else _children(compiled)
        if isinstance(step, OfType):
            name = self.type_name(type_path)
            if self.model.is_subtype(name, step.type_name):
                return self.chain(type_path, steps[1:], sinks)
            if self.model.is_resource(step.type_name) and name in ("Resource", "DomainResource"):
                nxt = self.chain(step.type_name, steps[1:], sinks)
                return _resource_filter(step.type_name, self.model, nxt) if nxt else None
            return None
        if isinstance(step, WhereResolveIs):
            nxt = self.chain(type_path, steps[1:], sinks)
            return _where_resolve(step.type_name, nxt) if nxt else None
        if isinstance(step, WhereEquals):
            nxt = self.chain(type_path, steps[1:], sinks)
            return _where_equals(step.fields, step.value, nxt) if nxt else None
        raise Unsupported(f"{type(step).__name__} needs the collection evaluator")

    # -- collection evaluator (for [n], first(), exists(), and, =, !=)

    def evaluator(self, type_path: str, node: Node) -> tuple[Evaluator, frozenset[str]]:
        if isinstance(node, Literal):
            lit_type = (
                "boolean"
                if isinstance(node.value, bool)
                else "integer"
                if isinstance(node.value, int)
                else "string"
            )
            const: list[Typed] = [(node.value, lit_type)]
            return (lambda root, ctx: const), frozenset((lit_type,))
        if isinstance(node, Union):
            parts = [self.evaluator(type_path, t) for t in node.terms]

            def union(root: Any, ctx: ExtractContext) -> list[Typed]:
                return [item for fn, _ in parts for item in fn(root, ctx)]

            return union, frozenset().union(*(types for _, types in parts))
        if isinstance(node, Compare):
            left, _ = self.evaluator(type_path, node.left)
            right, _ = self.evaluator(type_path, node.right)
            negate = node.op == "!="

            def compare(root: Any, ctx: ExtractContext) -> list[Typed]:
                a, b = left(root, ctx), right(root, ctx)
                if not a or not b:
                    return []
                equal = len(a) == len(b) and all(
                    x[0] == y[0] and isinstance(x[0], bool) == isinstance(y[0], bool) for x, y in zip(a, b)
                )
                return [(equal != negate, "boolean")]

            return compare, frozenset(("boolean",))
        if isinstance(node, And):
            left, _ = self.evaluator(type_path, node.left)
            right, _ = self.evaluator(type_path, node.right)

            def and_(root: Any, ctx: ExtractContext) -> list[Typed]:
                a, b = _truth(left(root, ctx)), _truth(right(root, ctx))
                if a is False or b is False:
                    return [(False, "boolean")]
                if a is None or b is None:
                    return []
                return [(True, "boolean")]

            return and_, frozenset(("boolean",))
        if isinstance(node, Path):
            return self._path_evaluator(type_path, node)
        raise Unsupported(f"unsupported expression node {type(node).__name__}")

    def _path_evaluator(self, type_path: str, path: Path) -> tuple[Evaluator, frozenset[str]]:
        from_root = path.root == "resource"
        start = self.resource_type if from_root else type_path
        steps = self._strip_type_filter(start, path.steps)
        if steps is None:
            return (lambda root, ctx: []), frozenset()
        segments: list[tuple[tuple[Step, ...], Step | None]] = []
        current: list[Step] = []
        for s in steps:
            if isinstance(s, _BARRIERS):
                segments.append((tuple(current), s))
                current = []
            else:
                current.append(s)
        segments.append((tuple(current), None))
        types: set[str] = {start}
        compiled: list[tuple[dict[str, Chain], Step | None]] = []
        for seg_steps, barrier in segments:
            out_types: set[str] = set()

            def collect(tp: str, _out: set[str] = out_types) -> Chain:
                _out.add(tp)
                return lambda v, ctx, out: out.append((v, tp))

            chains = {tp: c for tp in types if (c := self.chain(tp, seg_steps, collect)) is not None}
            compiled.append((chains, barrier))
            types = {"boolean"} if isinstance(barrier, Exists) else out_types

        def evaluate(root: Any, ctx: ExtractContext) -> list[Typed]:
            items: list[Typed] = [(ctx.root if from_root else root, start)]
            for chains, barrier in compiled:
                nxt: list[Typed] = []
                for value, tp in items:
                    c = chains.get(tp)
                    if c is not None:
                        c(value, ctx, nxt)
                if isinstance(barrier, Index):
                    nxt = nxt[barrier.index : barrier.index + 1]
                elif isinstance(barrier, First):
                    nxt = nxt[:1]
                elif isinstance(barrier, Exists):
                    nxt = [(bool(nxt), "boolean")]
                items = nxt
            return items

        return evaluate, frozenset(types)

    def _from_evaluator(self, type_path: str, node: Node, sinks: SinkFactory) -> Chain | None:
        fn, types = self.evaluator(type_path, node)
        table = {tp: s for tp in types if (s := sinks(tp)) is not None}
        if not table:
            return None

        def run(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
            for v, tp in fn(value, ctx):
                s = table.get(tp)
                if s is not None:
                    s(v, ctx, out)

        return run

    # -- whole expressions

    def node_chain(self, type_path: str, node: Node, sinks: SinkFactory) -> Chain | None:
        """A chain applied to one node of ``type_path`` evaluating any supported expression."""
        if isinstance(node, Union):
            parts = [c for t in node.terms if (c := self.node_chain(type_path, t, sinks)) is not None]
            if not parts:
                return None
            if len(parts) == 1:
                return parts[0]

            def union(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
                for p in parts:
                    p(value, ctx, out)

            return union
        if isinstance(node, Path) and not any(isinstance(s, _BARRIERS) for s in node.steps):
            start = self.resource_type if node.root == "resource" else type_path
            steps = self._strip_type_filter(start, node.steps)
            if steps is None:
                return None
            c = self.chain(start, steps, sinks)
            return _on_root(c) if c is not None and node.root == "resource" else c
        return self._from_evaluator(type_path, node, sinks)

    def entries(self, node: Node, sinks: SinkFactory) -> list[Entry]:
        """Top-level entries of an expression over the resource (see module docstring)."""
        terms = node.terms if isinstance(node, Union) else (node,)
        out: list[Entry] = []
        for term in terms:
            if isinstance(term, Path) and not any(isinstance(s, _BARRIERS) for s in term.steps):
                steps = self._strip_type_filter(self.resource_type, term.steps)
                if steps is None:
                    continue
                if steps and isinstance(steps[0], Child):
                    for key, tp, rest in self.branches(self.resource_type, steps):
                        c = self.chain(tp, rest, sinks)
                        if c is not None:
                            out.append((key, _each(c)))
                    continue
            c = self.node_chain(self.resource_type, term, sinks)
            if c is not None:
                out.append((None, c))
        return out

    # -- sinks per parameter

    def sinks_for(self, param: SearchParam) -> SinkFactory:
        if param.type == "composite":
            return self._composite_sinks(param)
        table = SINKS_BY_PARAM_TYPE.get(param.type)
        if table is None:
            raise Unsupported(f"no normaliser for {param.type} parameters")
        return lambda tp: self._memo_sink(table, tp)

    def _memo_sink(self, table: dict[str, Chain], type_path: str) -> Chain | None:
        """The normaliser for a type; complex types go through the per-resource memo."""
        sink = table.get(type_path)
        if sink is None or not type_path[:1].isupper():
            return sink
        cached = self._memos.get(sink)
        if cached is None:
            cached = self._memos[sink] = _memo(sink)
        return cached

    def _composite_sinks(self, param: SearchParam) -> SinkFactory:
        if self._by_url is None:
            self._by_url = param_by_url()
        comps: list[tuple[SearchParam, Node]] = []
        for url, expr in COMPONENT_ERRATA.get(param.url, param.components):
            comp = self._by_url.get(url)
            if comp is None:
                raise Unsupported(f"unknown component {url}")
            comps.append((comp, parse(expr)))

        def factory(base_type: str) -> Chain | None:
            fns: list[Chain] = []
            for comp, node in comps:
                c = self.node_chain(base_type, node, self.sinks_for(comp))
                if c is None:
                    return None
                fns.append(c)
            return _composite(fns)

        return factory


def _composite(fns: list[Chain]) -> Chain:
    def composite(node: Any, ctx: ExtractContext, out: list[Any]) -> None:
        parts: list[list[Any]] = []
        for fn in fns:
            vals: list[Any] = []
            fn(node, ctx, vals)
            if not vals:
                return
            parts.append(list(dict.fromkeys(vals)) if len(vals) > 1 else vals)
        for combo in itertools.product(*parts):
            out.append(CompositeValue(combo))

    return composite


def _truth(items: list[Typed]) -> bool | None:
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0][0], bool):
        return items[0][0]
    return True  # FHIRPath: a non-empty, non-boolean singleton is true in a boolean context


def compile_entries(resource_type: str, param: SearchParam, model: FhirModel | None = None) -> list[Entry]:
    """The fast-path entries of one parameter for one resource type; raises Unsupported otherwise."""
    if not param.expression:
        raise Unsupported("no expression")
    compiler = Compiler(resource_type, model)
    return compiler.entries(parse(param.expression), compiler.sinks_for(param))
