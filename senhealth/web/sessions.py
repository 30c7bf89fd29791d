"""Sign-in sessions of the web application, kept server-side in PostgreSQL (table ``web_session``).

The cookie holds only a random 256-bit id; the table holds its SHA-256, the stage of the sign-in, the
chosen role and facility, and (encrypted, :class:`senhealth.web.keys.WebKeys`) the access token the pages
use against the FHIR API. Cookie: ``HttpOnly; SameSite=Lax; Path=/``, and ``Secure`` with the
``__Host-`` prefix except in development over plain HTTP.
https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html

Limits: an idle timeout (no request for ``idle``) and an absolute one (``absolute`` after sign-in);
between the password and the second factor a session lives ``pending`` at most. Sign-out deletes the
row and revokes the access token (its ``jti`` goes to ``oauth_revoked_token``, the table the bearer check
reads).

Break-the-glass (https://hl7.org/fhir/R4/security.html#break-glass): an active session may hold a second,
short-lived emergency token beside its normal one (columns ``break_glass_*``, migration 0012); ending it
early, changing role and signing out revoke it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

from senhealth.core.db import transaction
from senhealth.security.break_glass import end_grant
from senhealth.security.oauth.bearer import note_revoked
from senhealth.security.oauth.storage import revoke_jti_in

__all__ = [
    "COOKIE",
    "SECURE_COOKIE",
    "Session",
    "SessionLimits",
    "activate",
    "create",
    "delete",
    "delete_for_account",
    "end_break_glass",
    "load",
    "set_break_glass",
    "set_lang",
    "set_stage_choose",
    "update_pending",
]

COOKIE: Final = "senhealth_session"
SECURE_COOKIE: Final = "__Host-senhealth_session"

_COLUMNS = (
    "stage, account_id, username, display_name, patient, role, facility, sealed, token_jti, token_exp, "
    "lang, created_at, expires_at, break_glass_sealed, break_glass_jti, break_glass_exp, break_glass_reason, "
    "multi_role"
)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=8)
    pending: dt.timedelta = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    stage: str
    account_id: str
    username: str
    display_name: str
    patient: str | None
    role: str | None
    facility: str | None
    sealed: bytes | None
    token_jti: str | None
    token_exp: dt.datetime | None
    lang: str
    created_at: dt.datetime
    expires_at: dt.datetime
    break_glass_sealed: bytes | None = None
    break_glass_jti: str | None = None
    break_glass_exp: dt.datetime | None = None
    break_glass_reason: str | None = None
    multi_role: bool = True

    def __repr__(self) -> str:
        return f"Session(stage={self.stage!r}, username={self.username!r}, role={self.role!r})"

    @property
    def active(self) -> bool:
        return self.stage == "active"

    @property
    def is_patient(self) -> bool:
        return self.role == "patient"

    @property
    def break_glass(self) -> bool:
        """An emergency token is held and has not expired."""
        return (
            self.break_glass_sealed is not None
            and self.break_glass_exp is not None
            and self.break_glass_exp > dt.datetime.now(dt.UTC)
        )

    @property
    def break_glass_seconds(self) -> int:
        """Seconds left to the emergency token (0 when none)."""
        if not self.break_glass or self.break_glass_exp is None:
            return 0
        return max(0, int((self.break_glass_exp - dt.datetime.now(dt.UTC)).total_seconds()))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _session(session_id: str, row: tuple[Any, ...]) -> Session:
    return Session(session_id, *row)


async def create(
    *,
    stage: str,
    account_id: str,
    username: str,
    display_name: str,
    patient: str | None,
    sealed: bytes | None,
    lang: str,
    client_address: str | None,
    limits: SessionLimits,
) -> Session:
    """A new session (a fresh id: sign-in never reuses an id the browser had before)."""
    session_id = secrets.token_urlsafe(32)
    async with transaction() as conn:
        await conn.execute("DELETE FROM web_session WHERE expires_at < now()")
        cur = await conn.execute(
            f"""INSERT INTO web_session (id_hash, stage, account_id, username, display_name, patient, sealed,
                                        lang, client_address, expires_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)
                RETURNING {_COLUMNS}""",
            (
                _hash(session_id),
                stage,
                account_id,
                username,
                display_name,
                patient,
                sealed,
                lang,
                client_address,
                limits.pending,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return _session(session_id, row)


async def load(session_id: str | None, limits: SessionLimits) -> Session | None:
    """The live session of this id (touching its idle clock), or None (unknown, idle or expired)."""
    if not session_id or len(session_id) > 100:
        return None
    async with transaction() as conn:
        cur = await conn.execute(
            f"""UPDATE web_session SET last_seen_at = now()
                WHERE id_hash = %s AND expires_at > now() AND last_seen_at > now() - %s
                RETURNING {_COLUMNS}""",
            (_hash(session_id), limits.idle),
        )
        row = await cur.fetchone()
    return None if row is None else _session(session_id, row)


async def update_pending(session: Session, *, stage: str, sealed: bytes | None) -> None:
    async with transaction() as conn:
        await conn.execute(
            "UPDATE web_session SET stage = %s, sealed = %s WHERE id_hash = %s",
            (stage, sealed, _hash(session.id)),
        )


async def activate(
    session: Session,
    *,
    role: str,
    facility: str | None,
    sealed_token: bytes,
    jti: str,
    token_exp: dt.datetime,
    limits: SessionLimits,
    restart: bool,
    multi_role: bool = True,
) -> None:
    """Signed in as ``role``: keep the (encrypted) token; ``restart`` starts the absolute clock now;
    ``multi_role``: the account has several roles (the pages then offer to change role)."""
    async with transaction() as conn:
        await conn.execute(
            """UPDATE web_session SET stage = 'active', role = %s, facility = %s, sealed = %s, token_jti = %s,
                   token_exp = %s, multi_role = %s,
                   expires_at = CASE WHEN %s THEN now() + %s ELSE expires_at END
               WHERE id_hash = %s""",
            (
                role,
                facility,
                sealed_token,
                jti,
                token_exp,
                multi_role,
                restart,
                limits.absolute,
                _hash(session.id),
            ),
        )


async def set_break_glass(
    conn: Any, session: Session, *, sealed_token: bytes, jti: str, token_exp: dt.datetime, reason: str
) -> None:
    """Keep an emergency token beside the normal one (in the caller's transaction); one held before is
    revoked."""
    await _end(conn, session.break_glass_jti, session.break_glass_exp)
    await conn.execute(
        """UPDATE web_session SET break_glass_sealed = %s, break_glass_jti = %s, break_glass_exp = %s,
               break_glass_reason = %s
           WHERE id_hash = %s""",
        (sealed_token, jti, token_exp, reason, _hash(session.id)),
    )


async def end_break_glass(conn: Any, session: Session) -> None:
    """End the session's emergency token early: revoked, its grant ended, forgotten (in the caller's
    transaction)."""
    await _end(conn, session.break_glass_jti, session.break_glass_exp)
    await conn.execute(
        """UPDATE web_session SET break_glass_sealed = NULL, break_glass_jti = NULL, break_glass_exp = NULL,
               break_glass_reason = NULL
           WHERE id_hash = %s""",
        (_hash(session.id),),
    )


async def set_stage_choose(session: Session) -> None:
    async with transaction() as conn:
        await conn.execute(
            "UPDATE web_session SET stage = 'choose', sealed = NULL WHERE id_hash = %s", (_hash(session.id),)
        )


async def set_lang(session: Session, lang: str) -> None:
    async with transaction() as conn:
        await conn.execute("UPDATE web_session SET lang = %s WHERE id_hash = %s", (lang, _hash(session.id)))


async def _revoke(conn: Any, jti: str | None, exp: dt.datetime | None) -> None:
    if jti and exp:
        await revoke_jti_in(conn, jti, exp)


async def _end(conn: Any, jti: str | None, exp: dt.datetime | None) -> None:
    if jti and exp:
        await end_grant(conn, jti, exp)


async def delete(session: Session) -> None:
    """Sign out: the row goes, its access tokens (the normal one, any emergency one) are revoked."""
    async with transaction() as conn:
        await conn.execute("DELETE FROM web_session WHERE id_hash = %s", (_hash(session.id),))
        await _revoke(conn, session.token_jti, session.token_exp)
        await _end(conn, session.break_glass_jti, session.break_glass_exp)
    for jti in (session.token_jti, session.break_glass_jti):
        if jti:
            note_revoked(jti)  # at once in this process (the bearer check caches for 5 s)


async def delete_for_account(account_id: str) -> int:
    """End every session of an account (e.g. after it was disabled); returns how many."""
    async with transaction() as conn:
        cur = await conn.execute(
            "DELETE FROM web_session WHERE account_id = %s"
            " RETURNING token_jti, token_exp, break_glass_jti, break_glass_exp",
            (account_id,),
        )
        rows = await cur.fetchall()
        for jti, exp, bg_jti, bg_exp in rows:
            await _revoke(conn, jti, exp)
            await _end(conn, bg_jti, bg_exp)
    return len(rows)
