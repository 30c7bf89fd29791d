"""The state of one evaluation: focus variables, environment variables, services.

Spec: http://hl7.org/fhirpath/N1/ section 7 "Environment variables" (``%context``, ``%resource``,
``%rootResource``, ``%ucum``, ``%sct``, ``%loinc``, ``%`vs-*```, ``%`ext-*```; caller-supplied
variables) and section 5 (``$this``, ``$index``, ``$total`` inside functions that iterate).

One :class:`Context` is made per call of a compiled expression; closures change ``this``/``index``/
``total`` while they iterate and restore them afterwards, so nothing is allocated per item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .errors import FHIRPathEvaluationError
from .hooks import Hooks
from .temporal import FPDate, FPDateTime, FPTime
from .temporal import now as _now
from .temporal import time_of_day as _time_of_day
from .temporal import today as _today
from .values import Collection, Node, wrap

FIXED_VARIABLES: Final = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


class Context:
    __slots__ = (
        "_clock",
        "_resource",
        "_root",
        "context",
        "hooks",
        "index",
        "this",
        "total",
        "vars",
    )

    def __init__(
        self,
        context: Collection,
        variables: dict[str, Collection],
        resource: Any,
        root_resource: Any,
        hooks: Hooks,
    ) -> None:
        self.context = context  # %context: the input collection
        self.this = context  # $this as a collection (the current scope's focus)
        self.index: int | None = None
        self.total: Collection | None = None
        self.vars = variables
        self._resource = resource  # the caller's value, wrapped when first used
        self._root = root_resource
        self.hooks = hooks
        self._clock: tuple[FPDateTime, FPDate, FPTime] | None = None

    @property
    def resource(self) -> Collection:
        """%resource: the caller's ``resource``, or the input."""
        r = self._resource
        if r is None:
            return self.context
        if r.__class__ is not list or (r and r[0].__class__ is not Node):
            r = self._resource = wrap(r)
        return r

    @property
    def root_resource(self) -> Collection:
        """%rootResource: the caller's ``root_resource``, or %resource."""
        r = self._root
        if r is None:
            return self.resource
        if r.__class__ is not list or (r and r[0].__class__ is not Node):
            r = self._root = wrap(r)
        return r

    def clock(self) -> tuple[FPDateTime, FPDate, FPTime]:
        """now(), today(), timeOfDay(): the same values for the whole evaluation."""
        if self._clock is None:
            self._clock = (_now(), _today(), _time_of_day())
        return self._clock

    def variable(self, name: str) -> Collection:
        v = self.vars.get(name)
        if v is not None:
            return v
        if name == "context":
            return self.context
        if name == "resource":
            return self.resource
        if name == "rootResource":
            return self.root_resource
        fixed = FIXED_VARIABLES.get(name)
        if fixed is not None:
            return [fixed]
        if name.startswith("vs-"):
            return ["http://hl7.org/fhir/ValueSet/" + name[3:]]
        if name.startswith("ext-"):
            return ["http://hl7.org/fhir/StructureDefinition/" + name[4:]]
        raise FHIRPathEvaluationError(f"unknown variable %{name}")


Fn = Callable[[Context, Collection], Collection]
"""A compiled expression: ``fn(ctx, focus) -> collection``."""
