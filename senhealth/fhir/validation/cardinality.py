"""The checks of one JSON property: single value or array, cardinality, nulls, ``_name`` siblings.

Spec: https://hl7.org/fhir/R4/json.html (repeating elements are JSON arrays, never empty; a single
element is never an array; ``null`` only as a placeholder in primitive arrays;
https://hl7.org/fhir/R4/json.html#primitive for ``_name`` extension siblings) and
https://hl7.org/fhir/R4/conformance-rules.html#cardinality.

Each builder returns a closure ``(value, holder, holder_path, ctx)`` compiled once per element: the
array-or-not decision, the maximum and the item check are bound in, so the hot path is a type test, a
length test and a loop. Whether an element is an array in JSON is decided by the base definition (a
profile that sets ``max`` to 1 does not change the JSON shape); ``max`` and ``min`` above 1 come from
the profile when there is one. Presence of required elements (``min >= 1``) is checked by the object
holding them (:mod:`.structure`).
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.validation.context import Ctx, FieldCheck, ItemCheck
from senhealth.fhir.validation.outcome import ERROR, INVARIANT, REQUIRED, STRUCTURE, TOO_MANY
from senhealth.fhir.validation.primitives import MAX_STRING, PrimitiveCheck, describe, is_text, remembered

__all__ = [
    "choice_field",
    "complex_field",
    "primitive_ext_field",
    "primitive_field",
    "prohibited_field",
]

_EMPTY_ARRAY = "An array must not be empty"
_NULL = "null is only allowed inside an array of primitives, as a placeholder beside a '_' extension array"


def _not_array(name: str, value: Any) -> str:
    return f"'{name}' repeats, so it must be a JSON array, not {describe(value)}"


def _count_issues(label: str, n: int, min_: int, max_: int | None, path: str, ctx: Ctx) -> None:
    if max_ is not None and n > max_:
        ctx.issues.append((ERROR, TOO_MANY, path, f"{label}: at most {max_} allowed, found {n}"))
    if n < min_:
        ctx.issues.append((ERROR, REQUIRED, path, f"{label}: at least {min_} required, found {n}"))


def primitive_field(
    name: str,
    label: str,
    is_array: bool,
    min_: int,
    max_: int | None,
    check: PrimitiveCheck,
    extra: ItemCheck | None,
) -> FieldCheck:
    """A primitive element ``name`` (its ``_name`` sibling has its own check)."""
    ext_key = "_" + name
    counted = min_ > 1 or max_ is not None

    if not is_array:
        # the commonest answers ("a remembered code", "a non-blank string") tested here, sparing a call;
        # anything else goes to the check itself
        known = remembered(check)
        if known is not None:

            def single_known(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
                bad = None if value.__class__ is str and value in known else check(value)
                if bad is not None:
                    ctx.issues.append((ERROR, bad[0], hpath + "." + name, bad[1]))
                elif extra is not None:
                    extra(value, hpath + "." + name, ctx)

            return single_known
        if is_text(check):

            def single_text(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
                if value.__class__ is str and value and len(value) <= MAX_STRING and not value.isspace():
                    bad = None
                else:
                    bad = check(value)
                if bad is not None:
                    ctx.issues.append((ERROR, bad[0], hpath + "." + name, bad[1]))
                elif extra is not None:
                    extra(value, hpath + "." + name, ctx)

            return single_text

        def single(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
            bad = check(value)
            if bad is not None:
                ctx.issues.append((ERROR, bad[0], hpath + "." + name, bad[1]))
            elif extra is not None:
                extra(value, hpath + "." + name, ctx)

        return single

    def many(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        base = hpath + "." + name
        if type(value) is not list:
            ctx.issues.append((ERROR, STRUCTURE, base, _not_array(name, value)))
            return
        if not value:
            ctx.issues.append((ERROR, STRUCTURE, base, _EMPTY_ARRAY))
            return
        if counted:
            _count_issues(label, len(value), min_, max_, base, ctx)
        for i, v in enumerate(value):
            if v is None:
                ext = holder.get(ext_key)
                if type(ext) is not list or i >= len(ext) or ext[i] is None:
                    ctx.issues.append((ERROR, STRUCTURE, f"{base}[{i}]", _NULL))
                continue
            bad = check(v)
            if bad is not None:
                ctx.issues.append((ERROR, bad[0], f"{base}[{i}]", bad[1]))
            elif extra is not None:
                extra(v, f"{base}[{i}]", ctx)

    return many


def primitive_ext_field(name: str, is_array: bool, element: ItemCheck) -> FieldCheck:
    """The ``_name`` sibling of a primitive element: its id and extensions (an object, or an array of
    objects and nulls aligned with the value array)."""
    value_key = name[1:]

    if not is_array:

        def single(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
            path = hpath + "." + value_key
            if type(value) is not dict:
                ctx.issues.append(
                    (ERROR, STRUCTURE, path, f"'{name}' must be a JSON object, not {describe(value)}")
                )
                return
            if not value:
                ctx.issues.append((ERROR, STRUCTURE, path, f"'{name}' must not be an empty object"))
                return
            element(value, path, ctx)
            if "extension" not in value and value_key not in holder:
                ctx.issues.append(
                    (
                        ERROR,
                        INVARIANT,
                        path,
                        "Constraint failed: ele-1: a primitive needs a value or extensions",
                    )
                )

        return single

    def many(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        base = hpath + "." + value_key
        if type(value) is not list:
            ctx.issues.append((ERROR, STRUCTURE, base, _not_array(name, value)))
            return
        if not value:
            ctx.issues.append((ERROR, STRUCTURE, base, _EMPTY_ARRAY))
            return
        values = holder.get(value_key)
        if type(values) is list and len(values) != len(value):
            ctx.issues.append(
                (
                    ERROR,
                    STRUCTURE,
                    base,
                    f"'{name}' has {len(value)} items but '{value_key}' has {len(values)}: they must align",
                )
            )
        aligned = values if type(values) is list else []
        for i, v in enumerate(value):
            if v is None:
                if i >= len(aligned):
                    ctx.issues.append((ERROR, STRUCTURE, f"{base}[{i}]", _NULL))
                continue
            if type(v) is not dict or not v:
                ctx.issues.append(
                    (ERROR, STRUCTURE, f"{base}[{i}]", f"Items of '{name}' must be objects or null")
                )
                continue
            element(v, f"{base}[{i}]", ctx)
            if "extension" not in v and (i >= len(aligned) or aligned[i] is None):
                ctx.issues.append(
                    (
                        ERROR,
                        INVARIANT,
                        f"{base}[{i}]",
                        "Constraint failed: ele-1: a primitive needs a value or extensions",
                    )
                )

    return many


def complex_field(
    name: str, label: str, is_array: bool, min_: int, max_: int | None, item: ItemCheck
) -> FieldCheck:
    """An element whose items are JSON objects (a complex type, a backbone element or a resource)."""
    counted = min_ > 1 or max_ is not None

    if not is_array:

        def single(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
            if type(value) is dict:
                item(value, hpath + "." + name, ctx)
            elif type(value) is list:
                ctx.issues.append(
                    (
                        ERROR,
                        STRUCTURE,
                        hpath + "." + name,
                        f"'{name}' does not repeat: expected a single object but found an array",
                    )
                )
            else:
                ctx.issues.append(
                    (ERROR, STRUCTURE, hpath + "." + name, f"Expected an object but found {describe(value)}")
                )

        return single

    def many(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        base = hpath + "." + name
        if type(value) is not list:
            ctx.issues.append((ERROR, STRUCTURE, base, _not_array(name, value)))
            return
        if not value:
            ctx.issues.append((ERROR, STRUCTURE, base, _EMPTY_ARRAY))
            return
        if counted:
            _count_issues(label, len(value), min_, max_, base, ctx)
        for i, v in enumerate(value):
            if type(v) is dict:
                item(v, f"{base}[{i}]", ctx)
            elif v is None:
                ctx.issues.append((ERROR, STRUCTURE, f"{base}[{i}]", _NULL))
            else:
                ctx.issues.append(
                    (ERROR, STRUCTURE, f"{base}[{i}]", f"Expected an object but found {describe(value)}")
                )

    return many


def prohibited_field(name: str, label: str) -> FieldCheck:
    """An element a profile forbids (``max = 0``)."""

    def check(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        path = hpath + "." + (name[1:] if name.startswith("_") else name)
        ctx.issues.append((ERROR, TOO_MANY, path, f"{label} is not allowed here (maximum cardinality 0)"))

    return check


def choice_field(inner: FieldCheck, key: str, base_name: str, group: dict[str, int]) -> FieldCheck:
    """Wrap the field of one variant of a choice element so two variants at once are reported
    (on the variant that comes later in the element's type list)."""
    mine = group[key]
    keys = frozenset(group)

    def check(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        inner(value, holder, hpath, ctx)
        if len(holder) > 1 and len(keys.intersection(holder)) > 1:
            for other in holder:
                j = group.get(other)
                if j is not None and j < mine:
                    ctx.issues.append(
                        (
                            ERROR,
                            STRUCTURE,
                            hpath + "." + key.lstrip("_"),
                            f"Only one type of {base_name}[x] is allowed, found {other.lstrip('_')} "
                            f"and {key.lstrip('_')}",
                        )
                    )
                    return

    return check
