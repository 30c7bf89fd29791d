"""Profile values: ``fixed[x]`` (exactly this value) and ``pattern[x]`` (at least these parts).

Spec: https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.fixed_x_ and
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.pattern_x_

- ``fixed``: the instance value equals the fixed value, property for property (for a complex value,
  nothing more and nothing less);
- ``pattern``: every property the pattern has is in the instance with a matching value; a repeating
  property matches when each pattern item matches some instance item; extra properties are allowed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from senhealth.fhir.validation.context import Ctx, ItemCheck
from senhealth.fhir.validation.outcome import ERROR, VALUE

__all__ = ["matches_pattern", "value_check"]

_NUMBER = (int, float, Decimal)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _same(value: Any, expected: Any) -> bool:
    """Equality that tells booleans from numbers but not ints from floats."""
    if type(value) in _NUMBER and type(expected) in _NUMBER:
        return bool(value == expected)
    if type(value) is not type(expected):
        return False
    if type(value) is dict:
        return value.keys() == expected.keys() and all(_same(value[k], expected[k]) for k in value)
    if type(value) is list:
        return len(value) == len(expected) and all(_same(a, b) for a, b in zip(value, expected))
    return bool(value == expected)


def matches_pattern(value: Any, pattern: Any) -> bool:
    """Whether ``value`` contains ``pattern`` (pattern[x] semantics)."""
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        return all(k in value and matches_pattern(value[k], v) for k, v in pattern.items())
    if type(pattern) is list:
        items = value if type(value) is list else [value]
        return all(any(matches_pattern(it, p) for it in items) for p in pattern)
    return _same(value, pattern)


def value_check(kind: str, expected: Any) -> ItemCheck:
    """The check of an item against a ``fixed`` (``kind="fixed"``) or ``pattern`` value."""
    shown = _short(expected)

    if kind == "fixed":

        def fixed(node: Any, path: str, ctx: Ctx) -> None:
            if not _same(node, expected):
                ctx.issues.append(
                    (ERROR, VALUE, path, f"Value must be exactly {shown} (fixed by the profile)")
                )

        return fixed

    def pattern(node: Any, path: str, ctx: Ctx) -> None:
        if not matches_pattern(node, expected):
            ctx.issues.append(
                (ERROR, VALUE, path, f"Value must match the pattern {shown} (set by the profile)")
            )

    return pattern
