"""The OAuth 2.0 authorization server for SMART App Launch 2.0, on Authlib's core classes.

Spec: OAuth 2.0 https://www.rfc-editor.org/rfc/rfc6749; PKCE https://www.rfc-editor.org/rfc/rfc7636;
SMART App Launch https://hl7.org/fhir/smart-app-launch/app-launch.html; backend services
https://hl7.org/fhir/smart-app-launch/backend-services.html; ``private_key_jwt``
https://www.rfc-editor.org/rfc/rfc7523 and
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html. Authlib:
https://docs.authlib.org/en/latest/oauth/2/ (its framework-independent ``AuthorizationServer``, with
the request adapter written here: Authlib has no FastAPI server integration).

Grants: ``authorization_code`` with PKCE ``S256`` required of every client (SMART 2.0 requires it;
``plain`` is refused), ``refresh_token`` (only when ``offline_access`` or ``online_access`` was
granted; rotated on each use), ``client_credentials`` for confidential asymmetric clients, which
get ``system/`` scopes only. Client authentication: ``none`` (public clients) and ``private_key_jwt``
(the client's JWKS registered with it; assertions ``RS384 ES384 RS256 ES256``, ``exp`` at most five
minutes ahead, ``jti`` single use). The granted scope is the requested scope narrowed to what the
client is registered for (:func:`senhealth.security.oauth.scopes.narrow`).

Authlib is synchronous: :meth:`AuthServer.run` calls it in a worker thread with its own database
connection (auth endpoints are few; the API's hot path never comes here).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx
import psycopg
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (  # type: ignore[import-untyped]
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from senhealth.security.oauth import storage
from senhealth.security.oauth.clients import Client, get_client
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.scopes import parse_scopes
from senhealth.security.oauth.storage import GrantSubject
from senhealth.security.oauth.tokens import TokenService, principal_kind

__all__ = ["AuthServer", "FormRequest", "OAuthResponse", "PkceS256", "PrivateKeyJwt"]

T = TypeVar("T")
OAuthResponse = tuple[int, Any, list[tuple[str, str]]]
ASSERTION_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")

# What the token generator issued in this call (read by save_token), one worker-thread call each.
_issued: ContextVar[dict[str, Any] | None] = ContextVar("senhealth_oauth_issued", default=None)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as Authlib sees it: method, URL, headers and its parameters (the query of an
    authorization request, the form body of a token, introspection or revocation request)."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], pairs: Sequence[tuple[str, str]]
    ) -> None:
        super().__init__(method=method, uri=uri, headers=dict(headers))
        self.payload = _Payload(pairs)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class PkceS256(CodeChallenge):  # type: ignore[misc]
    """PKCE with ``S256`` only, required of every client (SMART App Launch 2.0)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (Authlib's attribute)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        state = grant.request.payload.state
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "Missing code_challenge: PKCE is required", redirect_uri=redirect_uri, state=state
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256", redirect_uri=redirect_uri, state=state
            )
        super().validate_code_challenge(grant, redirect_uri)


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "private_key_jwt"]  # noqa: RUF012
    server: AuthServer

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        aud = self.request.payload.data.get("aud")
        if aud is not None and aud.rstrip("/") != self.server.config.fhir_base:
            raise InvalidRequestError(
                "aud is not the FHIR base URL of this server",
                redirect_uri=redirect_uri,
                state=self.request.payload.state,
            )
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        subject: GrantSubject = request.user
        data = request.payload.data
        scope = request.scope or ""
        own = subject.user.patient if principal_kind(subject.user) == "patient" else None
        if (subject.patient or own) is None:  # patient/ scopes mean nothing without a patient context
            scope = " ".join(
                s for s in scope.split() if not s.startswith("patient/") and s != "launch/patient"
            )
        storage.save_code(
            code,
            request.client.client_id,
            request.payload.redirect_uri or request.client.get_default_redirect_uri(),
            scope,
            subject,
            data["code_challenge"],
            data["code_challenge_method"],
            self.server.config.code_seconds,
        )

    def query_authorization_code(self, code: str, client: Client) -> storage.CodeRecord | None:
        return storage.consume_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code: storage.CodeRecord) -> None:
        info = _issued.get() or {}
        storage.mark_code_issued(authorization_code.code_hash, info.get("jti", ""), info.get("refresh_token"))

    def authenticate_user(self, authorization_code: storage.CodeRecord) -> GrantSubject:
        return authorization_code.subject


class SmartRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "private_key_jwt"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> storage.RefreshRecord | None:
        record = storage.find_refresh(refresh_token)
        if record is None or record.is_revoked() or record.is_expired():
            return None
        return record

    def authenticate_user(self, refresh_token: storage.RefreshRecord) -> GrantSubject:
        return refresh_token.subject

    def revoke_old_credential(self, refresh_token: storage.RefreshRecord) -> None:
        storage.revoke_refresh(refresh_token.token_hash)


class SmartClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """SMART backend services: ``private_key_jwt`` clients, ``system/`` scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]  # noqa: RUF012

    def validate_token_request(self) -> None:
        super().validate_token_request()
        granted = self.request.client.get_allowed_scope(self.request.payload.scope or "")
        system = [s for s in granted.split() if s.startswith("system/")]
        if not system:
            raise InvalidScopeError("No system scope requested that this client may be granted")
        self.request.scope = " ".join(system)

    def create_token_response(self) -> OAuthResponse:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` client authentication (RFC 7523 §2.2, SMART asymmetric client auth)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, config: OAuthConfig) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.config = config

    def get_audiences(self) -> list[str]:
        return [self.config.token_endpoint]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except JoseError as e:
            raise InvalidClientError(description=f"Invalid client assertion: {e.error}") from e
        self.verify_claims(token.claims)
        if int(token.claims["exp"]) > time.time() + 300 + self.leeway:
            raise InvalidClientError(description="The client assertion exp is more than 5 minutes ahead")
        return dict(token.claims)

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return storage.remember_assertion(str(claims["sub"]), str(jti), float(claims["exp"]))

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.jwks is not None:
            return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        if client.jwks_uri:
            return _client_jwks(client.jwks_uri)
        raise InvalidClientError(description="The client has no registered JWKS")


_JWKS_CACHE: dict[str, tuple[float, KeySet]] = {}
_JWKS_TTL_S = 300.0


def _client_jwks(uri: str) -> KeySet:
    """A client's JWKS from its ``jwks_uri`` (SMART asymmetric client auth), cached five minutes.
    Runs in Authlib's worker thread, so a blocking fetch is fine."""
    hit = _JWKS_CACHE.get(uri)
    if hit is not None and time.monotonic() - hit[0] < _JWKS_TTL_S:
        return hit[1]
    try:
        response = httpx.get(uri, timeout=5.0, follow_redirects=False)
        response.raise_for_status()
        keys = KeySet.import_key_set(response.json())
    except (httpx.HTTPError, ValueError, JoseError) as e:
        raise InvalidClientError(description="The client's jwks_uri could not be read") from e
    _JWKS_CACHE[uri] = (time.monotonic(), keys)
    return keys


class AuthServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server with this platform's storage, tokens and request adapter."""

    def __init__(self, config: OAuthConfig, tokens: TokenService, conninfo: Callable[[], str]) -> None:
        super().__init__(scopes_supported=None)
        self.config = config
        self.tokens = tokens
        self._conninfo = conninfo
        self.register_grant(SmartAuthorizationCodeGrant, [PkceS256(required=True)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_grant(SmartClientCredentialsGrant)
        self.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(config))
        self.register_token_generator("default", self._generate)
        from senhealth.security.oauth.introspection import SmartIntrospectionEndpoint
        from senhealth.security.oauth.revocation import SmartRevocationEndpoint

        self.register_endpoint(SmartIntrospectionEndpoint)
        self.register_endpoint(SmartRevocationEndpoint)

    async def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` (Authlib work) in a worker thread with a database connection of its own."""
        conninfo = self._conninfo()

        def work() -> T:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                token = storage.CONNECTION.set(connection)
                try:
                    return fn()
                finally:
                    storage.CONNECTION.reset(token)

        return await asyncio.to_thread(work)

    # -- Authlib hooks ---------------------------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return get_client(storage.conn(), client_id)

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: GrantSubject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = scope or ""
        claims = self.tokens.access_claims(
            client_id=client.client_id,
            scope=scope,
            user=user.user if user else None,
            patient=user.patient if user else None,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.tokens.mint(claims),
            "expires_in": claims["exp"] - claims["iat"],
            "scope": scope,
        }
        parsed = parse_scopes(scope)
        if user is not None:
            if "patient" in claims:
                token["patient"] = claims["patient"]
                token["need_patient_banner"] = not user.ehr_launch
            if user.encounter:
                token["encounter"] = user.encounter
            if "openid" in parsed and ("fhirUser" in parsed or "profile" in parsed):
                token["id_token"] = self.tokens.id_token(user.user, client.client_id, user.nonce)
            if include_refresh_token and ("offline_access" in parsed or "online_access" in parsed):
                token["refresh_token"] = generate_token(48)
        _issued.set({"jti": claims["jti"], "refresh_token": token.get("refresh_token")})
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        refresh = token.get("refresh_token")
        if refresh and isinstance(request.user, GrantSubject):
            parsed = parse_scopes(token["scope"])
            if "offline_access" in parsed:
                lifetime = self.config.refresh_token_days * 86400
            else:
                lifetime = self.config.online_refresh_hours * 3600
            storage.save_refresh(refresh, request.client.client_id, token["scope"], request.user, lifetime)

    # -- helpers for the HTTP layer --------------------------------------------------------------------
    def validate_authorization(self, request: FormRequest) -> Any:
        """The authorization grant of a valid request (Authlib's errors otherwise)."""
        grant = self.get_authorization_grant(request)
        grant.validate_no_multiple_request_parameter(request)
        grant.validate_authorization_request()
        return grant
