"""Base of the FHIRPath-only values (Date, DateTime, Time, Quantity): small immutable objects.

Spec: http://hl7.org/fhirpath/N1/ section 2.1 (literals): each value's ``str()`` is its FHIRPath
literal. They are deliberately not dataclasses: JSON encoders such as orjson serialise dataclasses as
objects, whereas these should be written as their literal (``str()``) like any unknown value.
Treat them as immutable; :meth:`ValueObject.replace` makes a changed copy.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class ValueObject:
    """Equality, hashing, ``repr`` and ``replace`` from the fields named in ``_fields`` (in order)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._fields)

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, *self.fields()))

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({args})"

    def replace(self, **changes: Any) -> Self:
        values = {n: getattr(self, n) for n in self._fields}
        values.update(changes)
        return type(self)(**values)
