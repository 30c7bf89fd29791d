"""Existence functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.1 "Existence": ``empty() exists([criteria]) all(criteria)
allTrue() anyTrue() allFalse() anyFalse() subsetOf(other) supersetOf(other) count() distinct()
isDistinct()``; and ``not()`` from section 6.5 "Boolean logic".
"""

from __future__ import annotations

from ..context import Context, Fn
from ..errors import FHIRPathEvaluationError
from ..operators import contains_item, distinct, to_boolean
from ..values import Collection, system_value
from .filtering import where
from .registry import function


@function("not")
def not_(ctx: Context, focus: Collection) -> Collection:
    b = to_boolean(focus, "input of not()")
    return [] if b is None else [not b]


@function("empty")
def empty(ctx: Context, focus: Collection) -> Collection:
    return [not focus]


@function("exists", 0, 1, mode="lazy")
def exists(ctx: Context, focus: Collection, criteria: Fn | None = None) -> Collection:
    if criteria is None:
        return [bool(focus)]
    return [bool(where(ctx, focus, criteria))]


@function("all", 1, mode="lazy")
def all_(ctx: Context, focus: Collection, criteria: Fn) -> Collection:
    this, index = ctx.this, ctx.index
    try:
        for i, item in enumerate(focus):
            one = [item]
            ctx.this = one
            ctx.index = i
            if to_boolean(criteria(ctx, one), "criteria of all()") is not True:
                return [False]
        return [True]
    finally:
        ctx.this, ctx.index = this, index


def _booleans(focus: Collection, name: str) -> list[bool]:
    out: list[bool] = []
    for x in focus:
        v = system_value(x)
        if v.__class__ is not bool:
            raise FHIRPathEvaluationError(f"{name}() needs Boolean items")
        out.append(v)
    return out


@function("allTrue")
def all_true(ctx: Context, focus: Collection) -> Collection:
    return [all(_booleans(focus, "allTrue"))]


@function("anyTrue")
def any_true(ctx: Context, focus: Collection) -> Collection:
    return [any(_booleans(focus, "anyTrue"))]


@function("allFalse")
def all_false(ctx: Context, focus: Collection) -> Collection:
    return [not any(_booleans(focus, "allFalse"))]


@function("anyFalse")
def any_false(ctx: Context, focus: Collection) -> Collection:
    return [not all(_booleans(focus, "anyFalse"))]


@function("subsetOf", 1)
def subset_of(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return [all(contains_item(other, x) for x in focus)]


@function("supersetOf", 1)
def superset_of(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return [all(contains_item(focus, x) for x in other)]


@function("count")
def count(ctx: Context, focus: Collection) -> Collection:
    return [len(focus)]


@function("distinct")
def distinct_(ctx: Context, focus: Collection) -> Collection:
    return distinct(focus)


@function("isDistinct")
def is_distinct(ctx: Context, focus: Collection) -> Collection:
    return [len(distinct(focus)) == len(focus)]
