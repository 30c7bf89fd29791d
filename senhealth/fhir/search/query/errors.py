"""The error a search raises for a request it cannot answer, as an OperationOutcome.

Spec: https://hl7.org/fhir/R4/search.html#errors ("If the server cannot process a parameter ... it
SHALL return an error" under ``handling=strict``) and https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

from typing import Any

from senhealth.core.errors import SenHealthError

__all__ = ["SearchError", "warning_issue"]


class SearchError(SenHealthError):
    """A search request that is invalid (HTTP 400) or asks for something not supported.

    ``expression`` names the offending query parameter (``code:text``, ``_count``) and ``code`` is the
    OperationOutcome issue type: ``invalid`` for malformed input, ``not-supported`` for a feature the
    server does not implement (both are answered with HTTP 400).
    """

    code = "invalid"

    def __init__(self, message: str, expression: str | None = None, *, code: str = "invalid") -> None:
        super().__init__(message, expression)
        self.code = code


def warning_issue(message: str, expression: str | None = None, code: str = "not-supported") -> dict[str, Any]:
    """An OperationOutcome issue of severity ``warning`` (lenient handling: a parameter was ignored)."""
    issue: dict[str, Any] = {"severity": "warning", "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return issue
