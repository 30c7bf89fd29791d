"""Break-the-glass: emergency access to a record outside the user's care relationships, with a reason,
for a short time, and flagged for review by the facility's administrators.

Spec: FHIR R4 security, break-glass https://hl7.org/fhir/R4/security.html#break-glass (the purpose of
use ``BTG``, http://terminology.hl7.org/CodeSystem/v3-ActReason); the audit of every such access
(Circular 13/2025 and Dispatch 365: every user transaction logged; ../shared/reference/vietnam.md §2
role-based access with an audited emergency override, §7 Personal Data Protection Law 91/2025).

- :func:`mint_break_glass_token`: an access token carrying the ``senhealth_break_glass`` claim (the
  reason), living at most 30 minutes, for a care role only (doctor, nurse, commune health worker: not a
  patient, an analyst, an officer, nor an administrator, whose part is the review). The bearer check
  (:mod:`senhealth.security.oauth.bearer`) turns the claim into ``Principal.break_glass`` through
  :func:`reason_of`, which refuses a token that breaks these rules; the access policy then lifts its
  restriction (:class:`senhealth.security.policy.RolePolicy`) and the audit records the reason.
- :func:`record_grant` / :func:`end_grant`: the grant's bookkeeping row (``break_glass_grant``, migration
  0012) and its early end (the token's ``jti`` revoked).
- :func:`sessions_for_review` / :func:`mark_reviewed` / :func:`unreviewed_count`: the review. Accesses come
  from the audit log (``audit_event`` rows whose ``break_glass`` is set, of users of the facility: the
  row's ``principal_facility``), grouped into one emergency session per grant (same user, same reason,
  inside the grant's lifetime), then per patient; a session is "reviewed" once an administrator marked it
  (``break_glass_review``) and no access came after that mark. The audit log itself is never changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.security.oauth.storage import revoke_jti_in
from senhealth.security.oauth.tokens import (
    BREAK_GLASS_CLAIM,
    BREAK_GLASS_MAX_S,
    InvalidTokenError,
    TokenService,
)
from senhealth.security.oauth.users import UserInfo

__all__ = [
    "BREAK_GLASS_ROLES",
    "MAX_MINUTES",
    "MIN_REASON",
    "BreakGlassError",
    "BreakGlassSession",
    "PatientAccesses",
    "Review",
    "clean_reason",
    "end_grant",
    "mark_reviewed",
    "mint_break_glass_token",
    "reason_of",
    "record_grant",
    "sessions_for_review",
    "unreviewed_count",
]

#: Roles that may break the glass: those who treat patients (the policy's care roles, less the
#: facility administrator, who reviews).
BREAK_GLASS_ROLES: Final = frozenset({"doctor", "nurse", "commune_health_worker"})
MIN_REASON: Final = 10
MAX_REASON: Final = 500
MAX_MINUTES: Final = BREAK_GLASS_MAX_S // 60
MAX_NOTE: Final = 2000
_SPACES: Final = re.compile(r"\s+")
_GRACE: Final = dt.timedelta(minutes=1)  # clock skew between the token's times and the audit's


class BreakGlassError(SenHealthError):
    """Break-the-glass refused; ``reason_code``: ``reason`` (too short or too long), ``role`` (not a care
    role), ``facility`` (none), ``minutes`` (not 1..30), ``session`` (no such session to review)."""

    status = 400

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


def clean_reason(reason: str) -> str:
    """The reason with its white space collapsed and trimmed; at least :data:`MIN_REASON` characters."""
    cleaned = _SPACES.sub(" ", "".join(c for c in reason if c.isprintable() or c.isspace())).strip()
    if len(cleaned) < MIN_REASON:
        raise BreakGlassError(
            "reason", f"Lý do phải có ít nhất {MIN_REASON} ký tự / the reason needs {MIN_REASON}+ characters"
        )
    if len(cleaned) > MAX_REASON:
        raise BreakGlassError(
            "reason", f"Lý do dài quá {MAX_REASON} ký tự / the reason is longer than {MAX_REASON} characters"
        )
    return cleaned


def _organization(facility: str | None) -> str:
    value = (facility or "").strip()
    if not value:
        raise BreakGlassError("facility", "Cần cơ sở làm việc / a facility is needed for break-the-glass")
    return value if value.startswith("Organization/") else f"Organization/{value}"


def mint_break_glass_token(
    tokens: TokenService,
    user: UserInfo,
    reason: str,
    facility: str | None,
    minutes: int = MAX_MINUTES,
    *,
    client_id: str = "senhealth-web",
    scope: str = "openid fhirUser user/*.cruds",
) -> tuple[str, dict[str, Any]]:
    """A break-the-glass access token for ``user`` at ``facility`` and its claims.

    The token carries only the user's care roles (:data:`BREAK_GLASS_ROLES`), the cleaned ``reason``
    (:func:`clean_reason`) in ``senhealth_break_glass``, and ``exp`` at most ``minutes`` (1 to 30) after
    ``iat``. Raises :class:`BreakGlassError` otherwise (no care role, a short reason, no facility).
    """
    if not 1 <= minutes <= MAX_MINUTES:
        raise BreakGlassError("minutes", f"1 đến {MAX_MINUTES} phút / 1 to {MAX_MINUTES} minutes")
    roles = frozenset(user.roles) & BREAK_GLASS_ROLES
    if not roles:
        raise BreakGlassError(
            "role",
            "Chỉ nhân viên điều trị mới được truy cập khẩn cấp / break-the-glass is for care roles only",
        )
    cleaned = clean_reason(reason)
    organization = _organization(facility or user.facility)
    info = UserInfo(
        id=user.id,
        username=user.username,
        roles=roles,
        facility=organization,
        practitioner=user.practitioner,
        patient=None,
    )
    claims = tokens.access_claims(
        client_id=client_id, scope=scope, user=info, lifetime_s=minutes * 60, break_glass=cleaned
    )
    return tokens.mint(claims), claims


def reason_of(claims: Mapping[str, Any]) -> str | None:
    """The break-the-glass reason of a verified token's claims, or None when it carries none.

    Raises :class:`InvalidTokenError` (401) for a claim on a token that may not carry one: not a user
    token, no care role, another role beside the care roles, no facility, a lifetime over 30 minutes, or a
    reason that :func:`clean_reason` would refuse.
    """
    value = claims.get(BREAK_GLASS_CLAIM)
    if value is None:
        return None
    roles = claims.get("roles") or []
    try:
        reason = clean_reason(value) if isinstance(value, str) else ""
        lifetime = int(claims["exp"]) - int(claims["iat"])
    except (BreakGlassError, KeyError, TypeError, ValueError):
        reason, lifetime = "", BREAK_GLASS_MAX_S + 1
    fit = (
        claims.get("kind") == "user"
        and bool(reason)
        and isinstance(roles, list)
        and bool(roles)
        and set(roles) <= BREAK_GLASS_ROLES
        and bool(claims.get("facility"))
        and 0 < lifetime <= BREAK_GLASS_MAX_S
    )
    if not fit:
        raise InvalidTokenError("invalid access token: break-the-glass claim not allowed on this token")
    return reason


def _at(epoch: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC)


async def record_grant(
    conn: AsyncConnection[TupleRow],
    claims: Mapping[str, Any],
    *,
    username: str = "",
    patient: str | None = None,
) -> None:
    """Keep the grant of a token minted by :func:`mint_break_glass_token` (in the caller's transaction)."""
    roles = claims.get("roles") or []
    await conn.execute(
        """INSERT INTO break_glass_grant (jti, subject, username, role, facility, reason, patient, issued_at,
                                         expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            claims["jti"],
            str(claims["sub"]),
            username,
            ",".join(sorted(roles)),
            str(claims["facility"]),
            str(claims[BREAK_GLASS_CLAIM]),
            patient,
            _at(claims["iat"]),
            _at(claims["exp"]),
        ),
    )


async def end_grant(conn: AsyncConnection[TupleRow], jti: str, expires_at: dt.datetime) -> None:
    """End a grant early: its token is revoked (``oauth_revoked_token``, read by the bearer check)."""
    await revoke_jti_in(conn, jti, expires_at)
    await conn.execute(
        "UPDATE break_glass_grant SET ended_at = now() WHERE jti = %s AND ended_at IS NULL", (jti,)
    )


@dataclass(frozen=True, slots=True)
class Review:
    by: str
    by_name: str
    at: dt.datetime
    note: str


@dataclass(slots=True)
class PatientAccesses:
    """The accesses of one session to one patient (``patient`` empty: accesses that named no patient,
    such as a search that found nobody)."""

    patient: str
    count: int = 0
    denied: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    actions: set[str] = field(default_factory=set)


@dataclass(slots=True)
class BreakGlassSession:
    """One emergency session of one user: a grant (``key`` = its jti) or, for audit rows of a token
    not minted here, one day and one reason (``key`` = ``day:<date>:<md5 of the reason>``)."""

    key: str
    subject: str
    reason: str
    username: str = ""
    role: str = ""
    started: dt.datetime | None = None
    expires: dt.datetime | None = None
    ended: dt.datetime | None = None
    intended_patient: str | None = None
    patients: dict[str, PatientAccesses] = field(default_factory=dict)
    review: Review | None = None

    @property
    def accesses(self) -> int:
        return sum(p.count for p in self.patients.values())

    @property
    def last_access(self) -> dt.datetime | None:
        times = [p.last for p in self.patients.values() if p.last is not None]
        return max(times) if times else None

    @property
    def reviewed(self) -> bool:
        last = self.last_access
        return self.review is not None and (last is None or last <= self.review.at)

    def active(self, now: dt.datetime) -> bool:
        return self.ended is None and self.expires is not None and self.expires > now


_AUDIT_ROWS: Final = """
SELECT a.principal_subject, a.break_glass, a.recorded, a.action, a.outcome, a.patients, g.jti
FROM audit_event a
LEFT JOIN LATERAL (
    SELECT g.jti FROM break_glass_grant g
    WHERE g.subject = a.principal_subject AND g.reason = a.break_glass
      AND a.recorded >= g.issued_at - %(grace)s AND a.recorded <= g.expires_at + %(grace)s
    ORDER BY g.issued_at DESC LIMIT 1
) g ON true
WHERE a.break_glass IS NOT NULL AND a.principal_facility = %(facility)s AND a.recorded >= %(since)s
ORDER BY a.recorded
LIMIT %(limit)s
"""

_GRANTS: Final = """
SELECT jti, subject, username, role, reason, patient, issued_at, expires_at, ended_at
FROM break_glass_grant WHERE facility = %(facility)s AND issued_at >= %(since)s - interval '30 minutes'
"""

_REVIEWS: Final = """
SELECT session_key, subject, reviewed_by, reviewer_name, reviewed_at, note
FROM break_glass_review WHERE facility = %(facility)s
"""


def _day_key(when: dt.datetime, reason: str) -> str:
    digest = hashlib.md5(reason.encode(), usedforsecurity=False).hexdigest()
    return f"day:{when.astimezone(dt.UTC).date().isoformat()}:{digest}"


def _default_since() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=90)


async def sessions_for_review(
    conn: AsyncConnection[TupleRow],
    facility: str,
    *,
    since: dt.datetime | None = None,
    limit: int = 20_000,
) -> list[BreakGlassSession]:
    """The break-the-glass sessions of ``facility``'s users since ``since`` (90 days by default):
    unreviewed first, newest first. Reads ``audit_event`` (break-the-glass rows only, through the
    partial index of migration 0012), ``break_glass_grant`` and ``break_glass_review``."""
    facility = _organization(facility)
    params = {"facility": facility, "since": since or _default_since(), "grace": _GRACE, "limit": limit}
    found: dict[tuple[str, str], BreakGlassSession] = {}
    cur = await conn.execute(_GRANTS, params)
    for jti, subject, username, role, reason, patient, issued, expires, ended in await cur.fetchall():
        found[(jti, subject)] = BreakGlassSession(
            key=jti,
            subject=subject,
            reason=reason,
            username=username,
            role=role,
            started=issued,
            expires=expires,
            ended=ended,
            intended_patient=patient,
        )
    cur = await conn.execute(_AUDIT_ROWS, params)
    for subject, reason, recorded, action, outcome, patients, jti in await cur.fetchall():
        key = jti or _day_key(recorded, reason)
        session = found.get((key, subject or ""))
        if session is None:
            session = BreakGlassSession(key=key, subject=subject or "", reason=reason, started=recorded)
            found[(key, session.subject)] = session
        for patient in patients or [""]:
            line = session.patients.setdefault(patient, PatientAccesses(patient))
            line.count += 1
            line.denied += outcome != "success"
            line.first = recorded if line.first is None else min(line.first, recorded)
            line.last = recorded if line.last is None else max(line.last, recorded)
            line.actions.add(action)
    cur = await conn.execute(_REVIEWS, params)
    for key, subject, by, by_name, at, note in await cur.fetchall():
        if (session := found.get((key, subject))) is not None:
            session.review = Review(by, by_name, at, note)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(
        found.values(),
        key=lambda s: (s.reviewed, -(s.last_access or s.started or epoch).timestamp()),
    )


async def unreviewed_count(conn: AsyncConnection[TupleRow], facility: str) -> int:
    """How many of ``facility``'s break-the-glass sessions (last 90 days) wait for review."""
    return sum(not s.reviewed for s in await sessions_for_review(conn, facility))


async def mark_reviewed(
    conn: AsyncConnection[TupleRow],
    *,
    facility: str,
    session_key: str,
    subject: str,
    reviewer: str,
    reviewer_name: str = "",
    note: str = "",
) -> Review:
    """Mark one session of ``facility`` reviewed (again, when accesses came after an earlier mark).
    Raises :class:`BreakGlassError` (``session``) for a session that is not one of the facility's."""
    facility = _organization(facility)
    known = await sessions_for_review(conn, facility)
    if not any(s.key == session_key and s.subject == subject for s in known):
        raise BreakGlassError(
            "session", "Không có phiên truy cập khẩn cấp này / no such break-the-glass session"
        )
    cleaned = note.strip()[:MAX_NOTE]
    cur = await conn.execute(
        """INSERT INTO break_glass_review (session_key, subject, facility, reviewed_by, reviewer_name, note)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (session_key, subject) DO UPDATE
               SET reviewed_by = excluded.reviewed_by, reviewer_name = excluded.reviewer_name,
                   reviewed_at = now(), note = excluded.note
           RETURNING reviewed_by, reviewer_name, reviewed_at, note""",
        (session_key, subject, facility, reviewer, reviewer_name, cleaned),
    )
    row = await cur.fetchone()
    assert row is not None
    return Review(*row)
