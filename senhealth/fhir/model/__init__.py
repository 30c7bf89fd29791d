"""The FHIR R4 (4.0.1) model: types, elements, cardinalities, choice types, bindings, constraints.

Spec: https://hl7.org/fhir/R4/structuredefinition.html and https://hl7.org/fhir/R4/elementdefinition.html

The data is derived once from the official definitions by ``scripts/derive_fhir_model.py`` and shipped
as gzipped JSON in ``data/`` (HL7 FHIR specification content, CC0 public-domain dedication:
https://hl7.org/fhir/R4/license.html). Loading takes a few milliseconds and happens once per process
(:func:`get_model` is cached).

Vocabulary used across the FHIR core:

- a **type** is a primitive (``string``, ``date``), a complex type (``HumanName``) or a resource
  (``Patient``), including the abstract ones (``Element``, ``BackboneElement``, ``Resource``,
  ``DomainResource``);
- an **element path** is the StructureDefinition path (``Patient.contact.name``,
  ``Observation.value[x]``);
- a **type path** is what children are looked up under: a type name, or the path of a backbone element
  whose children are defined inline (``Patient.contact``), or the target of a ``contentReference``
  (``Questionnaire.item`` for ``Questionnaire.item.item``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import orjson

__all__ = [
    "Binding",
    "Constraint",
    "ElementInfo",
    "FhirModel",
    "TypeInfo",
    "get_model",
    "load_data",
]


@dataclass(frozen=True, slots=True)
class Constraint:
    """An invariant of an element (``ElementDefinition.constraint``)."""

    key: str
    severity: str  # "error" | "warning"
    expression: str
    human: str


@dataclass(frozen=True, slots=True)
class Binding:
    """A terminology binding (``ElementDefinition.binding``)."""

    strength: str  # required | extensible | preferred | example
    value_set: str


@dataclass(slots=True)
class ElementInfo:
    """One element of a type, as the snapshot of its StructureDefinition defines it."""

    path: str
    name: str
    min: int
    max: int | None  # None: unbounded ("*")
    types: tuple[str, ...]
    choice: bool
    type_path: str | None  # where its children are defined; None for primitives and choices
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    targets: tuple[str, ...] = ()  # Reference / canonical target types
    summary: bool = False
    modifier: bool = False
    fixed: tuple[str, Any] | None = None  # ("fixedUri", value)
    pattern: tuple[str, Any] | None = None
    content_reference: str | None = None

    @property
    def is_array(self) -> bool:
        return self.max is None or self.max > 1

    def json_names(self) -> Iterator[tuple[str, str]]:
        """Yield (JSON property name, type) for each way the element appears in JSON."""
        if self.choice:
            for t in self.types:
                yield self.name + t[0].upper() + t[1:], t
        else:
            yield self.name, self.types[0] if self.types else "BackboneElement"


@dataclass(slots=True)
class TypeInfo:
    """A FHIR type: primitive, complex type or resource."""

    name: str
    kind: str  # primitive-type | complex-type | resource | logical
    base: str | None
    abstract: bool
    url: str
    derivation: str
    root: ElementInfo
    elements: dict[str, ElementInfo] = field(default_factory=dict)  # direct children by name

    @property
    def is_resource(self) -> bool:
        return self.kind == "resource"

    @property
    def is_primitive(self) -> bool:
        return self.kind == "primitive-type"


class FhirModel:
    """All R4 types, indexed for navigation by name and by path."""

    def __init__(self, structures: dict[str, Any]) -> None:
        self.fhir_version: str = structures["fhirVersion"]
        self.regex: dict[str, str] = structures["regex"]
        self.json_kind: dict[str, str] = structures["json"]
        constraints = [Constraint(*row) for row in structures["constraints"]]
        self.types: dict[str, TypeInfo] = {}
        # children by type path: {"Patient": {...}, "Patient.contact": {...}, "HumanName": {...}}
        self._children: dict[str, dict[str, ElementInfo]] = {}
        self._by_path: dict[str, ElementInfo] = {}
        for name, t in structures["types"].items():
            rows = t["e"]
            inline = {r["p"].rsplit(".", 1)[0] for r in rows if "." in r["p"]}
            infos = [self._element(r, constraints, inline) for r in rows]
            for info in infos[1:]:
                parent = info.path.rsplit(".", 1)[0]
                self._children.setdefault(parent, {})[info.name] = info
                self._by_path[info.path] = info
            self.types[name] = TypeInfo(
                name=name,
                kind=t["k"],
                base=t["b"],
                abstract=t["a"],
                url=t["u"],
                derivation=t["d"],
                root=infos[0],
                elements=self._children.setdefault(name, {}),
            )
        # contentReference: the element takes the children and types of its target
        for info in self._by_path.values():
            if info.content_reference:
                target = self._by_path[info.content_reference]
                info.types = target.types
                info.type_path = target.type_path
        self._subtype_cache: dict[tuple[str, str], bool] = {}

    @staticmethod
    def _element(row: dict[str, Any], constraints: list[Constraint], inline: set[str]) -> ElementInfo:
        path: str = row["p"]
        last = path.rsplit(".", 1)[-1]
        choice = last.endswith("[x]")
        name = last[:-3] if choice else last
        types = tuple(row.get("t", ()))
        max_raw = row.get("max", "*")
        if path in inline:
            type_path: str | None = path
        elif not choice and len(types) == 1:
            type_path = types[0]
        else:
            type_path = None
        b = row.get("b")
        return ElementInfo(
            path=path,
            name=name,
            min=row.get("min", 0),
            max=None if max_raw == "*" else int(max_raw),
            types=types,
            choice=choice,
            type_path=type_path,
            binding=Binding(b[0], b[1]) if b else None,
            constraints=tuple(constraints[i] for i in row.get("k", ())),
            targets=tuple(row.get("tg", ())),
            summary=bool(row.get("s")),
            modifier=bool(row.get("m")),
            fixed=tuple(row["fx"]) if "fx" in row else None,
            pattern=tuple(row["px"]) if "px" in row else None,
            content_reference=row.get("r"),
        )

    # -- lookups -----------------------------------------------------------------------------------

    def type_info(self, name: str) -> TypeInfo | None:
        return self.types.get(name)

    def is_primitive(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.kind == "primitive-type"

    def is_resource(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.kind == "resource"

    def resource_types(self) -> list[str]:
        """Names of the concrete resource types (Patient, Observation, ...)."""
        return sorted(n for n, t in self.types.items() if t.kind == "resource" and not t.abstract)

    def children(self, type_path: str) -> dict[str, ElementInfo]:
        """Direct children of a type name or backbone path, by element name (without ``[x]``)."""
        return self._children.get(type_path, {})

    def child(self, parent: str, name: str) -> ElementInfo | None:
        """The element ``name`` (JSON name without ``[x]``) under a type name or backbone path."""
        kids = self._children.get(parent)
        return kids.get(name) if kids else None

    def element(self, path: str) -> ElementInfo | None:
        """The element at a StructureDefinition path (``Observation.value[x]`` or ``Observation.value``)."""
        e = self._by_path.get(path)
        if e is None and not path.endswith("[x]"):
            e = self._by_path.get(path + "[x]")
        return e

    def is_subtype(self, sub: str, sup: str) -> bool:
        """True when ``sub`` is ``sup`` or derives from it through ``baseDefinition``."""
        key = (sub, sup)
        hit = self._subtype_cache.get(key)
        if hit is not None:
            return hit
        name: str | None = sub
        result = False
        while name is not None:
            if name == sup:
                result = True
                break
            t = self.types.get(name)
            name = t.base if t else None
        self._subtype_cache[key] = result
        return result


@cache
def load_data(name: str) -> dict[str, Any]:
    """Load one of the gzipped JSON files shipped in ``senhealth/fhir/model/data``."""
    raw = resources.files(__package__).joinpath("data", name).read_bytes()
    data: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return data


@cache
def get_model() -> FhirModel:
    """The FHIR R4 model, loaded once per process."""
    return FhirModel(load_data("r4-structures.json.gz"))
