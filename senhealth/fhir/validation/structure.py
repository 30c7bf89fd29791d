"""The compiled validator of one object type: known JSON properties, required elements, invariants.

Spec: https://hl7.org/fhir/R4/json.html (properties, choice types ``value[x]`` → ``valueQuantity``,
``_name`` primitive siblings, ``fhir_comments`` gone since R4), https://hl7.org/fhir/R4/formats.html#choice,
https://hl7.org/fhir/R4/elementdefinition.html and https://hl7.org/fhir/R4/validation.html.

For each *type path* (a type name such as ``HumanName``, or a backbone path such as
``Patient.contact``) an :class:`ObjectValidator` is compiled once, on first use, and cached: a dict
from every allowed JSON property name to the closure that checks it (JSON shape and cardinality from
:mod:`.cardinality`, primitive format from :mod:`.primitives`, then bindings, references, fixed and
pattern values and element invariants), the list of required elements, and the type's invariants. The
hot loop is one dict lookup per property of the instance; nothing is computed for absent elements but
the required-element test.

Under a profile the same compiler runs with the profile's overrides for the elements below a profile
path; parts of the tree the profile does not touch reuse the base validators.
"""

from __future__ import annotations

import threading
from typing import Any

from senhealth.fhir.model import Constraint, ElementInfo, get_model
from senhealth.fhir.validation.bindings import binding_check
from senhealth.fhir.validation.cardinality import (
    choice_field,
    complex_field,
    primitive_ext_field,
    primitive_field,
    prohibited_field,
)
from senhealth.fhir.validation.context import Ctx, FieldCheck, ItemCheck
from senhealth.fhir.validation.fixed import value_check
from senhealth.fhir.validation.invariants import InvariantCheck, compile_invariants
from senhealth.fhir.validation.outcome import ERROR, INVARIANT, REQUIRED, STRUCTURE
from senhealth.fhir.validation.primitives import primitive_check
from senhealth.fhir.validation.profile_model import ElementOverride, Profile
from senhealth.fhir.validation.references import reference_check

__all__ = ["ObjectValidator", "clear_cache", "object_validator", "set_resource_items"]


class ObjectValidator:
    """Checks one JSON object of a given type path (compiled once, then shared)."""

    __slots__ = ("ele1", "fields", "invariants", "required", "type_path")

    def __init__(self, type_path: str) -> None:
        self.type_path = type_path
        self.fields: dict[str, FieldCheck] = {}
        self.required: tuple[tuple[tuple[str, ...], str], ...] = ()
        self.invariants: tuple[InvariantCheck, ...] = ()
        self.ele1 = True

    def check(self, node: dict[str, Any], path: str, ctx: Ctx) -> None:
        if not node:
            ctx.issues.append((ERROR, STRUCTURE, path, "An object must not be empty"))
            return
        fields = self.fields
        for key, value in node.items():
            f = fields.get(key)
            if f is not None:
                f(value, node, path, ctx)
            else:
                _unknown(self, key, path, ctx)
        for keys, name in self.required:
            for k in keys:
                if k in node:
                    break
            else:
                ctx.issues.append((ERROR, REQUIRED, path + "." + name, _missing(self.type_path, name)))
        if self.ele1 and len(node) == 1 and "id" in node:
            ctx.issues.append(
                (ERROR, INVARIANT, path, "Constraint failed: ele-1: an element needs a value or children")
            )
        if self.invariants:
            try:
                for inv in self.invariants:
                    inv(node, path, ctx)
            except Exception:  # a rule met malformed content the structural checks already reported
                return


def _missing(type_path: str, name: str) -> str:
    el = get_model().child(type_path, name)
    label = el.path if el is not None else f"{type_path}.{name}"
    minimum = el.min if el is not None else 1
    return f"{label}: minimum required = {max(minimum, 1)}, but none found"


def _unknown(v: ObjectValidator, key: str, path: str, ctx: Ctx) -> None:
    """Report a property the type does not define, with the most helpful message."""
    model = get_model()
    where = path + "." + key
    if key == "fhir_comments":
        msg = "fhir_comments is not allowed in FHIR R4 JSON"
    elif key == "resourceType":
        msg = "resourceType is only allowed at the root of a resource"
    elif key.startswith("_") and key[1:] in v.fields:
        msg = f"'{key}' is not allowed: '{key[1:]}' is not a primitive element"
    else:
        msg = f"Unknown element '{key}'"
        bare = key.lstrip("_")
        for el in model.children(v.type_path).values():
            n = len(el.name)
            if el.choice and bare.startswith(el.name) and len(bare) > n and bare[n].isupper():
                allowed = ", ".join(j for j, _ in el.json_names() if j in v.fields)
                msg = f"'{key}' is not an allowed type for {el.name}[x] (allowed: {allowed or 'none'})"
                break
    ctx.issues.append((ERROR, STRUCTURE, where, msg))


