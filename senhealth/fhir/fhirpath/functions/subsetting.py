"""Subsetting and combining functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.3 "Subsetting" (``single() first() last() tail() skip(n)
take(n) intersect(other) exclude(other)``; the indexer ``[n]`` is compiled in :mod:`..compiler`) and
5.4 "Combining" (``union(other)`` removes duplicates, ``combine(other)`` keeps them).
"""

from __future__ import annotations

from ..context import Context
from ..errors import FHIRPathEvaluationError
from ..operators import contains_item, distinct, op_union, singleton
from ..values import Collection
from .registry import function


@function("single")
def single(ctx: Context, focus: Collection) -> Collection:
    if len(focus) > 1:
        raise FHIRPathEvaluationError(f"single() found {len(focus)} items")
    return focus


@function("first")
def first(ctx: Context, focus: Collection) -> Collection:
    return focus[:1]


@function("last")
def last(ctx: Context, focus: Collection) -> Collection:
    return focus[-1:]


@function("tail")
def tail(ctx: Context, focus: Collection) -> Collection:
    return focus[1:]


def _count(arg: Collection, name: str) -> int | None:
    n = singleton(arg, f"argument of {name}()")
    if n is None:
        return None
    if n.__class__ is not int:
        raise FHIRPathEvaluationError(f"{name}() needs an Integer")
    return int(n)


@function("skip", 1)
def skip(ctx: Context, focus: Collection, num: Collection) -> Collection:
    n = _count(num, "skip")
    if n is None:
        return []
    return focus[n:] if n > 0 else focus


@function("take", 1)
def take(ctx: Context, focus: Collection, num: Collection) -> Collection:
    n = _count(num, "take")
    if n is None or n <= 0:
        return []
    return focus[:n]


@function("intersect", 1)
def intersect(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return [x for x in distinct(focus) if contains_item(other, x)]


@function("exclude", 1)
def exclude(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return [x for x in focus if not contains_item(other, x)]


@function("union", 1)
def union(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return op_union(focus, other)


@function("combine", 1)
def combine(ctx: Context, focus: Collection, other: Collection) -> Collection:
    return focus + other
