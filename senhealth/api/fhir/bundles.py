"""The Bundles the API answers with: ``searchset`` (search, compartment search) and ``history``.

Spec: https://hl7.org/fhir/R4/bundle.html (Bundle.type, entry.fullUrl, entry.search.mode,
entry.request / entry.response in history), https://hl7.org/fhir/R4/search.html#paging (``self`` and
``next`` links; this server pages with an opaque ``_cursor``), https://hl7.org/fhir/R4/search.html#errors
(warnings as an OperationOutcome entry with ``search.mode = outcome``) and
https://hl7.org/fhir/R4/http.html#history (deletes as entries with no resource, the request that made
each version, newest first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from senhealth.fhir.search.execute import Row, SearchResult
from senhealth.fhir.store import HistoryPage, Stored
from senhealth.fhir.store.meta import instant

__all__ = ["history_bundle", "link_url", "searchset_bundle"]

_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def link_url(base: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    """``base/path?params`` (``path`` may be empty: a system-level search)."""
    url = f"{base}/{path}" if path else base
    query = urlencode(list(params))
    return f"{url}?{query}" if query else url


def _row_entry(base: str, row: Row, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{row.res_type}/{row.res_id}",
        "resource": row.content,
        "search": {"mode": mode},
    }


def searchset_bundle(
    base: str,
    path: str,
    params: Sequence[tuple[str, str]],
    result: SearchResult,
    *,
    include_entries: bool = True,
) -> dict[str, Any]:
    """A ``searchset`` Bundle for ``result``; ``params`` are the search's own (``_cursor`` excluded)."""
    self_url = link_url(base, path, params)
    links = [{"relation": "self", "url": self_url}]
    if result.next_cursor:
        links.append(
            {"relation": "next", "url": link_url(base, path, [*params, ("_cursor", result.next_cursor)])}
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = links
    entries: list[dict[str, Any]] = []
    if include_entries:
        entries.extend(_row_entry(base, row, "match") for row in result.matches)
        entries.extend(_row_entry(base, row, "include") for row in result.included)
    if result.warnings:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": list(result.warnings)},
                "search": {"mode": "outcome"},
            }
        )
    if entries:
        bundle["entry"] = entries
    return bundle


def _history_entry(
    base: str, stored: Stored, shape: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    method = stored.method or ("DELETE" if stored.deleted else "PUT")
    url = stored.res_type if method == "POST" else f"{stored.res_type}/{stored.res_id}"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{stored.res_type}/{stored.res_id}"}
    if stored.content is not None and not stored.deleted:
        entry["resource"] = shape(stored.content)
    entry["request"] = {"method": method, "url": url}
    entry["response"] = {
        "status": _STATUS.get(method, "200 OK"),
        "etag": stored.etag,
        "lastModified": instant(stored.last_updated),
    }
    if not stored.deleted:
        entry["response"]["location"] = f"{base}/{stored.location}"
    return entry


def history_bundle(
    base: str,
    path: str,
    params: Sequence[tuple[str, str]],
    page: HistoryPage,
    shape: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r,
) -> dict[str, Any]:
    """A ``history`` Bundle for one page; ``shape`` applies ``_summary`` / ``_elements``."""
    links = [{"relation": "self", "url": link_url(base, path, params)}]
    if page.next_cursor:
        links.append(
            {"relation": "next", "url": link_url(base, path, [*params, ("_cursor", page.next_cursor)])}
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    if page.entries:
        bundle["entry"] = [_history_entry(base, stored, shape) for stored in page.entries]
    return bundle
