"""The server's CapabilityStatement, generated from what is implemented.

Spec: https://hl7.org/fhir/R4/capabilitystatement.html, https://hl7.org/fhir/R4/http.html#capabilities
(``GET [base]/metadata``) and https://hl7.org/fhir/R4/codesystem-restful-interaction.html.

Nothing here is written by hand per resource type: the resource types come from the R4 model
(:mod:`senhealth.fhir.model`), their search parameters from the shipped R4 definitions
(:func:`senhealth.fhir.model.search_parameters.search_params_for`, restricted to the parameter types the
search engine answers), the operations from the registry (:mod:`senhealth.fhir.operations.registry`),
and the interactions and headers from the :class:`RestFeatures` the REST layer declares for itself.
A test compares the statement with the routes, so neither can drift from the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import search_params_for
from senhealth.fhir.model.valuesets import value_set_codes
from senhealth.fhir.operations.registry import Operation, all_operations

__all__ = [
    "INSTANCE_INTERACTIONS",
    "SYSTEM_INTERACTIONS",
    "TYPE_INTERACTIONS",
    "RestFeatures",
    "build_capability_statement",
]

INSTANCE_INTERACTIONS: Final = ("read", "vread", "update", "patch", "delete", "history-instance")
TYPE_INTERACTIONS: Final = ("create", "search-type", "history-type")
SYSTEM_INTERACTIONS: Final = ("transaction", "batch", "search-system", "history-system")
SEARCHABLE_TYPES: Final = frozenset(
    {"number", "date", "string", "token", "reference", "quantity", "uri", "composite"}
)
# https://hl7.org/fhir/R4/search.html#all: the parameters every resource type has
_COMMON: Final = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id"),
    ("_lastUpdated", "date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
    ("_tag", "token", "http://hl7.org/fhir/SearchParameter/Resource-tag"),
    ("_profile", "uri", "http://hl7.org/fhir/SearchParameter/Resource-profile"),
    ("_security", "token", "http://hl7.org/fhir/SearchParameter/Resource-security"),
)


def _software_version() -> str:
    try:
        return version("senhealth")
    except PackageNotFoundError:
        return "0.0.0"


@dataclass(frozen=True, slots=True)
class RestFeatures:
    """What the REST layer implements (it declares this; the statement is built from it)."""

    instance_interactions: tuple[str, ...] = INSTANCE_INTERACTIONS
    type_interactions: tuple[str, ...] = TYPE_INTERACTIONS
    system_interactions: tuple[str, ...] = SYSTEM_INTERACTIONS
    formats: tuple[str, ...] = ("application/fhir+json", "json")
    patch_formats: tuple[str, ...] = ("application/json-patch+json", "application/fhir+json")
    conditional_create: bool = True
    conditional_update: bool = True
    conditional_delete: str = "single"  # not-supported | single | multiple
    conditional_read: str = "full-support"  # not-supported | modified-since | not-match | full-support
    update_create: bool = True
    versioning: str = "versioned-update"
    search_param_types: frozenset[str] = SEARCHABLE_TYPES
    resource_types: tuple[str, ...] | None = None  # None: every R4 resource type
    search_include: tuple[str, ...] = ("*",)
    search_rev_include: tuple[str, ...] = ("*",)
    documentation: str = "Sen Health FHIR R4 server: JSON only."
    extra: dict[str, Any] = field(default_factory=dict)


def _r4_resource_types() -> tuple[str, ...]:
    """The model's concrete resource types that the R4 ``resource-types`` value set knows (the shipped
    definitions add R4B's ``SubscriptionStatus``, which an R4 CapabilityStatement cannot name)."""
    names = get_model().resource_types()
    codes = value_set_codes("http://hl7.org/fhir/ValueSet/resource-types")
    if codes is None:
        return tuple(names)
    return tuple(n for n in names if codes.contains(n))


def _operation_entry(op: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": op.name, "definition": op.definition}
    if op.documentation:
        entry["documentation"] = op.documentation
    return entry


def _resource_entry(rt: str, features: RestFeatures, operations: list[Operation]) -> dict[str, Any]:
    interactions = [*features.instance_interactions, *features.type_interactions]
    params: list[dict[str, Any]] = [
        {"name": name, "definition": url, "type": ptype} for name, ptype, url in _COMMON
    ]
    common = {name for name, _, _ in _COMMON}
    for code, sp in sorted(search_params_for(rt).items()):
        if code in common or sp.expression is None or sp.type not in features.search_param_types:
            continue
        params.append({"name": code, "definition": sp.url, "type": sp.type})
    entry: dict[str, Any] = {
        "type": rt,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rt}",
        "interaction": [{"code": code} for code in interactions],
        "versioning": features.versioning,
        "readHistory": "vread" in features.instance_interactions,
        "updateCreate": features.update_create,
        "conditionalCreate": features.conditional_create,
        "conditionalRead": features.conditional_read,
        "conditionalUpdate": features.conditional_update,
        "conditionalDelete": features.conditional_delete,
        "referencePolicy": ["literal", "logical", "local"],
        "searchInclude": list(features.search_include),
        "searchRevInclude": list(features.search_rev_include),
        "searchParam": params,
    }
    ops = [_operation_entry(op) for op in operations if op.applies("type", rt) or op.applies("instance", rt)]
    if ops:
        entry["operation"] = ops
    return entry


def build_capability_statement(
    base_url: str,
    features: RestFeatures | None = None,
    operations: Iterable[Operation] | None = None,
) -> dict[str, Any]:
    """The CapabilityStatement of this server at ``base_url``."""
    features = features or RestFeatures()
    ops = list(all_operations() if operations is None else operations)
    types = features.resource_types or _r4_resource_types()
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": features.documentation,
        "resource": [_resource_entry(rt, features, ops) for rt in types],
        "interaction": [{"code": code} for code in features.system_interactions],
        "searchParam": [{"name": name, "definition": url, "type": ptype} for name, ptype, url in _COMMON],
    }
    system_ops = [_operation_entry(op) for op in ops if "system" in op.levels]
    if system_ops:
        rest["operation"] = system_ops
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now,
        "publisher": "Sen Health",
        "kind": "instance",
        "software": {"name": "Sen Health", "version": _software_version()},
        "implementation": {"description": "Sen Health FHIR R4 server", "url": base_url},
        "fhirVersion": get_model().fhir_version,
        "format": list(features.formats),
        "patchFormat": list(features.patch_formats),
        "rest": [rest],
    }
    statement.update(features.extra)
    return statement
