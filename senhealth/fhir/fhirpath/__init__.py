"""FHIRPath for Sen Health: a compiler from FHIRPath text to Python closures.

Spec: FHIRPath 2.0.0 (normative) http://hl7.org/fhirpath/N1/ , the functions FHIRPath 2.1 adds
(https://build.fhir.org/ig/HL7/FHIRPath/), the FHIR R4 additions https://hl7.org/fhir/R4/fhirpath.html
and the SQL-on-FHIR v2 key functions.

Why hand-written: no Python library compiles FHIRPath. ``fhirpathpy`` (the only maintained one)
interprets the parse tree on every call, re-parses unless the caller caches, and passes about 83 % of the
official R4 suite; search extraction and validation evaluate a few expressions millions of times.

Pipeline: :mod:`.lexer` -> :mod:`.parser` (AST in :mod:`.ast_nodes`) -> :mod:`.analysis` (compile-time
type checks) -> :mod:`.compiler` (closures) -> a :class:`CompiledExpression`, cached by expression text.

API::

    from senhealth.fhir import fhirpath

    fhirpath.evaluate(patient, "Patient.name.given")            # ['Peter', 'James']
    expr = fhirpath.compile("Observation.value.ofType(Quantity)")  # compile once ...
    expr(observation)                                           # ... evaluate many times

    # an invariant evaluated on an element, inside a resource, inside a container:
    inv = fhirpath.compile("family.exists() or given.exists()", base_type="HumanName")
    inv(name_dict, resource=patient, root_resource=bundle_or_container)

``compile(expression, *, base_type=None, strict=False)``:
    ``base_type`` is the FHIR type (``"Patient"``, ``"HumanName"``) or backbone path
    (``"Patient.contact"``) of the input; it types the input node, lets the compiler reject names the
    type does not have (:class:`FHIRPathSemanticError`) and drop branches that can never match it
    (``Patient.x | Encounter.y`` compiled for a Patient skips ``Encounter.y``), so the input must be
    of that type (or a subtype). ``strict`` adds the strict-mode checks of
    the official suite (a leading type name that can never match the input, ordered functions on
    ``children()``, a non-Boolean ``iif`` criterion).

``CompiledExpression(node, variables=None, *, resource=None, root_resource=None, node_type=None,
hooks=None) -> list``:
    ``node`` is the input (a resource or element as parsed JSON, or a list of them); ``variables``
    maps names to values for ``%name`` (a value or a list of values); ``resource`` is ``%resource`` (the
    resource holding ``node``; default: the input), ``root_resource`` is ``%rootResource`` (the
    container when ``resource`` is contained; default: ``resource``); ``node_type`` types the input
    of an expression compiled without ``base_type`` (a dict with ``resourceType`` is typed by it
    anyway); ``hooks`` overrides the process-wide services
    (:func:`set_hooks`: ``resolve``, ``member_of``, ``conforms_to``).

Results are FHIR JSON values: ``str``, ``bool``, ``int``, ``Decimal``, ``dict`` for complex types, and
for FHIRPath-only values :class:`FPDate`, :class:`FPDateTime`, :class:`FPTime`, :class:`Quantity`
(``str()`` is the FHIRPath literal). A primitive taken from a resource is returned as its JSON value
(``'1974-12-25'``) although it compared as a Date inside the expression; decimals come back as
``Decimal``; a primitive that has only extensions (``"_given": [{...}]`` with no value) is left out.

A primitive element together with its ``_name`` sibling (its ``id`` and extensions) can be passed as a
:class:`Node`: ``Node(value, "date", "date", parent_dict, "birthDate")`` (``index`` for a repeating
element); the invariant ``ele-1`` then sees the extensions of a primitive that has no value.

Errors: :class:`FHIRPathSyntaxError` (compile time, with the position), :class:`FHIRPathSemanticError`
(compile time when the type is known, otherwise at evaluation), :class:`FHIRPathEvaluationError`
(several items where one is needed, operands that do not fit); all derive from :class:`FHIRPathError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .analysis import Analyzer
from .compiler import Compiler
from .context import Context, Fn
from .errors import (
    FHIRPathError,
    FHIRPathEvaluationError,
    FHIRPathSemanticError,
    FHIRPathSyntaxError,
)
from .hooks import Hooks, get_hooks, reset_hooks, set_hooks
from .parser import parse
from .quantity import Quantity
from .temporal import FPDate, FPDateTime, FPTime
from .values import Collection, Node, to_python, type_of, wrap

__all__ = [
    "CompiledExpression",
    "FHIRPathError",
    "FHIRPathEvaluationError",
    "FHIRPathSemanticError",
    "FHIRPathSyntaxError",
    "FPDate",
    "FPDateTime",
    "FPTime",
    "Hooks",
    "Node",
    "Quantity",
    "compile",
    "evaluate",
    "item_type",
    "reset_hooks",
    "set_hooks",
]

_NO_VARS: dict[str, Collection] = {}


class CompiledExpression:
    """A compiled FHIRPath expression; call it with the input to evaluate."""

    __slots__ = ("_fn", "_out", "base_type", "expression")

    def __init__(self, expression: str, fn: Fn, out: Fn, base_type: str | None) -> None:
        self.expression = expression
        self.base_type = base_type
        self._fn = fn  # yields engine items
        self._out = out  # the same, but a final path step yields JSON values

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expression!r})"

    def __call__(
        self,
        node: Any,
        variables: Mapping[str, Any] | None = None,
        *,
        resource: Any = None,
        root_resource: Any = None,
        node_type: str | None = None,
        hooks: Hooks | None = None,
    ) -> list[Any]:
        ctx, focus = self._context(node, variables, resource, root_resource, node_type, hooks)
        out = self._out(ctx, focus)
        return [
            to_python(x) if x.__class__ is Node else x
            for x in out
            if x.__class__ is not Node or x.value is not None
        ]

    def evaluate_items(
        self,
        node: Any,
        variables: Mapping[str, Any] | None = None,
        *,
        resource: Any = None,
        root_resource: Any = None,
        node_type: str | None = None,
        hooks: Hooks | None = None,
    ) -> list[Any]:
        """Evaluate and return the engine's own items (nodes keep their FHIR type; see :mod:`.values`)."""
        ctx, focus = self._context(node, variables, resource, root_resource, node_type, hooks)
        result: list[Any] = self._fn(ctx, focus)
        return result

    def _context(
        self,
        node: Any,
        variables: Mapping[str, Any] | None,
        resource: Any,
        root_resource: Any,
        node_type: str | None,
        hooks: Hooks | None,
    ) -> tuple[Context, Collection]:
        focus = wrap(node, node_type or self.base_type)
        env = _NO_VARS if not variables else {k: wrap(v) for k, v in variables.items()}
        ctx = Context(focus, env, resource, root_resource, hooks if hooks is not None else get_hooks())
        return ctx, focus


