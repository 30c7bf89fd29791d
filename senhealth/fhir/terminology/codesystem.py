"""A code system held in memory: concepts, their hierarchy, properties and filters.

Spec: https://hl7.org/fhir/R4/codesystem.html (concepts, ``hierarchyMeaning``, properties, ``content``),
https://hl7.org/fhir/R4/valueset.html#compose (``ValueSet.compose.include.filter``) and
https://hl7.org/fhir/R4/valueset-filter-operator.html (the filter operators).

Every code system the terminology service answers is one :class:`CodeSystem`, whether packaged (ICD-10,
provinces, communes, ethnic groups, LOINC, the R4 code systems) or read from a CodeSystem resource
stored by a user (:func:`from_resource`). A concept has one display (in the code system's language), its
designations in other languages (``vi``, ``en``), its parents (a concept may have several: the R4 v3 code
systems are polyhierarchies) and its properties. Subsumption follows the parents: a concept subsumes its
descendants (``is-a``), whatever the code system calls the hierarchy.

:class:`CodeSystem` is enumerable; a grammar-based code system (UCUM) subclasses it, overrides
:meth:`CodeSystem.find` and says ``enumerable = False``: it can validate and look up any expression
but cannot list its codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = [
    "CodeSystem",
    "Concept",
    "FilterError",
    "PropertyDef",
    "from_resource",
]


class FilterError(ValueError):
    """A filter the code system cannot apply (unknown property, unsupported operator, bad value)."""


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """``CodeSystem.property``: a property concepts may carry."""

    code: str
    type: str  # code | Coding | string | integer | boolean | dateTime | decimal
    description: str = ""
    uri: str | None = None


@dataclass(slots=True)
class Concept:
    """One concept: its code, display, designations by language, parents and properties."""

    code: str
    display: str = ""
    parents: tuple[str, ...] = ()
    designations: dict[str, str] = field(default_factory=dict)  # language -> display
    definition: str | None = None
    abstract: bool = False
    inactive: bool = False
    properties: dict[str, Any] = field(default_factory=dict)  # code -> str | bool | int | list

    def display_in(self, language: str | None, default_language: str) -> str:
        """The display in ``language`` (its first two letters compared), else the default display."""
        if language:
            lang = language.split("-", 1)[0].lower()
            if lang == default_language:
                return self.display
            value = self.designations.get(lang)
            if value:
                return value
        return self.display


_HIERARCHY_PROPERTIES = frozenset({"concept", "code"})


@dataclass(eq=False)
class CodeSystem:
    """A code system in memory (see the module docstring)."""

    url: str
    version: str | None = None
    name: str = ""
    title: str = ""
    language: str = "en"
    content: str = "complete"
    case_sensitive: bool = True
    hierarchy_meaning: str | None = "is-a"
    publisher: str = ""
    description: str = ""
    copyright: str = ""
    resource_id: str | None = None  # the id a packaged code system answers to at the instance level
    valid_from: date | None = None
    valid_to: date | None = None
    value_set: str | None = None  # CodeSystem.valueSet: the value set of all its codes
    property_defs: tuple[PropertyDef, ...] = ()
    concepts: dict[str, Concept] = field(default_factory=dict)
    enumerable: bool = True
    source: str = "packaged"  # packaged | stored
    _children: dict[str, list[str]] | None = field(default=None, repr=False)
    _folded: dict[str, str] | None = field(default=None, repr=False)

    # --- concepts --------------------------------------------------------------------------------

    def find(self, code: str) -> Concept | None:
        """The concept with this code (case-insensitive when the code system says so), or None."""
        found = self.concepts.get(code)
        if found is not None or self.case_sensitive:
            return found
        if self._folded is None:
            self._folded = {c.lower(): c for c in self.concepts}
        key = self._folded.get(code.lower())
        return self.concepts.get(key) if key is not None else None

    def __len__(self) -> int:
        return len(self.concepts)

    def iter_concepts(self) -> Iterator[Concept]:
        """Every concept, in the code system's order (empty for a code system that is not enumerable)."""
        return iter(self.concepts.values())

    def display(self, code: str, language: str | None = None) -> str | None:
        concept = self.find(code)
        return concept.display_in(language, self.language) if concept is not None else None

    # --- hierarchy -------------------------------------------------------------------------------

    def children(self, code: str) -> list[str]:
        if self._children is None:
            kids: dict[str, list[str]] = {}
            for c in self.concepts.values():
                for p in c.parents:
                    kids.setdefault(p, []).append(c.code)
            self._children = kids
        return self._children.get(code, [])

    def descendants(self, code: str) -> list[str]:
        """The descendants of ``code`` (not ``code`` itself), depth first, each once."""
        out: list[str] = []
        seen = {code}
        stack = list(reversed(self.children(code)))
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            out.append(c)
            stack.extend(reversed(self.children(c)))
        return out

    def ancestors(self, code: str) -> list[str]:
        """The ancestors of ``code`` (not ``code`` itself), nearest first, each once."""
        out: list[str] = []
        seen = {code}
        concept = self.concepts.get(code)
        queue = list(concept.parents) if concept is not None else []
        while queue:
            c = queue.pop(0)
            if c in seen:
                continue
            seen.add(c)
            out.append(c)
            parent = self.concepts.get(c)
            if parent is not None:
                queue.extend(parent.parents)
        return out

    def subsumes(self, code_a: str, code_b: str) -> str:
        """``equivalent``, ``subsumes`` (A is an ancestor of B), ``subsumed-by`` or ``not-subsumed``."""
        a, b = self.find(code_a), self.find(code_b)
        if a is None or b is None:
            raise KeyError(code_a if a is None else code_b)
        if a.code == b.code:
            return "equivalent"
        if a.code in self.ancestors(b.code):
            return "subsumes"
        if b.code in self.ancestors(a.code):
            return "subsumed-by"
        return "not-subsumed"

    # --- filters ---------------------------------------------------------------------------------

    def property_value(self, concept: Concept, prop: str) -> Any:
        """A property of a concept as filters see it (``code``, ``display``, ``parent``, ``inactive``...)."""
        if prop in ("code", "concept"):
            return concept.code
        if prop == "display":
            return concept.display
        if prop == "parent":
            return list(concept.parents)
        if prop == "child":
            return self.children(concept.code)
        if prop in ("inactive", "notSelectable", "abstract") and prop not in concept.properties:
            return concept.inactive if prop == "inactive" else concept.abstract
        return concept.properties.get(prop)

    def known_property(self, prop: str) -> bool:
        if prop in ("code", "concept", "display", "parent", "child", "inactive", "notSelectable", "abstract"):
            return True
        return any(p.code == prop for p in self.property_defs) or any(
            prop in c.properties for c in self.concepts.values()
        )

    def filter(self, prop: str, op: str, value: str) -> Callable[[Concept], bool]:
        """A predicate over concepts for ``ValueSet.compose.include.filter`` (raises :class:`FilterError`)."""
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
            if prop not in _HIERARCHY_PROPERTIES:
                raise FilterError(f"the {op} filter applies to the property 'concept', not {prop!r}")
            root = self.find(value)
            if root is None:
                raise FilterError(f"{op} {value!r}: the code is not in {self.url}")
            if op == "generalizes":
                up = {root.code, *self.ancestors(root.code)}
                return lambda c: c.code in up
            below = set(self.descendants(root.code))
            if op == "descendent-of":
                return lambda c: c.code in below
            below.add(root.code)
            if op == "is-a":
                return lambda c: c.code in below
            return lambda c: c.code not in below
        if not self.known_property(prop):
            raise FilterError(f"the property {prop!r} is not defined by {self.url}")
        if op == "=":
            if prop in ("parent", "child"):
                return lambda c: value in self.property_value(c, prop)
            return lambda c: _matches(self.property_value(c, prop), lambda v: _text(v) == value)
        if op in ("in", "not-in"):
            wanted = {v.strip() for v in value.split(",") if v.strip()}

            def in_list(c: Concept) -> bool:
                return _matches(self.property_value(c, prop), lambda v: _text(v) in wanted)

            return in_list if op == "in" else (lambda c: not in_list(c))
        if op == "regex":
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise FilterError(f"regex {value!r}: {exc}") from None
            return lambda c: _matches(
                self.property_value(c, prop), lambda v: pattern.fullmatch(_text(v)) is not None
            )
        if op == "exists":
            if value not in ("true", "false"):
                raise FilterError("the exists filter takes true or false")
            want = value == "true"
            return lambda c: _present(self.property_value(c, prop)) == want
        raise FilterError(f"the filter operator {op!r} is not supported")

    def select(self, predicates: Iterable[Callable[[Concept], bool]]) -> list[Concept]:
        """The concepts that satisfy every predicate, in order."""
        preds = list(predicates)
        return [c for c in self.concepts.values() if all(p(c) for p in preds)]

    # --- editions --------------------------------------------------------------------------------

    def valid_on(self, when: date) -> bool:
        """Whether this version is in force on ``when`` (open ends count as always)."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_to is None or when <= self.valid_to

    # --- as a resource ---------------------------------------------------------------------------

    def to_resource(self, *, with_concepts: bool = False, version_note: str | None = None) -> dict[str, Any]:
        """The CodeSystem resource (without its concepts unless asked: ICD-10 has 12,137)."""
        out: dict[str, Any] = {"resourceType": "CodeSystem"}
        if self.resource_id:
            out["id"] = self.resource_id
        if self.valid_from is not None or self.valid_to is not None:
            period: dict[str, str] = {}
            if self.valid_from is not None:
                period["start"] = self.valid_from.isoformat()
            if self.valid_to is not None:
                period["end"] = self.valid_to.isoformat()
            out["extension"] = [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/resource-effectivePeriod",
                    "valuePeriod": period,
                }
            ]
        out["url"] = self.url
        if self.version or version_note:
            out["version"] = version_note or self.version
        if self.name:
            out["name"] = self.name
        if self.title:
            out["title"] = self.title
        out["status"] = "active"
        if self.publisher:
            out["publisher"] = self.publisher
        if self.description:
            out["description"] = self.description
        if self.copyright:
            out["copyright"] = self.copyright
        out["language"] = self.language
        out["caseSensitive"] = self.case_sensitive
        if self.value_set:
            out["valueSet"] = self.value_set
        if self.hierarchy_meaning:
            out["hierarchyMeaning"] = self.hierarchy_meaning
        out["content"] = self.content if self.enumerable else "not-present"
        if self.enumerable:
            out["count"] = len(self.concepts)
        if self.property_defs:
            out["property"] = [
                {
                    "code": p.code,
                    **({"uri": p.uri} if p.uri else {}),
                    "description": p.description,
                    "type": p.type,
                }
                for p in self.property_defs
            ]
        if with_concepts and self.enumerable:
            out["concept"] = [_concept_json(c) for c in self.concepts.values()]
        return out


def _concept_json(c: Concept) -> dict[str, Any]:
    out: dict[str, Any] = {"code": c.code}
    if c.display:
        out["display"] = c.display
    if c.definition:
        out["definition"] = c.definition
    if c.designations:
        out["designation"] = [{"language": lang, "value": v} for lang, v in c.designations.items()]
    props: list[dict[str, Any]] = [{"code": "parent", "valueCode": p} for p in c.parents]
    if c.abstract:
        props.append({"code": "notSelectable", "valueBoolean": True})
    if c.inactive:
        props.append({"code": "inactive", "valueBoolean": True})
    for key, value in c.properties.items():
        for v in value if isinstance(value, list) else [value]:
            props.append({"code": key, **_property_value(v)})
    if props:
        out["property"] = props
    return out


def _property_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"valueBoolean": v}
    if isinstance(v, int):
        return {"valueInteger": v}
    if isinstance(v, date):
        return {"valueDateTime": v.isoformat()}
    if isinstance(v, dict):
        return {"valueCoding": v}
    return {"valueCode": str(v)} if " " not in str(v) else {"valueString": str(v)}


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, dict):
        return str(v.get("code", ""))
    return str(v)


def _matches(value: Any, test: Callable[[Any], bool]) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(test(v) for v in value)
    return test(value)


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != ""


# --- a stored CodeSystem resource ------------------------------------------------------------------


def from_resource(resource: dict[str, Any]) -> CodeSystem:
    """A :class:`CodeSystem` from a CodeSystem resource (nested concepts, ``parent`` / ``child`` /
    ``subsumedBy`` properties, designations, ``notSelectable`` / ``inactive`` / ``status``)."""
    url = resource.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError("the CodeSystem has no url")
    concepts: dict[str, Concept] = {}
    lang = str(resource.get("language") or "en").split("-", 1)[0].lower()

    def walk(items: Any, parent: str | None) -> None:
        if not isinstance(items, list):
            return
        for raw in items:
            if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
                continue
            code = raw["code"]
            c = concepts.get(code)
            if c is None:
                c = Concept(code, str(raw.get("display") or ""), definition=raw.get("definition"))
                concepts[code] = c
            if parent is not None and parent not in c.parents:
                c.parents = (*c.parents, parent)
            for d in raw.get("designation") or ():
                if (
                    isinstance(d, dict)
                    and isinstance(d.get("language"), str)
                    and isinstance(d.get("value"), str)
                ):
                    c.designations.setdefault(d["language"].split("-", 1)[0].lower(), d["value"])
            for p in raw.get("property") or ():
                if not isinstance(p, dict) or not isinstance(p.get("code"), str):
                    continue
                pcode = p["code"]
                value = next((v for k, v in p.items() if k.startswith("value")), None)
                if pcode in ("parent", "subsumedBy") and isinstance(value, str):
                    if value not in c.parents:
                        c.parents = (*c.parents, value)
                elif pcode in ("notSelectable", "abstract") and value is True:
                    c.abstract = True
                elif (pcode == "inactive" and value is True) or (
                    pcode == "status" and value in ("retired", "deprecated", "inactive")
                ):
                    c.inactive = True
                if pcode != "parent" and value is not None:
                    existing = c.properties.get(pcode)
                    if existing is None:
                        c.properties[pcode] = value
                    else:
                        c.properties[pcode] = (
                            [*existing, value] if isinstance(existing, list) else [existing, value]
                        )
            walk(raw.get("concept"), code)

    walk(resource.get("concept"), None)
    for c in list(concepts.values()):
        kids = c.properties.get("child")
        for kid in kids if isinstance(kids, list) else [kids] if kids else []:
            if isinstance(kid, str) and kid in concepts and c.code not in concepts[kid].parents:
                concepts[kid].parents = (*concepts[kid].parents, c.code)
    defs = tuple(
        PropertyDef(p["code"], str(p.get("type", "string")), str(p.get("description", "")), p.get("uri"))
        for p in resource.get("property") or ()
        if isinstance(p, dict) and isinstance(p.get("code"), str)
    )
    return CodeSystem(
        url=url,
        version=resource.get("version") if isinstance(resource.get("version"), str) else None,
        name=str(resource.get("name") or ""),
        title=str(resource.get("title") or ""),
        language=lang,
        content=str(resource.get("content") or "complete"),
        case_sensitive=resource.get("caseSensitive") is not False,
        hierarchy_meaning=resource.get("hierarchyMeaning") or "is-a",
        publisher=str(resource.get("publisher") or ""),
        description=str(resource.get("description") or ""),
        resource_id=resource.get("id") if isinstance(resource.get("id"), str) else None,
        value_set=resource.get("valueSet") if isinstance(resource.get("valueSet"), str) else None,
        property_defs=defs,
        concepts=concepts,
        source="stored",
    )
