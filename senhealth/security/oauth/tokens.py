"""Access tokens and ID tokens: signed JWTs (ES256) minted and verified by this server.

Spec: JWT access tokens https://www.rfc-editor.org/rfc/rfc9068 (``iss sub aud exp iat jti
client_id scope``); SMART launch context and ``fhirUser``
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html; OpenID Connect ID token
https://openid.net/specs/openid-connect-core-1_0.html#IDToken. Signing and checking with joserfc:
https://jose.authlib.org/en/dev/guide/jwt/

Access-token claims: ``iss``, ``aud`` (the FHIR base), ``sub`` (the user's id, or the client's for a
backend service), ``client_id``, ``scope``, ``exp``, ``iat``, ``jti``, ``kind`` (``user``,
``patient``, ``system``), and when known ``fhirUser``, ``patient`` (the launch context), ``facility``,
``roles``.

Break-the-glass (https://hl7.org/fhir/R4/security.html#break-glass): a user token may carry
``senhealth_break_glass``, the reason the user gave for emergency access to records outside their care
relationships (the access policy then lifts its restriction; every access is audited with the reason,
purpose of use ``BTG``). Such a token lives at most :data:`BREAK_GLASS_MAX_S` (30 minutes); who may get
one is decided by :mod:`senhealth.security.break_glass`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from senhealth.core.errors import SenHealthError
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.keys import load_or_create_signing_key, public_jwks
from senhealth.security.oauth.users import UserInfo, fhir_user

__all__ = ["BREAK_GLASS_CLAIM", "BREAK_GLASS_MAX_S", "InvalidTokenError", "TokenService", "principal_kind"]

ALGORITHM = "ES256"
#: The access-token claim holding the break-the-glass reason.
BREAK_GLASS_CLAIM: Final = "senhealth_break_glass"
#: The longest a break-the-glass token may live, in seconds (30 minutes).
BREAK_GLASS_MAX_S: Final = 30 * 60


class InvalidTokenError(SenHealthError):
    """A bearer token that is malformed, badly signed, expired, revoked or not for this server (401)."""

    status = 401


def principal_kind(user: UserInfo) -> Literal["user", "patient"]:
    """A citizen on their own record is a ``patient``; staff are ``user``."""
    if user.practitioner is None and user.patient is not None and user.roles <= {"patient"}:
        return "patient"
    return "user"


@dataclass(slots=True)
class TokenService:
    """Mints and verifies this server's JWTs with the key from ``config.signing_key_path``."""

    config: OAuthConfig
    key: ECKey
    _keys: KeySet | None = None

    @classmethod
    def from_config(cls, config: OAuthConfig) -> TokenService:
        return cls(config, load_or_create_signing_key(config.signing_key_path))

    def jwks(self) -> dict[str, Any]:
        return public_jwks(self.key, self.config.previous_keys_path)

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.key.kid, "typ": "at+jwt"}, claims, self.key)

    def access_claims(
        self,
        *,
        client_id: str,
        scope: str,
        user: UserInfo | None,
        patient: str | None = None,
        lifetime_s: int | None = None,
        break_glass: str | None = None,
    ) -> dict[str, Any]:
        """The claims of an access token. ``break_glass``: the emergency-access reason (a user token
        only; its lifetime is then capped at :data:`BREAK_GLASS_MAX_S`); validate it first with
        :func:`senhealth.security.break_glass.mint_break_glass_token`, which calls this."""
        now = int(time.time())
        if lifetime_s is None:
            minutes = self.config.system_token_minutes if user is None else self.config.access_token_minutes
            lifetime_s = minutes * 60
        if break_glass is not None:
            if user is None or not break_glass.strip():
                raise ValueError("break-the-glass needs a user and a reason")
            lifetime_s = min(lifetime_s, BREAK_GLASS_MAX_S)
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "aud": self.config.fhir_base,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": scope,
        }
        if user is None:
            claims.update(sub=client_id, kind="system", roles=["system"])
        else:
            kind = principal_kind(user)
            claims.update(sub=user.id, kind=kind, roles=sorted(user.roles))
            if user.facility:
                claims["facility"] = user.facility
            if who := fhir_user(user):
                claims["fhirUser"] = who
            if kind == "patient" and patient is None:
                patient = user.patient
        if patient:
            claims["patient"] = patient
        if break_glass is not None:
            claims[BREAK_GLASS_CLAIM] = break_glass
        return claims

    def mint(self, claims: dict[str, Any]) -> str:
        return self._sign(claims)

    def id_token(self, user: UserInfo, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "sub": user.id,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "preferred_username": user.username,
        }
        if who := fhir_user(user):
            claims["fhirUser"] = f"{self.config.fhir_base}/{who}"
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": ALGORITHM, "kid": self.key.kid}, claims, self.key)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this server signed, checked (signature, ``iss``, ``aud``, ``exp``);
        revocation is the caller's check. Raises :class:`InvalidTokenError`."""
        if self._keys is None:
            self._keys = KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]
        keys = self._keys
        try:
            decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.fhir_base},
                exp={"essential": True},
                jti={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as e:
            raise InvalidTokenError(f"invalid access token: {getattr(e, 'description', None) or e}") from e
        if decoded.header.get("typ") != "at+jwt":
            raise InvalidTokenError("invalid access token: not an access token")
        return dict(decoded.claims)