@lru_cache(maxsize=4096)
def _compile(expression: str, base_type: str | None, strict: bool) -> CompiledExpression:
    if not isinstance(expression, str):
        raise TypeError(f"a FHIRPath expression must be a str, not {type(expression).__name__}")
    try:
        tree = parse(expression)
        analyzer = Analyzer(strict)
        analyzer.check(tree, base_type)
        compiler = Compiler(analyzer.dead)
        fn = compiler.compile(tree)
        out = compiler.compile_output(tree)
    except FHIRPathError as e:
        raise e.with_expression(expression) from None
    return CompiledExpression(expression, fn, out, base_type)


def compile(expression: str, *, base_type: str | None = None, strict: bool = False) -> CompiledExpression:
    """Compile ``expression`` (cached: compiling the same text again is a dictionary lookup)."""
    return _compile(expression, base_type, strict)


def evaluate(resource: Any, expression: str, variables: Mapping[str, Any] | None = None) -> list[Any]:
    """Evaluate ``expression`` on ``resource`` (parsed FHIR JSON) and return the result values."""
    return _compile(expression, None, False)(resource, variables)


def item_type(item: Any) -> str:
    """``FHIR.code``, ``System.Integer``...: the type of an item from :meth:`CompiledExpression.evaluate_items`."""
    return ".".join(type_of(item))
