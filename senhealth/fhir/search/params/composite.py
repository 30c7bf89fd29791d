"""Composite index values: every combination of the component values found on one base element.

Spec: https://hl7.org/fhir/R4/search.html#composite

A composite parameter (``Observation``'s ``code-value-quantity``: base ``Observation``, components
``code`` and ``value.ofType(Quantity)``) evaluates each component's expression on the *same* base element
(the resource, or each ``Observation.component``), so that a code is only ever paired with its own value.
The index holds the cartesian product of the component values per base element, each part normalised as
its component parameter's type (token, quantity, date, ...). A base element missing any component
contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from senhealth.fhir.search.params import IndexValue

__all__ = ["CompositeValue"]


@dataclass(frozen=True, slots=True)
class CompositeValue:
    parts: tuple[IndexValue, ...]  # one value per component, in the parameter's component order
