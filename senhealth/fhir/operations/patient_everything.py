"""``Patient/[id]/$everything``: the patient's whole record as a ``searchset`` Bundle.

Spec: https://hl7.org/fhir/R4/patient-operation-everything.html (OperationDefinition
http://hl7.org/fhir/OperationDefinition/Patient-everything): the patient, every resource in its
patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html) and the resources
those refer to (practitioners, organizations, medications, locations...); ``_since`` (only resources
updated at or after that instant), ``_type`` (only those resource types), ``_count`` (page size,
followed with ``next`` links).

It is a compartment search (``compartments @> [id]``, the store's GIN index) with ``_include=*``,
run by :func:`senhealth.fhir.search.execute.search`; paging uses the search's keyset cursor.
``start`` / ``end`` (care dates) are not supported: they are ignored, and the Bundle says so in an
OperationOutcome entry. Only the instance level is offered (``Patient/$everything`` over all patients
would be a bulk export: see ``$export``).

The pieces (:func:`everything_query`, :func:`compartment_page`, :func:`page_entries`,
:func:`everything_bundle`) are public so that a domain can register a replacement that pages over
several compartments (the patient index's ``$everything`` over linked records,
https://hl7.org/fhir/R4/patient.html#links) without the core knowing about it, installed with
:func:`set_everything_handler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from senhealth.core.db import transaction
from senhealth.fhir.access import Restriction
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.operations.registry import (
    Handler,
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
)
from senhealth.fhir.search.execute import Row, SearchResult, search
from senhealth.fhir.search.request import DEFAULT_COUNT, MAX_COUNT, parse_search, resource_types

__all__ = [
    "EVERYTHING",
    "EverythingQuery",
    "compartment_page",
    "everything_bundle",
    "everything_query",
    "page_entries",
    "run_everything",
    "set_everything_handler",
]


def _url(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base}/{path}?{query}" if query else f"{base}/{path}"


def _entry(base: str, row: Row, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{row.res_type}/{row.res_id}",
        "resource": row.content,
        "search": {"mode": mode},
    }


def _types(call: OperationCall) -> list[str]:
    raw = call.params.get("_type") or []
    out: list[str] = []
    for value in raw:
        if not isinstance(value, str):
            raise OperationError(400, "_type is a comma-separated list of resource types", expression="_type")
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in resource_types():
                raise OperationError(
                    400, f"_type: {name[:64]!r} is not a FHIR R4 resource type", expression="_type"
                )
            out.append(name)
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class EverythingQuery:
    """The parsed input of one ``$everything`` call: page size, ``_since``, ``_type``, ``_cursor``."""

    count: int
    since: str | None
    types: list[str]
    cursor: str | None
    own: list[tuple[str, str]]  # the parameters repeated in the self and next links (not the cursor)


def everything_query(call: OperationCall) -> EverythingQuery:
    """Read ``_count``, ``_since``, ``_type`` and ``_cursor`` (400 for a bad one)."""
    count = call.integer("_count")
    count = DEFAULT_COUNT if count is None else min(count, MAX_COUNT)
    since = call.text("_since")
    types = _types(call)
    own: list[tuple[str, str]] = [("_count", str(count))]
    if types:
        own.append(("_type", ",".join(types)))
    if since is not None:
        own.append(("_since", since))
    return EverythingQuery(count, since, types, call.text("_cursor"), own)


async def compartment_page(
    call: OperationCall,
    query: EverythingQuery,
    patient_id: str,
    *,
    count: int | None = None,
    cursor: str | None = None,
    restriction: Restriction | None = None,
) -> SearchResult:
    """One page of ``patient_id``'s compartment with ``_include=*`` (``count``: default the query's;
    ``cursor``: the search's own keyset cursor; ``restriction``: applied by the search as for a search)."""
    types = query.types
    criteria: list[tuple[str, str]] = [("_count", str(query.count if count is None else count))]
    if types:
        in_compartment = [t for t in types if patient_compartment().get(t)]
        criteria.append(("_type", ",".join(in_compartment or ["Patient"])))
    if query.since is not None:
        criteria.append(("_lastUpdated", f"ge{query.since}"))
    criteria.append(("_include", "*"))
    if cursor:
        criteria.append(("_cursor", cursor))
    request = parse_search(None, criteria, strict=True, base_urls=call.store.base_urls)
    if types and not any(patient_compartment().get(t) for t in types):
        request.count = 0  # only referenced types asked for: the includes of nothing are nothing
    param_ids = await call.store.param_ids()
    async with transaction(call.store.pool) as conn:
        return await search(
            conn, request, param_ids, compartment=("Patient", patient_id), restriction=restriction
        )


def page_entries(base: str, result: SearchResult, types: list[str]) -> list[dict[str, Any]]:
    """The Bundle entries of a page: matches, then includes, of the ``_type`` types (all when empty)."""
    wanted = set(types)
    entries = [_entry(base, r, "match") for r in result.matches if not wanted or r.res_type in wanted]
    entries += [_entry(base, r, "include") for r in result.included if not wanted or r.res_type in wanted]
    return entries


def everything_bundle(
    call: OperationCall,
    patient_id: str,
    query: EverythingQuery,
    entries: list[dict[str, Any]],
    next_cursor: str | None,
    total: int | None,
) -> dict[str, Any]:
    """The searchset Bundle: self and next links, the entries, the ``start`` / ``end`` warning."""
    path = f"Patient/{patient_id}/$everything"
    links = [{"relation": "self", "url": _url(call.base_url, path, query.own)}]
    if next_cursor:
        links.append(
            {"relation": "next", "url": _url(call.base_url, path, [*query.own, ("_cursor", next_cursor)])}
        )
    entries = list(entries)
    ignored = [name for name in ("start", "end") if call.params.get(name)]
    if ignored:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "warning",
                            "code": "not-supported",
                            "diagnostics": f"{' and '.join(ignored)} are not supported and were ignored",
                        }
                    ],
                },
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle


async def run_everything(call: OperationCall) -> OperationResult:
    """The patient's compartment and what it refers to, one page at a time."""
    assert call.resource_id is not None
    patient_id = call.resource_id
    await call.store.read("Patient", patient_id)  # 404 unknown, 410 deleted
    query = everything_query(call)
    result = await compartment_page(call, query, patient_id, cursor=query.cursor)
    entries = page_entries(call.base_url, result, query.types)
    return OperationResult(
        everything_bundle(call, patient_id, query, entries, result.next_cursor, result.total)
    )


_replacement: Handler | None = None


def set_everything_handler(handler: Handler | None) -> None:
    """Answer ``$everything`` with ``handler`` instead of :func:`run_everything` (``None``: the core's again).

    The hook through which a domain extends the operation without the core knowing it (the patient
    index pages over the records linked to one person); it survives :func:`register_core_operations`
    re-registering :data:`EVERYTHING`. The replacement may call :func:`run_everything` itself.
    """
    global _replacement
    _replacement = handler


async def _dispatch(call: OperationCall) -> OperationResult:
    return await (_replacement or run_everything)(call)


EVERYTHING: Final = Operation(
    name="everything",
    handler=_dispatch,
    levels=frozenset({"instance"}),
    resource_types=frozenset({"Patient"}),
    definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
    documentation="The patient's record: its compartment and the resources they refer to (_since, _type, _count).",
)
