"""Sign-in attempts per client address: the security layer's limiter (:mod:`senhealth.security.login_rate`),
under the name the web pages import."""

from __future__ import annotations

from senhealth.security.login_rate import LoginLimit, attempt

__all__ = ["LoginLimit", "attempt"]
