"""Security headers on every response of the web application (ASGI middleware).

- Content Security Policy: https://www.w3.org/TR/CSP3/ ; nothing inline, everything from this origin
  (Alpine.js is its CSP build, which never evaluates strings; htmx is told not to add its inline style).
- ``X-Frame-Options`` and ``frame-ancestors``: no framing (clickjacking).
- HSTS (RFC 6797) when the session cookie is secure (HTTPS).
- ``Cache-Control: no-store`` on every page but the static files: the pages show patient data.

OWASP secure headers: https://owasp.org/www-project-secure-headers/
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeaders"]

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_COMMON: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"permissions-policy",
        b"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_HSTS: Final = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Adds the headers above; ``hsts``: a callable deciding from the scope whether to send HSTS."""

    def __init__(self, app: ASGIApp, *, static_prefix: str, force_hsts: bool = False) -> None:
        self.app = app
        self.static_prefix = static_prefix
        self.force_hsts = force_hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope["path"]).startswith(self.static_prefix)
        secure = self.force_hsts or scope.get("scheme") == "https"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                headers = [h for h in message.get("headers", [])]
                headers.extend(h for h in _COMMON if h[0] not in names)
                if secure:
                    headers.append(_HSTS)
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)
