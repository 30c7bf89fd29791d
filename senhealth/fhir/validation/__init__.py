"""FHIR R4 resource validation: structure, cardinality, primitive formats, bindings, references,
invariants and profiles, reported as an OperationOutcome.

Spec: https://hl7.org/fhir/R4/validation.html (what validating a resource means),
https://hl7.org/fhir/R4/json.html, https://hl7.org/fhir/R4/datatypes.html,
https://hl7.org/fhir/R4/terminologies.html, https://hl7.org/fhir/R4/references.html,
https://hl7.org/fhir/R4/conformance-rules.html and https://hl7.org/fhir/R4/profiling.html.

Public API::

    outcome = validate(resource)                     # OperationOutcome (FHIR JSON dict)
    outcome = validate(resource, profile=url)        # ... and a registered profile
    is_valid(outcome)                                # no issue of severity error or fatal
    register_profile(structure_definition) -> url    # snapshot, or differential on a known base
    validation_issues(resource, profile=None)        # the raw (severity, code, expression, message) tuples
    precompile()                                     # compile every resource type now (~0.2 s), not lazily
    unregister_profile(url); get_profile(url); registered_profiles()

Why it is written by hand: the Python FHIR model libraries do not fit. ``fhir.resources`` models FHIR
R5 (its R4B/STU3 sub-packages are not R4), accepts invalid data (decimals and booleans as strings,
codes outside required bindings, empty objects) and takes 120-300 µs per resource; validation runs on
every write. This validator is compiled from the R4 definitions shipped in :mod:`senhealth.fhir.model`
into one closure per element, cached per type path, and checks an average Synthea resource in about
30 µs on a 2-core machine (see ``docs/validation.md``).

Modules, one concept each: :mod:`.structure` (objects, unknown and required elements),
:mod:`.cardinality` (arrays, nulls, ``_name`` siblings), :mod:`.primitives`, :mod:`.bindings`,
:mod:`.references`, :mod:`.invariants` (with :mod:`.invariant_rules` and :mod:`.resource_rules`),
:mod:`.resources` (resourceType,
contained, bundles), :mod:`.profile_model`, :mod:`.profiles`, :mod:`.slicing`, :mod:`.fixed` and
:mod:`.outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from senhealth.fhir.validation.outcome import ERROR, NOT_FOUND, Issue, is_valid, to_operation_outcome
from senhealth.fhir.validation.profiles import (
    get_profile,
    register_profile,
    registered_profiles,
    unregister_profile,
)
from senhealth.fhir.validation.references import resource_types
from senhealth.fhir.validation.resources import validate_resource
from senhealth.fhir.validation.structure import object_validator

__all__ = [
    "get_profile",
    "is_valid",
    "precompile",
    "register_profile",
    "registered_profiles",
    "unregister_profile",
    "validate",
    "validation_issues",
]


def validation_issues(resource: Any, profile: str | None = None) -> list[Issue]:
    """The issues found in ``resource``, as ``(severity, code, expression, message)`` tuples; the
    cheapest way to ask "is it valid?" on the write path (no OperationOutcome is built)."""
    if profile is None:
        return validate_resource(resource)
    found = get_profile(profile)
    if found is None:
        return [(ERROR, NOT_FOUND, "", f"The profile {profile} is not registered")]
    return validate_resource(resource, found)


def validate(resource: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """Validate a resource (parsed JSON) against FHIR R4, and against the registered profile
    ``profile`` (canonical URL) when given; return an OperationOutcome. The resource is valid when no
    issue has severity ``error`` or ``fatal`` (:func:`is_valid`)."""
    return to_operation_outcome(validation_issues(resource, profile))


def precompile(types: Iterable[str] | None = None) -> int:
    """Compile the validators of ``types`` (default: every resource type) ahead of the first request;
    returns how many resource types were compiled. Validators are otherwise compiled on first use."""
    names = sorted(resource_types()) if types is None else [t for t in types if t in resource_types()]
    for name in names:
        object_validator(name)
    return len(names)
