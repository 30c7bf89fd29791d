"""Tree navigation functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.8 "Tree navigation": ``children()`` (every child node of
every input item, typed by the model) and ``descendants()`` (children, recursively, level by level;
the specification leaves the order undefined).
"""

from __future__ import annotations

from ..context import Context
from ..navigation import children_of
from ..values import Collection
from .registry import function


@function("children")
def children(ctx: Context, focus: Collection) -> Collection:
    out: Collection = []
    for item in focus:
        children_of(item, out)
    return out


@function("descendants")
def descendants(ctx: Context, focus: Collection) -> Collection:
    out: Collection = []
    level: Collection = list(focus)
    while level:
        nxt: Collection = []
        for item in level:
            children_of(item, nxt)
        out.extend(nxt)
        level = nxt
    return out
