"""User accounts and sign-in: argon2id passwords, TOTP two-factor, roles, facility links, lock-out.

An account has a case-insensitive unique username, one or more roles (:mod:`senhealth.security.roles`), and
may stand for a ``Practitioner/<id>`` at a facility ``Organization/<id>``, or, for a patient account, a
``Patient/<id>``. :func:`authenticate` checks, in this order: the lock-out of the username (5 failures in a
row lock it for 15 minutes, kept per username whether or not the account exists, so neither the lock nor
the timing says which usernames exist), the password (argon2id, :mod:`senhealth.security.passwords`),
the disabled flag, then TOTP, which is needed for roles that require it, for accounts that enrolled, and
for everyone signing in from outside the facility network. A wrong TOTP code counts as a failure; a
code is accepted once only (its 30-second step is remembered).

TOTP secrets (RFC 6238, pyotp) are stored encrypted with AES-256-GCM under a key derived (HKDF-SHA256)
from the ``secret_key`` setting; outside development mode a missing or short key is refused. Neither
password hashes nor secrets are in :class:`User`, its repr or any log line.

Settings read (until they are fields of ``senhealth.core.config.Settings``): ``environment``
(``development`` or ``production``), ``secret_key`` (32+ characters), ``facility_networks`` (CIDRs).

- argon2-cffi: https://argon2-cffi.readthedocs.io/en/stable/
- TOTP, RFC 6238: https://www.rfc-editor.org/rfc/rfc6238 · pyotp: https://pyauth.github.io/pyotp/
- Key URI format: https://github.com/google/google-authenticator/wiki/Key-Uri-Format
- AES-GCM and HKDF (cryptography): https://cryptography.io/en/latest/hazmat/primitives/aead/
- OWASP authentication (generic errors, lock-out): https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.config import get_settings
from senhealth.core.db import transaction
from senhealth.core.errors import SenHealthError
from senhealth.security.passwords import check_policy, hash_password, needs_rehash, verify_password
from senhealth.security.roles import ROLES, Role, parse_role

__all__ = [
    "LOCKOUT_MINUTES",
    "MAX_FAILURES",
    "TOTP_ISSUER",
    "AccountDisabled",
    "AccountError",
    "AccountLocked",
    "AuthenticationError",
    "InvalidCredentials",
    "SecretKeyMissing",
    "TotpInvalid",
    "TotpNotEnrolled",
    "TotpRequired",
    "User",
    "UserExists",
    "UserNotFound",
    "authenticate",
    "confirm_totp",
    "create_user",
    "disable_user",
    "enable_user",
    "enroll_totp",
    "get_user",
    "in_facility_network",
    "list_users",
    "set_password",
]

MAX_FAILURES = 5
LOCKOUT_MINUTES = 15
TOTP_ISSUER = "Sen Health"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
_REF = re.compile(r"^(Organization|Practitioner|Patient)/[A-Za-z0-9.-]{1,64}$")
_DEV_KEY = b"senhealth-development-only-key-never-in-production"

log = logging.getLogger(__name__)


class AccountError(SenHealthError):
    """An account request that cannot be done (bad input, duplicate username, ...)."""

    code = "invalid"


class UserExists(AccountError):
    code = "duplicate"


class UserNotFound(AccountError):
    code = "not-found"


class SecretKeyMissing(SenHealthError):
    """Outside development mode the settings must give a secret key of 32 characters or more."""

    code = "exception"


class AuthenticationError(SenHealthError):
    """Sign-in refused; the subclass says why, the message never says whether the username exists."""

    code = "security"


class InvalidCredentials(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Sai tên đăng nhập hoặc mật khẩu / wrong username or password")


class AccountLocked(AuthenticationError):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__(
            f"Tạm khóa do đăng nhập sai nhiều lần, thử lại sau {until:%H:%M} UTC / "
            f"too many failed sign-ins: locked until {until:%H:%M} UTC"
        )
        self.until = until


class AccountDisabled(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Tài khoản đã bị vô hiệu hóa / this account is disabled")


class TotpRequired(AuthenticationError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Cần mã xác thực hai lớp (TOTP) / a two-factor (TOTP) code is required")


class TotpNotEnrolled(TotpRequired):
    def __init__(self) -> None:
        super().__init__(
            "Cần xác thực hai lớp nhưng chưa đăng ký TOTP; hãy liên hệ quản trị / two-factor sign-in is "
            "required but no TOTP is enrolled: ask an administrator (senhealth users totp)"
        )


class TotpInvalid(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Mã xác thực hai lớp không đúng / wrong two-factor (TOTP) code")


@dataclass(frozen=True, slots=True)
class User:
    """An account as the rest of the platform sees it: no password hash, no TOTP secret."""

    id: str
    username: str
    display_name: str
    roles: frozenset[str]
    facility: str | None
    practitioner: str | None
    patient: str | None
    disabled: bool
    totp_required: bool
    totp_enrolled: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


_COLUMNS = (
    "id::text, username, display_name, roles, facility, practitioner, patient, disabled, totp_required, "
    "totp_secret IS NOT NULL, last_login_at, created_at, updated_at"
)


def _user(row: tuple[Any, ...]) -> User:
    return User(
        id=row[0],
        username=row[1],
        display_name=row[2],
        roles=frozenset(row[3]),
        facility=row[4],
        practitioner=row[5],
        patient=row[6],
        disabled=row[7],
        totp_required=row[8],
        totp_enrolled=row[9],
        last_login_at=row[10],
        created_at=row[11],
        updated_at=row[12],
    )


# --- settings -------------------------------------------------------------------------------------------


def _setting(name: str, default: Any) -> Any:
    return getattr(get_settings(), name, default)


def _secret_key() -> bytes:
    raw = _setting("secret_key", None)
    if raw is not None and hasattr(raw, "get_secret_value"):
        raw = raw.get_secret_value()
    environment = str(_setting("environment", "development")).lower()
    if raw and len(str(raw)) >= 32:
        return str(raw).encode()
    if environment != "development":
        raise SecretKeyMissing(
            "Thiếu khóa bí mật / no secret key: set SENHEALTH_SECRET_KEY to 32 or more random characters "
            f"(environment is {environment!r}; the development default is refused)"
        )
    return _DEV_KEY


def _aead() -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"senhealth/account/totp-secret/v1")
    return AESGCM(hkdf.derive(_secret_key()))


def _seal(secret: str, account_id: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead().encrypt(nonce, secret.encode(), account_id.encode())


def _unseal(blob: bytes, account_id: str) -> str:
    try:
        return _aead().decrypt(blob[:12], blob[12:], account_id.encode()).decode()
    except InvalidTag:
        raise SecretKeyMissing(
            "Không giải mã được bí mật TOTP: khóa bí mật đã đổi? / cannot decrypt a TOTP secret: "
            "has the secret key changed?"
        ) from None


def in_facility_network(address: str | None, networks: Iterable[str] | None = None) -> bool:
    """Whether ``address`` (an IP) is inside one of ``networks`` (CIDRs; default: the settings'
    ``facility_networks``)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if networks is None:
        networks = _setting("facility_networks", ()) or ()
    for cidr in networks:
        try:
            if ip in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            log.warning("facility_networks: not a network: %r", cidr)
    return False


