"""Validation issues and the OperationOutcome that reports them.

Spec: https://hl7.org/fhir/R4/operationoutcome.html (issue severity and type:
https://hl7.org/fhir/R4/valueset-issue-severity.html, https://hl7.org/fhir/R4/valueset-issue-type.html)
and https://hl7.org/fhir/R4/validation.html.

On the hot path an issue is a plain tuple ``(severity, code, expression, message)`` appended to a
list; the OperationOutcome dict is built once, at the end. ``expression`` is a FHIRPath-style location
with indexes on every repeating element (``Patient.name[0].given[1]``,
``Bundle.entry[3].resource.code.coding[0]``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "CODE_INVALID",
    "ERROR",
    "FATAL",
    "INFORMATION",
    "INVALID",
    "INVARIANT",
    "NOT_FOUND",
    "REQUIRED",
    "STRUCTURE",
    "TOO_MANY",
    "VALUE",
    "WARNING",
    "Issue",
    "is_valid",
    "to_operation_outcome",
]

# (severity, code, expression, message)
Issue = tuple[str, str, str, str]

# IssueSeverity
FATAL: Final = "fatal"
ERROR: Final = "error"
WARNING: Final = "warning"
INFORMATION: Final = "information"

# IssueType codes used by the validator
INVALID: Final = "invalid"  # generic content error (bad reference, unknown resource type)
STRUCTURE: Final = "structure"  # JSON shape: unknown element, array vs object, null, empty object
REQUIRED: Final = "required"  # a required element is missing
VALUE: Final = "value"  # a primitive value is malformed (format, range, JSON type)
INVARIANT: Final = "invariant"  # a FHIRPath constraint is violated
CODE_INVALID: Final = "code-invalid"  # a code is outside a bound value set
TOO_MANY: Final = "too-many"  # more repetitions than the maximum cardinality
NOT_FOUND: Final = "not-found"  # the requested profile is not registered

_BAD = frozenset((FATAL, ERROR))


def to_operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """Build the OperationOutcome for ``issues`` (one ``informational`` issue when there are none,
    because ``OperationOutcome.issue`` is 1..*)."""
    if not issues:
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": INFORMATION,
                    "code": "informational",
                    "diagnostics": "No issues detected during validation",
                    "details": {"text": "No issues detected during validation"},
                }
            ],
        }
    out: list[dict[str, Any]] = []
    seen: set[Issue] = set()
    for issue in issues:
        if issue in seen:  # the same fault reached twice (e.g. base checks run under two profiles)
            continue
        seen.add(issue)
        severity, code, expression, message = issue
        entry: dict[str, Any] = {
            "severity": severity,
            "code": code,
            "details": {"text": message},
            "diagnostics": message,
        }
        if expression:
            entry["expression"] = [expression]
            entry["location"] = [expression]
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}


def is_valid(outcome: dict[str, Any]) -> bool:
    """True when the OperationOutcome holds no issue of severity ``error`` or ``fatal``."""
    return not any(i.get("severity") in _BAD for i in outcome.get("issue", ()))
