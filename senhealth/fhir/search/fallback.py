"""Evaluates a search parameter with the general FHIRPath engine when the fast path cannot compile it.

Spec: https://hl7.org/fhir/R4/searchparameter.html and https://hl7.org/fhirpath/N1/

The engine returns plain FHIR JSON values without their FHIR type, so the normaliser is chosen from the
value's shape and the parameter type (a dict with ``coding`` is a CodeableConcept, one with ``start`` /
``end`` a Period, a string for a date parameter a dateTime, ...). This path also serves as the reference
implementation that the tests compare the fast path against. Composite parameters are fast-path only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from senhealth.fhir.model.search_parameters import SearchParam
from senhealth.fhir.search.compiler import Entry
from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params import SINKS_BY_PARAM_TYPE
from senhealth.fhir.search.params.reference import parse_reference
from senhealth.fhir.search.pathexpr import Unsupported

__all__ = ["engine_available", "engine_entries", "infer_type"]

_CONTACT_SYSTEMS = frozenset(("phone", "fax", "email", "pager", "url", "sms", "other"))
_STRING_DEFAULT = {
    "token": "code",
    "string": "string",
    "date": "dateTime",
    "reference": "canonical",
    "uri": "uri",
    "number": "decimal",
}


def engine_available() -> bool:
    """True once ``senhealth.fhir.fhirpath`` exposes ``compile``."""
    try:
        from senhealth.fhir import fhirpath
    except ImportError:
        return False
    return callable(getattr(fhirpath, "compile", None))


def infer_type(value: Any, param_type: str) -> str | None:
    """The FHIR type a value returned by the engine most plausibly has, for choosing its normaliser."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "decimal"
    if isinstance(value, str):
        return _STRING_DEFAULT.get(param_type, "string")
    if not isinstance(value, dict):
        return None
    if "resourceType" in value:
        return "Resource"
    if param_type == "special":
        return "Location.position" if "latitude" in value else None
    if param_type == "reference":
        return (
            "Reference" if ("reference" in value or "type" in value or "display" in value) else "Identifier"
        )
    if param_type == "date":
        if "start" in value or "end" in value:
            return "Period"
        return "Timing" if ("event" in value or "repeat" in value) else None
    if param_type == "string":
        if value.keys() & {"family", "given", "prefix", "suffix"}:
            return "HumanName"
        if value.keys() & {"line", "city", "district", "state", "postalCode", "country"}:
            return "Address"
        return "HumanName" if "text" in value else None
    if param_type in ("quantity", "number"):
        if "currency" in value:
            return "Money"
        if "low" in value or "high" in value:
            return "Range"
        return "Quantity" if "value" in value else None
    if param_type == "token":
        if "coding" in value or ("text" in value and "value" not in value):
            return "CodeableConcept"
        if "value" in value:
            return (
                "ContactPoint" if value.get("system") in _CONTACT_SYSTEMS or "rank" in value else "Identifier"
            )
        if "code" in value or "system" in value or "display" in value:
            return "Coding"
    return None


def _resolve_hook(ctx: ExtractContext) -> Callable[[str], dict[str, Any] | None]:
    """A ``resolve()`` hook answering with a stub of the target (its type and id), never a fetch."""

    def resolve(ref: str) -> dict[str, Any] | None:
        rtype, rid, _, _, _ = parse_reference(ref)
        if rtype is None and ctx.resolver is not None:
            rtype = ctx.resolver(ref)
        if rtype is None:
            return None
        return {"resourceType": rtype, "id": rid} if rid else {"resourceType": rtype}

    return resolve


def engine_entries(param: SearchParam, resource_type: str | None = None) -> list[Entry]:
    """One entry (over the whole resource) that runs the parameter's expression through the engine."""
    if not param.expression:
        raise Unsupported("no expression")
    if param.type == "composite":
        raise Unsupported("composite parameters need the fast path")
    if not engine_available():
        raise Unsupported("the FHIRPath engine is not available")
    from senhealth.fhir import fhirpath

    compile_fn: Callable[..., Callable[..., list[Any]]] = getattr(fhirpath, "compile")  # noqa: B009
    hooks_cls: Callable[..., Any] = getattr(fhirpath, "Hooks")  # noqa: B009
    try:
        compiled = compile_fn(param.expression, base_type=resource_type)
    except Exception as exc:  # the engine's syntax / semantic errors
        raise Unsupported(f"the FHIRPath engine rejects it: {exc}") from exc
    sinks = SINKS_BY_PARAM_TYPE[param.type]
    param_type = param.type

    def run(resource: Any, ctx: ExtractContext, out: list[Any]) -> None:
        hooks = hooks_cls(resolve=_resolve_hook(ctx))
        for value in compiled(resource, hooks=hooks):
            tp = infer_type(value, param_type)
            sink = sinks.get(tp) if tp is not None else None
            if sink is not None:
                sink(value, ctx, out)

    return [(None, run)]
