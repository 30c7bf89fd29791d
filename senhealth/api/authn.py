"""Who is calling: the bearer token of each request turned into the request's :class:`Principal`.

Spec: RFC 6750 (``Authorization: Bearer``, ``WWW-Authenticate: Bearer error="invalid_token"``) and
SMART App Launch 2.0 https://hl7.org/fhir/smart-app-launch/app-launch.html#step-5-access-protected-resources.

:class:`Authentication` is an ASGI middleware installed by :func:`senhealth.api.create_app` outermost,
so that every route, the fast read path included, runs with
:func:`senhealth.fhir.access.current_principal` set. It is given an ``authenticate(headers)`` callable
(the OAuth server's bearer validation, :mod:`senhealth.security.oauth`, wired by the app) that returns
the principal, ``None`` for no token, or raises an error carrying ``status`` 401 for a bad one.

- a bad or expired token: 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` and an
  OperationOutcome, whatever the path;
- no token: allowed when sign-in is not required (development, the FHIR core's own tests), else 401
  ``WWW-Authenticate: Bearer`` for the FHIR API; the sign-in endpoints, discovery documents
  (``/.well-known/...``), the CapabilityStatement and the API docs stay open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from senhealth.core.errors import operation_outcome
from senhealth.core.request_context import client_address
from senhealth.fhir.access import Principal, current_principal

__all__ = ["Authenticate", "Authentication"]

Authenticate = Callable[[Mapping[str, str]], Awaitable[Principal | None]]

# Paths answered without a token even when sign-in is required.
_OPEN_PREFIXES: Final = ("/.well-known/", "/auth/", "/docs", "/openapi.json", "/static/", "/pki/")
_OPEN_PATHS: Final = frozenset({"/fhir/metadata", "/", "/health", "/cds-services"})


def _is_open(path: str) -> bool:
    return path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES)


class Authentication:
    """See the module docstring. ``required``: whether FHIR requests need a token."""

    def __init__(self, app: ASGIApp, authenticate: Authenticate, required: bool) -> None:
        self.app = app
        self.authenticate = authenticate
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            principal = await self.authenticate(headers)
        except Exception as exc:  # a token that does not verify
            status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
            if status != 401:
                raise
            await _refuse(send, str(exc) or "The access token is not valid", 'Bearer error="invalid_token"')
            return
        if principal is None and self.required and not _is_open(scope["path"]):
            await _refuse(
                send, "Sign in first: this request needs an access token (Authorization: Bearer)", "Bearer"
            )
            return
        token = current_principal().set(principal)
        client = scope.get("client")
        address = client_address.set(str(client[0]) if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(address)
            current_principal().reset(token)


async def _refuse(send: Send, message: str, challenge: str) -> None:
    body = orjson.dumps(operation_outcome("error", "login", message))
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/fhir+json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
