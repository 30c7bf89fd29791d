"""The FHIR R4 model as FHIRPath navigation needs it: children by name and by JSON key, subtypes.

Spec: http://hl7.org/fhirpath/N1/ section 3 "Path selection" (a name selects the children of that name;
choice elements ``value[x]`` are selected by their name without a type suffix) and section 10 "Types
and Reflection" (``FHIR`` and ``System`` namespaces); the FHIR mapping of FHIRPath is in
https://hl7.org/fhir/R4/fhirpath.html.

Navigation tables are derived lazily from :mod:`senhealth.fhir.model` and cached per type path. When
the model is not importable every lookup answers "unknown" and navigation falls back to plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from senhealth.fhir.model import FhirModel

SYSTEM_TYPES: Final = frozenset(
    {"Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity", "Long"}
)
# FHIR primitive type -> the System type its value has.
FHIR_TO_SYSTEM: Final = {
    "boolean": "Boolean",
    "string": "String",
    "code": "String",
    "id": "String",
    "uri": "String",
    "url": "String",
    "canonical": "String",
    "oid": "String",
    "uuid": "String",
    "markdown": "String",
    "base64Binary": "String",
    "xhtml": "String",
    "integer": "Integer",
    "positiveInt": "Integer",
    "unsignedInt": "Integer",
    "integer64": "Long",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
}
STRING_TYPES: Final = frozenset(t for t, s in FHIR_TO_SYSTEM.items() if s == "String")
QUANTITY_TYPES: Final = frozenset(
    {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One way an element appears in JSON: ``valueQuantity`` is the ``value`` element as a Quantity."""

    key: str  # JSON property name
    name: str  # element name without [x]
    type: str  # FHIR type code ("BackboneElement" for inline backbone elements)
    path: str  # type path its own children are looked up under
    primitive: bool
    resource: bool  # an abstract resource slot (contained, entry.resource): the type is in resourceType


class TypeModel:
    """Cached navigation tables over the R4 model."""

    def __init__(self, model: FhirModel | None) -> None:
        self.model = model
        self._by_name: dict[tuple[str, str], tuple[ChildSpec, ...] | None] = {}
        self._by_key: dict[str, dict[str, ChildSpec]] = {}

    def known(self, type_path: str) -> bool:
        """Whether children of ``type_path`` are known (a type name or a backbone path)."""
        if self.model is None:
            return False
        return bool(self.model.children(type_path)) or self.model.type_info(type_path) is not None

    def has_type(self, name: str) -> bool:
        return self.model is not None and self.model.type_info(name) is not None

    def is_primitive(self, name: str) -> bool:
        return self.model is not None and self.model.is_primitive(name)

    def is_resource(self, name: str) -> bool:
        return self.model is not None and self.model.is_resource(name)

    def is_subtype(self, sub: str, sup: str) -> bool:
        if sub == sup:
            return True
        return self.model is not None and self.model.is_subtype(sub, sup)

    def is_abstract(self, name: str) -> bool:
        t = self.model.type_info(name) if self.model is not None else None
        return t is not None and t.abstract

    def base(self, name: str) -> str | None:
        t = self.model.type_info(name) if self.model is not None else None
        return t.base if t is not None else None

    def _spec(self, key: str, name: str, type_: str, path: str | None) -> ChildSpec:
        m = self.model
        assert m is not None
        t = m.type_info(type_)
        primitive = t is not None and t.kind == "primitive-type"
        resource = t is not None and t.kind == "resource" and t.abstract
        return ChildSpec(key, name, type_, path or type_, primitive, resource)

    def children_named(self, type_path: str, name: str) -> tuple[ChildSpec, ...] | None:
        """The JSON forms of child ``name``; ``None`` when the type has no such element."""
        k = (type_path, name)
        try:
            return self._by_name[k]
        except KeyError:
            pass
        result: tuple[ChildSpec, ...] | None = None
        if self.model is not None:
            e = self.model.child(type_path, name)
            if e is not None:
                if e.choice:
                    result = tuple(self._spec(key, e.name, t, None) for key, t in e.json_names())
                else:
                    t = e.types[0] if e.types else "BackboneElement"
                    result = (self._spec(e.name, e.name, t, e.type_path),)
        self._by_name[k] = result
        return result

    def children_by_key(self, type_path: str) -> dict[str, ChildSpec]:
        """Every JSON property a value of ``type_path`` may have, mapped to its spec."""
        hit = self._by_key.get(type_path)
        if hit is not None:
            return hit
        table: dict[str, ChildSpec] = {}
        if self.model is not None:
            for name in self.model.children(type_path):
                for spec in self.children_named(type_path, name) or ():
                    table[spec.key] = spec
        self._by_key[type_path] = table
        return table


@cache
def get_type_model() -> TypeModel:
    try:
        from senhealth.fhir.model import get_model
    except ImportError:  # pragma: no cover - the model ships with the package
        return TypeModel(None)
    return TypeModel(get_model())
