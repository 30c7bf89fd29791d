"""How values are carried through an evaluation, and converted at the API boundary.

Spec: http://hl7.org/fhirpath/N1/ section 4 "Collections" (every expression yields an ordered
collection), section 2.1 and 10 (System types ``Boolean String Integer Decimal Date DateTime Time
Quantity``; FHIR types in the ``FHIR`` namespace) and https://hl7.org/fhir/R4/fhirpath.html (a FHIR
primitive has a System value and may carry ``id``/``extension``).

Inside the engine a collection is a Python ``list``. An item is either

- a :class:`Node`: an element of the input found by navigation, keeping its JSON value, its FHIR type
  from the model, the type path its children are looked up under, and where it sits in its parent (so
  that the ``_birthDate`` sibling of a primitive gives ``extension()`` and ``id``), or
- a System value: ``bool``, ``int``, ``Decimal``, ``str``, :class:`FPDate`, :class:`FPDateTime`,
  :class:`FPTime`, :class:`Quantity` (literals and the results of operators and functions).

:func:`system_value` turns a primitive node into its System value (``'1974-12-25'`` of type ``date``
becomes ``FPDate(1974, 12, 25)``) when an operator needs it; :func:`to_python` turns an item back into
the FHIR JSON value at the API boundary.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

from .quantity import Quantity
from .temporal import FPDate, FPDateTime, FPTime
from .typemodel import FHIR_TO_SYSTEM

Collection = list[Any]


class Node:
    """An element of the input: JSON value, FHIR type, type path, and place in its parent."""

    __slots__ = ("index", "key", "parent", "path", "type", "value")

    def __init__(
        self,
        value: Any,
        type_: str | None,
        path: str | None,
        parent: dict[str, Any] | None = None,
        key: str | None = None,
        index: int = -1,
    ) -> None:
        self.value = value
        self.type = type_  # FHIR type code, None when unknown
        self.path = path  # type path for child lookup, None when unknown
        self.parent = parent
        self.key = key
        self.index = index

    def primitive_element(self) -> dict[str, Any] | None:
        """The ``_name`` JSON object holding this primitive's ``id`` and ``extension``."""
        parent = self.parent
        if parent is None or self.key is None:
            return None
        ext = parent.get("_" + self.key)
        if self.index >= 0:
            if ext.__class__ is list and self.index < len(ext):
                e = ext[self.index]
                return e if e.__class__ is dict else None
            return None
        return ext if ext.__class__ is dict else None

    def __repr__(self) -> str:
        return f"Node({self.value!r}, {self.type!r})"


def _to_decimal(v: Any) -> Any:
    if v.__class__ is float:
        return Decimal(str(v))
    if v.__class__ is int:
        return Decimal(v)
    if v.__class__ is str:
        try:
            return Decimal(v)
        except InvalidOperation:
            return v
    return v


def _identity(v: Any) -> Any:
    return v


_parse_date = lru_cache(maxsize=4096)(FPDate.parse)
_parse_datetime = lru_cache(maxsize=4096)(FPDateTime.parse)
_parse_time = lru_cache(maxsize=4096)(FPTime.parse)


def _to_date(v: Any) -> Any:
    if v.__class__ is str:
        d = _parse_date(v)
        return v if d is None else d
    return v


def _to_datetime(v: Any) -> Any:
    if v.__class__ is str:
        d = _parse_datetime(v)
        return v if d is None else d
    return v


def _to_time(v: Any) -> Any:
    if v.__class__ is str:
        d = _parse_time(v)
        return v if d is None else d
    return v


_CONVERTERS: Final = {
    "decimal": _to_decimal,
    "date": _to_date,
    "dateTime": _to_datetime,
    "instant": _to_datetime,
    "time": _to_time,
}
for _t in FHIR_TO_SYSTEM:
    _CONVERTERS.setdefault(_t, _identity)


def system_value(item: Any) -> Any:
    """The System value of an item: FHIR primitives are converted, complex nodes stay nodes.

    A primitive node without a value (only extensions) gives ``None``.
    """
    if item.__class__ is not Node:
        return item
    v = item.value
    if v is None:
        return None
    conv = _CONVERTERS.get(item.type) if item.type is not None else None
    if conv is not None:
        return conv(v)
    if v.__class__ is float:
        return Decimal(str(v))
    if v.__class__ is dict or v.__class__ is list:
        return item
    return v


def to_python(item: Any) -> Any:
    """The FHIR JSON value of an item for the API boundary (``None`` for a value-less primitive)."""
    if item.__class__ is Node:
        v = item.value
        if v.__class__ is float or (item.type == "decimal" and v.__class__ is int):
            return Decimal(str(v))
        return v
    return item


def wrap(value: Any, type_: str | None = None) -> Collection:
    """A caller's value (resource dict, JSON value, list of those) as an input collection.

    A dict with a ``resourceType`` is typed by it; ``type_`` types anything else (a type name, or a
    backbone path such as ``Patient.contact``).
    """
    if value.__class__ is dict:
        rt = value.get("resourceType")
        if rt.__class__ is str:
            return [Node(value, rt, rt)]
        if type_ is None:
            return [Node(value, None, None)]
        if "." in type_:
            return [Node(value, "BackboneElement", type_)]
        return [Node(value, type_, type_)]
    if value is None:
        return []
    if value.__class__ is list:
        out: Collection = []
        for v in value:
            out.extend(wrap(v, type_))
        return out
    if value.__class__ is Node:
        return [value]
    if type_ is not None and type_ in FHIR_TO_SYSTEM:
        return [Node(value, type_, type_)]
    if value.__class__ is float:
        return [Decimal(str(value))]
    return [value]


SYSTEM_NAMES: Final = {
    bool: "Boolean",
    int: "Integer",
    Decimal: "Decimal",
    str: "String",
    FPDate: "Date",
    FPDateTime: "DateTime",
    FPTime: "Time",
    Quantity: "Quantity",
    float: "Decimal",
}


def type_of(item: Any) -> tuple[str, str]:
    """(namespace, name) of an item: ``('FHIR', 'HumanName')``, ``('System', 'Integer')``."""
    if item.__class__ is Node:
        if item.type is not None:
            return ("FHIR", item.type)
        v = item.value
        if v.__class__ is dict:
            rt = v.get("resourceType")
            return ("FHIR", rt if rt.__class__ is str else "Element")
        return ("System", SYSTEM_NAMES.get(v.__class__, "Any"))
    return ("System", SYSTEM_NAMES.get(item.__class__, "Any"))