# -- compilation ------------------------------------------------------------------------------------

_Key = tuple[str, str | None, str | None]
_CACHE: dict[_Key, ObjectValidator] = {}
# validators being compiled (by the thread holding _LOCK): published to _CACHE only once the whole
# graph they belong to is filled, so another thread never sees a half-built validator
_BUILDING: dict[_Key, ObjectValidator] = {}
_LOCK = threading.RLock()
# item checks for elements of type Resource: (contained item, standalone item); set by resources.py
_RESOURCE_ITEMS: list[ItemCheck] = []


def set_resource_items(contained: ItemCheck, standalone: ItemCheck) -> None:
    """Install the checks for resources nested in resources (kept in :mod:`.resources`)."""
    _RESOURCE_ITEMS[:] = [contained, standalone]


def clear_cache(profile_url: str | None = None) -> None:
    """Forget compiled validators (those of one profile, or all)."""
    with _LOCK:
        for key in [k for k in _CACHE if profile_url is None or k[1] == profile_url]:
            del _CACHE[key]


def object_validator(
    type_path: str, profile: Profile | None = None, ppath: str | None = None
) -> ObjectValidator:
    """The validator of objects of ``type_path``, under ``profile`` at profile path ``ppath``."""
    key = (type_path, profile.url, ppath) if profile is not None else (type_path, None, None)
    v = _CACHE.get(key)
    if v is not None:
        return v
    with _LOCK:
        v = _CACHE.get(key) or _BUILDING.get(key)
        if v is not None:
            return v  # done meanwhile, or being built further up this thread's own recursion
        outermost = not _BUILDING
        v = ObjectValidator(type_path)
        _BUILDING[key] = v  # before filling: recursive types find it
        try:
            _fill(v, profile, ppath)
            if outermost:
                _CACHE.update(_BUILDING)
        finally:
            if outermost:
                _BUILDING.clear()
        return v


def _compose(first: ItemCheck | None, extras: list[ItemCheck]) -> ItemCheck | None:
    checks = ([first] if first is not None else []) + extras
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks

        def both(node: Any, path: str, ctx: Ctx) -> None:
            a(node, path, ctx)
            b(node, path, ctx)

        return both
    run = tuple(checks)

    def all_of(node: Any, path: str, ctx: Ctx) -> None:
        for c in run:
            c(node, path, ctx)

    return all_of


def _type_constraints(type_path: str) -> tuple[Constraint, ...]:
    model = get_model()
    info = model.types.get(type_path)
    if info is not None:
        return info.root.constraints
    el = model.element(type_path)
    return el.constraints if el is not None else ()


def _value_checks(*overs: ElementOverride | ElementInfo | None) -> list[ItemCheck]:
    out: list[ItemCheck] = []
    for o in overs:
        if o is None:
            continue
        if o.fixed is not None:
            out.append(value_check("fixed", o.fixed[1]))
        if o.pattern is not None:
            out.append(value_check("pattern", o.pattern[1]))
    return out


def _ext_1(node: Any, path: str, ctx: Ctx) -> None:
    if ("extension" in node) == (not _EXT_VALUE_KEYS.isdisjoint(node)):
        ctx.issues.append(
            (
                ERROR,
                INVARIANT,
                path,
                "Constraint failed: ext-1: Must have either extensions or value[x], not both",
            )
        )


def _ext_value_keys() -> frozenset[str]:
    value = get_model().child("Extension", "value")
    names = [j for j, _ in value.json_names()] if value is not None else []
    return frozenset(names + ["_" + n for n in names])


_EXT_VALUE_KEYS = _ext_value_keys()


def _fill(v: ObjectValidator, profile: Profile | None, ppath: str | None) -> None:
    model = get_model()
    type_path = v.type_path
    info = model.types.get(type_path)
    kind = info.kind if info is not None else "backbone"
    own = _type_constraints(type_path)
    fields: dict[str, FieldCheck] = {}
    required: list[tuple[tuple[str, ...], str]] = []
    for name, el in model.children(type_path).items():
        ekey = None
        over = None
        if profile is not None and ppath is not None:
            ekey = f"{ppath}.{name}[x]" if el.choice else f"{ppath}.{name}"
            over = profile.get(ekey)
        _add_element(fields, required, el, over, profile, ppath, ekey)
    if kind == "resource":
        fields["resourceType"] = _no_check
        v.ele1 = False
    elif kind == "primitive-type":
        v.ele1 = False  # a primitive's value sits beside its ``_name`` object: checked by the field
    constraints = list(own)
    if profile is not None and ppath is not None and "." not in ppath:
        root = profile.get(ppath)
        if root is not None:
            constraints.extend(root.constraints)
    invariants = list(compile_invariants(tuple(constraints), type_path))
    if type_path == "Extension":
        invariants.insert(0, _ext_1)
    v.fields = fields
    v.required = tuple(required)
    v.invariants = tuple(invariants)


