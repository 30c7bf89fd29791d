"""The parameters of a Bulk Data ``$export`` kick-off, read and checked before anything is queued.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters and the OperationDefinitions
``export``, ``patient-export``, ``group-export`` of https://hl7.org/fhir/uv/bulkdata/STU2/: ``_outputFormat``
(``application/fhir+ndjson``, ``application/ndjson``, ``ndjson``), ``_since`` (an instant), ``_type``
(comma-separated resource types, repeatable), ``_elements`` (``Type.element`` or ``element``, top-level
only), ``patient`` (POST only: Patient references, Patient and Group level), ``_typeFilter`` (FHIR
search queries ``Type?param=value``, comma-separated, repeatable; several for one type are OR-ed;
search result parameters such as ``_include`` and ``_sort`` are refused) and ``includeAssociatedData``
(not supported).

An unknown or unsupported parameter is an error (400, naming it) unless the request carries
``Prefer: handling=lenient``; then it is ignored and reported in the manifest's ``error`` file.
:func:`parse_export` returns an :class:`ExportRequest`, the JSON-ready form stored with the job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, unquote

from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.request import parse_search, resource_types

__all__ = [
    "OUTPUT_FORMATS",
    "ExportLevel",
    "ExportRequest",
    "compartment_types",
    "lenient",
    "parse_export",
    "parse_type_filter",
]

ExportLevel = Literal["system", "patient", "group"]
OUTPUT_FORMATS: Final = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
_KNOWN: Final = frozenset(
    {"_outputFormat", "_since", "_type", "_typeFilter", "_elements", "patient", "includeAssociatedData"}
)
_TRANSPORT: Final = frozenset({"_format", "_pretty"})
#: Search result parameters a ``_typeFilter`` query may not use.
_RESULT_PARAMS: Final = frozenset(
    {"_include", "_revinclude", "_sort", "_count", "_elements", "_summary", "_total", "_contained", "_cursor"}
)


def compartment_types() -> frozenset[str]:
    """The resource types a Patient or Group export covers: those of the Patient compartment."""
    return frozenset(t for t, params in patient_compartment().items() if params)


def lenient(headers: Mapping[str, str]) -> bool:
    """Whether ``Prefer: handling=lenient`` was asked (RFC 7240; FHIR search "handling")."""
    for token in headers.get("prefer", "").replace(";", ",").split(","):
        key, _, value = token.strip().partition("=")
        if key.strip().lower() == "handling" and value.strip().strip('"').lower() == "lenient":
            return True
    return False


@dataclass
class ExportRequest:
    """A checked ``$export`` request (JSON-ready through :meth:`to_json`)."""

    level: ExportLevel
    group: str | None = None
    types: list[str] | None = None  # _type as asked (None: every type the caller may see)
    since: str | None = None  # ISO instant
    type_filters: dict[str, list[str]] = field(default_factory=dict)  # type -> query strings (OR-ed)
    elements: list[str] = field(default_factory=list)
    patients: list[str] | None = None  # the ``patient`` parameter: Patient ids
    output_format: str = "application/fhir+ndjson"
    ignored: list[str] = field(default_factory=list)  # lenient: what was ignored, for the error file

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def since_time(self) -> datetime | None:
        return datetime.fromisoformat(self.since) if self.since else None

    def elements_for(self, res_type: str) -> list[str]:
        """The ``_elements`` that apply to ``res_type`` (``Type.element`` for it, bare ``element``)."""
        out: list[str] = []
        for e in self.elements:
            rtype, dot, name = e.partition(".")
            if not dot:
                out.append(e)
            elif rtype == res_type:
                out.append(name)
        return out


def _values(raw: list[Any], name: str) -> list[str]:
    out: list[str] = []
    for value in raw:
        if not isinstance(value, str):
            raise OperationError(400, f"{name} must be a string", expression=name)
        out.append(value)
    return out


def _split(values: list[str]) -> list[str]:
    """Comma-separated values of a repeatable parameter, blanks dropped."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# A comma that starts the next query of a _typeFilter list (``...,Condition?...``): a comma inside a
# query (``code=a,b``, an OR of values) is not followed by a resource type and a question mark.
_NEXT_FILTER = re.compile(r",(?=\s*[A-Z][A-Za-z]+(?:\?|%3[Ff]))")


def _filters(values: list[str]) -> list[str]:
    return [q.strip() for value in values for q in _NEXT_FILTER.split(value) if q.strip()]


