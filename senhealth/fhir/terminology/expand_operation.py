"""``ValueSet/$expand``: the codes of a value set, filtered by text, paged, in the language asked.

Spec: https://hl7.org/fhir/R4/valueset-operation-expand.html
(OperationDefinition http://hl7.org/fhir/OperationDefinition/ValueSet-expand).

In: the value set by ``url`` (packaged, stored, or implicit: ``<system>?fhir_vs=isa/<code>``), at the
instance level ``ValueSet/[id]``, or whole as ``valueSet`` (POST); ``valueSetVersion``; ``filter``
(:mod:`.text_match`: words matched without diacritics); ``offset`` / ``count`` (paging, with ``total``);
``displayLanguage`` (``vi`` / ``en``, or Accept-Language); ``includeDesignations``; ``activeOnly``;
``date`` (the ICD-10 edition in force that day). Out: the ValueSet with its ``expansion``
(``identifier``, ``timestamp``, ``total``, ``offset``, ``parameter`` echoing what was used, among them
``used-codesystem`` ``system|version``, and ``contains``).

Without ``count`` at most :data:`MAX_PAGE` codes come back (``total`` says how many there are).
Errors: no value set → 400; an unknown one → 404 naming ``url``; a definition that cannot be expanded
→ 400 naming the element (``ValueSet.compose.include[0].system``); more than
:data:`~.valueset_expand.DEFAULT_LIMIT` codes → 400 ``too-costly``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.terminology.inputs import (
    display_language,
    flag,
    on_date,
    resource_param,
    terminology,
    text,
)
from senhealth.fhir.terminology.service import Terminology
from senhealth.fhir.terminology.text_match import filter_items
from senhealth.fhir.terminology.valueset_expand import ExpandError, Expansion, Item

__all__ = ["MAX_PAGE", "expansion_error", "find_value_set", "run_expand"]

#: codes returned when ``count`` is not given
MAX_PAGE: Final = 10_000


def expansion_error(exc: ExpandError, param: str) -> OperationError:
    """An :class:`ExpandError` as the operation's error (404 for what is unknown, else 400)."""
    status = 404 if exc.code == "not-found" else 400
    return OperationError(status, exc.message, exc.code, exc.expression or param)


async def find_value_set(
    call: OperationCall, service: Terminology, url_param: str = "url"
) -> tuple[dict[str, Any], tuple[Any, ...] | None]:
    """The value set an operation is about: ``ValueSet/[id]``, the ``valueSet`` resource, or ``url``."""
    if call.level == "instance" and call.resource_type == "ValueSet":
        assert call.resource_id is not None
        found = await service.value_set_by_id(call.resource_id)
        if found is None:
            raise OperationError(404, f"ValueSet/{call.resource_id} is not known", "not-found")
        return found
    inline = resource_param(call, "valueSet", "ValueSet")
    if inline is not None:
        return inline, None
    url = text(call, url_param)
    if url is None:
        raise OperationError(
            400, f"Give the value set: parameter {url_param!r} or 'valueSet'", "required", url_param
        )
    ref, _, in_url = url.partition("|")
    found = await service.value_set(ref, text(call, "valueSetVersion") or in_url or None)
    if found is None:
        raise OperationError(404, f"The value set {url} is not known to this server", "not-found", url_param)
    return found


def _contains(item: Item, language: str | None, designations: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"system": item.system}
    if item.version:
        out["version"] = item.version
    if item.abstract:
        out["abstract"] = True
    if item.inactive:
        out["inactive"] = True
    out["code"] = item.code
    display = item.display
    if language:
        display = dict(item.designations).get(language, display)
    if display:
        out["display"] = display
    if designations and item.designations:
        out["designation"] = [{"language": lang, "value": v} for lang, v in item.designations]
    return out


def expansion_resource(
    vs: dict[str, Any],
    expansion: Expansion,
    items: list[Item],
    total: int,
    offset: int,
    echo: list[dict[str, Any]],
    language: str | None,
    designations: bool,
) -> dict[str, Any]:
    """The ValueSet answer: the definition's identity and the expansion page."""
    out: dict[str, Any] = {"resourceType": "ValueSet"}
    for key in ("id", "url", "version", "name", "title", "status"):
        if vs.get(key) is not None:
            out[key] = vs[key]
    out.setdefault("status", "active")
    params = list(echo)
    for system, version in expansion.used_systems.items():
        params.append({"name": "used-codesystem", "valueUri": f"{system}|{version}" if version else system})
    for warning in expansion.warnings[:20]:
        params.append({"name": "warning", "valueString": warning})
    out["expansion"] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": total,
        "offset": offset,
        "parameter": params,
        "contains": [_contains(i, language, designations) for i in items],
    }
    if not out["expansion"]["contains"]:
        del out["expansion"]["contains"]
    return out


async def run_expand(call: OperationCall) -> OperationResult:
    """``$expand`` (type or instance level)."""
    when = on_date(call)
    service = terminology(call, when)
    vs, key = await find_value_set(call, service)
    offset = call.integer("offset") or 0
    count = call.integer("count")
    active_only = flag(call, "activeOnly") or False
    designations = flag(call, "includeDesignations") or False
    language = display_language(call)
    filter_text = text(call, "filter")
    try:
        expansion = await service.expand(vs, key, active_only=active_only)
    except ExpandError as exc:
        raise expansion_error(exc, "valueSet" if key is None else "url") from None
    items = filter_items(expansion, filter_text) if filter_text else expansion.items
    total = len(items)
    page = items[offset : offset + (count if count is not None else MAX_PAGE)]
    echo: list[dict[str, Any]] = []
    if filter_text:
        echo.append({"name": "filter", "valueString": filter_text})
    echo.append({"name": "offset", "valueInteger": offset})
    if count is not None:
        echo.append({"name": "count", "valueInteger": count})
    if language:
        echo.append({"name": "displayLanguage", "valueCode": language})
    if active_only:
        echo.append({"name": "activeOnly", "valueBoolean": True})
    if when is not None:
        echo.append({"name": "date", "valueDateTime": when.isoformat()})
    return OperationResult(
        expansion_resource(vs, expansion, page, total, offset, echo, language, designations)
    )
