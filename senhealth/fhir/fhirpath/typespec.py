"""Type specifiers: the ``T`` of ``is T``, ``as T``, ``ofType(T)``, and the ``type()`` reflection.

Spec: http://hl7.org/fhirpath/N1/ section 6.3 "Types" (``is``, ``as``), 5.2 ``ofType()``, and 10
"Types and Reflection": a type name is ``namespace.name``; the namespaces are ``System`` (Boolean,
String, Integer, Decimal, Date, DateTime, Time, Quantity) and ``FHIR`` (the R4 types); an unqualified
name is looked up in the model first, then in ``System``.

Subtyping follows the StructureDefinition ``baseDefinition`` chain (``code`` is a ``string``, ``Age`` is a
``Quantity``, ``Patient`` is a ``DomainResource``). ``is`` accepts subtypes. ``as`` and ``ofType`` match a
primitive type exactly (the official suite: ``Patient.gender.as(string)`` is empty, ``gender`` being a
``code``) and accept subtypes of complex types and resources (``ofType(Resource)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import FHIRPathEvaluationError, FHIRPathSemanticError
from .typemodel import SYSTEM_TYPES, get_type_model
from .values import Node, type_of


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    fhir: bool  # may match a FHIR type of this name
    system: bool  # may match the System type of this name

    def __str__(self) -> str:
        if self.fhir and not self.system:
            return f"FHIR.{self.name}"
        if self.system and not self.fhir:
            return f"System.{self.name}"
        return self.name

    def matches(self, item: Any, exact: bool = False) -> bool:
        ns, name = type_of(item)
        if ns == "System":
            return self.system and name == self.name
        if not self.fhir:
            return False
        if name == self.name:
            return True
        tm = get_type_model()
        if exact and (tm.is_primitive(name) or tm.is_primitive(self.name)):
            return False
        if item.__class__ is Node and item.type == "BackboneElement":
            return self.name in ("BackboneElement", "Element", "Base")
        return tm.is_subtype(name, self.name)


def resolve_type(qualified: str, pos: int | None = None, lenient: bool = False) -> TypeSpec:
    """Resolve a written type name; raises :class:`FHIRPathSemanticError` when it names nothing.

    ``lenient`` (used for ``is``): an unknown name gives a type nothing matches instead of an error, so
    that invariants naming types of later FHIR versions (``$this is Citation``) still compile.
    """
    tm = get_type_model()
    ns, _, name = qualified.rpartition(".")
    if ns == "FHIR":
        if not tm.has_type(name) and tm.model is not None and not lenient:
            raise FHIRPathSemanticError(f"unknown FHIR type {name!r}", pos)
        return TypeSpec(name, fhir=True, system=False)
    if ns == "System":
        return TypeSpec(name, fhir=False, system=name in SYSTEM_TYPES)
    if ns:
        raise FHIRPathSemanticError(f"unknown type namespace {ns!r}", pos)
    fhir = tm.has_type(name)
    system = name in SYSTEM_TYPES
    if not fhir and not system:
        if lenient or tm.model is None:
            return TypeSpec(name, fhir=True, system=False)
        raise FHIRPathSemanticError(f"unknown type {name!r}", pos)
    return TypeSpec(name, fhir=fhir, system=system)


def is_type(c: list[Any], spec: TypeSpec) -> list[Any]:
    """``c is T`` (one item; several are an error)."""
    if not c:
        return []
    if len(c) > 1:
        raise FHIRPathEvaluationError("'is' needs a single item")
    return [spec.matches(c[0])]
