"""Input parameters of the terminology operations: codes, codings, dates, flags, languages.

Spec: https://hl7.org/fhir/R4/operations.html#request (a GET carries primitive parameters in the query
string; a POST a ``Parameters`` resource) and the OperationDefinitions of
https://hl7.org/fhir/R4/terminology-service.html.

Every reader raises :class:`~senhealth.fhir.operations.registry.OperationError` (400) naming the
parameter when the value is malformed. A Coding may come as ``valueCoding`` in a POST, or, as a
convenience in a GET, as ``system|code`` text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from senhealth.fhir.operations.registry import OperationCall, OperationError
from senhealth.fhir.terminology.service import Terminology
from senhealth.fhir.terminology.stored import StoreSource

__all__ = [
    "CodingIn",
    "codeable_concept",
    "coding",
    "display_language",
    "flag",
    "on_date",
    "resource_param",
    "terminology",
    "text",
]


@dataclass(frozen=True, slots=True)
class CodingIn:
    """A coding as given: system, code, version, display (each may be missing)."""

    system: str | None
    code: str | None
    version: str | None = None
    display: str | None = None


def text(call: OperationCall, name: str) -> str | None:
    """A string parameter (code, uri, canonical...), trimmed; 400 when given as something else."""
    value = call.first(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise OperationError(400, f"Parameter {name!r} must be a string / code / uri", expression=name)
    value = value.strip()
    return value or None


def flag(call: OperationCall, name: str) -> bool | None:
    """A boolean parameter (``true`` / ``false`` in a query, ``valueBoolean`` in a body)."""
    value = call.first(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("true", "false"):
        return value.strip() == "true"
    raise OperationError(400, f"Parameter {name!r} must be true or false", expression=name)


def on_date(call: OperationCall, name: str = "date") -> date | None:
    """A date or dateTime parameter, as the day it names (``2026``, ``2026-07``, ``2026-07-01T...``)."""
    value = call.first(name)
    if value is None:
        return None
    if isinstance(value, str):
        raw = value.strip()
        try:
            if len(raw) == 4 and raw.isdigit():
                return date(int(raw), 1, 1)
            if len(raw) == 7 and raw[4] == "-":
                return date(int(raw[:4]), int(raw[5:7]), 1)
            return date.fromisoformat(raw[:10])
        except ValueError:
            pass
    raise OperationError(
        400, f"Parameter {name!r} must be a date (YYYY, YYYY-MM or YYYY-MM-DD...)", expression=name
    )


def coding(call: OperationCall, name: str) -> CodingIn | None:
    """A Coding parameter (``valueCoding``, or ``system|code`` in a query)."""
    value = call.first(name)
    if value is None:
        return None
    if isinstance(value, str):
        system, sep, code = value.partition("|")
        if not sep or not code:
            raise OperationError(
                400, f"Parameter {name!r} must be a Coding (or system|code in a URL)", expression=name
            )
        return CodingIn(system or None, code)
    if not isinstance(value, dict):
        raise OperationError(400, f"Parameter {name!r} must be a Coding", expression=name)
    return _coding(value, name)


def _coding(value: dict[str, Any], where: str) -> CodingIn:
    out: list[str | None] = []
    for key in ("system", "code", "version", "display"):
        v = value.get(key)
        if v is not None and not isinstance(v, str):
            raise OperationError(400, f"{where}.{key} must be a string", expression=f"{where}.{key}")
        out.append(v)
    return CodingIn(out[0], out[1], out[2], out[3])


def codeable_concept(call: OperationCall, name: str = "codeableConcept") -> list[CodingIn] | None:
    """The codings of a CodeableConcept parameter."""
    value = call.first(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise OperationError(400, f"Parameter {name!r} must be a CodeableConcept", expression=name)
    codings = value.get("coding") or []
    if not isinstance(codings, list):
        raise OperationError(400, f"{name}.coding must be an array", expression=f"{name}.coding")
    return [_coding(c, f"{name}.coding[{i}]") for i, c in enumerate(codings) if isinstance(c, dict)]


def resource_param(call: OperationCall, name: str, res_type: str) -> dict[str, Any] | None:
    """A resource parameter of ``res_type`` (``valueSet``, ``codeSystem``, ``conceptMap``), or a body that
    is that resource."""
    value = call.first(name)
    if value is None and call.body is not None and call.body.get("resourceType") == res_type:
        value = call.body
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("resourceType") != res_type:
        raise OperationError(400, f"Parameter {name!r} must be a {res_type} resource", expression=name)
    return value


def display_language(call: OperationCall) -> str | None:
    """``displayLanguage`` (``vi``, ``en``, ``en-US``...), else the first language of Accept-Language."""
    lang = text(call, "displayLanguage")
    if lang is None:
        header = call.headers.get("accept-language", "")
        first = header.split(",", 1)[0].split(";", 1)[0].strip()
        lang = first if first and first != "*" else None
    return lang.split("-", 1)[0].lower() if lang else None


def terminology(call: OperationCall, when: date | None = None) -> Terminology:
    """The terminology service for an operation call: packaged, plus the call's FHIR store."""
    return Terminology(StoreSource(call.store), when)
