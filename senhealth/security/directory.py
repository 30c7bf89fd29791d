"""The accounts as the OAuth server's user directory (:class:`senhealth.security.oauth.users.UserDirectory`).

Spec: SMART App Launch 2.0 https://hl7.org/fhir/smart-app-launch/app-launch.html (the user who signs in
on the authorization endpoint; ``fhirUser`` is their Practitioner or Patient).

Sign-in goes through :func:`senhealth.security.accounts.authenticate`, told whether the request comes
from a facility network (``Settings.facility_networks``, the client address of
:mod:`senhealth.core.request_context`): from outside, two-factor is required.
"""

from __future__ import annotations

from senhealth.core.request_context import client_address
from senhealth.security import accounts
from senhealth.security.oauth.users import UserInfo

__all__ = ["AccountDirectory", "user_info"]


def user_info(user: accounts.User) -> UserInfo:
    return UserInfo(
        id=user.id,
        username=user.username,
        roles=frozenset(user.roles),
        facility=user.facility,
        practitioner=user.practitioner,
        patient=user.patient,
    )


class AccountDirectory:
    """:class:`UserDirectory` on the platform's accounts."""

    async def authenticate(self, username: str, password: str, totp: str | None) -> UserInfo:
        inside = accounts.in_facility_network(client_address.get())
        user = await accounts.authenticate(username, password, totp, from_facility_network=inside)
        return user_info(user)

    async def get(self, user_id: str) -> UserInfo | None:
        user = await accounts.get_user(user_id)
        if user is None or user.disabled:
            return None
        return user_info(user)
