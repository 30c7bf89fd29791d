"""Password hashing (argon2id) and the password policy.

argon2-cffi's ``PasswordHasher`` with the parameters stated here, RFC 9106's second recommended option
("low memory"): argon2id, 3 passes, 64 MiB, 4 lanes, 16-byte salt, 32-byte tag. Hashes carry their
parameters, so :func:`needs_rehash` tells when a stored hash should be upgraded at the next sign-in.
Policy: at least 10 characters, at most 1024, not the username (any case), not one repeated character.

- argon2-cffi: https://argon2-cffi.readthedocs.io/en/stable/api.html
- RFC 9106 §4 (parameter choice): https://www.rfc-editor.org/rfc/rfc9106.html#section-4
- OWASP password storage: https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from senhealth.core.errors import SenHealthError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "PasswordPolicyError",
    "check_policy",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_LENGTH = 10
MAX_LENGTH = 1024

_hasher = PasswordHasher(
    time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)
_DUMMY = _hasher.hash("senhealth: equalises the time of a sign-in for an unknown user")


class PasswordPolicyError(SenHealthError):
    """The password does not meet the policy."""

    code = "invalid"


def check_policy(password: str, username: str) -> None:
    """Raise :class:`PasswordPolicyError` (without echoing the password) unless it meets the policy."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"mật khẩu quá ngắn / password too short: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"mật khẩu quá dài / password too long: at most {MAX_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise PasswordPolicyError(
            "mật khẩu không được trùng tên đăng nhập / password must not equal the username"
        )
    if len(set(password)) == 1:
        raise PasswordPolicyError("mật khẩu quá đơn giản / password is one repeated character")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, parameters and salt included)."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with no hash it still spends the time of one check."""
    try:
        return _hasher.verify(stored if stored is not None else _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
