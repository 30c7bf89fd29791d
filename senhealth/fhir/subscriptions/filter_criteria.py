"""Filter criteria of a topic-based subscription: parsed against its topic, then matched against each event.

Spec: the ``backport-filter-criteria`` extension on ``Subscription.criteria``
(https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-filter-criteria.html)
and https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-filters: each value
is ``[filterParameter]=[value]``, ``[filterParameter]:[modifier]=[value]``, ``[resourceType].[filterParameter]=[value]``
(or the IG examples' ``[resourceType]?[filterParameter]=[value]``, ``&`` joining several); several
filters are ANDed, comma-separated values ORed (https://hl7.org/fhir/R4/search.html#combining); token
values as in search (``code``, ``system|code``, ``|code``, ``system|``), reference values as ``Type/id``
or ``id``. Modifier: ``:not``.

A filter applies to the resource types its topic defines the parameter for (R5 ``filterBy.resourceType``,
https://hl7.org/fhir/R5/subscription-definitions.html#Subscription.filterBy.resourceType): on an event
about another type it is not tested. The parameters are the topic's ``canFilterBy`` entries, each
evaluated with its FHIRPath on the focus resource (the new version; the last one for a delete).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from senhealth.fhir import fhirpath
from senhealth.fhir.store.hooks import Write
from senhealth.fhir.subscriptions.topic import FilterParameter, SubscriptionTopic

__all__ = ["Filter", "FilterError", "matches", "parse_filters"]

_NAME = re.compile(r"^(?:([A-Z][A-Za-z]+)\.)?([A-Za-z][A-Za-z0-9_\-]*)(?::([a-z\-]+))?$")
_REF_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class FilterError(ValueError):
    """A filter criteria value that does not fit its topic; ``index`` is the extension's position."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter: the parameter (of ``resource`` when qualified), an optional modifier, ORed values."""

    resource: str | None
    name: str
    modifier: str | None
    values: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "name": self.name,
            "modifier": self.modifier,
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filter:
        return cls(
            data.get("resource"), str(data["name"]), data.get("modifier"), tuple(data.get("values") or ())
        )


def parse_filters(texts: Sequence[str], topic: SubscriptionTopic) -> list[Filter]:
    """The filters of ``texts`` (the criteria extensions' values, in order); :class:`FilterError` names the
    first that is malformed or not offered by ``topic``."""
    out: list[Filter] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise FilterError(index, "a filter criteria value must be a non-empty string")
        body = text.strip()
        prefix: str | None = None
        if "?" in body:
            prefix, body = body.split("?", 1)
            if prefix not in topic.resource_types:
                raise FilterError(index, f"{prefix!r} is not a resource type of the topic {topic.url}")
        for part in body.split("&"):
            out.append(_one(index, part, prefix, topic))
    return out


def _one(index: int, part: str, prefix: str | None, topic: SubscriptionTopic) -> Filter:
    if "=" not in part:
        raise FilterError(index, f"{part[:60]!r} is not of the form name=value")
    left, raw = part.split("=", 1)
    m = _NAME.match(left.strip())
    if m is None:
        raise FilterError(index, f"{left[:60]!r} is not a filter parameter name")
    resource, name, modifier = m.group(1) or prefix, m.group(2), m.group(3)
    if resource is not None and resource not in topic.resource_types:
        raise FilterError(index, f"{resource!r} is not a resource type of the topic {topic.url}")
    offered = topic.filter_parameters(name, resource)
    if not offered:
        names = sorted({f.name for f in topic.filters})
        raise FilterError(
            index, f"the topic {topic.url} offers no filter {name!r}; it offers: {', '.join(names) or 'none'}"
        )
    if modifier is not None and any(modifier not in f.modifiers for f in offered):
        raise FilterError(index, f"the modifier :{modifier} is not supported for {name!r}")
    values = tuple(unquote(v.strip()) for v in raw.split(",") if v.strip())
    if not values:
        raise FilterError(index, f"the filter {name!r} has no value")
    return Filter(resource, name, modifier, values)


def matches(filters: Sequence[Filter], topic: SubscriptionTopic, write: Write) -> bool:
    """Whether the focus of ``write`` passes every filter that applies to its type."""
    focus = write.content if write.content is not None else write.previous
    if focus is None:
        return not filters
    for f in filters:
        if f.resource is not None and f.resource != write.res_type:
            continue
        params = topic.filter_parameters(f.name, write.res_type)
        if not params:
            continue
        found = any(_param_matches(p, f.values, focus) for p in params)
        if found == (f.modifier == "not"):
            return False
    return True


def _param_matches(param: FilterParameter, values: tuple[str, ...], focus: dict[str, Any]) -> bool:
    items = fhirpath.compile(param.path)(focus)
    if param.kind == "reference":
        refs = [r for r in (_reference(i) for i in items) if r is not None]
        return any(_ref_matches(ref, v) for ref in refs for v in values)
    codes = [c for i in items for c in _codings(i)]
    return any(_token_matches(c, v) for c in codes for v in values)


def _reference(item: Any) -> tuple[str | None, str] | None:
    text = item.get("reference") if isinstance(item, dict) else item if isinstance(item, str) else None
    if not isinstance(text, str):
        return None
    m = _REF_TAIL.search(text)
    if m is not None:
        return m.group(1), m.group(2)
    return None, text


def _ref_matches(ref: tuple[str | None, str], value: str) -> bool:
    m = _REF_TAIL.search(value)
    if m is not None:
        return ref == (m.group(1), m.group(2))
    return ref[1] == value


def _codings(item: Any) -> list[tuple[str | None, str | None]]:
    if isinstance(item, str):
        return [(None, item)]
    if not isinstance(item, dict):
        return []
    if "coding" in item:
        return [c for x in item.get("coding") or [] for c in _codings(x)]
    if "code" in item or "system" in item:
        code, system = item.get("code"), item.get("system")
        return [(system if isinstance(system, str) else None, code if isinstance(code, str) else None)]
    return []


def _token_matches(coding: tuple[str | None, str | None], value: str) -> bool:
    system, code = coding
    if "|" not in value:
        return code == value
    want_system, want_code = value.split("|", 1)
    if not want_system:
        return system is None and code == want_code
    if not want_code:
        return system == want_system
    return system == want_system and code == want_code
