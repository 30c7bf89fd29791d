"""Sign-in attempts per client address: a sliding window in PostgreSQL (table ``web_login_attempt``,
migration 0008), shared by every sign-in form: the web application's and the OAuth authorization form's.

The accounts lock a *username* after repeated failures (:mod:`senhealth.security.accounts`); this limits
an *address* trying many usernames. Each password or code submission is one attempt; beyond ``limit``
attempts in ``window`` the page answers 429 with ``Retry-After`` (seconds until the oldest attempt in the
window leaves it). Several server processes share the table, so the limit holds across them; rows
older than the window are deleted at every attempt.
https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html#login-throttling
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from senhealth.core.db import transaction

__all__ = ["LoginLimit", "attempt"]


@dataclass(frozen=True, slots=True)
class LoginLimit:
    limit: int = 20
    window: dt.timedelta = dt.timedelta(minutes=10)


async def attempt(address: str, rule: LoginLimit) -> int:
    """Count an attempt from ``address``; 0 when allowed, else the seconds to wait (not counted then)."""
    async with transaction() as conn:
        # One address's attempts are serialised, so two requests cannot both take the last slot.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 8008))", (address,))
        await conn.execute("DELETE FROM web_login_attempt WHERE at < clock_timestamp() - %s", (rule.window,))
        cur = await conn.execute(
            "SELECT count(*), min(at), clock_timestamp() FROM web_login_attempt WHERE address = %s",
            (address,),
        )
        row = await cur.fetchone()
        assert row is not None
        count, oldest, now = row
        if count >= rule.limit and oldest is not None:
            return max(1, math.ceil((oldest + rule.window - now).total_seconds()))
        await conn.execute("INSERT INTO web_login_attempt (address) VALUES (%s)", (address,))
    return 0
