"""Type functions and reflection.

Spec: http://hl7.org/fhirpath/N1/ section 6.3 "Types" (the function forms ``is(T)``, one input item,
and ``as(T)``, which here filters a collection like ``ofType(T)`` because R4's invariant dom-3 relies on
it; ``ofType(T)`` is in :mod:`.filtering`) and section 10 "Types and
Reflection": ``type()`` gives, for each item, a ``SimpleTypeInfo`` (System types, FHIR primitives) or
``ClassInfo`` (FHIR complex types and resources) with ``namespace``, ``name`` and ``baseType``.
"""

from __future__ import annotations

from ..context import Context
from ..typemodel import get_type_model
from ..typespec import TypeSpec, is_type
from ..values import Collection, Node, type_of
from .registry import function


@function("is", 1, mode="type")
def is_(ctx: Context, focus: Collection, spec: TypeSpec) -> Collection:
    return is_type(focus, spec)


@function("as", 1, mode="type")
def as_(ctx: Context, focus: Collection, spec: TypeSpec) -> Collection:
    # Filters like ofType() even on several items: R4's own invariant dom-3 applies
    # ``descendants().as(canonical)`` to whole collections.
    return [x for x in focus if spec.matches(x, exact=True)]


@function("type")
def type_(ctx: Context, focus: Collection) -> Collection:
    tm = get_type_model()
    out: Collection = []
    for item in focus:
        ns, name = type_of(item)
        if ns == "System":
            info = {"namespace": ns, "name": name, "baseType": "System.Any"}
        else:
            base = tm.base(name)
            info = {"namespace": ns, "name": name, "baseType": f"FHIR.{base}" if base else "System.Any"}
        out.append(Node(info, None, None))
    return out
