"""Utility functions and variables defined inside an expression.

Spec: http://hl7.org/fhirpath/N1/ section 5.9 "Utility functions": ``trace(name [, projection])``
(logged through :mod:`logging`, returns its input), ``now()``, ``today()``, ``timeOfDay()`` (fixed for
one evaluation); section 5.10 ``aggregate(aggregator [, init])`` with ``$total``; and FHIRPath 2.1
``defineVariable(name [, expr])``, visible to the rest of the chain and to later function arguments.
"""

from __future__ import annotations

import logging

from ..context import FIXED_VARIABLES, Context, Fn
from ..errors import FHIRPathEvaluationError
from ..operators import singleton
from ..values import Collection, to_python
from .registry import function

log = logging.getLogger("senhealth.fhir.fhirpath.trace")

_RESERVED = frozenset({"context", "resource", "rootResource", *FIXED_VARIABLES})


@function("trace", 1, 2, mode="lazy")
def trace(ctx: Context, focus: Collection, name: Fn, projection: Fn | None = None) -> Collection:
    if log.isEnabledFor(logging.DEBUG):
        label = singleton(name(ctx, ctx.this), "name of trace()")
        shown = focus
        if projection is not None:
            this = ctx.this
            ctx.this = focus
            shown = projection(ctx, focus)
            ctx.this = this
        log.debug("%s: %r", label, [to_python(x) for x in shown])
    return focus


@function("now")
def now(ctx: Context, focus: Collection) -> Collection:
    return [ctx.clock()[0]]


@function("today")
def today(ctx: Context, focus: Collection) -> Collection:
    return [ctx.clock()[1]]


@function("timeOfDay")
def time_of_day(ctx: Context, focus: Collection) -> Collection:
    return [ctx.clock()[2]]


@function("defineVariable", 1, 2, mode="lazy")
def define_variable(ctx: Context, focus: Collection, name: Fn, expr: Fn | None = None) -> Collection:
    label = singleton(name(ctx, ctx.this), "name of defineVariable()")
    if label.__class__ is not str:
        raise FHIRPathEvaluationError("the name of defineVariable() must be a String")
    if label in ctx.vars or label in _RESERVED:
        raise FHIRPathEvaluationError(f"variable %{label} is already defined")
    if expr is None:
        value = focus
    else:
        this = ctx.this
        ctx.this = focus
        value = expr(ctx, focus)
        ctx.this = this
    ctx.vars = {**ctx.vars, label: value}
    return focus


@function("aggregate", 1, 2, mode="lazy")
def aggregate(ctx: Context, focus: Collection, aggregator: Fn, init: Fn | None = None) -> Collection:
    total: Collection = init(ctx, ctx.this) if init is not None else []
    this, index, saved_total = ctx.this, ctx.index, ctx.total
    for i, item in enumerate(focus):
        one = [item]
        ctx.this = one
        ctx.index = i
        ctx.total = total
        total = aggregator(ctx, one)
    ctx.this, ctx.index, ctx.total = this, index, saved_total
    return total
