"""What the referral and remote-visit steps share: the refusal they raise, FHIR times and references.

Spec: https://hl7.org/fhir/R4/operationoutcome.html (a refusal becomes an OperationOutcome with the HTTP
status, the issue code and the ``expression``), https://hl7.org/fhir/R4/datatypes.html#dateTime and
https://hl7.org/fhir/R4/references.html (literal references ``Type/id``, possibly absolute or versioned).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from senhealth.core.errors import SenHealthError

__all__ = ["StepError", "fhir_time", "ref_id"]


class StepError(SenHealthError):
    """A step refused: ``status`` is the HTTP status, ``code`` the OperationOutcome issue code."""

    def __init__(
        self, status: int, message: str, code: str = "invalid", expression: str | None = None
    ) -> None:
        super().__init__(message, expression)
        self.status = status
        self.code = code


def fhir_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ref_id(reference: Any, res_type: str) -> str | None:
    """The id of a ``res_type/<id>`` reference (a Reference or its text), else None."""
    text = reference.get("reference") if isinstance(reference, Mapping) else reference
    if not isinstance(text, str):
        return None
    text = text.split("/_history/")[0]
    prefix = f"{res_type}/"
    if "/" + prefix in text:
        text = text[text.rindex("/" + prefix) + 1 :]
    if not text.startswith(prefix):
        return None
    return text[len(prefix) :] or None
