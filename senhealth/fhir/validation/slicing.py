"""Slicing of repeating elements in profiles, by ``value`` and ``pattern`` discriminators.

Spec: https://hl7.org/fhir/R4/profiling.html#slicing and
https://hl7.org/fhir/R4/profiling.html#discriminator

Each item of a sliced array is matched against the slices in order: an item belongs to the first slice
whose discriminator paths (``system``, ``code.coding``, ``$this``, ``url`` for extensions) hold the
slice's ``fixed[x]`` / ``pattern[x]`` value there (for an extension slice, its ``url`` is the canonical
of the extension profile in ``type.profile``). Then each slice's cardinality is checked, each matched
item is validated against the slice's own constraints, and under ``rules = closed`` an item that
matches no slice is an error.

Not supported (the slicing is then ignored, never guessed): ``type``, ``profile`` and ``exists``
discriminators, paths through ``resolve()`` or ``ofType()``, discriminators whose slice value is not
given by a fixed/pattern value, ``ordered`` slicing and re-slicing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from senhealth.fhir.model import ElementInfo
from senhealth.fhir.validation.context import Ctx, FieldCheck, ItemCheck
from senhealth.fhir.validation.fixed import matches_pattern, value_check
from senhealth.fhir.validation.outcome import ERROR, REQUIRED, STRUCTURE, TOO_MANY
from senhealth.fhir.validation.profile_model import ElementOverride, Profile

__all__ = ["slicing_field"]


@dataclass(frozen=True, slots=True)
class _Slice:
    name: str
    min: int
    max: int | None
    matchers: tuple[tuple[tuple[str, ...], str, Any], ...]  # (path steps, fixed|pattern, value)
    check: ItemCheck | None


def _values_at(item: Any, steps: tuple[str, ...]) -> list[Any]:
    values = [item]
    for step in steps:
        nxt: list[Any] = []
        for v in values:
            if type(v) is dict and step in v:
                x = v[step]
                if type(x) is list:
                    nxt.extend(x)
                else:
                    nxt.append(x)
        values = nxt
    return values


def _matches(item: Any, s: _Slice) -> bool:
    for steps, kind, expected in s.matchers:
        values = _values_at(item, steps)
        if kind == "fixed":
            if not any(v == expected for v in values):
                return False
        elif not any(matches_pattern(v, expected) for v in values):
            return False
    return True


def _build(profile: Profile, ekey: str, over: ElementOverride, item_tp: str) -> list[_Slice] | None:
    from senhealth.fhir.validation.structure import object_validator

    assert over.slicing is not None
    slices: list[_Slice] = []
    for name in over.slices:
        skey = f"{ekey}:{name}"
        so = profile.get(skey)
        if so is None:
            return None
        matchers: list[tuple[tuple[str, ...], str, Any]] = []
        for dtype, dpath in over.slicing.discriminators:
            if dtype not in ("value", "pattern") or "(" in dpath:
                return None
            src = so if dpath == "$this" else profile.get(f"{skey}.{dpath}")
            steps = () if dpath == "$this" else tuple(dpath.split("."))
            if src is not None and src.fixed is not None:
                matchers.append((steps, "fixed", src.fixed[1]))
            elif src is not None and src.pattern is not None:
                matchers.append((steps, "pattern", src.pattern[1]))
            elif dpath == "url" and so.type_profiles:
                matchers.append((steps, "fixed", so.type_profiles[0]))
            else:
                return None
        checks: list[ItemCheck] = []
        if profile.has_under(skey):
            checks.append(object_validator(item_tp, profile, skey).check)
        if so.fixed is not None:
            checks.append(value_check("fixed", so.fixed[1]))
        if so.pattern is not None:
            checks.append(value_check("pattern", so.pattern[1]))
        check: ItemCheck | None = None
        if len(checks) == 1:
            check = checks[0]
        elif checks:
            run = tuple(checks)

            def all_of(node: Any, path: str, ctx: Ctx, run: tuple[ItemCheck, ...] = run) -> None:
                for c in run:
                    c(node, path, ctx)

            check = all_of
        slices.append(_Slice(name, so.min or 0, so.max if so.max_set else None, tuple(matchers), check))
    return slices


def slicing_field(
    inner: FieldCheck, json_name: str, el: ElementInfo, over: ElementOverride, profile: Profile, ekey: str
) -> FieldCheck:
    """Wrap the field check of a sliced element with the slice matching and counting."""
    if over.slicing is None or not el.is_array or el.type_path is None:
        return inner
    slices = _build(profile, ekey, over, el.type_path)
    if not slices:
        return inner
    closed = over.slicing.rules == "closed"
    label = el.path

    def check(value: Any, holder: dict[str, Any], hpath: str, ctx: Ctx) -> None:
        inner(value, holder, hpath, ctx)
        if type(value) is not list:
            return
        base = hpath + "." + json_name
        counts = [0] * len(slices)
        for i, item in enumerate(value):
            if type(item) is not dict:
                continue
            for n, s in enumerate(slices):
                if _matches(item, s):
                    counts[n] += 1
                    if s.check is not None:
                        s.check(item, f"{base}[{i}]", ctx)
                    break
            else:
                if closed:
                    ctx.issues.append(
                        (
                            ERROR,
                            STRUCTURE,
                            f"{base}[{i}]",
                            f"{label}: the item matches no slice (slicing is closed)",
                        )
                    )
        for s, c in zip(slices, counts):
            if c < s.min:
                ctx.issues.append(
                    (ERROR, REQUIRED, base, f"{label}:{s.name}: at least {s.min} required, found {c}")
                )
            if s.max is not None and c > s.max:
                ctx.issues.append(
                    (ERROR, TOO_MANY, base, f"{label}:{s.name}: at most {s.max} allowed, found {c}")
                )

    return check
