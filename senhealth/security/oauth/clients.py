"""Registered OAuth clients (SMART apps and backend services) and their storage in ``oauth_client``.

Spec: client types https://www.rfc-editor.org/rfc/rfc6749#section-2.1; SMART client types
https://hl7.org/fhir/smart-app-launch/app-launch.html#support-for-public-and-confidential-apps
(public clients with PKCE, confidential asymmetric clients with ``private_key_jwt``
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html); client metadata names
from https://www.rfc-editor.org/rfc/rfc7591#section-2. Authlib's client model:
https://docs.authlib.org/en/latest/oauth/2/ (``ClientMixin``).

Client secrets (``client_secret_basic``) are deliberately not supported: SMART 2.0 recommends
asymmetric authentication, and a shared secret is one more thing to leak.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from authlib.oauth2.rfc6749 import ClientMixin  # type: ignore[import-untyped]
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.security.oauth.scopes import narrow, parse_scopes

__all__ = ["Client", "get_client", "register_client", "register_client_sync"]

AuthMethod = Literal["none", "private_key_jwt"]

_COLUMNS = (
    "client_id, client_name, token_endpoint_auth_method, redirect_uris, grant_types, scope, jwks, jwks_uri"
)


@dataclass(frozen=True, slots=True)
class Client(ClientMixin):  # type: ignore[misc]
    """One registered client; ``scope`` is the most it may be granted."""

    client_id: str
    client_name: str
    token_endpoint_auth_method: AuthMethod
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scope: str = ""
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    # -- authlib's ClientMixin -----------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(narrow(scope, self.scope))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match (RFC 9700 §2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        return method in ("none", "private_key_jwt") and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _row(row: Sequence[Any]) -> Client:
    return Client(
        client_id=row[0],
        client_name=row[1],
        token_endpoint_auth_method=row[2],
        redirect_uris=tuple(row[3] or ()),
        grant_types=tuple(row[4] or ()),
        scope=row[5],
        jwks=row[6],
        jwks_uri=row[7],
    )


def _check(client: Client) -> None:
    parse_scopes(client.scope)  # raises ScopeError
    if client.is_public and "client_credentials" in client.grant_types:
        raise ValueError("a public client cannot use client_credentials")
    if client.token_endpoint_auth_method == "private_key_jwt" and not (client.jwks or client.jwks_uri):
        raise ValueError("a private_key_jwt client needs its jwks")
    if "authorization_code" in client.grant_types and not client.redirect_uris:
        raise ValueError("an authorization_code client needs its redirect_uris")


_UPSERT = f"""
INSERT INTO oauth_client ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (client_id) DO UPDATE SET client_name = EXCLUDED.client_name,
    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
    redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types, scope = EXCLUDED.scope,
    jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri, disabled_at = NULL
"""


def _params(client: Client) -> tuple[Any, ...]:
    return (
        client.client_id,
        client.client_name,
        client.token_endpoint_auth_method,
        list(client.redirect_uris),
        list(client.grant_types),
        client.scope,
        json.dumps(client.jwks) if client.jwks is not None else None,
        client.jwks_uri,
    )


async def register_client(conn: AsyncConnection[TupleRow], client: Client) -> Client:
    """Register (or replace) ``client``; raises ValueError / ScopeError for an inconsistent one."""
    _check(client)
    await conn.execute(_UPSERT, _params(client))
    return client


def register_client_sync(conn: psycopg.Connection[TupleRow], client: Client) -> Client:
    _check(client)
    conn.execute(_UPSERT, _params(client))
    return client


def get_client(conn: psycopg.Connection[TupleRow], client_id: str) -> Client | None:
    """The enabled client ``client_id``, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM oauth_client WHERE client_id = %s AND disabled_at IS NULL", (client_id,)
    ).fetchone()
    return _row(row) if row else None
