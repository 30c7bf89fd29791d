"""Path navigation: selecting the children of a name, typed by the R4 model.

Spec: http://hl7.org/fhirpath/N1/ section 3 "Path selection" (a name selects the children of that name
of every item of the input, flattened, in order; a type name at the start of a path selects the input
when it is of that type) and https://hl7.org/fhir/R4/fhirpath.html (choice elements ``value[x]`` are
navigated as ``value`` and give ``valueQuantity``, ``valueString``, ... typed accordingly; primitives
take their ``id``/``extension`` from the ``_name`` JSON sibling; ``contained`` and
``Bundle.entry.resource`` are typed by their ``resourceType``).

This is the hot path of every search-parameter extraction. A navigator is a closure over one name
holding, per type path met, an *emitter* specialised for what that name is there (a primitive list, a
complex singleton, a choice...), so after the first item of a type no model lookup happens. A *raw*
navigator (the last step of an expression whose result goes straight to the caller) emits JSON values
instead of nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .typemodel import STRING_TYPES, ChildSpec, TypeModel, get_type_model
from .values import Collection, Node

Navigator = Callable[[Any, Collection], Collection]
"""``navigate(ctx, focus)``: the shape of a compiled expression, so a navigator is one (ctx is unused)."""
Emitter = Callable[[dict[str, Any], Collection], None]

_MISSING: Any = object()


# -- emitters: one JSON property of a parent dict to output items -------------------------------------


def _primitive_emitter(spec: ChildSpec) -> Emitter:
    key, ukey, t, p = spec.key, "_" + spec.key, spec.type, spec.path

    def emit(parent: dict[str, Any], out: Collection) -> None:
        cv = parent.get(key)
        ext = parent.get(ukey)
        if ext is None:
            if cv is None:
                return
            if cv.__class__ is list:
                for i, x in enumerate(cv):
                    if x is not None:
                        out.append(Node(x, t, p, parent, key, i))
            else:
                out.append(Node(cv, t, p, parent, key, -1))
            return
        if cv.__class__ is list or ext.__class__ is list:
            vals = cv if cv.__class__ is list else ()
            exts = ext if ext.__class__ is list else ()
            for i in range(max(len(vals), len(exts))):
                x = vals[i] if i < len(vals) else None
                if x is None and (i >= len(exts) or exts[i] is None):
                    continue
                out.append(Node(x, t, p, parent, key, i))
        else:
            out.append(Node(cv, t, p, parent, key, -1))

    return emit


def _complex_emitter(spec: ChildSpec) -> Emitter:
    key, t, p = spec.key, spec.type, spec.path

    def emit(parent: dict[str, Any], out: Collection) -> None:
        cv = parent.get(key)
        if cv is None:
            return
        if cv.__class__ is list:
            for x in cv:
                if x is not None:
                    out.append(Node(x, t, p))
        else:
            out.append(Node(cv, t, p))

    return emit


def _resource_emitter(spec: ChildSpec) -> Emitter:
    key = spec.key

    def emit(parent: dict[str, Any], out: Collection) -> None:
        cv = parent.get(key)
        for x in cv if cv.__class__ is list else (cv,):
            if x.__class__ is dict:
                rt = x.get("resourceType")
                out.append(Node(x, rt, rt))

    return emit


def _raw_emitter(spec: ChildSpec) -> Emitter:
    """JSON values rather than nodes (value-less primitives left out, decimals as ``Decimal``).

    Other emitters may still add nodes to the same output (untyped JSON, resources): the API boundary
    converts whatever nodes remain.
    """
    key = spec.key
    decimal = spec.type == "decimal"

    def emit(parent: dict[str, Any], out: Collection) -> None:
        cv = parent.get(key)
        if cv is None:
            return
        if cv.__class__ is list:
            for x in cv:
                if x is not None:
                    out.append(Decimal(str(x)) if decimal and x.__class__ is not bool else x)
        else:
            out.append(Decimal(str(cv)) if decimal and cv.__class__ is not bool else cv)

    return emit


_EMITTERS: dict[tuple[ChildSpec, bool | str], Emitter] = {}
STRINGS = "strings"
"""Navigator mode for comparisons with a string: string-typed primitives as ``str``, others as nodes."""


def _single_emitter(spec: ChildSpec, raw: bool | str) -> Emitter:
    e = _EMITTERS.get((spec, raw))
    if e is None:
        e = _EMITTERS[(spec, raw)] = _new_emitter(spec, raw)
    return e


def _string_emitter(spec: ChildSpec) -> Emitter:
    """Strings as ``str`` while no ``_name`` sibling exists (value-less entries must still count)."""
    raw = _raw_emitter(spec)
    nodes = _primitive_emitter(spec)
    ukey = "_" + spec.key

    def emit(parent: dict[str, Any], out: Collection) -> None:
        (nodes if ukey in parent else raw)(parent, out)

    return emit


def _new_emitter(spec: ChildSpec, raw: bool | str) -> Emitter:
    if raw == STRINGS:
        if spec.type in STRING_TYPES:
            return _string_emitter(spec)
        raw = False
    if raw and not spec.resource:
        return _raw_emitter(spec)
    if spec.primitive:
        return _primitive_emitter(spec)
    if spec.resource:
        return _resource_emitter(spec)
    return _complex_emitter(spec)


def make_emitter(specs: tuple[ChildSpec, ...], raw: bool | str = False) -> Emitter:
    """An emitter for an element: one JSON form, or the many of a choice element."""
    if len(specs) == 1:
        return _single_emitter(specs[0], raw)
    table: dict[str, Emitter] = {}
    for spec in specs:
        e = _single_emitter(spec, raw)
        table[spec.key] = e
        if spec.primitive:
            table["_" + spec.key] = e

    def emit_choice(parent: dict[str, Any], out: Collection) -> None:
        for k in parent:
            e = table.get(k)
            if e is not None and not (k[0] == "_" and k[1:] in parent):
                e(parent, out)

    return emit_choice


# -- untyped navigation ------------------------------------------------------------------------------


def _untyped(parent: dict[str, Any], name: str, out: Collection, tm: TypeModel) -> None:
    """Navigation without type information: the JSON key, or a choice key ``name`` + TypeName."""
    cv = parent.get(name)
    ext = parent.get("_" + name)
    if cv is None and ext is None:
        n = len(name)
        for k in list(parent):
            if len(k) > n and k.startswith(name) and k[n].isupper():
                suffix = k[n:]
                t = suffix if tm.has_type(suffix) else suffix[0].lower() + suffix[1:]
                if tm.has_type(t):
                    make_emitter((ChildSpec(k, name, t, t, tm.is_primitive(t), False),))(parent, out)
                else:
                    _emit_raw(parent, k, parent[k], out)
        return
    _emit_raw(parent, name, cv, out)


def _emit_raw(parent: dict[str, Any], key: str, cv: Any, out: Collection) -> None:
    ext = parent.get("_" + key)
    if cv.__class__ is list:
        for i, x in enumerate(cv):
            if x is None and not (ext.__class__ is list and i < len(ext) and ext[i] is not None):
                continue
            out.append(_raw_node(x, parent, key, i))
    elif cv is not None or ext is not None:
        out.append(_raw_node(cv, parent, key, -1))


def _raw_node(x: Any, parent: dict[str, Any], key: str, i: int) -> Node:
    if x.__class__ is dict:
        rt = x.get("resourceType")
        if rt.__class__ is str:
            return Node(x, rt, rt)
        return Node(x, None, None)
    return Node(x, None, None, parent, key, i)


_PRIMITIVE_CHILDREN = {
    "id": ChildSpec("id", "id", "string", "string", True, False),
    "extension": ChildSpec("extension", "extension", "Extension", "Extension", False, False),
}


def _primitive_child(item: Node, name: str, out: Collection) -> None:
    """``id`` and ``extension`` of a primitive live in its ``_name`` sibling."""
    spec = _PRIMITIVE_CHILDREN.get(name)
    if spec is None:
        return
    element = item.primitive_element()
    if element is not None:
        _single_emitter(spec, False)(element, out)


# -- navigators --------------------------------------------------------------------------------------


def make_navigator(name: str, raw: bool | str = False) -> Navigator:
    """A function selecting the children called ``name`` of every item of a collection."""
    tm = get_type_model()
    cache: dict[str, Emitter | None] = {}

    def lookup(path: str) -> Emitter | None:
        specs = tm.children_named(path, name)
        if specs is not None:
            e: Emitter | None = make_emitter(specs, raw)
        elif tm.known(path):
            e = _nothing
        else:
            e = None  # unknown type path: navigate the JSON as it is
        cache[path] = e
        return e

    def navigate(ctx: Any, focus: Collection) -> Collection:
        out: Collection = []
        for item in focus:
            if item.__class__ is not Node:
                continue
            v = item.value
            if v.__class__ is not dict:
                if item.parent is not None:
                    _primitive_child(item, name, out)
                continue
            path = item.path
            if path is not None:
                emit = cache.get(path, _MISSING)
                if emit is _MISSING:
                    emit = lookup(path)
                if emit is not None:
                    emit(v, out)
                    continue
            _untyped(v, name, out, tm)
        return out

    return navigate


def _nothing(parent: dict[str, Any], out: Collection) -> None:
    return None


def make_root_navigator(name: str, raw: bool | str = False) -> Navigator:
    """Navigation of a name on the implicit focus: a type name selects focus items of that type.

    Element names never start with a capital, so an item of a known type that is not ``name`` has
    nothing to give; only untyped JSON is navigated.
    """
    navigate = make_navigator(name, raw)
    if not name[:1].isupper():
        return navigate
    tm = get_type_model()
    if not tm.has_type(name):
        return navigate
    is_a: dict[str, bool] = {}

    def navigate_or_filter(ctx: Any, focus: Collection) -> Collection:
        out: Collection = []
        rest: Collection = []
        for item in focus:
            if item.__class__ is Node:
                t = item.type
                if t is None and item.value.__class__ is dict:
                    t = item.value.get("resourceType")
                if t is not None:
                    hit = is_a.get(t)
                    if hit is None:
                        hit = is_a[t] = t == name or tm.is_subtype(t, name)
                    if hit:
                        out.append(item)
                    if hit or tm.has_type(t):
                        continue
            rest.append(item)
        if rest:
            out.extend(navigate(ctx, rest))
        return out

    return navigate_or_filter


def children_of(item: Any, out: Collection) -> None:
    """All child nodes of an item, in JSON order (``children()``); a primitive's are its id/extension."""
    if item.__class__ is not Node:
        return
    v = item.value
    if v.__class__ is not dict:
        if item.parent is not None:
            _primitive_child(item, "id", out)
            _primitive_child(item, "extension", out)
        return
    tm = get_type_model()
    table = tm.children_by_key(item.path) if item.path is not None else {}
    seen: set[str] = set()
    for k in v:
        if k == "resourceType":
            continue
        if k[0] == "_":
            k = k[1:]
            if k in v:
                continue
        if k in seen:
            continue
        seen.add(k)
        spec = table.get(k)
        if spec is not None:
            _single_emitter(spec, False)(v, out)
        else:
            _emit_raw(v, k, v.get(k), out)
