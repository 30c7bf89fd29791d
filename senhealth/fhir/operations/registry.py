"""The operation registry: which ``$operations`` this server answers, at which levels, for which types.

Spec: https://hl7.org/fhir/R4/operations.html (invoking an operation: ``POST [base]/$op``,
``[base]/[type]/$op``, ``[base]/[type]/[id]/$op`` with a ``Parameters`` body, or ``GET`` with
primitive parameters in the query when the operation does not change state) and
https://hl7.org/fhir/R4/operationslist.html (the operations the specification defines).

The FHIR core registers its own operations (``$validate``, ``$meta``, ``$meta-add``, ``$meta-delete``,
``Patient/$everything``: :func:`register_core_operations`); each domain registers its own at start-up
(``$match`` from the MPI, ``$sign`` from the EMR, ...) through :func:`register`. The REST API routes
``$name`` to the registered handler and the CapabilityStatement lists what is registered.

A handler is ``async def handler(call: OperationCall) -> OperationResult``. :class:`OperationCall`
carries the level, the resource type and id, the input parameters (from a ``Parameters`` body, a
resource posted as the body, or the query string), the store and the server's base URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from senhealth.core.errors import SenHealthError

if TYPE_CHECKING:
    from senhealth.fhir.access import Principal, Restriction
    from senhealth.fhir.store import FhirStore

__all__ = [
    "LEVELS",
    "Level",
    "Operation",
    "OperationCall",
    "OperationError",
    "OperationResult",
    "all_operations",
    "find_operation",
    "get_operation",
    "register",
    "unregister",
]

Level = Literal["system", "type", "instance"]
LEVELS: Final[tuple[Level, ...]] = ("system", "type", "instance")


class OperationError(SenHealthError):
    """An operation refused: answered with ``status`` and an OperationOutcome."""

    def __init__(
        self, status: int, message: str, code: str = "invalid", expression: str | None = None
    ) -> None:
        super().__init__(message, expression)
        self.status = status
        self.code = code


@dataclass(slots=True)
class OperationCall:
    """One invocation of an operation."""

    name: str
    level: Level
    resource_type: str | None
    resource_id: str | None
    params: dict[str, list[Any]]  # parameter name -> values (value[x], resource, or query text)
    store: FhirStore
    base_url: str = ""
    body: dict[str, Any] | None = None  # the request body as posted (Parameters or a resource)
    query: Mapping[str, list[str]] = field(default_factory=dict)  # the query string, every parameter
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)  # request headers, lower-case names
    # the access policy's answer for this caller (None: unrestricted) and who is calling (None: anonymous
    # or the open policy); operations that read patient data apply ``restriction`` themselves
    restriction: Restriction | None = None
    principal: Principal | None = None
    # the body as sent, when its media type is one of the operation's ``raw_body_types`` (an XML file, a
    # PDF...): then ``body`` is None and ``params`` holds only the query's parameters
    raw_body: bytes | None = None
    content_type: str | None = None

    def first(self, name: str) -> Any:
        """The first value of parameter ``name``, or ``None``."""
        values = self.params.get(name)
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        """Parameter ``name`` as a string (400 when given as something else)."""
        value = self.first(name)
        if value is None or isinstance(value, str):
            return value
        raise OperationError(400, f"Parameter {name!r} must be a string / code / uri")

    def integer(self, name: str) -> int | None:
        """Parameter ``name`` as a non-negative integer (400 when it is not one)."""
        value = self.first(name)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise OperationError(400, f"Parameter {name!r} must be a non-negative integer")


@dataclass(slots=True)
class OperationResult:
    """What an operation answers: a resource (Parameters, OperationOutcome, Bundle...) and a status."""

    resource: dict[str, Any] | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # a non-FHIR answer (a signed XML file, a PDF): sent as is with ``media_type`` when set
    content: bytes | None = None
    media_type: str | None = None


Handler = Callable[[OperationCall], Awaitable[OperationResult]]


@dataclass(frozen=True, slots=True)
class Operation:
    """A registered operation.

    ``resource_types`` limits the type and instance levels to those types (``None``: any type);
    ``affects_state`` forbids GET (https://hl7.org/fhir/R4/operations.html#request);
    ``definition`` is the canonical URL of its OperationDefinition, listed in the CapabilityStatement;
    ``raw_body_types``: media types (``application/xml``...) whose bodies reach the handler unparsed, as
    ``OperationCall.raw_body``; ``authorizes_writes``: the handler decides itself who may make the change
    it makes (``$sign``: a patient signs their own document as patient without the right to update it), so
    the API checks only that the caller may call operations and see the target, not that it may update it.
    """

    name: str  # without the "$"
    handler: Handler
    levels: frozenset[Level]
    definition: str
    resource_types: frozenset[str] | None = None
    affects_state: bool = False
    documentation: str = ""
    raw_body_types: frozenset[str] = frozenset()
    authorizes_writes: bool = False

    def applies(self, level: Level, resource_type: str | None) -> bool:
        if level not in self.levels:
            return False
        if level == "system" or self.resource_types is None:
            return True
        return resource_type in self.resource_types


_registry: dict[str, Operation] = {}


def register(operation: Operation, *, replace: bool = False) -> Operation:
    """Add an operation; registering a name twice is an error unless ``replace``."""
    name = operation.name.lstrip("$")
    if name != operation.name:
        raise ValueError(f"register the operation as {name!r}, without the '$'")
    if name in _registry and not replace and _registry[name] is not operation:
        raise ValueError(f"the operation ${name} is already registered")
    _registry[name] = operation
    return operation


def unregister(name: str) -> None:
    """Remove an operation (tests; a domain switched off)."""
    _registry.pop(name.lstrip("$"), None)


def get_operation(name: str) -> Operation | None:
    """The operation registered as ``name`` (with or without ``$``)."""
    return _registry.get(name.lstrip("$"))


def find_operation(name: str, level: Level, resource_type: str | None) -> Operation:
    """The operation to run for ``$name`` at ``level`` on ``resource_type``; 404 when there is none."""
    op = get_operation(name)
    if op is None:
        raise OperationError(404, f"Unknown operation ${name.lstrip('$')}", "not-supported")
    if not op.applies(level, resource_type):
        where = f"{resource_type} " if resource_type and level != "system" else ""
        raise OperationError(
            404, f"The operation ${op.name} is not supported at the {where}{level} level", "not-supported"
        )
    return op


def all_operations() -> Iterator[Operation]:
    """Every registered operation, by name."""
    for name in sorted(_registry):
        yield _registry[name]
