"""Operation input and output as the ``Parameters`` resource.

Spec: https://hl7.org/fhir/R4/parameters.html and https://hl7.org/fhir/R4/operations.html#request
(POST with a Parameters body; GET with primitive parameters in the query string; an operation with
a single resource input may take that resource as the whole body) and
https://hl7.org/fhir/R4/operations.html#response (a single ``return`` resource parameter is answered
as that resource itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from senhealth.fhir.operations.registry import OperationError

__all__ = ["from_body", "from_query", "parameters", "value_of"]

# The query parameters that steer the HTTP exchange rather than the operation.
_HTTP_PARAMS = frozenset({"_format", "_pretty"})


def value_of(param: dict[str, Any]) -> Any:
    """The value of one ``Parameters.parameter``: ``value[x]``, ``resource``, or its parts as a dict."""
    for key, value in param.items():
        if key.startswith("value") and len(key) > 5 and key[5].isupper():
            return value
    if "resource" in param:
        return param["resource"]
    parts = param.get("part")
    if isinstance(parts, list):
        out: dict[str, list[Any]] = {}
        for part in parts:
            if isinstance(part, dict) and isinstance(part.get("name"), str):
                out.setdefault(part["name"], []).append(value_of(part))
        return out
    return None


def from_body(body: Any) -> dict[str, list[Any]]:
    """The input parameters of a POST body: a ``Parameters`` resource, or a lone resource (``resource``)."""
    if not isinstance(body, dict):
        raise OperationError(400, "The operation's body must be a Parameters resource or a resource")
    if body.get("resourceType") != "Parameters":
        return {"resource": [body]}
    raw = body.get("parameter", [])
    if not isinstance(raw, list):
        raise OperationError(400, "Parameters.parameter must be an array", expression="Parameters.parameter")
    out: dict[str, list[Any]] = {}
    for i, param in enumerate(raw):
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise OperationError(
                400, "Each parameter needs a name", expression=f"Parameters.parameter[{i}].name"
            )
        out.setdefault(param["name"], []).append(value_of(param))
    return out


def from_query(query: Mapping[str, list[str]]) -> dict[str, list[Any]]:
    """The input parameters of a GET: every query parameter but ``_format`` / ``_pretty``."""
    return {name: list(values) for name, values in query.items() if name not in _HTTP_PARAMS}


def parameters(values: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    """A ``Parameters`` resource from ``(name, kind, value)``: ``kind`` is a value[x] suffix such as
    ``"Meta"`` or ``"String"``, or ``"resource"``."""
    out: list[dict[str, Any]] = []
    for name, kind, value in values:
        if kind == "resource":
            out.append({"name": name, "resource": value})
        else:
            out.append({"name": name, f"value{kind}": value})
    return {"resourceType": "Parameters", "parameter": out}
