"""What the authorization server keeps in PostgreSQL (migration ``0006_oauth.sql``): one-time
authorization codes, refresh tokens, revoked access-token ids, used client-assertion ids, EHR launch
contexts. Codes and refresh tokens are stored as SHA-256 hashes only.

Spec: single-use codes https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 (a replayed code revokes
what it issued); refresh tokens https://www.rfc-editor.org/rfc/rfc6749#section-6 (rotated on use,
https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2); assertion ``jti`` replay
https://www.rfc-editor.org/rfc/rfc7523#section-3 and
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html.

Authlib's grant classes are synchronous: they run in a worker thread with a plain psycopg connection
(:data:`CONNECTION`, set for the duration of one call); the bearer check on every API request uses the
async pool instead (:func:`is_revoked_async`).
"""

from __future__ import annotations

import hashlib
import json
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.security.oauth.users import UserInfo, user_from_claims, user_to_claims

__all__ = [
    "CONNECTION",
    "AccessRecord",
    "CodeRecord",
    "GrantSubject",
    "RefreshRecord",
    "conn",
    "digest",
]

CONNECTION: ContextVar[psycopg.Connection[TupleRow] | None] = ContextVar("senhealth_oauth_conn", default=None)


def conn() -> psycopg.Connection[TupleRow]:
    c = CONNECTION.get()
    if c is None:
        raise RuntimeError("no OAuth storage connection: run inside AuthServer.run()")
    return c


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class GrantSubject:
    """The user a grant is for, with the launch context they chose (SMART ``patient``, ``encounter``)."""

    user: UserInfo
    patient: str | None = None
    encounter: str | None = None
    nonce: str | None = None
    ehr_launch: bool = False  # the context came from an EHR launch (the EHR shows the patient banner)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": user_to_claims(self.user),
            "patient": self.patient,
            "encounter": self.encounter,
            "nonce": self.nonce,
            "ehr_launch": self.ehr_launch,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GrantSubject:
        return cls(
            user_from_claims(data["user"]),
            data.get("patient"),
            data.get("encounter"),
            data.get("nonce"),
            bool(data.get("ehr_launch")),
        )


# -- authorization codes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeRecord:
    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    subject: GrantSubject
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


def save_code(
    code: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    subject: GrantSubject,
    challenge: str,
    method: str,
    lifetime_s: int,
) -> None:
    c = conn()
    sweep(c)
    c.execute(
        """INSERT INTO oauth_authorization_code (code_hash, client_id, redirect_uri, scope, user_id,
               grant_context, code_challenge, code_challenge_method, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
        (
            digest(code),
            client_id,
            redirect_uri,
            scope,
            subject.user.id,
            json.dumps(subject.to_json()),
            challenge,
            method,
            lifetime_s,
        ),
    )


def consume_code(code: str, client_id: str) -> CodeRecord | None:
    """The code's record, marked used; None if unknown, expired, another client's or used before
    (a replay also revokes the tokens the first use issued)."""
    c = conn()
    with c.transaction():
        row = c.execute(
            """SELECT code_hash, client_id, redirect_uri, scope, grant_context, code_challenge,
                      code_challenge_method, expires_at > now(), used_at IS NOT NULL, issued_jti,
                      issued_refresh_hash
               FROM oauth_authorization_code WHERE code_hash = %s FOR UPDATE""",
            (digest(code),),
        ).fetchone()
        if row is None or row[1] != client_id:
            return None
        if row[8]:  # replayed
            if row[9]:
                revoke_jti(row[9], time.time() + 24 * 3600)
            if row[10]:
                c.execute(
                    "UPDATE oauth_refresh_token SET revoked_at = now() WHERE token_hash = %s", (row[10],)
                )
            return None
        c.execute("UPDATE oauth_authorization_code SET used_at = now() WHERE code_hash = %s", (row[0],))
        if not row[7]:
            return None
        return CodeRecord(row[0], row[1], row[2], row[3], GrantSubject.from_json(row[4]), row[5], row[6])


def mark_code_issued(code_hash: str, jti: str, refresh: str | None) -> None:
    conn().execute(
        "UPDATE oauth_authorization_code SET issued_jti = %s, issued_refresh_hash = %s WHERE code_hash = %s",
        (jti, digest(refresh) if refresh else None, code_hash),
    )


# -- refresh tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    token_hash: str
    client_id: str
    scope: str
    subject: GrantSubject
    issued_at: datetime
    expires_at: datetime
    revoked: bool
    kind: Literal["refresh_token"] = "refresh_token"

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.revoked


def save_refresh(token: str, client_id: str, scope: str, subject: GrantSubject, lifetime_s: int) -> None:
    conn().execute(
        """INSERT INTO oauth_refresh_token (token_hash, client_id, user_id, scope, grant_context, expires_at)
           VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
        (digest(token), client_id, subject.user.id, scope, json.dumps(subject.to_json()), lifetime_s),
    )


