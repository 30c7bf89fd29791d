"""FHIR operations (``$validate``, ``$meta``, ``$everything``, ...) and the registry domains add theirs to.

Spec: https://hl7.org/fhir/R4/operations.html and https://hl7.org/fhir/R4/operationslist.html

- :mod:`.registry`: :class:`Operation`, :func:`register`, :func:`find_operation`, :class:`OperationCall`;
- :mod:`.parameters`: the ``Parameters`` resource in and out;
- one module per operation: :mod:`.validate` (``$validate``), :mod:`.meta` (``$meta``, ``$meta-add``,
  ``$meta-delete``), :mod:`.patient_everything` (``Patient/$everything``).

:func:`register_core_operations` registers the core's own (idempotent); the REST API calls it when
the app is created, and a domain calls :func:`register` for its own at start-up.
"""

from __future__ import annotations

from senhealth.fhir.operations.registry import (
    LEVELS,
    Level,
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    all_operations,
    find_operation,
    get_operation,
    register,
    unregister,
)

__all__ = [
    "LEVELS",
    "Level",
    "Operation",
    "OperationCall",
    "OperationError",
    "OperationResult",
    "all_operations",
    "core_operations",
    "find_operation",
    "get_operation",
    "register",
    "register_core_operations",
    "unregister",
]


def core_operations() -> tuple[Operation, ...]:
    """The operations the FHIR core implements itself."""
    from senhealth.fhir.operations.meta import META, META_ADD, META_DELETE
    from senhealth.fhir.operations.patient_everything import EVERYTHING
    from senhealth.fhir.operations.validate import VALIDATE

    return (VALIDATE, META, META_ADD, META_DELETE, EVERYTHING)


def register_core_operations() -> None:
    """Register :func:`core_operations` (again: idempotent)."""
    for op in core_operations():
        register(op, replace=True)