def _since(values: list[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise OperationError(400, "_since may be given once", expression="_since")
    text = values[0].strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OperationError(
            400,
            f"_since must be a FHIR instant such as 2024-01-31T00:00:00Z, not {text!r}",
            expression="_since",
        ) from None
    if when.tzinfo is None:
        raise OperationError(400, "_since needs a time zone (Z or +07:00)", expression="_since")
    return when.isoformat()


def _types(values: list[str], level: ExportLevel, ignore: list[str], is_lenient: bool) -> list[str] | None:
    if not values:
        return None
    known = resource_types()
    allowed = compartment_types() if level != "system" else known
    out: list[str] = []
    for t in _split(values):
        if t not in known:
            message = f"_type: {t} is not a FHIR resource type"
        elif t not in allowed:
            message = f"_type: {t} is outside the Patient compartment, which a {level}-level export covers"
        else:
            if t not in out:
                out.append(t)
            continue
        if not is_lenient:
            raise OperationError(400, message, expression="_type")
        ignore.append(message)
    if not out:
        raise OperationError(400, "_type names no resource type this export can return", expression="_type")
    return out


def parse_type_filter(text: str, base_urls: tuple[str, ...] = ()) -> tuple[str, str]:
    """One ``_typeFilter`` query ``Type?a=b&c=d`` (percent-encoded or not): its type and query, checked
    by the search parser (400 naming what is wrong)."""
    query = unquote(text) if "?" not in text else text
    rtype, mark, rest = query.partition("?")
    rtype = rtype.strip()
    if not mark or rtype not in resource_types():
        raise OperationError(
            400,
            f"_typeFilter: {text!r} is not a search query such as Observation?code=...",
            expression="_typeFilter",
        )
    pairs = parse_qsl(rest, keep_blank_values=True)
    for name, _ in pairs:
        if name.partition(":")[0] in _RESULT_PARAMS:
            raise OperationError(
                400, f"_typeFilter may not use {name} (a search result parameter)", expression="_typeFilter"
            )
    try:
        parse_search(rtype, pairs, strict=True, base_urls=base_urls)
    except SearchError as e:
        raise OperationError(
            400, f"_typeFilter {rtype}?{rest}: {e.message}", expression="_typeFilter"
        ) from None
    return rtype, rest


def _elements(values: list[str]) -> list[str]:
    out: list[str] = []
    known = resource_types()
    for e in _split(values):
        rtype, dot, name = e.partition(".")
        ok = name.isidentifier() and rtype in known if dot else e.isidentifier()
        if not ok:
            raise OperationError(
                400,
                f"_elements: {e!r} is not Type.element or element (top-level elements only)",
                expression="_elements",
            )
        out.append(e)
    return out


def _patients(raw: list[Any]) -> list[str] | None:
    if not raw:
        return None
    out: list[str] = []
    for value in raw:
        ref = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref.startswith("Patient/") or "/" in ref[8:] or not ref[8:]:
            raise OperationError(400, "patient must be a Reference to Patient/<id>", expression="patient")
        if ref[8:] not in out:
            out.append(ref[8:])
    return out


def parse_export(
    level: ExportLevel,
    group: str | None,
    params: Mapping[str, list[Any]],
    *,
    method: str,
    is_lenient: bool,
    base_urls: tuple[str, ...] = (),
) -> ExportRequest:
    """Read the kick-off parameters (query or Parameters body, as ``name -> values``)."""
    ignored: list[str] = []
    for name in params:
        if name in _KNOWN or name in _TRANSPORT:
            continue
        if not is_lenient:
            raise OperationError(400, f"Unknown parameter {name} for $export", expression=name)
        ignored.append(f"the parameter {name} is not known to $export and was ignored")
    fmt = _values(params.get("_outputFormat", []), "_outputFormat")
    if len(fmt) > 1 or (fmt and fmt[0].strip() not in OUTPUT_FORMATS):
        raise OperationError(
            400,
            f"_outputFormat: only {', '.join(sorted(OUTPUT_FORMATS))} (NDJSON) are supported",
            expression="_outputFormat",
        )
    if params.get("includeAssociatedData"):
        message = "includeAssociatedData is not supported: no associated data (Provenance) is added"
        if not is_lenient:
            raise OperationError(400, message, expression="includeAssociatedData", code="not-supported")
        ignored.append(message)
    request = ExportRequest(level=level, group=group)
    request.ignored = ignored
    request.types = _types(_values(params.get("_type", []), "_type"), level, ignored, is_lenient)
    request.since = _since(_values(params.get("_since", []), "_since"))
    request.elements = _elements(_values(params.get("_elements", []), "_elements"))
    for text in _filters(_values(params.get("_typeFilter", []), "_typeFilter")):
        rtype, query = parse_type_filter(text, base_urls)
        if request.types is not None and rtype not in request.types:
            raise OperationError(
                400, f"_typeFilter filters {rtype}, which _type leaves out", expression="_typeFilter"
            )
        if level != "system" and rtype not in compartment_types():
            raise OperationError(
                400, f"_typeFilter: {rtype} is outside the Patient compartment", expression="_typeFilter"
            )
        request.type_filters.setdefault(rtype, []).append(query)
    raw_patients = params.get("patient", [])
    if raw_patients:
        if level == "system":
            raise OperationError(
                400, "patient applies to Patient- and Group-level exports only", expression="patient"
            )
        if method != "POST":
            raise OperationError(
                400, "patient is given in a POST Parameters body (valueReference)", expression="patient"
            )
    request.patients = _patients(raw_patients)
    if fmt:
        request.output_format = fmt[0].strip()
    return request
