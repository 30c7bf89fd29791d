"""Invariants (``ElementDefinition.constraint``): FHIRPath expressions evaluated on each node.

Spec: https://hl7.org/fhir/R4/conformance-rules.html#constraints and
https://hl7.org/fhir/R4/fhirpath.html (``%resource``, ``%rootResource``, ``%ucum``).

An invariant of an element is evaluated once per instance of the element, with that instance as the
context; the invariants of a type (``per-1`` of Period) on every instance of the type. The result must
be ``true``: ``false`` is an issue with the constraint's severity (``error``, or ``warning`` for the
best-practice ones such as ``dom-6``); an empty result counts as satisfied (FHIRPath says "unknown",
e.g. comparing ``2020`` with ``2020-03-01``), and so does an expression the FHIRPath engine cannot
compile or evaluate: the validator never rejects a resource for its own limits.

How an invariant is run, cheapest first:

1. enforced structurally elsewhere (``ele-1``, ``ext-1``, ``ref-1``, ``dom-2/4/5``): skipped here;
2. a native Python rule from :mod:`.invariant_rules` or :mod:`.resource_rules` (the common ones: ``per-1``, ``qty-3``,
   ``dom-3``, ``dom-6``, ``obs-6``, ``bdl-*``...);
3. otherwise the expression compiled once by :mod:`senhealth.fhir.fhirpath`, behind a **guard**: the
   names the expression reads from its context (``name.exists() or telecom.exists()`` reads ``name``
   and ``telecom``). When the expression holds on an empty node and none of those names is present,
   its result cannot differ, so it is not evaluated at all. Expressions that read the context as a
   whole (``children()``, ``descendants()``, ``$this``, ``%resource``, a leading type name) get no
   guard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from senhealth.fhir.model import Constraint, get_model
from senhealth.fhir.validation.context import Ctx
from senhealth.fhir.validation.invariant_rules import DATATYPE_RULES, SKIPPED, NativeRule
from senhealth.fhir.validation.outcome import INVARIANT
from senhealth.fhir.validation.resource_rules import RESOURCE_RULES

__all__ = ["NATIVE_RULES", "InvariantCheck", "compile_invariants", "guard_names", "invariant_check"]

# (key, exact expression) -> hand-written rule
NATIVE_RULES: dict[tuple[str, str], NativeRule] = {**DATATYPE_RULES, **RESOURCE_RULES}

# (node, path, ctx) -> None; appends an issue when the invariant fails
InvariantCheck = Callable[[Any, str, Ctx], None]

_TOKEN = re.compile(r"`[^`]*`|'(?:[^'\\]|\\.)*'|[%$]?[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|\S")
_KEYWORDS = frozenset(
    ["and", "or", "xor", "implies", "in", "contains", "is", "as", "div", "mod", "true", "false"]
)  # operators and literals that read like identifiers
_CONSTANT_VARIABLES = frozenset({"%ucum", "%sct", "%loinc", "%vs-", "%ext-"})


def guard_names(expression: str) -> frozenset[str] | None:
    """The child names an expression reads from its context, or None when it reads the context as a
    whole (then no guard is possible)."""
    tokens = _TOKEN.findall(expression)
    names: set[str] = set()
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok.startswith("%"):
            if tok not in _CONSTANT_VARIABLES:
                return None
            continue
        if tok.startswith("$"):
            if prev == "." or tok == "$index":
                continue
            return None
        if tok.startswith("`"):
            tok = tok[1:-1]
        elif not (tok[0].isalpha() or tok[0] == "_"):
            continue
        if prev == "." or prev in ("is", "as") or tok in _KEYWORDS:
            continue
        if nxt == "(":
            return None  # a function applied to the context node itself (children(), iif(), ...)
        if tok[0].isupper():
            return None  # a leading type name (``Appointment.status``) or a type in ``is``
        names.add(tok)
    return frozenset(names)


def _json_keys(type_path: str, names: frozenset[str]) -> frozenset[str]:
    """The JSON properties of ``type_path`` through which ``names`` can appear."""
    model = get_model()
    keys: set[str] = set()
    for name in names:
        el = model.child(type_path, name)
        if el is None:
            keys.add(name)
            keys.add("_" + name)
            continue
        for json_name, _t in el.json_names():
            keys.add(json_name)
            keys.add("_" + json_name)
    return frozenset(keys)


# -- the FHIRPath engine, behind one small function ---------------------------------------------


def _fhirpath_rule(expression: str, type_name: str) -> NativeRule | None:
    """Compile ``expression`` with the project's FHIRPath engine for nodes of ``type_name``; None when
    the engine is not available or cannot compile this expression (the invariant is then not checked)."""
    try:
        from senhealth.fhir import fhirpath
    except ImportError:  # pragma: no cover - the engine is part of the package
        return None
    compile_ = getattr(fhirpath, "compile", None)
    if compile_ is None:
        return None
    compiled: Any = None
    for base in (type_name, None):  # typed first; untyped if the type check refuses it
        try:
            compiled = compile_(expression, base_type=base)
            break
        except Exception:  # an expression this engine cannot compile: not judged
            continue
    if compiled is None:
        return None

    def rule(node: Any, ctx: Ctx) -> bool:
        try:
            result = compiled(node, resource=ctx.resource, root_resource=ctx.root, node_type=type_name)
        except Exception:  # the engine failed on this input: not judged
            return True
        return not (len(result) == 1 and result[0] is False)

    return rule


def _holds_on_empty(rule: NativeRule, type_name: str) -> bool:
    ctx = Ctx()
    try:
        return rule({}, ctx) is True
    except Exception:
        return False


def _rule_for(c: Constraint, type_name: str) -> tuple[NativeRule, frozenset[str] | None] | None:
    native = NATIVE_RULES.get((c.key, c.expression))
    if native is not None:
        return native, None
    rule = _fhirpath_rule(c.expression, type_name)
    if rule is None:
        return None
    names = guard_names(c.expression)
    if names is not None and names and _holds_on_empty(rule, type_name):
        return rule, _json_keys(type_name, names)
    return rule, None


def invariant_check(c: Constraint, type_name: str) -> InvariantCheck | None:
    """The compiled check of one constraint on nodes of ``type_name`` (a type or backbone path)."""
    if c.key in SKIPPED:
        return None
    found = _rule_for(c, type_name)
    if found is None:
        return None
    rule, guard = found
    severity = "warning" if c.severity == "warning" else "error"
    message = f"Constraint failed: {c.key}: {c.human}"

    if guard is None:

        def check(node: Any, path: str, ctx: Ctx) -> None:
            result = rule(node, ctx)
            if result is not True:
                where = path + result if type(result) is str else path
                ctx.issues.append((severity, INVARIANT, where, message))

        return check

    def guarded(node: Any, path: str, ctx: Ctx) -> None:
        # the guard names the children the rule reads: a complex node with none of them passes at once
        if type(node) is dict and guard.isdisjoint(node):
            return
        result = rule(node, ctx)
        if result is not True:
            where = path + result if type(result) is str else path
            ctx.issues.append((severity, INVARIANT, where, message))

    return guarded


@cache
def _cached(c: Constraint, type_name: str) -> InvariantCheck | None:
    return invariant_check(c, type_name)


def compile_invariants(constraints: tuple[Constraint, ...], type_name: str) -> tuple[InvariantCheck, ...]:
    """Compiled checks for ``constraints`` (duplicates by key dropped), in definition order."""
    out: list[InvariantCheck] = []
    seen: set[str] = set()
    for c in constraints:
        if c.key in seen:
            continue
        seen.add(c.key)
        check = _cached(c, type_name)
        if check is not None:
            out.append(check)
    return tuple(out)
