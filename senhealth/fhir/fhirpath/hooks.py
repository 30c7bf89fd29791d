"""Pluggable services the engine calls for what it cannot know by itself.

Spec: http://hl7.org/fhirpath/N1/ (functions are extensible) and the FHIR additions in
https://hl7.org/fhir/R4/fhirpath.html#functions: ``resolve()`` (references outside the evaluated
resource), ``memberOf(valueset)`` (terminology) and ``conformsTo(profile)`` (profiles).

The validator and the terminology module fill these in at start-up with :func:`set_hooks`, or per call
with the ``hooks=`` keyword of a compiled expression. Each hook receives plain JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

ResolveHook = Callable[[str], dict[str, Any] | None]
"""``resolve(reference)``: the resource a reference string (``Patient/1``, an absolute URL, ``urn:uuid:..``)
points to, or ``None`` when unknown. Called after the enclosing Bundle and ``contained`` were searched."""

MemberOfHook = Callable[[Any, str], bool | None]
"""``member_of(value, valueset_url)``: whether a code (str), Coding or CodeableConcept (dict) is in the
value set; ``None`` when the value set is unknown (the function then returns empty)."""

ConformsToHook = Callable[[dict[str, Any], str], bool | None]
"""``conforms_to(resource, profile_url)``: whether the resource conforms to the profile; ``None`` when
the profile is unknown (an error is raised, as the specification asks)."""


@dataclass(frozen=True, slots=True)
class Hooks:
    resolve: ResolveHook | None = None
    member_of: MemberOfHook | None = None
    conforms_to: ConformsToHook | None = None


_hooks = Hooks()


def set_hooks(
    *,
    resolve: ResolveHook | None = None,
    member_of: MemberOfHook | None = None,
    conforms_to: ConformsToHook | None = None,
) -> Hooks:
    """Install process-wide hooks (only the ones given are replaced); returns the previous set."""
    global _hooks
    previous = _hooks
    changes: dict[str, Any] = {}
    if resolve is not None:
        changes["resolve"] = resolve
    if member_of is not None:
        changes["member_of"] = member_of
    if conforms_to is not None:
        changes["conforms_to"] = conforms_to
    _hooks = replace(_hooks, **changes)
    return previous


def reset_hooks(hooks: Hooks | None = None) -> None:
    """Restore a previous set (or none)."""
    global _hooks
    _hooks = hooks if hooks is not None else Hooks()


def get_hooks() -> Hooks:
    return _hooks
