"""SubscriptionTopic: what triggers a notification, what a subscriber may filter on, what a notification holds.

Spec: R5 SubscriptionTopic https://hl7.org/fhir/R5/subscriptiontopic.html (``resourceTrigger`` with
``supportedInteraction``, ``queryCriteria`` and ``fhirPathCriteria``; ``canFilterBy``;
``notificationShape``), and for R4 the Subscriptions R5 Backport IG
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-topics-in-r4: R4 has no
SubscriptionTopic resource, so a topic is served as a ``Basic`` resource (``code`` =
``http://hl7.org/fhir/fhir-types#SubscriptionTopic``) carrying the R5 elements as cross-version extensions
(``http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.<element>``, the URLs of the
cross-version package https://hl7.org/fhir/uv/xver-r5.r4/). The IG's own R4 example writes the complex
elements under ``.../4.3/...`` URLs, which its publisher reports as unknown extensions; we use the R5 URLs
for every element.

Topics are defined in code (:mod:`senhealth.fhir.subscriptions.topics`), not stored: the definition that
is served is the one that is evaluated. A trigger is decided by its ``fhirPathCriteria``, evaluated with
``%current`` (the new version; empty for a delete) and ``%previous`` (the version before; empty for a
create) by the platform's FHIRPath engine; ``queryCriteria`` is published for clients, and says the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.fhir import fhirpath
from senhealth.fhir.store.hooks import Write

__all__ = [
    "FHIR_TYPES",
    "XVER",
    "FilterParameter",
    "NotificationShape",
    "QueryCriteria",
    "ResourceTrigger",
    "SubscriptionTopic",
]

#: The cross-version extension URL prefix for R5 SubscriptionTopic elements in R4.
XVER: Final = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
#: The code system of resource type names (``Basic.code`` of a wrapped topic).
FHIR_TYPES: Final = "http://hl7.org/fhir/fhir-types"
_SD: Final = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class QueryCriteria:
    """R5 ``resourceTrigger.queryCriteria``: the same test as search parameters, for clients to read."""

    previous: str | None = None
    current: str | None = None
    result_for_create: str = "test-passes"
    result_for_delete: str = "test-fails"
    require_both: bool = True


@dataclass(frozen=True, slots=True)
class ResourceTrigger:
    """One resource type's trigger: the interactions it listens to and its FHIRPath criteria."""

    resource: str
    interactions: frozenset[str]
    fhirpath: str  # with %current and %previous; evaluated to decide
    description: str
    query: QueryCriteria | None = None

    def matches(self, write: Write) -> bool:
        """Whether ``write`` fires this trigger."""
        if write.res_type != self.resource or write.interaction not in self.interactions:
            return False
        current: Any = write.content if write.content is not None else []
        previous: Any = write.previous if write.previous is not None else []
        focus = write.content if write.content is not None else (write.previous or {})
        result = fhirpath.compile(self.fhirpath)(focus, {"current": current, "previous": previous})
        return result == [True]


@dataclass(frozen=True, slots=True)
class FilterParameter:
    """R5 ``canFilterBy``: a ``filterParameter`` for one resource type, evaluated by ``path`` (FHIRPath on
    the focus resource) as a ``reference`` or ``token`` value."""

    name: str
    resource: str
    path: str
    kind: str  # "reference" | "token"
    description: str
    modifiers: tuple[str, ...] = ("not",)


