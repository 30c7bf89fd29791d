"""Token introspection (RFC 7662) of this server's access tokens (JWTs) and refresh tokens.

Spec: https://www.rfc-editor.org/rfc/rfc7662; SMART's use of it
https://hl7.org/fhir/smart-app-launch/token-introspection.html (``active``, ``scope``, ``client_id``,
``exp``, ``sub``, ``fhirUser``, ``patient``). Authlib: ``IntrospectionEndpoint``
https://docs.authlib.org/en/latest/specs/rfc7662.html

Who may introspect: a confidential client (``private_key_jwt``: a resource server) any token; a
public client only the tokens issued to it. Anything else, and any unknown, expired or revoked token,
answers ``{"active": false}``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7662 import IntrospectionEndpoint  # type: ignore[import-untyped]

from senhealth.security.oauth import storage
from senhealth.security.oauth.tokens import InvalidTokenError

__all__ = ["SmartIntrospectionEndpoint", "find_token"]

TokenRecord = storage.AccessRecord | storage.RefreshRecord


def find_token(server: Any, token_string: str, hint: str | None) -> TokenRecord | None:
    """The access or refresh token ``token_string`` (``hint`` says which to try first)."""
    order = (
        ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    )
    for kind in order:
        if kind == "access_token":
            if token_string.count(".") != 2:
                continue
            try:
                claims = server.tokens.verify(token_string)
            except InvalidTokenError:
                continue
            return storage.AccessRecord(claims, storage.is_revoked(str(claims["jti"])))
        record = storage.find_refresh(token_string)
        if record is not None:
            return record
    return None


class SmartIntrospectionEndpoint(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["private_key_jwt", "none"]  # noqa: RUF012

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: Any, request: Any) -> bool:
        if client.token_endpoint_auth_method == "private_key_jwt":
            return True
        return token.check_client(client)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        if isinstance(token, storage.RefreshRecord):
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": token.client_id,
                "scope": token.scope,
                "sub": token.subject.user.id,
                "username": token.subject.user.username,
                "exp": int(token.expires_at.timestamp()),
                "iat": int(token.issued_at.timestamp()),
            }
        claims = token.claims
        out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        for name in (
            "scope",
            "client_id",
            "sub",
            "exp",
            "iat",
            "iss",
            "aud",
            "jti",
            "fhirUser",
            "patient",
            "facility",
            "roles",
        ):
            if name in claims:
                out[name] = claims[name]
        return out
