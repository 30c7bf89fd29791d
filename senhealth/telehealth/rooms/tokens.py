"""Room tokens: short-lived signed JWTs that admit one participant to one video room (an Appointment).

Spec: JWT https://www.rfc-editor.org/rfc/rfc7519 and explicit typing (``typ``) of RFC 8725 §3.11
https://www.rfc-editor.org/rfc/rfc8725#section-3.11; signing with joserfc
https://jose.authlib.org/en/dev/guide/jwt/.

A room token is signed with the platform's own signing key (the OAuth server's ES256 key,
:mod:`senhealth.security.oauth.keys`): no second secret to manage. Its header says
``typ: senhealth-room+jwt``, so it is never taken for an access token (those are ``at+jwt`` and their
check refuses any other type), nor an access token for a room token. Claims:

- ``iss``: the platform's issuer; ``aud``: ``urn:senhealth:telehealth-room:<appointment id>``, the room;
- ``sub``: the participant as the Appointment names it (``Practitioner/<id>``, ``PractitionerRole/<id>``,
  ``Patient/<id>``): the identity the signalling server puts in ``from``;
- ``room``: the appointment id; ``name``: the name shown to the others;
- ``acct``, ``kind``, ``fac``: the account that asked, its kind (``user``, ``patient``) and facility, for the
  audit of what the participant does in the room (chat kept as Communication);
- ``iat``, ``exp`` (``ttl_s`` later, default 10 minutes), ``jti``.

A token admits its holder only while it is valid; a connection once admitted stays open past ``exp`` (the
call goes on), and a reconnection needs a new token.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from senhealth.core.errors import SenHealthError

__all__ = ["ROOM_TOKEN_TYPE", "RoomClaims", "RoomTokenError", "RoomTokens", "room_audience"]

ROOM_TOKEN_TYPE: Final = "senhealth-room+jwt"
_ALGORITHM: Final = "ES256"
_LEEWAY_S: Final = 5


class RoomTokenError(SenHealthError):
    """A room token that is malformed, badly signed, expired or for another room (closes with 4401)."""

    status = 401


def room_audience(room: str) -> str:
    """The ``aud`` of the tokens of one room."""
    return f"urn:senhealth:telehealth-room:{room}"


@dataclass(frozen=True, slots=True)
class RoomClaims:
    """What a verified room token says (see the module docstring)."""

    room: str
    participant: str
    name: str
    account: str
    kind: str
    facility: str | None
    expires: int
    jti: str


@dataclass(frozen=True, slots=True)
class RoomTokens:
    """Mints and verifies room tokens with ``key`` (the platform's ES256 signing key) for ``issuer``."""

    key: ECKey
    issuer: str

    def mint(
        self,
        *,
        room: str,
        participant: str,
        name: str,
        account: str,
        kind: str,
        facility: str | None,
        ttl_s: int,
        now: float | None = None,
    ) -> tuple[str, RoomClaims]:
        """A token for ``participant`` in ``room`` and its claims."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": room_audience(room),
            "sub": participant,
            "room": room,
            "name": name,
            "acct": account,
            "kind": kind,
            "iat": issued,
            "exp": issued + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if facility:
            claims["fac"] = facility
        header = {"alg": _ALGORITHM, "typ": ROOM_TOKEN_TYPE}
        if self.key.kid:
            header["kid"] = self.key.kid
        return jwt.encode(header, claims, self.key), _claims(claims)

    def verify(self, token: str, *, room: str | None = None, now: float | None = None) -> RoomClaims:
        """The claims of a valid token (signature, type, issuer, expiry; ``room``: its audience too).
        Raises :class:`RoomTokenError`."""
        if not token or len(token) > 4096:
            raise RoomTokenError("no room token")
        try:
            decoded = jwt.decode(token, self.key, algorithms=[_ALGORITHM])
        except (JoseError, ValueError) as e:
            raise RoomTokenError("the room token is not valid") from e
        if decoded.header.get("typ") != ROOM_TOKEN_TYPE:
            raise RoomTokenError("not a room token")
        claims = dict(decoded.claims)
        expected: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "exp": {"essential": True},
            "sub": {"essential": True},
            "jti": {"essential": True},
            "room": {"essential": True},
        }
        if room is not None:
            expected["aud"] = {"essential": True, "value": room_audience(room)}
        try:
            jwt.JWTClaimsRegistry(
                now=None if now is None else int(now), leeway=_LEEWAY_S, **expected
            ).validate(claims)
        except (JoseError, ValueError) as e:
            raise RoomTokenError(
                f"the room token is not valid: {getattr(e, 'description', None) or e}"
            ) from e
        if claims.get("aud") != room_audience(str(claims["room"])):
            raise RoomTokenError("the room token is not valid: audience")
        return _claims(claims)


def _claims(claims: dict[str, Any]) -> RoomClaims:
    return RoomClaims(
        room=str(claims["room"]),
        participant=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        account=str(claims.get("acct") or ""),
        kind=str(claims.get("kind") or "user"),
        facility=claims.get("fac"),
        expires=int(claims["exp"]),
        jti=str(claims["jti"]),
    )
