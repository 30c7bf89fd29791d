"""OAuth 2.0 / OpenID Connect / SMART App Launch 2.0 for Sen Health (DESIGN.md §3 ``security/``).

Spec: https://hl7.org/fhir/smart-app-launch/ (App Launch 2.0, backend services, scopes), RFC 6749,
7636, 7523, 7662, 7009, 9068. Modules: :mod:`.scopes` (SMART scopes, pure), :mod:`.tokens` and
:mod:`.keys` (signed JWT access tokens), :mod:`.clients`, :mod:`.storage` (PostgreSQL),
:mod:`.authorization_server` (Authlib grants), :mod:`.introspection`, :mod:`.revocation`,
:mod:`.smart_configuration`, :mod:`.external` (other OpenID providers' tokens), :mod:`.bearer`
(request -> :class:`~senhealth.fhir.access.Principal`), :mod:`.users` (the ``UserDirectory`` protocol
the accounts module satisfies). The HTTP side is :mod:`senhealth.api.auth`.
"""

from senhealth.security.oauth.bearer import BearerAuthenticator, authenticate_request
from senhealth.security.oauth.clients import Client, register_client
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.external import ClaimMapping, ExternalIssuer
from senhealth.security.oauth.scopes import permits
from senhealth.security.oauth.tokens import InvalidTokenError, TokenService
from senhealth.security.oauth.users import UserDirectory, UserInfo

__all__ = [
    "BearerAuthenticator",
    "ClaimMapping",
    "Client",
    "ExternalIssuer",
    "InvalidTokenError",
    "OAuthConfig",
    "TokenService",
    "UserDirectory",
    "UserInfo",
    "authenticate_request",
    "permits",
    "register_client",
]
