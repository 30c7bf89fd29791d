"""Enrolling a TOTP authenticator from the web: the secret becomes the account's only once confirmed.

:func:`senhealth.security.accounts.enroll_totp` activates a new secret at once; the web sign-in instead
draws the secret itself, keeps it (encrypted) in the pending session, shows it as a QR code, and stores it
in the account only after the user typed a valid code from it (:func:`confirm`), so an abandoned
enrolment leaves the account as it was. QR codes: segno, https://segno.readthedocs.io/ (SVG, inline).
"""

from __future__ import annotations

import datetime as dt
import hmac

import pyotp
import segno
from markupsafe import Markup

from senhealth.security import accounts

__all__ = ["code_matches", "confirm", "new_secret", "provisioning_uri", "qr_svg"]


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=accounts.TOTP_ISSUER)


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as an inline ``<svg>`` (no XML declaration)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#111", light="#fff")
    return Markup(svg)  # segno output from our own URI


def code_matches(secret: str, code: str) -> bool:
    """Whether ``code`` is the current (or a neighbouring) code of ``secret``."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return False
    otp = pyotp.TOTP(secret)
    now = dt.datetime.now(dt.UTC)
    current = otp.timecode(now)
    return any(
        hmac.compare_digest(otp.generate_otp(step), code) for step in (current - 1, current, current + 1)
    )


async def confirm(account_id: str, secret: str, code: str) -> bool:
    """Store ``secret`` as the account's TOTP secret if ``code`` is one of its codes and the account still
    has none (:func:`senhealth.security.accounts.confirm_totp`)."""
    return await accounts.confirm_totp(account_id, secret, code)