# --- validation -----------------------------------------------------------------------------------------


def _check_username(username: str) -> str:
    name = username.strip()
    if not _USERNAME.match(name):
        raise AccountError(
            "Tên đăng nhập không hợp lệ / invalid username: 3-64 characters, letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def _check_ref(kind: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    ref = value if "/" in value else f"{kind}/{value}"
    if not _REF.match(ref) or not ref.startswith(kind + "/"):
        raise AccountError(
            f"tham chiếu không hợp lệ / invalid reference: expected {kind}/<id>, got {value!r}"
        )
    return ref


def _check_roles(roles: Iterable[str | Role], facility: str | None, patient: str | None) -> list[Role]:
    try:
        parsed = sorted({parse_role(str(r)) for r in roles})
    except ValueError as e:
        raise AccountError(str(e)) from None
    if not parsed:
        raise AccountError("cần ít nhất một vai trò / at least one role is needed")
    if Role.PATIENT in parsed and (len(parsed) > 1 or patient is None):
        raise AccountError(
            "tài khoản người bệnh chỉ có vai trò patient và cần Patient/<id> / a patient account has only "
            "the patient role and needs Patient/<id>"
        )
    if patient is not None and Role.PATIENT not in parsed:
        raise AccountError("chỉ tài khoản người bệnh gắn với Patient / only patient accounts link a Patient")
    for role in parsed:
        if ROLES[role].needs_facility and facility is None:
            raise AccountError(
                f"vai trò {role.value} cần cơ sở / role {role.value} needs a facility (Organization/<id>)"
            )
    return parsed


# --- account management ---------------------------------------------------------------------------------


async def create_user(
    username: str,
    password: str,
    roles: Iterable[str | Role],
    *,
    display_name: str = "",
    facility: str | None = None,
    practitioner: str | None = None,
    patient: str | None = None,
) -> User:
    """Create an account; ``totp_required`` is set when a role requires it (enrol with :func:`enroll_totp`)."""
    name = _check_username(username)
    fac = _check_ref("Organization", facility)
    prac = _check_ref("Practitioner", practitioner)
    pat = _check_ref("Patient", patient)
    parsed = _check_roles(roles, fac, pat)
    check_policy(password, name)
    hashed = await asyncio.to_thread(hash_password, password)
    totp_required = any(ROLES[r].requires_totp for r in parsed)
    async with transaction() as conn:
        cur = await conn.execute(
            f"""INSERT INTO account (username, display_name, roles, password_hash, totp_required,
                                    facility, practitioner, patient)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT ((lower(username))) DO NOTHING
                RETURNING {_COLUMNS}""",
            (name, display_name.strip(), [r.value for r in parsed], hashed, totp_required, fac, prac, pat),
        )
        row = await cur.fetchone()
    if row is None:
        raise UserExists(f"tên đăng nhập đã có / username already taken: {name}")
    return _user(row)


async def _fetch(conn: AsyncConnection[TupleRow], username_or_id: str) -> User | None:
    key = username_or_id.strip()
    if re.fullmatch(r"[0-9a-fA-F-]{36}", key):
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM account WHERE id = %s::uuid", (key,))
    else:
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM account WHERE lower(username) = lower(%s)", (key,))
    row = await cur.fetchone()
    return None if row is None else _user(row)


async def get_user(username_or_id: str) -> User | None:
    """The account with this username (any case) or id, or None."""
    async with transaction() as conn:
        return await _fetch(conn, username_or_id)


async def list_users(*, facility: str | None = None, include_disabled: bool = True) -> list[User]:
    """Accounts by username, optionally of one facility."""
    fac = _check_ref("Organization", facility)
    async with transaction() as conn:
        cur = await conn.execute(
            f"""SELECT {_COLUMNS} FROM account
                WHERE (%(f)s::text IS NULL OR facility = %(f)s) AND (%(d)s OR NOT disabled)
                ORDER BY lower(username)""",
            {"f": fac, "d": include_disabled},
        )
        return [_user(r) for r in await cur.fetchall()]


async def _require(conn: AsyncConnection[TupleRow], username: str) -> User:
    user = await _fetch(conn, username)
    if user is None:
        raise UserNotFound(f"không có tài khoản / no such account: {username}")
    return user


async def set_password(username: str, password: str) -> None:
    """Replace the password (policy checked); clears the username's lock-out."""
    async with transaction() as conn:
        user = await _require(conn, username)
        check_policy(password, user.username)
        hashed = await asyncio.to_thread(hash_password, password)
        await conn.execute(
            """UPDATE account SET password_hash = %s, password_changed_at = now(), updated_at = now()
               WHERE id = %s::uuid""",
            (hashed, user.id),
        )
        await conn.execute("DELETE FROM login_throttle WHERE username_key = lower(%s)", (user.username,))


async def _set_disabled(username: str, disabled: bool) -> User:
    async with transaction() as conn:
        user = await _require(conn, username)
        cur = await conn.execute(
            f"UPDATE account SET disabled = %s, updated_at = now() WHERE id = %s::uuid RETURNING {_COLUMNS}",
            (disabled, user.id),
        )
        row = await cur.fetchone()
    assert row is not None
    return _user(row)


async def disable_user(username: str) -> User:
    """Disable the account: it can no longer sign in (its data and links stay)."""
    return await _set_disabled(username, True)


async def enable_user(username: str) -> User:
    """Enable a disabled account again."""
    return await _set_disabled(username, False)


async def enroll_totp(username: str) -> str:
    """Give the account a new TOTP secret (replacing any) and return its ``otpauth://`` provisioning URI.

    Show the URI (or its QR code) to the user once; it is the secret, so never log it.
    """
    async with transaction() as conn:
        user = await _require(conn, username)
        secret = pyotp.random_base32()
        await conn.execute(
            """UPDATE account SET totp_secret = %s, totp_last_step = NULL, updated_at = now()
               WHERE id = %s::uuid""",
            (_seal(secret, user.id), user.id),
        )
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


async def confirm_totp(account_id: str, secret: str, code: str) -> bool:
    """Make ``secret`` the account's TOTP secret once the user proved they hold it (``code`` is one of
    its current codes), and only if the account has none yet: an enrolment that is abandoned, or raced by
    another, leaves the account as it was. The code stays usable once for the sign-in that follows."""
    if _totp_step(secret, code, None, time.time()) is None:
        return False
    async with transaction() as conn:
        cur = await conn.execute(
            """UPDATE account SET totp_secret = %s, totp_last_step = NULL, updated_at = now()
               WHERE id = %s::uuid AND totp_secret IS NULL""",
            (_seal(secret, account_id), account_id),
        )
        return cur.rowcount == 1


# --- sign-in --------------------------------------------------------------------------------------------


def _totp_step(secret: str, code: str, last_step: int | None, now: float) -> int | None:
    """The 30-second step ``code`` belongs to (this one or either neighbour), if new; else None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    otp = pyotp.TOTP(secret)
    current = otp.timecode(dt.datetime.fromtimestamp(now, dt.UTC))
    for step in (current, current - 1, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


async def authenticate(
    username: str, password: str, totp: str | None = None, *, from_facility_network: bool
) -> User:
    """The account if the credentials are right; else raise an :class:`AuthenticationError` subclass.

    See the module docstring for the order of checks. ``from_facility_network`` is decided by the caller
    (for HTTP: :func:`in_facility_network` of the client's address).
    """
    key = username.strip().lower()
    failure: AuthenticationError | None = None
    result: User | None = None
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO login_throttle (username_key) VALUES (%s) ON CONFLICT DO NOTHING", (key,)
        )
        cur = await conn.execute(
            "SELECT failures, locked_until, now() FROM login_throttle WHERE username_key = %s FOR UPDATE",
            (key,),
        )
        throttle = await cur.fetchone()
        assert throttle is not None
        failures, locked_until, now = throttle
        if locked_until is not None and locked_until > now:
            raise AccountLocked(locked_until)
        cur = await conn.execute(
            f"SELECT {_COLUMNS}, password_hash, totp_secret, totp_last_step FROM account "
            "WHERE lower(username) = %s",
            (key,),
        )
        row = await cur.fetchone()
        stored_hash = row[13] if row is not None else None
        ok = await asyncio.to_thread(verify_password, stored_hash, password)
        user = _user(row) if row is not None else None
        if not ok or user is None or row is None:
            failure = InvalidCredentials()
        elif user.disabled:
            failure = AccountDisabled()  # only after the right password: says nothing to a guesser
        else:
            needs_totp = user.totp_required or user.totp_enrolled or not from_facility_network
            step: int | None = None
            if needs_totp:
                if not user.totp_enrolled:
                    failure = TotpNotEnrolled()
                elif not totp:
                    failure = TotpRequired()
                else:
                    step = _totp_step(_unseal(row[14], user.id), totp, row[15], time.time())
                    if step is None:
                        failure = TotpInvalid()
            if failure is None:
                await conn.execute(
                    """UPDATE account SET last_login_at = now(),
                           totp_last_step = coalesce(%s, totp_last_step) WHERE id = %s::uuid""",
                    (step, user.id),
                )
                if stored_hash is not None and needs_rehash(stored_hash):
                    hashed = await asyncio.to_thread(hash_password, password)
                    await conn.execute(
                        "UPDATE account SET password_hash = %s WHERE id = %s::uuid", (hashed, user.id)
                    )
                await conn.execute("DELETE FROM login_throttle WHERE username_key = %s", (key,))
                result = await _fetch(conn, user.id)
        if isinstance(failure, (InvalidCredentials, TotpInvalid)):
            failures += 1
            lock = failures >= MAX_FAILURES
            await conn.execute(
                """UPDATE login_throttle SET failures = %s, last_failure = now(),
                       locked_until = CASE WHEN %s THEN now() + make_interval(mins => %s) END
                   WHERE username_key = %s""",
                (0 if lock else failures, lock, LOCKOUT_MINUTES, key),
            )
        elif failure is not None:
            await conn.execute("DELETE FROM login_throttle WHERE username_key = %s AND failures = 0", (key,))
    if failure is not None:
        log.info("sign-in refused for a username: %s", type(failure).__name__)
        raise failure
    assert result is not None
    return result
