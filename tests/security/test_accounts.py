"""Accounts on a real PostgreSQL: creation rules, sign-in outcomes, TOTP, lock-out, secret key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import psycopg
import pyotp
import pytest

from senhealth.core.db import close_pool, open_pool
from senhealth.core.migrate import migrate
from senhealth.security import accounts
from senhealth.security.accounts import (
    AccountDisabled,
    AccountError,
    AccountLocked,
    InvalidCredentials,
    SecretKeyMissing,
    TotpInvalid,
    TotpNotEnrolled,
    TotpRequired,
    UserExists,
    UserNotFound,
    authenticate,
    create_user,
    disable_user,
    enable_user,
    enroll_totp,
    get_user,
    in_facility_network,
    list_users,
    set_password,
)
from senhealth.security.passwords import PasswordPolicyError, hash_password, needs_rehash, verify_password

PW = "Sen-health 2026!"


def run(url: str, body: Callable[[], Awaitable[None]]) -> None:
    migrate(url)

    async def main() -> None:
        await open_pool(url, max_size=4)
        try:
            await body()
        finally:
            await close_pool()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"username": "a b"}, AccountError, "invalid username"),
        ({"username": "ab"}, AccountError, "invalid username"),
        ({"password": "short"}, PasswordPolicyError, "too short"),
        ({"username": "nguyen.van.an", "password": "NGUYEN.VAN.AN"}, PasswordPolicyError, "username"),
        ({"password": "aaaaaaaaaaaa"}, PasswordPolicyError, "repeated"),
        ({"roles": ["surgeon"]}, AccountError, "unknown role"),
        ({"roles": []}, AccountError, "at least one role"),
        ({"roles": ["patient"]}, AccountError, "Patient/<id>"),
        ({"roles": ["patient", "doctor"], "patient": "Patient/p1"}, AccountError, "only"),
        ({"patient": "Patient/p1"}, AccountError, "only patient accounts"),
        ({"roles": ["facility_admin"]}, AccountError, "needs a facility"),
        ({"facility": "Practitioner/x"}, AccountError, "Organization/<id>"),
        ({"practitioner": "Practitioner/bad id"}, AccountError, "invalid reference"),
    ],
)
def test_create_user_refuses(
    schema_url: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"username": "nguyen.van.an", "password": PW, "roles": ["doctor"], **kwargs}

    async def body() -> None:
        with pytest.raises(error, match=match):
            await create_user(args.pop("username"), args.pop("password"), args.pop("roles"), **args)
        assert await list_users() == []

    run(schema_url, body)


def test_create_get_list_disable(schema_url: str) -> None:
    async def body() -> None:
        doc = await create_user(
            "Nguyen.Van.An",
            PW,
            ["doctor"],
            display_name="Nguyễn Văn An",
            facility="bv-tinh",
            practitioner="Practitioner/pr1",
        )
        assert (doc.facility, doc.practitioner, doc.roles, doc.totp_required) == (
            "Organization/bv-tinh",
            "Practitioner/pr1",
            frozenset({"doctor"}),
            False,
        )
        assert "hash" not in repr(doc) and "secret" not in repr(doc)
        admin = await create_user(
            "qt.bvtinh", PW, ["facility_admin", "doctor"], facility="Organization/bv-tinh"
        )
        assert admin.totp_required and not admin.totp_enrolled
        officer = await create_user("so.yte", PW, ["provincial_officer"])
        assert officer.totp_required
        patient = await create_user("benhnhan01", PW, ["patient"], patient="Patient/p9")
        assert patient.patient == "Patient/p9" and not patient.totp_required
        with pytest.raises(UserExists):
            await create_user("NGUYEN.VAN.AN", PW, ["nurse"])
        assert await get_user("nguyen.van.an") == doc
        assert await get_user(doc.id) == doc
        assert await get_user("nobody") is None
        assert [u.username for u in await list_users()] == [
            "benhnhan01",
            "Nguyen.Van.An",
            "qt.bvtinh",
            "so.yte",
        ]
        assert [u.username for u in await list_users(facility="Organization/bv-tinh")] == [
            "Nguyen.Van.An",
            "qt.bvtinh",
        ]
        assert (await disable_user("nguyen.van.an")).disabled
        assert [u.username for u in await list_users(include_disabled=False)] == [
            "benhnhan01",
            "qt.bvtinh",
            "so.yte",
        ]
        assert not (await enable_user("nguyen.van.an")).disabled
        with pytest.raises(UserNotFound):
            await disable_user("nobody")

    run(schema_url, body)


def test_sign_in_outcomes(schema_url: str) -> None:
    async def body() -> None:
        await create_user("bacsi.an", PW, ["doctor"])
        await create_user("dieuduong.binh", PW, ["nurse"])
        await disable_user("dieuduong.binh")
        await create_user("qt.bvtinh", PW, ["facility_admin"], facility="Organization/bv-tinh")
        await create_user("so.yte", PW, ["provincial_officer"])  # TOTP required, never enrolled
        uri = await enroll_totp("qt.bvtinh")
        assert uri.startswith("otpauth://totp/Sen%20Health:qt.bvtinh?secret=")
        otp = pyotp.parse_uri(uri)
        assert isinstance(otp, pyotp.TOTP)
        now_code = otp.at(time.time())
        cases: list[tuple[str, str, str | None, bool, type[Exception] | None]] = [
            ("bacsi.an", PW, None, True, None),
            ("BACSI.AN", PW, None, True, None),  # usernames are case-insensitive
            ("bacsi.an", "wrong password", None, True, InvalidCredentials),
            ("nobody.here", PW, None, True, InvalidCredentials),  # same error as a wrong password
            ("bacsi.an", PW, None, False, TotpNotEnrolled),  # outside the network: TOTP needed
            ("dieuduong.binh", "wrong password", None, True, InvalidCredentials),
            ("dieuduong.binh", PW, None, True, AccountDisabled),
            ("so.yte", PW, None, True, TotpNotEnrolled),
            ("qt.bvtinh", PW, None, True, TotpRequired),  # admin: TOTP inside the network too
            ("qt.bvtinh", PW, "000000" if now_code != "000000" else "111111", True, TotpInvalid),
            ("qt.bvtinh", PW, "abc", True, TotpInvalid),
            ("qt.bvtinh", PW, now_code, False, None),
            ("qt.bvtinh", PW, now_code, True, TotpInvalid),  # a code is accepted once only
            ("qt.bvtinh", PW, otp.at(time.time() + 30), False, None),  # the next step still is
        ]
        for username, password, code, inside, expected in cases:
            if expected is None:
                user = await authenticate(username, password, code, from_facility_network=inside)
                assert user.username.lower() == username.lower() and user.last_login_at is not None
            else:
                with pytest.raises(expected):
                    await authenticate(username, password, code, from_facility_network=inside)
        assert issubclass(TotpNotEnrolled, TotpRequired)

    run(schema_url, body)


def test_lockout_after_five_failures_for_any_username(schema_url: str) -> None:
    async def body() -> None:
        await create_user("bacsi.an", PW, ["doctor"])
        for name in ("bacsi.an", "khong.ton.tai"):
            for _ in range(5):
                with pytest.raises(InvalidCredentials):
                    await authenticate(name, "wrong password", from_facility_network=True)
            with pytest.raises(AccountLocked) as locked:  # even with the right password
                await authenticate(name, PW, from_facility_network=True)
            assert "locked until" in locked.value.message
        with psycopg.connect(schema_url, autocommit=True) as conn:
            conn.execute("UPDATE login_throttle SET locked_until = now() - interval '1 second'")
        assert (await authenticate("bacsi.an", PW, from_facility_network=True)).username == "bacsi.an"
        for _ in range(4):  # the count restarted after the success
            with pytest.raises(InvalidCredentials):
                await authenticate("bacsi.an", "wrong password", from_facility_network=True)
        await set_password("bacsi.an", "another good one")  # also clears the count
        with pytest.raises(InvalidCredentials):
            await authenticate("bacsi.an", PW, from_facility_network=True)
        assert await authenticate("bacsi.an", "another good one", from_facility_network=True)

    run(schema_url, body)


def test_secret_key_required_outside_development(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        await create_user("qt.bvtinh", PW, ["facility_admin"], facility="Organization/bv-tinh")
        monkeypatch.setattr(accounts, "get_settings", lambda: SimpleNamespace(environment="production"))
        with pytest.raises(SecretKeyMissing, match="SENHEALTH_SECRET_KEY"):
            await enroll_totp("qt.bvtinh")
        key = "k" * 40
        monkeypatch.setattr(
            accounts, "get_settings", lambda: SimpleNamespace(environment="production", secret_key=key)
        )
        otp = pyotp.parse_uri(await enroll_totp("qt.bvtinh"))
        assert isinstance(otp, pyotp.TOTP)
        with psycopg.connect(schema_url) as conn:
            row = conn.execute("SELECT totp_secret FROM account").fetchone()
        assert row is not None and otp.secret.encode() not in bytes(row[0])  # stored encrypted
        assert await authenticate("qt.bvtinh", PW, otp.now(), from_facility_network=True)
        monkeypatch.setattr(
            accounts, "get_settings", lambda: SimpleNamespace(environment="production", secret_key="x" * 40)
        )
        with pytest.raises(SecretKeyMissing, match="changed"):
            await authenticate("qt.bvtinh", PW, otp.at(time.time() + 30), from_facility_network=True)

    run(schema_url, body)


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("10.1.2.3", True),
        ("192.168.5.9", True),
        ("8.8.8.8", False),
        ("fd00::1", True),
        ("bad", False),
        (None, False),
    ],
)
def test_facility_network(monkeypatch: pytest.MonkeyPatch, address: str | None, inside: bool) -> None:
    nets = ["10.0.0.0/8", "192.168.5.0/24", "fd00::/8", "not a cidr"]
    monkeypatch.setattr(accounts, "get_settings", lambda: SimpleNamespace(facility_networks=nets))
    assert in_facility_network(address) is inside


def test_password_hashes() -> None:
    stored = hash_password(PW)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, PW) and not verify_password(stored, PW + "x")
    assert not verify_password(None, PW) and not verify_password("not a hash", PW)
    assert not needs_rehash(stored) and needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
