"""The state of one validation run, and the signatures of the compiled checks.

Spec: https://hl7.org/fhir/R4/validation.html, https://hl7.org/fhir/R4/fhirpath.html#variables
(``%resource``, ``%rootResource``).

A compiled check never raises for bad content: it appends an :data:`~.outcome.Issue` to
``ctx.issues`` and goes on, so one pass reports every fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from senhealth.fhir.validation.outcome import Issue

__all__ = ["Ctx", "FieldCheck", "ItemCheck"]


class Ctx:
    """Mutable state threaded through one call of :func:`senhealth.fhir.validation.validate`."""

    __slots__ = (
        "bundle_types",
        "contained_ids",
        "in_transaction",
        "issues",
        "local_refs",
        "resource",
        "root",
    )

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        # %resource: the resource the node being checked belongs to (a contained resource, an entry)
        self.resource: dict[str, Any] = {}
        # %rootResource: the resource holding ``contained`` (the container for contained resources)
        self.root: dict[str, Any] = {}
        # ids of root.contained, computed on the first local ("#id") reference of that root
        self.contained_ids: frozenset[str] | None = None
        # the "#id" references met so far under root (dom-3 reads them instead of rescanning)
        self.local_refs: set[str] = set()
        # inside a transaction or batch Bundle: conditional references are allowed
        self.in_transaction = False
        # fullUrl -> resourceType of the entries of the Bundle being checked (urn:uuid: targets)
        self.bundle_types: dict[str, str] | None = None


# A check of one item (object or primitive value) at ``path``.
ItemCheck = Callable[[Any, str, Ctx], None]
# A check of one JSON property: (value, the object holding it, that object's path, ctx).
FieldCheck = Callable[[Any, dict[str, Any], str, Ctx], None]
