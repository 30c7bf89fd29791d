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
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from senhealth.core.db import transaction
from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.operations.registry import Operation, OperationCall, OperationError, OperationResult
from senhealth.fhir.search.execute import Row, search
from senhealth.fhir.search.request import DEFAULT_COUNT, MAX_COUNT, parse_search, resource_types

__all__ = ["EVERYTHING"]


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


async def run_everything(call: OperationCall) -> OperationResult:
    """The patient's compartment and what it refers to, one page at a time."""
    assert call.resource_id is not None
    patient_id = call.resource_id
    await call.store.read("Patient", patient_id)  # 404 unknown, 410 deleted
    count = call.integer("_count")
    count = DEFAULT_COUNT if count is None else min(count, MAX_COUNT)
    since = call.text("_since")
    cursor = call.text("_cursor")
    types = _types(call)
    own: list[tuple[str, str]] = [("_count", str(count))]
    criteria: list[tuple[str, str]] = [("_count", str(count))]
    if types:
        own.append(("_type", ",".join(types)))
        in_compartment = [t for t in types if patient_compartment().get(t)]
        criteria.append(("_type", ",".join(in_compartment or ["Patient"])))
    if since is not None:
        own.append(("_since", since))
        criteria.append(("_lastUpdated", f"ge{since}"))
    criteria.append(("_include", "*"))
    if cursor:
        criteria.append(("_cursor", cursor))
    request = parse_search(None, criteria, strict=True, base_urls=call.store.base_urls)
    if types and not any(patient_compartment().get(t) for t in types):
        request.count = 0  # only referenced types asked for: the includes of nothing are nothing
    param_ids = await call.store.param_ids()
    async with transaction(call.store.pool) as conn:
        result = await search(conn, request, param_ids, compartment=("Patient", patient_id))
    wanted = set(types)
    path = f"Patient/{patient_id}/$everything"
    links = [{"relation": "self", "url": _url(call.base_url, path, own)}]
    if result.next_cursor:
        links.append(
            {"relation": "next", "url": _url(call.base_url, path, [*own, ("_cursor", result.next_cursor)])}
        )
    entries = [
        _entry(call.base_url, r, "match") for r in result.matches if not wanted or r.res_type in wanted
    ]
    entries += [
        _entry(call.base_url, r, "include") for r in result.included if not wanted or r.res_type in wanted
    ]
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
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return OperationResult(bundle)


EVERYTHING: Final = Operation(
    name="everything",
    handler=run_everything,
    levels=frozenset({"instance"}),
    resource_types=frozenset({"Patient"}),
    definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
    documentation="The patient's record: its compartment and the resources they refer to (_since, _type, _count).",
)
