"""Helpers of the web tests: reading the CSRF token of a page and signing in through the forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pyotp

#: The ``run_web`` fixture's type (tests/web/conftest.py).
RunWeb = Callable[..., Any]

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient,
    username: str,
    password: str,
    *,
    totp_secret: str | None = None,
    role: str | None = None,
    path: str = "/app/login",
) -> httpx.Response:
    """Sign in through the forms; returns the last response (the page after sign-in, redirects followed)."""
    page = await client.get(path)
    r = await client.post(
        path,
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )
    if r.url.path == "/app/login/totp":
        assert totp_secret is not None, "two-factor asked"
        r = await client.post(
            "/app/login/totp",
            data={"code": pyotp.TOTP(totp_secret).now(), "csrf_token": csrf_of(r.text)},
            follow_redirects=True,
        )
    if r.url.path == "/app/login/role":
        r = await client.post(
            "/app/login/role",
            data={"role": role or "doctor", "csrf_token": csrf_of(r.text)},
            follow_redirects=True,
        )
    return r
