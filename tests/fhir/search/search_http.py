"""The search tests' second road: the same searches sent to the REST API, answers read back as results.

Spec: https://hl7.org/fhir/R4/http.html#search (``GET [base]/[type]?``, ``POST [base]/[type]/_search``
with a form body, ``GET [base]?``, compartments ``GET [base]/Patient/[id]/[type]?``),
https://hl7.org/fhir/R4/search.html#paging (``next`` links) and
https://hl7.org/fhir/R4/search.html#errors (a search the server cannot run is a 400 OperationOutcome).

:func:`http_search` sends one search to the app and maps the ``searchset`` Bundle back to the
:class:`~senhealth.fhir.search.execute.SearchResult` that ``execute.search`` returns: ``match`` entries
become ``matches``, ``include`` entries ``included``, ``Bundle.total`` the ``total``, the ``_cursor`` of
the ``next`` link the ``next_cursor`` and the issues of the ``outcome`` entry the ``warnings``. An error
answer must be a 400 OperationOutcome naming one of the request's parameters; it is raised as the
:class:`~senhealth.fhir.search.request.SearchError` it stands for, so the tables' ``pytest.raises``
hold on both roads. :func:`http_pages` follows the ``next`` links, as a client pages.

Every answer is also checked for the Bundle's own shape (status, media type, ``searchset``, ``self``
link, ``fullUrl`` of each entry, matches before includes).

``HTTP_DISAGREEMENTS`` lists the cases where the API answers otherwise than ``execute.search``: they are
``xfail(strict=True)`` on the HTTP road only (see ``test_search_execute_data.search_db``).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from senhealth.api import create_app
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.fhir.search.execute import Row, SearchResult
from senhealth.fhir.search.request import SearchError

__all__ = [
    "BASE",
    "HTTP_DISAGREEMENTS",
    "disagreement",
    "http_pages",
    "http_search",
    "search_path",
    "serve",
    "uses_post",
]

#: the client's base URL; the FHIR endpoint is ``{BASE}/fhir``
BASE = "http://test"
FHIR = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"

Params = Sequence[tuple[str, str]]

#: ``(test function, case)`` -> how the HTTP answer differs from ``execute.search``. The case is the
#: tuple of the test's string arguments, in order (``()`` for a test without parameters).
HTTP_DISAGREEMENTS: dict[tuple[str, tuple[str, ...]], str] = {}


def disagreement(test: str, params: dict[str, Any], road: str = "search_backend") -> str | None:
    """The known disagreement of this test case over HTTP, if any (``params``: the callspec's)."""
    case = tuple(v for k, v in params.items() if k != road and isinstance(v, str))
    return HTTP_DISAGREEMENTS.get((test, case))


@contextlib.asynccontextmanager
async def serve(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on ``database_url`` (its lifespan opens the process's pool) and a client to it."""
    try:
        db.get_pool()
    except RuntimeError:
        pass
    else:
        raise AssertionError("a database pool is already open in this process: the app would search it")
    app = create_app(Settings(database_url=database_url))
    async with app.router.lifespan_context(app):
        assert db.get_pool().conninfo == database_url
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


def encode(params: Params) -> str:
    """``params`` as a query string (or form body) that the server decodes back to exactly ``params``:
    ``+`` (in ``+07:00``), ``%``, ``&``, ``#`` and spaces are escaped; ``:|,$/`` are kept readable."""
    return urlencode(list(params), quote_via=quote, safe=":|,$/*")


def uses_post(params: Params) -> bool:
    """A stable sample (about one search in four) goes by ``POST .../_search`` with a form body."""
    return zlib.crc32(encode(params).encode()) % 4 == 0


def search_path(res_type: str | None, compartment: tuple[str, str] | None = None) -> str:
    """The search's path under the server root: ``/fhir/Observation``, ``/fhir``, ``/fhir/Patient/p/*``."""
    if compartment is not None:
        return f"/fhir/{compartment[0]}/{compartment[1]}/{res_type or '*'}"
    return f"/fhir/{res_type}" if res_type else "/fhir"


def _names(params: Params) -> set[str]:
    """The parameters' names and their bases (``subject:Patient.name`` -> ``subject``)."""
    out: set[str] = set()
    for name, _ in params:
        out |= {name, name.split(".")[0], name.split(".")[0].split(":")[0]}
    return out


def _error(response: httpx.Response, params: Params, what: str) -> SearchError:
    """The SearchError a 400 OperationOutcome stands for; anything else fails the test."""
    assert response.status_code == 400, (what, response.status_code, response.text[:800])
    assert response.headers["content-type"].startswith(FHIR), (what, response.headers["content-type"])
    body = response.json()
    assert body.get("resourceType") == "OperationOutcome" and body.get("issue"), (what, body)
    issue = next((i for i in body["issue"] if i.get("severity") in ("error", "fatal")), body["issue"][0])
    expressions = [e for i in body["issue"] for e in i.get("expression", [])]
    # a fault in the query names its parameter; one in the path (no parameters) needs none
    assert set(expressions) & _names(params) or not params, (
        what,
        "the OperationOutcome names no parameter",
        body,
    )
    return SearchError(
        str(issue.get("diagnostics", "")),
        (issue.get("expression") or expressions or [None])[0],
        code=str(issue.get("code", "invalid")),
    )


def _row(entry: dict[str, Any]) -> Row:
    resource = entry["resource"]
    meta = resource.get("meta", {})
    return Row(
        resource["resourceType"],
        resource["id"],
        int(meta.get("versionId", 0)),
        datetime.fromisoformat(meta["lastUpdated"]) if "lastUpdated" in meta else datetime.min,
        resource,
    )


def _cursor(url: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get("_cursor")


def _result(response: httpx.Response, what: str) -> SearchResult:
    assert response.headers["content-type"].startswith(FHIR), (what, response.headers["content-type"])
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset", (what, bundle)
    links = {link["relation"]: link["url"] for link in bundle.get("link", [])}
    assert "self" in links, (what, bundle.get("link"))
    result = SearchResult([], total=bundle.get("total"))
    modes: list[str] = []
    for entry in bundle.get("entry", []):
        mode = entry["search"]["mode"]
        modes.append(mode)
        if mode == "outcome":
            result.warnings.extend(entry["resource"]["issue"])
            continue
        row = _row(entry)
        assert entry["fullUrl"] == f"{BASE}/fhir/{row.res_type}/{row.res_id}", (what, entry["fullUrl"])
        (result.matches if mode == "match" else result.included).append(row)
    assert modes == sorted(modes, key=("match", "include", "outcome").index), (what, modes)
    if "next" in links:
        result.next_cursor = _cursor(links["next"])
        assert result.next_cursor, (what, links["next"])
    return result


async def _send(
    client: httpx.AsyncClient,
    params: Params,
    res_type: str | None,
    compartment: tuple[str, str] | None,
    strict: bool,
    post: bool | None,
) -> tuple[httpx.Response, str]:
    headers = {"Accept": FHIR}
    if strict:
        headers["Prefer"] = "handling=strict"
    path = search_path(res_type, compartment)
    query = encode(params)
    if post if post is not None else uses_post(params):
        headers["Content-Type"] = FORM
        what = f"POST {path}/_search  {query}"
        return await client.post(f"{path}/_search", content=query.encode(), headers=headers), what
    url = f"{path}?{query}" if query else path
    return await client.get(url, headers=headers), f"GET {url}"


async def http_search(
    client: httpx.AsyncClient,
    params: Params,
    res_type: str | None,
    *,
    compartment: tuple[str, str] | None = None,
    strict: bool = False,
    post: bool | None = None,
) -> SearchResult:
    """One search over HTTP (``post``: force the method; default: :func:`uses_post`)."""
    response, what = await _send(client, params, res_type, compartment, strict, post)
    if response.status_code != 200:
        raise _error(response, params, what)
    return _result(response, what)


async def http_pages(
    client: httpx.AsyncClient, params: Params, res_type: str | None, *, post: bool | None = None
) -> AsyncIterator[SearchResult]:
    """Every page of a search: the first by :func:`http_search`, the others by following ``next``."""
    response, what = await _send(client, params, res_type, None, False, post)
    path = search_path(res_type)
    asked = [p for p in params if p[0] != "_cursor"]
    while True:
        if response.status_code != 200:
            raise _error(response, params, what)
        result = _result(response, what)
        yield result
        if result.next_cursor is None:
            return
        (url,) = (link["url"] for link in response.json()["link"] if link["relation"] == "next")
        parts = urlsplit(url)
        assert parts.path == path, (what, url)
        kept = [p for p in parse_qsl(parts.query, keep_blank_values=True) if p[0] != "_cursor"]
        assert sorted(kept) == sorted(asked), (what, "the next link changed the search", url)
        what = f"GET {url}"
        response = await client.get(url, headers={"Accept": FHIR})
