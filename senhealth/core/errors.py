"""Errors shared by every layer, each able to describe itself as a FHIR OperationOutcome.

Spec: https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

from typing import Any

__all__ = ["SenHealthError", "operation_outcome"]


def operation_outcome(
    severity: str, code: str, message: str, expression: str | None = None
) -> dict[str, Any]:
    """A one-issue OperationOutcome (``expression`` is the FHIRPath location of the fault)."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
        issue["location"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class SenHealthError(Exception):
    """Base of the platform's own errors: carries an IssueType code and an optional FHIR path."""

    code = "exception"

    def __init__(self, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        return operation_outcome("error", self.code, self.message, self.expression)
