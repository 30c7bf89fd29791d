"""Filtering and projection functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.2 "Filtering and projection": ``where(criteria)``,
``select(projection)``, ``repeat(projection)``, ``ofType(type)``; and ``sort([key...])`` from FHIRPath
2.1 (keys prefixed with unary ``-`` sort descending).
"""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

from ..context import Context, Fn
from ..equality import compare
from ..operators import contains_item, to_boolean
from ..typespec import TypeSpec
from ..values import Collection
from .registry import function


@function("where", 1, mode="lazy")
def where(ctx: Context, focus: Collection, criteria: Fn) -> Collection:
    out: Collection = []
    this, index = ctx.this, ctx.index
    for i, item in enumerate(focus):
        one = [item]
        ctx.this = one
        ctx.index = i
        r = criteria(ctx, one)
        if r:
            x = r[0]
            if (x is True and len(r) == 1) or (
                x is not False and to_boolean(r, "criteria of where()") is True
            ):
                out.append(item)
    ctx.this, ctx.index = this, index
    return out


@function("select", 1, mode="lazy")
def select(ctx: Context, focus: Collection, projection: Fn) -> Collection:
    out: Collection = []
    this, index = ctx.this, ctx.index
    for i, item in enumerate(focus):
        one = [item]
        ctx.this = one
        ctx.index = i
        out.extend(projection(ctx, one))
    ctx.this, ctx.index = this, index
    return out


@function("repeat", 1, mode="lazy")
def repeat(ctx: Context, focus: Collection, projection: Fn) -> Collection:
    out: Collection = []
    this, index = ctx.this, ctx.index
    queue = list(focus)
    while queue:
        nxt: Collection = []
        for i, item in enumerate(queue):
            one = [item]
            ctx.this = one
            ctx.index = i
            for r in projection(ctx, one):
                if not contains_item(out, r):
                    out.append(r)
                    nxt.append(r)
        queue = nxt
    ctx.this, ctx.index = this, index
    return out


@function("ofType", 1, mode="type")
def of_type(ctx: Context, focus: Collection, spec: TypeSpec) -> Collection:
    return [x for x in focus if spec.matches(x, exact=True)]


@function("sort", 0, None, mode="sort")
def sort(ctx: Context, focus: Collection, *keys: tuple[Fn, bool]) -> Collection:
    """Keys are (closure, descending): the compiler turns a key written ``-expr`` into (expr, True)."""
    if len(focus) < 2:
        return list(focus)
    if not keys:
        return sorted(focus, key=cmp_to_key(_cmp))
    this, index = ctx.this, ctx.index
    rows: list[tuple[list[Any], Any]] = []
    for i, item in enumerate(focus):
        one = [item]
        ctx.this = one
        ctx.index = i
        rows.append(([k(ctx, one) for k, _ in keys], item))
    ctx.this, ctx.index = this, index

    def cmp_rows(x: tuple[list[Any], Any], y: tuple[list[Any], Any]) -> int:
        for kx, ky, (_, desc) in zip(x[0], y[0], keys):
            if not kx or not ky:
                c = 0 if not kx and not ky else (1 if not kx else -1)  # empty sorts last
            else:
                c = _cmp(kx[0], ky[0])
            if c:
                return -c if desc else c
        return 0

    return [item for _, item in sorted(rows, key=cmp_to_key(cmp_rows))]


def _cmp(x: Any, y: Any) -> int:
    c = compare(x, y)
    return 0 if c is None else c
