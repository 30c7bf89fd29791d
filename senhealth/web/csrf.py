"""Cross-site request forgery protection: a synchroniser token bound to the session.

The token of a session is ``HMAC(csrf key, "session" | session id)``: only the server can compute it, it
changes with every session (sign-in makes a new one), and it needs no storage. Before sign-in, the form
is bound to a random pre-session cookie the same way (``"pre" | cookie``). Forms carry it in the hidden
field ``csrf_token``; htmx requests in the ``X-CSRF-Token`` header (``hx-headers`` on ``<body>``).
A state-changing request (any method but GET, HEAD, OPTIONS) without the right token is refused with 403.

OWASP: https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from senhealth.web.keys import WebKeys

__all__ = ["FIELD", "HEADER", "PRE_COOKIE", "check", "new_pre_session", "token_for"]

FIELD: Final = "csrf_token"
HEADER: Final = "x-csrf-token"
PRE_COOKIE: Final = "senhealth_pre"


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def token_for(keys: WebKeys, *, session_id: str | None = None, pre_session: str | None = None) -> str:
    """The CSRF token of a session (or of a pre-sign-in browser)."""
    if session_id:
        return keys.sign("session", session_id)
    if pre_session:
        return keys.sign("pre", pre_session)
    return ""


def check(
    keys: WebKeys, presented: str | None, *, session_id: str | None = None, pre_session: str | None = None
) -> bool:
    """Whether ``presented`` is the token of the session or pre-session (constant time)."""
    if not presented:
        return False
    for expected in (token_for(keys, session_id=session_id), token_for(keys, pre_session=pre_session)):
        if expected and hmac.compare_digest(expected, presented):
            return True
    return False