def _no_check(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
    return None


def _add_element(
    fields: dict[str, FieldCheck],
    required: list[tuple[tuple[str, ...], str]],
    el: ElementInfo,
    over: ElementOverride | None,
    profile: Profile | None,
    ppath: str | None,
    ekey: str | None,
) -> None:
    model = get_model()
    min_, max_, types = el.min, el.max, el.types
    if over is not None:
        if over.min is not None:
            min_ = max(min_, over.min)
        if over.max_set and over.max is not None and (max_ is None or over.max < max_):
            max_ = over.max
        if over.types:
            types = tuple(t for t in el.types if t in over.types) or el.types
    variants = [(j, t) for j, t in el.json_names() if t in types or not el.types]
    keys: list[str] = []
    for j, t in variants:
        keys.append(j)
        if model.is_primitive(t):
            keys.append("_" + j)
    if max_ == 0:
        for k in keys:
            fields[k] = prohibited_field(k, el.path)
        return
    group = {k: i for i, (j, t) in enumerate(variants) for k in (j, "_" + j)} if el.choice else {}
    for j, t in variants:
        vover = None
        vkey = ekey
        if el.choice and profile is not None and ppath is not None:
            vkey = f"{ppath}.{j}"
            vover = profile.get(vkey)
        if vkey != ekey and vover is None and not (profile is not None and vkey and profile.has_under(vkey)):
            vkey = ekey  # nothing said about this variant alone: the [x] element's rules apply
        made = _variant_fields(el, j, t, min_, max_, over, vover, profile, vkey)
        for k, f in made.items():
            fields[k] = choice_field(f, k, el.name, group) if el.choice else f
    if over is not None and over.slicing is not None and over.slices and profile is not None and ekey:
        from senhealth.fhir.validation.slicing import slicing_field

        j = variants[0][0]
        fields[j] = slicing_field(fields[j], j, el, over, profile, ekey)
        if min_ == 0 and any(
            (s := profile.get(f"{ekey}:{n}")) is not None and (s.min or 0) > 0 for n in over.slices
        ):
            min_ = 1
    if min_ >= 1:
        required.append((tuple(keys), el.name))


def _variant_fields(
    el: ElementInfo,
    json_name: str,
    t: str,
    min_: int,
    max_: int | None,
    over: ElementOverride | None,
    vover: ElementOverride | None,
    profile: Profile | None,
    pkey: str | None,
) -> dict[str, FieldCheck]:
    """The field checks for one JSON name of an element (and its ``_name`` sibling)."""
    model = get_model()
    binding = (
        (vover.binding if vover and vover.binding else None)
        or (over.binding if over and over.binding else None)
        or el.binding
    )
    extra_constraints = list(el.constraints)
    for o in (over, vover):
        if o is not None:
            extra_constraints.extend(o.constraints)
    if model.is_primitive(t):
        own_keys = {c.key for c in _type_constraints(t)}
        extras: list[ItemCheck] = []
        b = binding_check(binding, t)
        if b is not None:
            extras.append(b)
        extras.extend(_value_checks(el, over, vover))
        extras.extend(compile_invariants(tuple(c for c in extra_constraints if c.key not in own_keys), t))
        return {
            json_name: primitive_field(
                json_name, el.path, el.is_array, min_, max_, primitive_check(t), _compose(None, extras)
            ),
            "_" + json_name: primitive_ext_field("_" + json_name, el.is_array, object_validator(t).check),
        }
    if t == "Resource" or model.is_resource(t):
        contained = el.path.endswith(".contained") and el.path.count(".") == 1
        item = _RESOURCE_ITEMS[0] if contained else _RESOURCE_ITEMS[1]
        return {json_name: complex_field(json_name, el.path, el.is_array, min_, max_, item)}
    item_tp = t if el.choice or el.type_path is None else el.type_path
    if profile is not None and pkey is not None and profile.has_under(pkey):
        obj = object_validator(item_tp, profile, pkey)
    else:
        obj = object_validator(item_tp)
    own_keys = {c.key for c in _type_constraints(item_tp)}
    extras = []
    b = binding_check(binding, t)
    if b is not None:
        extras.append(b)
    if t == "Reference":
        targets = (vover.targets if vover and vover.targets else None) or (
            over.targets if over and over.targets else None
        )
        extras.append(reference_check(targets if targets is not None else el.targets))
    extras.extend(_value_checks(el, over, vover))
    extras.extend(compile_invariants(tuple(c for c in extra_constraints if c.key not in own_keys), item_tp))
    check = _compose(obj.check, extras) or obj.check
    return {json_name: complex_field(json_name, el.path, el.is_array, min_, max_, check)}
