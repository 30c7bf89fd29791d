"""Token revocation (RFC 7009) of this server's access tokens and refresh tokens.

Spec: https://www.rfc-editor.org/rfc/rfc7009. Authlib: ``RevocationEndpoint``
https://docs.authlib.org/en/latest/specs/rfc7009.html

A client may revoke only tokens issued to it (a public client names itself with ``client_id``).
Revoking an access token records its ``jti`` until its ``exp`` (the bearer check consults the list,
cached for a few seconds: :mod:`senhealth.security.oauth.bearer`); revoking a refresh token marks it.
An unknown token answers 200 as the RFC says.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint  # type: ignore[import-untyped]

from senhealth.security.oauth import storage
from senhealth.security.oauth.introspection import TokenRecord, find_token

__all__ = ["SmartRevocationEndpoint"]


class SmartRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["private_key_jwt", "none"]  # noqa: RUF012

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        if isinstance(token, storage.RefreshRecord):
            storage.revoke_refresh(token.token_hash)
        else:
            storage.revoke_jti(str(token.claims["jti"]), float(token.claims["exp"]))
