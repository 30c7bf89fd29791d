"""What every FHIR route needs from the request: the store, the base URL, the preferences, the
result parameters (``_summary``, ``_elements``), and how to answer with a resource and its headers.

Spec: https://hl7.org/fhir/R4/http.html#general (base URL, headers), https://hl7.org/fhir/R4/http.html#ops
(``Prefer: return=minimal | representation | OperationOutcome``), https://hl7.org/fhir/R4/http.html#read
(``ETag``, ``Last-Modified``, ``Content-Location``), https://hl7.org/fhir/R4/http.html#create
(``Location``), https://hl7.org/fhir/R4/http.html#cread (conditional read: 304) and
https://hl7.org/fhir/R4/search.html#summary (``_summary``, ``_elements``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.headers import (
    Prefer,
    http_date,
    matches_etag,
    parse_etag,
    parse_http_date,
    parse_prefer,
)
from senhealth.api.fhir.interactions import Result, parse_version
from senhealth.api.fhir.responses import FhirResponse, wants_pretty
from senhealth.fhir.search.execute import subset
from senhealth.fhir.store import FhirStore, Stored

__all__ = [
    "FHIR_PREFIX",
    "Subset",
    "base_url",
    "get_store",
    "if_match",
    "prefer",
    "read_response",
    "respond",
    "result_response",
    "subset_params",
    "version_headers",
]

FHIR_PREFIX: Final = "/fhir"
_SUMMARY: Final = frozenset({"true", "false", "text", "data", "count"})

Subset = tuple[str | None, tuple[str, ...]]  # (_summary, _elements)


def get_store(request: Request) -> FhirStore:
    store: FhirStore = request.app.state.fhir_store
    return store


def base_url(request: Request) -> str:
    """The FHIR base URL of this server as the client reached it (``http://host:port/fhir``)."""
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def prefer(request: Request) -> Prefer:
    return parse_prefer(request.headers.getlist("prefer"))


def if_match(request: Request) -> int | None:
    """The version an ``If-Match`` header requires (``-1``: one that cannot exist), or ``None``."""
    value = request.headers.get("if-match")
    if value is None:
        return None
    return parse_version(parse_etag(value, "If-Match"), "If-Match")


def subset_params(request: Request) -> Subset:
    """``_summary`` / ``_elements`` of a read, vread or history (400 when malformed)."""
    summary = request.query_params.get("_summary")
    if summary is not None and summary not in _SUMMARY:
        raise FhirError(400, f"_summary={summary[:40]!r}: expected true, false, text, data or count")
    if summary == "count":
        raise FhirError(400, "_summary=count only applies to a search")
    elements = request.query_params.get("_elements")
    names: tuple[str, ...] = ()
    if elements is not None:
        names = tuple(n.strip() for n in elements.split(",") if n.strip())
    if summary == "false":
        summary = None
    return summary, names


def apply_subset(content: dict[str, Any], wanted: Subset) -> dict[str, Any]:
    summary, elements = wanted
    if summary is None and not elements:
        return content
    return subset(content, summary, elements)


def version_headers(stored: Stored | None, base: str) -> dict[str, str]:
    """``ETag``, ``Last-Modified`` and ``Content-Location`` of a stored version."""
    if stored is None:
        return {}
    headers = {"ETag": stored.etag}
    modified = http_date(stored.last_updated)
    if modified:
        headers["Last-Modified"] = modified
    if not stored.deleted:
        headers["Content-Location"] = f"{base}/{stored.location}"
    return headers


def respond(
    request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON answer (``_pretty`` honoured)."""
    return FhirResponse(body, status_code=status, headers=headers, pretty=wants_pretty(request))


def result_response(request: Request, result: Result, *, subset_of: Subset | None = None) -> Response:
    """The answer to a write (or a conditional create that found its match), honouring ``Prefer``."""
    base = base_url(request)
    headers = version_headers(result.stored, base)
    if result.status == 201 and result.location:
        headers["Location"] = f"{base}/{result.location}"
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    choice = prefer(request).return_
    body: Any
    if choice == "minimal":
        body = None
    elif choice == "OperationOutcome":
        body = result.outcome
    elif result.body is not None:
        body = apply_subset(result.body, subset_of) if subset_of else result.body
    else:
        body = result.outcome
    if body is None and result.stored is not None and result.stored.deleted:
        return Response(status_code=204, headers=headers)  # a delete answered without a payload
    return respond(request, body, result.status, headers)


def _not_modified(request: Request, stored: Stored) -> bool:
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        return matches_etag(none_match, str(stored.version))
    since = request.headers.get("if-modified-since")
    if since is not None:
        when = parse_http_date(since)
        if when is not None:
            return stored.last_updated.replace(microsecond=0) <= when
    return False


def read_response(request: Request, stored: Stored, extra: Sequence[tuple[str, str]] = ()) -> Response:
    """The answer to a read or vread: 304 for a conditional read that matches, else the resource."""
    headers = version_headers(stored, base_url(request))
    headers.update(extra)
    if _not_modified(request, stored):
        return Response(status_code=304, headers=headers)
    wanted = subset_params(request)
    assert stored.content is not None
    return respond(request, apply_subset(stored.content, wanted), 200, headers)
