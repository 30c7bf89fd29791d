"""Bearer-token authentication of API requests: from an ``Authorization`` header to a
:class:`~senhealth.fhir.access.Principal`.

Spec: RFC 6750 https://www.rfc-editor.org/rfc/rfc6750 (``Authorization: Bearer``, the
``WWW-Authenticate: Bearer error="invalid_token"`` answer of §3); SMART access tokens
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5.

:func:`authenticate_request` returns None when the request carries no bearer token (anonymous: the
access policy decides), the principal for a good token, and raises
:class:`~senhealth.security.oauth.tokens.InvalidTokenError` (401) for a bad one. A token is this
server's own JWT (signature, ``iss``, ``aud``, ``exp``, and its ``jti`` not revoked) or an external
issuer's (:mod:`senhealth.security.oauth.external`), chosen by its ``iss``. Revocation answers are
cached for ``revocation_cache_s`` seconds (default 5): a revoked token may work that long afterwards
in a process that checked it just before, which is the price of not asking the database on every
request; :func:`note_revoked` closes that window in this process for a token it revoked itself (the
web's "end emergency access").

Break-the-glass (https://hl7.org/fhir/R4/security.html#break-glass): the ``senhealth_break_glass``
claim becomes :attr:`Principal.break_glass` only when the token is fit for it (a care role, a reason, a
lifetime of at most 30 minutes: :func:`senhealth.security.break_glass.reason_of`); otherwise the token is
refused (401), so a badly minted token can never lift the access policy's restriction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

import senhealth.security.break_glass as break_glass_rules  # a module: break_glass imports oauth too
from senhealth.core import db
from senhealth.fhir.access import Principal
from senhealth.security.oauth import storage
from senhealth.security.oauth.external import ExternalIssuer
from senhealth.security.oauth.tokens import InvalidTokenError, TokenService

__all__ = [
    "BearerAuthenticator",
    "authenticate_request",
    "install_authenticator",
    "note_revoked",
    "principal_from_claims",
]

RevocationCheck = Callable[[str], Awaitable[bool]]


async def _revoked_in_database(jti: str) -> bool:
    async with db.get_pool().connection() as connection:
        return await storage.is_revoked_async(connection, jti)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal of one of this server's access tokens."""
    kind = claims.get("kind")
    if kind not in ("user", "patient", "system"):
        raise InvalidTokenError("invalid access token: unknown kind")
    who = claims.get("fhirUser")
    practitioner = who.split("/", 1)[1] if isinstance(who, str) and who.startswith("Practitioner/") else None
    return Principal(
        kind=kind,
        subject=str(claims["sub"]),
        roles=frozenset(claims.get("roles") or ()),
        facility=claims.get("facility"),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        patient=claims.get("patient"),
        practitioner=practitioner,
        client_id=claims.get("client_id"),
        break_glass=break_glass_rules.reason_of(claims),
        claims=claims,
    )


@dataclass
class BearerAuthenticator:
    tokens: TokenService
    external: Sequence[ExternalIssuer] = ()
    revoked: RevocationCheck = _revoked_in_database
    revocation_cache_s: float = 5.0
    _cache: dict[str, tuple[float, bool]] = field(default_factory=dict)
    # token -> (exp, principal) of this server's own tokens already verified: the signature check and
    # claim parsing cost ~0.3 ms, done once per token instead of once per request
    _verified: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    async def _is_revoked(self, jti: str) -> bool:
        now = time.monotonic()
        hit = self._cache.get(jti)
        if hit is not None and now - hit[0] < self.revocation_cache_s:
            return hit[1]
        answer = await self.revoked(jti)
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.revocation_cache_s}
        self._cache[jti] = (now, answer)
        return answer

    def note_revoked(self, jti: str) -> None:
        """Remember at once that ``jti`` was revoked (by this process), without waiting for the cache."""
        self._cache[jti] = (time.monotonic(), True)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        value = headers.get("authorization") or headers.get("Authorization")
        if not value:
            return None
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token:
            raise InvalidTokenError("empty bearer token")
        known = self._verified.get(token)
        if known is not None and known[0] > time.time():
            if await self._is_revoked(str(known[1].claims.get("jti"))):
                raise InvalidTokenError("the access token was revoked")
            return known[1]
        try:
            compact = jws.extract_compact(token.encode())
            header = compact.headers()
            payload = json.loads(compact.payload)
        except (JoseError, ValueError) as e:
            raise InvalidTokenError("the bearer token is not a JWT") from e
        issuer = payload.get("iss") if isinstance(payload, dict) else None
        for ext in self.external:
            if issuer == ext.issuer:
                return ext.principal(await ext.verify(token, header))
        claims = self.tokens.verify(token)
        if await self._is_revoked(str(claims["jti"])):
            raise InvalidTokenError("the access token was revoked")
        principal = principal_from_claims(claims)
        if len(self._verified) > 10_000:
            now = time.time()
            self._verified = {k: v for k, v in self._verified.items() if v[0] > now}
        self._verified[token] = (float(claims.get("exp", 0)), principal)
        return principal


_installed: BearerAuthenticator | None = None


def install_authenticator(authenticator: BearerAuthenticator | None) -> None:
    global _installed
    _installed = authenticator


def note_revoked(jti: str) -> None:
    """Tell the installed authenticator (if any) that ``jti`` was just revoked in this process."""
    if _installed is not None:
        _installed.note_revoked(jti)


async def authenticate_request(headers: Mapping[str, str]) -> Principal | None:
    """The principal of a request's bearer token with the installed authenticator (see the module
    docstring); raises RuntimeError if :func:`install_authenticator` was not called."""
    if _installed is None:
        raise RuntimeError("no bearer authenticator installed: call install_auth(app, ...) first")
    return await _installed.authenticate(headers)
