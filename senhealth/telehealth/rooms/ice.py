"""The ICE servers handed to a room's participants: STUN, and TURN with time-limited credentials.

Spec: ``RTCIceServer`` (``urls``, ``username``, ``credential``) https://www.w3.org/TR/webrtc/#rtciceserver-dictionary;
TURN REST API credentials https://datatracker.ietf.org/doc/html/draft-uberti-behave-turn-rest-00 §2.2, as
coturn checks them with ``use-auth-secret`` / ``static-auth-secret``
(https://github.com/coturn/coturn/blob/master/README.turnserver, "TURN REST API"):
``username = "<unix expiry>:<user>"`` and ``credential = base64(HMAC-SHA1(secret, username))``. The
platform and coturn share only the secret; a leaked credential stops working at its expiry.

The ``<user>`` part is a hash of the room and the participant (not a name: coturn logs user names).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from senhealth.telehealth.rooms.config import VideoConfig

__all__ = ["ice_servers", "turn_credential"]


def turn_credential(secret: str, username: str) -> str:
    """coturn's REST credential of ``username`` under ``secret`` (base64 of HMAC-SHA1)."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(
    config: VideoConfig, *, room: str, participant: str, now: float | None = None
) -> list[dict[str, Any]]:
    """The ``RTCIceServer`` list for one participant (see the module docstring); empty when nothing is
    configured (peers on one network still connect through their host candidates)."""
    servers: list[dict[str, Any]] = []
    if config.stun_urls:
        servers.append({"urls": list(config.stun_urls)})
    if not config.turn_urls:
        return servers
    if config.turn_secret is not None:
        expiry = int(time.time() if now is None else now) + config.turn_credential_ttl_s
        user = hashlib.sha256(f"{room}\x1f{participant}".encode()).hexdigest()[:16]
        username = f"{expiry}:{user}"
        credential = turn_credential(config.turn_secret.get_secret_value(), username)
        servers.append({"urls": list(config.turn_urls), "username": username, "credential": credential})
    elif config.turn_username and config.turn_password is not None:
        servers.append(
            {
                "urls": list(config.turn_urls),
                "username": config.turn_username,
                "credential": config.turn_password.get_secret_value(),
            }
        )
    return servers