@dataclass(frozen=True, slots=True)
class NotificationShape:
    """R5 ``notificationShape``: the focus type and what a notification may include with it."""

    resource: str
    include: tuple[str, ...] = ()
    rev_include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubscriptionTopic:
    """A topic: its canonical URL, triggers, filters and notification shape."""

    id: str
    url: str
    name: str
    title: str
    description: str
    date: str
    triggers: tuple[ResourceTrigger, ...]
    filters: tuple[FilterParameter, ...] = ()
    shapes: tuple[NotificationShape, ...] = ()
    version: str = "1.0.0"
    status: str = "active"
    _by_type: dict[str, tuple[ResourceTrigger, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_type: dict[str, list[ResourceTrigger]] = {}
        for t in self.triggers:
            by_type.setdefault(t.resource, []).append(t)
            fhirpath.compile(t.fhirpath)  # a bad expression fails at import, not at the first write
        self._by_type.update({k: tuple(v) for k, v in by_type.items()})

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def fires(self, write: Write) -> bool:
        """Whether ``write`` fires one of this topic's triggers."""
        return any(t.matches(write) for t in self._by_type.get(write.res_type, ()))

    def filter_parameters(self, name: str, resource: str | None = None) -> list[FilterParameter]:
        """The ``canFilterBy`` entries called ``name`` (of ``resource`` when given)."""
        return [f for f in self.filters if f.name == name and (resource is None or f.resource == resource)]

    # -- R4 representation ----------------------------------------------------------------------------

    def to_basic(self) -> dict[str, Any]:
        """The topic as an R4 ``Basic`` resource with the R5 cross-version extensions (module docstring)."""
        ext: list[dict[str, Any]] = [
            {"url": f"{XVER}.url", "valueUri": self.url},
            {"url": f"{XVER}.version", "valueString": self.version},
            {"url": f"{XVER}.name", "valueString": self.name},
            {"url": f"{XVER}.title", "valueString": self.title},
            {"url": f"{XVER}.date", "valueDateTime": self.date},
            {"url": f"{XVER}.description", "valueMarkdown": self.description},
        ]
        ext += [{"url": f"{XVER}.resourceTrigger", "extension": list(_trigger(t))} for t in self.triggers]
        ext += [{"url": f"{XVER}.canFilterBy", "extension": list(_filter(f))} for f in self.filters]
        ext += [{"url": f"{XVER}.notificationShape", "extension": list(_shape(s))} for s in self.shapes]
        return {
            "resourceType": "Basic",
            "id": self.id,
            "text": {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{_html(self.title)}</p>'
                f"<p>{_html(self.description)}</p></div>",
            },
            "modifierExtension": [{"url": f"{XVER}.status", "valueCode": self.status}],
            "extension": ext,
            "code": {"coding": [{"system": FHIR_TYPES, "code": "SubscriptionTopic"}]},
        }


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trigger(t: ResourceTrigger) -> Iterator[dict[str, Any]]:
    yield {"url": "description", "valueMarkdown": t.description}
    yield {"url": "resource", "valueUri": _SD + t.resource}
    for code in ("create", "update", "delete"):
        if code in t.interactions:
            yield {"url": "supportedInteraction", "valueCode": code}
    if t.query is not None:
        q = t.query
        parts: list[dict[str, Any]] = []
        if q.previous is not None:
            parts.append({"url": "previous", "valueString": q.previous})
        parts.append({"url": "resultForCreate", "valueCode": q.result_for_create})
        if q.current is not None:
            parts.append({"url": "current", "valueString": q.current})
        parts.append({"url": "resultForDelete", "valueCode": q.result_for_delete})
        parts.append({"url": "requireBoth", "valueBoolean": q.require_both})
        yield {"url": "queryCriteria", "extension": parts}
    yield {"url": "fhirPathCriteria", "valueString": t.fhirpath}


def _filter(f: FilterParameter) -> Iterator[dict[str, Any]]:
    yield {"url": "description", "valueMarkdown": f"{f.description} (FHIRPath: `{f.path}`, {f.kind})"}
    yield {"url": "resource", "valueUri": _SD + f.resource}
    yield {"url": "filterParameter", "valueString": f.name}
    for m in f.modifiers:
        yield {"url": "modifier", "valueCode": m}


def _shape(s: NotificationShape) -> Iterator[dict[str, Any]]:
    yield {"url": "resource", "valueUri": _SD + s.resource}
    for inc in s.include:
        yield {"url": "include", "valueString": inc}
    for rev in s.rev_include:
        yield {"url": "revInclude", "valueString": rev}
