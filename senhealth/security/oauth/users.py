"""The user accounts the authorization server signs people in against, as a protocol.

Spec: OpenID Connect Core ``sub`` and SMART's ``fhirUser`` claim
(https://openid.net/specs/openid-connect-core-1_0.html#IDToken,
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-identity-data).

The accounts module (``senhealth.security.accounts``: argon2id passwords, TOTP, roles, facility)
satisfies :class:`UserDirectory`; the OAuth code depends only on this protocol, so it can be tested
with an in-memory directory and wired to the real one in ``senhealth.app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["UserDirectory", "UserInfo", "fhir_user", "user_from_claims", "user_to_claims"]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A signed-in account: ``id`` is its stable subject; ``facility`` is ``Organization/<id>``;
    ``practitioner`` / ``patient`` the FHIR ids (``Practitioner/<id>``, or a bare id) it stands for."""

    id: str
    username: str
    roles: frozenset[str] = frozenset()
    facility: str | None = None
    practitioner: str | None = None
    patient: str | None = None


class UserDirectory(Protocol):
    """Where accounts live. ``authenticate`` returns the user or raises (any exception: sign-in refused,
    the message is shown on the form); ``get`` returns None for an unknown or disabled account."""

    async def authenticate(self, username: str, password: str, totp: str | None) -> UserInfo: ...

    async def get(self, user_id: str) -> UserInfo | None: ...


def _ref(kind: str, value: str | None) -> str | None:
    if not value:
        return None
    return value if "/" in value else f"{kind}/{value}"


def fhir_user(user: UserInfo) -> str | None:
    """The ``fhirUser`` claim: the Practitioner the user is, else their own Patient record."""
    return _ref("Practitioner", user.practitioner) or _ref("Patient", user.patient)


def user_to_claims(user: UserInfo) -> dict[str, Any]:
    """``user`` as JSON (stored with codes and refresh tokens)."""
    return {
        "id": user.id,
        "username": user.username,
        "roles": sorted(user.roles),
        "facility": user.facility,
        "practitioner": user.practitioner,
        "patient": user.patient,
    }


def user_from_claims(data: dict[str, Any]) -> UserInfo:
    return UserInfo(
        id=str(data["id"]),
        username=str(data.get("username", data["id"])),
        roles=frozenset(data.get("roles") or ()),
        facility=data.get("facility"),
        practitioner=data.get("practitioner"),
        patient=data.get("patient"),
    )
