"""The plain read, ``GET [base]/[type]/[id]``, answered before FastAPI's routing.

Spec: https://hl7.org/fhir/R4/http.html#read (200 with the resource, ``ETag``, ``Last-Modified``,
``Content-Location``).

The read by id is the most frequent request a FHIR server gets (every reference a client follows), and
on a small machine FastAPI's route matching, dependency solving (``check_accept``) and its middleware
stack cost about a third of it (docs/benchmarks.md, "Reads"). :class:`FastRead` is an ASGI middleware
that answers the plain case itself, with the same store call and the same response as the route in
:mod:`senhealth.api.fhir.instance`:

- ``GET /fhir/{type}/{id}``, no query string, no ``If-None-Match`` / ``If-Modified-Since``, an
  ``Accept`` that allows JSON (or none), a known resource type and a valid id;
- the resource exists and is not deleted.

Everything else (errors of any kind, 404 / 410, conditional reads, ``_summary``, ``_format``, ``_pretty``, every
other path and method) goes on to the application unchanged, which then answers exactly as before:
the fast path never produces an error of its own. Written by hand because no library offers a
"pre-route" for one hot endpoint; the code is small and ``tests/api/test_api_crud.py`` checks that
both paths give the same answer.
"""

from __future__ import annotations

import re
from typing import Any, Final

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from senhealth.api.fhir.auditing import record_access
from senhealth.api.fhir.authz import authorize, can_see, hide
from senhealth.api.fhir.context import FHIR_PREFIX, base_url, version_headers
from senhealth.api.fhir.negotiation import accepts_json
from senhealth.api.fhir.responses import FHIR_JSON
from senhealth.fhir.json import dumps
from senhealth.fhir.search.request import resource_types
from senhealth.fhir.store import FhirStore

__all__ = ["FastRead"]

_PATH: Final = re.compile(r"^" + FHIR_PREFIX + r"/([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_CONDITIONAL: Final = frozenset({b"if-none-match", b"if-modified-since"})


class FastRead:
    """ASGI middleware answering plain reads (see the module docstring); ``app`` is the FastAPI app
    (its ``state.fhir_store`` is the store)."""

    def __init__(self, app: ASGIApp, store_of: Any) -> None:
        self.app = app
        self.store_of = store_of  # the FastAPI application, whose state holds the store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        m = _PATH.match(scope["path"])
        if m is None or m.group(1) not in resource_types() or not self._plain(scope):
            await self.app(scope, receive, send)
            return
        store: FhirStore = self.store_of.state.fhir_store
        try:
            restriction = authorize("read", m.group(1))
            if restriction is not None and restriction.deidentified:
                raise LookupError("de-identified answers take the routed path")
            stored = await store.read(m.group(1), m.group(2))
            if not await can_see(store, restriction, stored.pkey):
                raise hide(m.group(1), m.group(2))
            await record_access(scope, store, "read", m.group(1), m.group(2), patients=[stored.pkey])
        except Exception:  # 403, 404, 410, a lost connection, the audit not written...: the route answers
            await self.app(scope, receive, send)
            return
        assert stored.content is not None
        body = dumps(stored.content)
        headers = [(b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode())]
        for name, value in version_headers(stored, base_url(Request(scope))).items():
            headers.append((name.lower().encode(), value.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _plain(scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name in _CONDITIONAL:
                return False
            if name == b"accept" and not accepts_json(value.decode("latin-1")):
                return False
        return True