def find_refresh(token: str) -> RefreshRecord | None:
    row = (
        conn()
        .execute(
            """SELECT token_hash, client_id, scope, grant_context, issued_at, expires_at, revoked_at IS NOT NULL
           FROM oauth_refresh_token WHERE token_hash = %s""",
            (digest(token),),
        )
        .fetchone()
    )
    if row is None:
        return None
    return RefreshRecord(row[0], row[1], row[2], GrantSubject.from_json(row[3]), row[4], row[5], row[6])


def revoke_refresh(token_hash: str) -> None:
    conn().execute(
        "UPDATE oauth_refresh_token SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (token_hash,),
    )


# -- access tokens (JWTs: only their revocation is stored) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessRecord:
    claims: dict[str, Any]
    revoked: bool
    kind: Literal["access_token"] = "access_token"

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.claims.get("client_id"))

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


def revoke_jti(jti: str, exp: float) -> None:
    conn().execute(
        "INSERT INTO oauth_revoked_token (jti, expires_at) VALUES (%s, %s) ON CONFLICT (jti) DO NOTHING",
        (jti, _at(exp)),
    )


async def revoke_jti_in(connection: AsyncConnection[TupleRow], jti: str, expires_at: datetime) -> None:
    """:func:`revoke_jti` in the caller's transaction (sign-out of a web session)."""
    await connection.execute(
        "INSERT INTO oauth_revoked_token (jti, expires_at) VALUES (%s, %s) ON CONFLICT (jti) DO NOTHING",
        (jti, expires_at),
    )


def is_revoked(jti: str) -> bool:
    return conn().execute("SELECT 1 FROM oauth_revoked_token WHERE jti = %s", (jti,)).fetchone() is not None


async def is_revoked_async(connection: AsyncConnection[TupleRow], jti: str) -> bool:
    cur = await connection.execute("SELECT 1 FROM oauth_revoked_token WHERE jti = %s", (jti,))
    return await cur.fetchone() is not None


# -- client assertions ----------------------------------------------------------------------------------


def remember_assertion(client_id: str, jti: str, exp: float) -> bool:
    """Record a client assertion's ``jti``; False if it was seen before (a replay)."""
    cur = conn().execute(
        """INSERT INTO oauth_client_assertion (client_id, jti, expires_at) VALUES (%s, %s, %s)
           ON CONFLICT DO NOTHING""",
        (client_id, jti, _at(max(exp, time.time()) + 300)),
    )
    return cur.rowcount == 1


# -- EHR launch contexts --------------------------------------------------------------------------------


async def save_launch(
    connection: AsyncConnection[TupleRow],
    launch_id: str,
    user_id: str,
    context: dict[str, Any],
    lifetime_s: int,
) -> None:
    await connection.execute(
        """INSERT INTO oauth_launch (launch_id, user_id, context, expires_at)
           VALUES (%s, %s, %s, now() + make_interval(secs => %s))""",
        (digest(launch_id), user_id, json.dumps(context), lifetime_s),
    )


async def find_launch(
    connection: AsyncConnection[TupleRow], launch_id: str
) -> tuple[str, dict[str, Any]] | None:
    """The user id and context of a live launch id, or None."""
    cur = await connection.execute(
        "SELECT user_id, context FROM oauth_launch WHERE launch_id = %s AND expires_at > now()",
        (digest(launch_id),),
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


def sweep(c: psycopg.Connection[TupleRow]) -> None:
    """Delete rows past their use (cheap: each delete walks an index on ``expires_at``)."""
    margin = timedelta(hours=1)
    now = datetime.now(UTC) - margin
    for table in (
        "oauth_authorization_code",
        "oauth_revoked_token",
        "oauth_client_assertion",
        "oauth_launch",
        "oauth_refresh_token",
    ):
        c.execute(f"DELETE FROM {table} WHERE expires_at < %s", (now,))  # fixed table names
