"""FHIRPath as a ViewDefinition evaluates it: the project's engine, with the view's own ``join()``.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html ("FHIRPath
Functionality": ``join`` is among the functions the Shareable View Definition profile lists for
runners) and the official suite's ``fhirpath.json`` cases "string join" and "string join: default
separator": a patient with no given names has ``name.given.join(', ')`` = ``''``.

FHIRPath itself (https://build.fhir.org/ig/HL7/FHIRPath/#joinseparator-string--string) gives an
empty result for an empty input, and the engine follows it (search extraction and the FHIRPath
suite rely on that), so the general engine stays as it is. A view's column, though, is a SQL value:
the suite expects the empty string, which is what SQL's ``string_agg`` over no rows is coalesced to
by the SQL runners. Only views compiled here get that: :func:`compile_view_expression` compiles with
a :class:`~senhealth.fhir.fhirpath.compiler.Compiler` whose ``join()`` answers ``''`` for an empty
input; everything else is the engine's own compilation.
"""

from __future__ import annotations

import re
from functools import lru_cache

from senhealth.fhir.fhirpath import CompiledExpression, FHIRPathError
from senhealth.fhir.fhirpath import ast_nodes as a
from senhealth.fhir.fhirpath import compile as engine_compile
from senhealth.fhir.fhirpath.analysis import Analyzer
from senhealth.fhir.fhirpath.compiler import Compiler
from senhealth.fhir.fhirpath.context import Context, Fn
from senhealth.fhir.fhirpath.parser import parse
from senhealth.fhir.fhirpath.values import Collection

__all__ = ["compile_view_expression"]

_JOIN = re.compile(r"\bjoin\s*\(")


class _ViewCompiler(Compiler):
    """The engine's compiler; ``join()`` of an empty collection is ``''`` (module docstring)."""

    def _Call(self, node: a.Call) -> Fn:
        fn = super()._Call(node)
        if node.name != "join":
            return fn

        def join_or_empty(ctx: Context, focus: Collection) -> Collection:
            return fn(ctx, focus) or [""]

        return join_or_empty


@lru_cache(maxsize=4096)
def compile_view_expression(expression: str) -> CompiledExpression:
    """Compile a ViewDefinition's FHIRPath ``expression`` (cached by text); raises
    :class:`~senhealth.fhir.fhirpath.FHIRPathError` like :func:`senhealth.fhir.fhirpath.compile`."""
    if not _JOIN.search(expression):
        return engine_compile(expression)  # the engine's own cache
    try:
        tree = parse(expression)
        analyzer = Analyzer(False)
        analyzer.check(tree, None)
        compiler = _ViewCompiler(analyzer.dead)
        fn = compiler.compile(tree)
        out = compiler.compile_output(tree)
    except FHIRPathError as e:
        raise e.with_expression(expression) from None
    return CompiledExpression(expression, fn, out, None)
