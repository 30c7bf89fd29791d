"""Reading the input parameters of the telehealth operations (referrals, remote visits).

Spec: https://hl7.org/fhir/R4/operations.html#request (a ``Parameters`` body; the core hands each parameter's
values over by name, :class:`~senhealth.fhir.operations.registry.OperationCall`). A bad value is a 400
OperationOutcome naming the parameter in ``expression``.
"""

from __future__ import annotations

from senhealth.fhir.operations.registry import OperationCall, OperationError

__all__ = ["codes", "text"]


def text(call: OperationCall, name: str, *, required: bool = False) -> str | None:
    """The first value of ``name`` as stripped text (a Reference's ``reference``, a Coding's ``code``); None when
    absent or blank, 400 then when ``required``."""
    value = call.first(name)
    if isinstance(value, dict):
        value = value.get("reference") or value.get("code")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise OperationError(400, f"Parameter {name!r} is required", "required", name)
        return None
    if not isinstance(value, str):
        raise OperationError(400, f"Parameter {name!r} must be a string, code or reference", expression=name)
    return value.strip()


def codes(call: OperationCall, name: str) -> list[str]:
    """Every value of ``name`` as codes (a Coding's ``code``, or comma-separated text), in order."""
    out: list[str] = []
    for value in call.params.get(name) or []:
        if isinstance(value, dict):
            value = value.get("code")
        if not isinstance(value, str) or not value.strip():
            raise OperationError(400, f"Parameter {name!r} must be a code", expression=name)
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out
