"""Errors of the FHIR store, each with its IssueType code and the HTTP status the REST layer answers.

Spec: https://hl7.org/fhir/R4/http.html#read (404 / 410), https://hl7.org/fhir/R4/http.html#update
(400, 409, 412, 422), https://hl7.org/fhir/R4/http.html#concurrency (If-Match, 412) and the IssueType
value set https://hl7.org/fhir/R4/valueset-issue-type.html.
"""

from __future__ import annotations

from typing import Any

from senhealth.core.errors import SenHealthError

__all__ = [
    "Conflict",
    "Gone",
    "InvalidCursor",
    "InvalidResource",
    "NotFound",
    "StoreError",
    "VersionConflict",
]


class StoreError(SenHealthError):
    """Base of the store's errors; ``status`` is the HTTP status code to answer with."""

    status = 500


class NotFound(StoreError):
    """No such resource (or version): 404."""

    code = "not-found"
    status = 404


class Gone(StoreError):
    """The resource is deleted: 410. ``stored`` is the delete (a :class:`~senhealth.fhir.store.Stored`
    with ``deleted=True``: its version and time give the ETag and Last-Modified of the answer)."""

    code = "deleted"
    status = 410

    def __init__(self, message: str, stored: Any, expression: str | None = None) -> None:
        super().__init__(message, expression)
        self.stored = stored


class VersionConflict(StoreError):
    """``If-Match`` named another version than the current one: 412 Precondition Failed."""

    code = "conflict"
    status = 412

    def __init__(self, message: str, current: int | None = None) -> None:
        super().__init__(message)
        self.current = current  # the current version (None: the resource does not exist)


class Conflict(StoreError):
    """The write clashes with what is stored (a create with an id already taken): 409."""

    code = "duplicate"
    status = 409


class InvalidResource(StoreError):
    """The resource fails validation (or the store's own rules): 400; nothing was written.

    ``operation_outcome`` is the validator's OperationOutcome (all its issues, warnings included).
    """

    code = "invalid"
    status = 400

    def __init__(
        self,
        message: str,
        operation_outcome: dict[str, Any] | None = None,
        expression: str | None = None,
        *,
        status: int = 400,
    ) -> None:
        super().__init__(message, expression)
        self.operation_outcome = operation_outcome
        self.status = status

    def outcome(self) -> dict[str, Any]:
        if self.operation_outcome is not None:
            return self.operation_outcome
        return super().outcome()


class InvalidCursor(StoreError):
    """A paging cursor this store did not issue (or from another query): 400."""

    code = "invalid"
    status = 400
