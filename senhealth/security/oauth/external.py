"""Tokens of external OpenID providers (a provincial identity service, a licensed VNeID
authentication provider), checked against the provider's JWKS.

Spec: OpenID Connect Discovery ``jwks_uri`` https://openid.net/specs/openid-connect-discovery-1_0.html,
JWT validation https://www.rfc-editor.org/rfc/rfc7519#section-7.2 and
https://www.rfc-editor.org/rfc/rfc8725 (JWT best practices: an explicit algorithm list, ``iss`` and
``aud`` always checked). joserfc verifies: https://jose.authlib.org/en/dev/guide/jwt/

An :class:`ExternalIssuer` names the provider's ``iss``, its ``jwks_uri`` and the ``aud`` its tokens
must carry for this platform, and maps its claims to a :class:`~senhealth.fhir.access.Principal`
(:class:`ClaimMapping`). The JWKS is fetched on first use and cached; a token signed with a ``kid``
the cache does not have makes one refetch (key rotation), at most every ``min_refetch_s`` seconds, so
a flood of forged ``kid`` values cannot turn into a flood of requests to the provider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from senhealth.fhir.access import Principal
from senhealth.security.oauth.tokens import InvalidTokenError

__all__ = ["ClaimMapping", "ExternalIssuer"]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which claim holds what. ``roles`` may be a list or a space-separated string; a token with a
    patient and no roles (or only ``patient``) is a citizen: ``kind="patient"``. ``default_scopes``
    apply when the token carries no ``scope``; ``default_roles`` when it carries no roles."""

    subject: str = "sub"
    roles: str = "roles"
    facility: str = "facility"
    patient: str = "patient"
    practitioner: str = "practitioner"
    scope: str = "scope"
    default_scopes: tuple[str, ...] = ()
    default_roles: tuple[str, ...] = ()


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


@dataclass
class ExternalIssuer:
    issuer: str
    jwks_uri: str
    audience: str
    mapping: ClaimMapping = field(default_factory=ClaimMapping)
    min_refetch_s: float = 30.0
    timeout_s: float = 5.0
    _keys: KeySet | None = None
    _fetched_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _fetch(self) -> KeySet:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            response = await client.get(self.jwks_uri)
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
            self._fetched_at = time.monotonic()
            return self._keys

    async def keys(self, kid: str | None) -> KeySet:
        """The provider's keys, refetched when ``kid`` is unknown (rate-limited)."""
        async with self._lock:
            keys = self._keys
            known = keys is not None and (kid is None or any(k.kid == kid for k in keys.keys))
            if keys is not None and (known or time.monotonic() - self._fetched_at < self.min_refetch_s):
                return keys
            try:
                return await self._fetch()
            except (httpx.HTTPError, ValueError, JoseError) as e:
                if keys is not None:
                    return keys
                raise InvalidTokenError(f"the keys of {self.issuer} could not be fetched: {e}") from e

    async def verify(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        keys = await self.keys(header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as e:
            raise InvalidTokenError(
                f"invalid token from {self.issuer}: {getattr(e, 'description', None) or e}"
            ) from e
        return dict(decoded.claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        m = self.mapping
        roles = frozenset(_strings(claims.get(m.roles)) or m.default_roles)
        patient = claims.get(m.patient)
        practitioner = claims.get(m.practitioner)
        kind: Literal["user", "patient"] = (
            "patient" if patient and not practitioner and roles <= {"patient"} else "user"
        )
        return Principal(
            kind=kind,
            subject=f"{self.issuer}#{claims[m.subject]}",
            roles=roles or (frozenset({"patient"}) if kind == "patient" else frozenset()),
            facility=claims.get(m.facility),
            scopes=frozenset(_strings(claims.get(m.scope)) or m.default_scopes),
            patient=str(patient) if patient else None,
            practitioner=str(practitioner) if practitioner else None,
            client_id=claims.get("azp") or claims.get("client_id"),
            claims=claims,
        )
