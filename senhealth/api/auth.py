"""HTTP endpoints of the OAuth 2.0 / SMART on FHIR authorization server, and :func:`install_auth`.

Spec: SMART App Launch 2.0 https://hl7.org/fhir/smart-app-launch/app-launch.html (authorize, token,
EHR launch), backend services https://hl7.org/fhir/smart-app-launch/backend-services.html,
``/.well-known/smart-configuration`` https://hl7.org/fhir/smart-app-launch/conformance.html,
introspection https://www.rfc-editor.org/rfc/rfc7662, revocation https://www.rfc-editor.org/rfc/rfc7009,
bearer errors https://www.rfc-editor.org/rfc/rfc6750#section-3.

Endpoints: ``GET/POST /auth/authorize`` (the sign-in form: Vietnamese first, CSRF-protected by a
signed double-submit cookie, https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html),
``POST /auth/token``, ``POST /auth/introspect``, ``POST /auth/revoke``, ``POST /auth/launch`` (a
signed-in user's EHR launch context: returns a ``launch`` id), ``GET /.well-known/smart-configuration``,
``GET /.well-known/jwks.json``. The OAuth work is :mod:`senhealth.security.oauth`; this module only
turns HTTP into its calls and back. Signing in is consent: the form lists the scopes the app asks for.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped]
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.core.errors import operation_outcome
from senhealth.fhir.access import Principal, current_principal
from senhealth.security import login_rate
from senhealth.security.oauth import storage
from senhealth.security.oauth.authorization_server import AuthServer, FormRequest
from senhealth.security.oauth.bearer import BearerAuthenticator, install_authenticator
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.external import ExternalIssuer
from senhealth.security.oauth.scopes import parse_scopes
from senhealth.security.oauth.smart_configuration import smart_configuration
from senhealth.security.oauth.storage import GrantSubject
from senhealth.security.oauth.tokens import InvalidTokenError, TokenService, principal_kind
from senhealth.security.oauth.users import UserDirectory, UserInfo

__all__ = ["AuthInstallation", "BearerMiddleware", "bearer_principal", "install_auth", "optional_principal"]

CSRF_COOKIE = "senhealth_csrf"
_FORM_FIELDS = frozenset({"username", "password", "totp", "patient", "csrf_token"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS = {
    **_NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class AuthInstallation:
    """What :func:`install_auth` set up (``app.state.auth``)."""

    config: OAuthConfig
    tokens: TokenService
    server: AuthServer
    directory: UserDirectory
    authenticator: BearerAuthenticator
    csrf_secret: bytes


def _auth(request: Request) -> AuthInstallation:
    installed: AuthInstallation = request.app.state.auth
    return installed


# -- bearer tokens ----------------------------------------------------------------------------------


async def optional_principal(request: Request) -> Principal | None:
    """FastAPI dependency: the request's principal (None without a token; 401 for a bad one); also
    sets :func:`senhealth.fhir.access.current_principal` for the FHIR core."""
    principal = await _auth(request).authenticator.authenticate(request.headers)
    current_principal().set(principal)
    return principal


async def bearer_principal(request: Request) -> Principal:
    """FastAPI dependency: the request's principal; 401 without a token."""
    principal = await optional_principal(request)
    if principal is None:
        raise _Unauthenticated("this endpoint needs a bearer token")
    return principal


class _Unauthenticated(InvalidTokenError):
    """No token at all: 401 with a bare ``WWW-Authenticate: Bearer`` (RFC 6750 §3.1)."""


async def _invalid_token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidTokenError)
    if isinstance(exc, _Unauthenticated):
        challenge = 'Bearer realm="senhealth"'
    else:
        challenge = (
            'Bearer realm="senhealth", error="invalid_token", error_description="'
            + (exc.message.replace('"', "'").encode("ascii", "replace").decode())
            + '"'
        )
    outcome = operation_outcome("error", "login", exc.message)
    return JSONResponse(
        outcome, status_code=401, headers={"WWW-Authenticate": challenge}, media_type="application/fhir+json"
    )


# -- helpers --------------------------------------------------------------------------------------


def _oauth(result: tuple[int, Any, list[tuple[str, str]]]) -> Response:
    status, body, headers = result
    header_map = dict(headers)
    if status in (301, 302, 303, 307):
        return RedirectResponse(header_map["Location"], status_code=302, headers=_NO_STORE)
    header_map.pop("Content-Type", None)
    return JSONResponse(body, status_code=status, headers={**header_map, **_NO_STORE})


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


async def _form(request: Request) -> list[tuple[str, str]] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None


def _oauth_request(request: Request, pairs: Sequence[tuple[str, str]]) -> FormRequest:
    """Authlib's view of ``request``. Its URL is rebuilt on the configured public issuer: behind a
    TLS-terminating proxy the server itself sees ``http://`` (which Authlib refuses as insecure)."""
    issuer = _auth(request).config.issuer
    query = f"?{request.url.query}" if request.url.query else ""
    return FormRequest(request.method, f"{issuer}{request.url.path}{query}", request.headers, pairs)


def _csrf_token(secret: bytes, cookie: str) -> str:
    return hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.4rem;box-sizing:border-box}}
button{{margin-top:1.5rem;padding:.5rem 1.5rem}}.error{{color:#a00}}</style></head>
<body>{body}</body></html>"""
    return HTMLResponse(doc, status_code=status, headers=_PAGE_HEADERS)


def _sign_in_form(
    auth: AuthInstallation,
    params: Sequence[tuple[str, str]],
    client_name: str,
    scope: str,
    cookie: str,
    *,
    error: str | None = None,
    ask_patient: bool = False,
    status: int = 200,
) -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params
        if k not in _FORM_FIELDS
    )
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scope.split())
    patient = (
        '<label>Mã bệnh nhân / Patient id<input name="patient" autocomplete="off" required></label>'
        if ask_patient
        else ""
    )
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<h1>Đăng nhập / Sign in</h1>
<p>Ứng dụng <strong>{html.escape(client_name)}</strong> yêu cầu quyền truy cập /
the application asks for access:</p><ul>{scopes}</ul>{message}
<form method="post" action="/auth/authorize">{hidden}
<input type="hidden" name="csrf_token" value="{_csrf_token(auth.csrf_secret, cookie)}">
<label>Tên đăng nhập / Username<input name="username" autocomplete="username" required></label>
<label>Mật khẩu / Password<input name="password" type="password" autocomplete="current-password" required></label>
<label>Mã xác thực (TOTP) / Authentication code<input name="totp" inputmode="numeric" autocomplete="one-time-code"></label>
{patient}<button type="submit">Đăng nhập và cho phép / Sign in and allow</button></form>"""
    response = _page("Đăng nhập / Sign in", body, status)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=auth.config.issuer.startswith("https://"),
        path="/auth",
        max_age=1800,
    )
    return response


def _error_page(error: OAuth2Error) -> HTMLResponse:
    text = f"{error.error}: {error.description or ''}"
    body = f'<h1>Yêu cầu không hợp lệ / Invalid request</h1><p class="error">{html.escape(text)}</p>'
    return _page("Lỗi / Error", body, 400)


async def _validate(auth: AuthInstallation, oreq: FormRequest) -> Response | Any:
    """The grant of a valid authorization request, or the error response (a redirect to the client
    once its redirect URI is known good, a page otherwise)."""
    server = auth.server
    try:
        return await server.run(lambda: server.validate_authorization(oreq))
    except OAuth2Error as error:
        if error.redirect_uri:
            error.state = oreq.payload.state
            return _oauth(server.handle_error_response(oreq, error))
        return _error_page(error)


# -- routes ---------------------------------------------------------------------------------------

router = APIRouter()


@router.get("/.well-known/smart-configuration", include_in_schema=True)
async def well_known_smart(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_auth(request).config))


@router.get("/.well-known/jwks.json")
async def well_known_jwks(request: Request) -> JSONResponse:
    return JSONResponse(_auth(request).tokens.jwks(), headers={"Cache-Control": "max-age=300"})


@router.get("/auth/authorize")
async def authorize_form(request: Request) -> Response:
    auth = _auth(request)
    pairs = list(request.query_params.multi_items())
    oreq = _oauth_request(request, pairs)
    grant = await _validate(auth, oreq)
    if isinstance(grant, Response):
        return grant
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _sign_in_form(auth, pairs, grant.request.client.client_name, oreq.scope or "", cookie)


def _needs_patient(scope: str, user: UserInfo) -> bool:
    parsed = parse_scopes(scope)
    return "launch/patient" in parsed and not (principal_kind(user) == "patient" and user.patient)


@router.post("/auth/authorize")
async def authorize_submit(request: Request) -> Response:
    auth = _auth(request)
    pairs = await _form(request)
    if pairs is None:
        return _page("Lỗi / Error", "<p>Yêu cầu không hợp lệ / Invalid request</p>", 400)
    fields = dict(pairs)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(
        fields.get("csrf_token", ""), _csrf_token(auth.csrf_secret, cookie)
    ):
        return _page(
            "Lỗi / Error",
            "<p>Phiên đăng nhập đã hết hạn, hãy thử lại / The sign-in form expired: try again</p>",
            403,
        )
    params = [(k, v) for k, v in pairs if k not in _FORM_FIELDS]
    oreq = _oauth_request(request, params)
    grant = await _validate(auth, oreq)
    if isinstance(grant, Response):
        return grant
    client_name = grant.request.client.client_name
    scope = oreq.scope or ""

    def again(message: str, *, ask_patient: bool = False, status: int = 401) -> HTMLResponse:
        return _sign_in_form(
            auth, params, client_name, scope, cookie, error=message, ask_patient=ask_patient, status=status
        )

    address = request.client.host if request.client else "unknown"
    wait = await login_rate.attempt(address, login_rate.LoginLimit())
    if wait:
        minutes = max(1, -(-wait // 60))
        page = again(
            f"Quá nhiều lần đăng nhập từ địa chỉ này; thử lại sau {minutes} phút / Too many sign-in attempts "
            f"from this address: try again in {minutes} min",
            status=429,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        user = await auth.directory.authenticate(
            fields.get("username", ""), fields.get("password", ""), fields.get("totp") or None
        )
    except Exception:  # the directory refuses with its own exceptions; never say which part was wrong
        return again("Sai tên đăng nhập, mật khẩu hoặc mã xác thực / Wrong username, password or code")

    patient: str | None = None
    encounter: str | None = None
    parsed = parse_scopes(scope)
    launch = fields.get("launch")
    if "launch" in parsed:
        if not launch:
            return _error_page(
                OAuth2Error(error="invalid_request", description="scope launch without a launch parameter")
            )
        async with db.get_pool().connection() as connection:
            found = await storage.find_launch(connection, launch)
        if found is None or found[0] != user.id:
            return again("Phiên khởi chạy không hợp lệ / Unknown or expired launch", status=400)
        patient = found[1].get("patient")
        encounter = found[1].get("encounter")
    elif _needs_patient(scope, user):
        patient = (fields.get("patient") or "").strip() or None
        if patient is None:
            return again("Chọn bệnh nhân / Choose a patient", ask_patient=True, status=400)
    subject = GrantSubject(user, patient, encounter, fields.get("nonce"), ehr_launch="launch" in parsed)
    server = auth.server
    return _oauth(
        await server.run(lambda: server.create_authorization_response(oreq, grant_user=subject, grant=grant))
    )


@router.post("/auth/token")
async def token(request: Request) -> Response:
    auth = _auth(request)
    pairs = await _form(request)
    if pairs is None:
        return _oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
    fields = dict(pairs)
    server = auth.server
    if fields.get("grant_type") == "refresh_token" and fields.get("refresh_token"):
        refresh = fields["refresh_token"]
        record = await server.run(lambda: storage.find_refresh(refresh))
        if record is not None and await auth.directory.get(record.subject.user.id) is None:
            return _oauth_error("invalid_grant", "the account is disabled")
    oreq = _oauth_request(request, pairs)
    return _oauth(await server.run(lambda: server.create_token_response(oreq)))


@router.post("/auth/introspect")
async def introspect(request: Request) -> Response:
    return await _endpoint(request, "introspection")


@router.post("/auth/revoke")
async def revoke(request: Request) -> Response:
    return await _endpoint(request, "revocation")


async def _endpoint(request: Request, name: str) -> Response:
    auth = _auth(request)
    pairs = await _form(request)
    if pairs is None:
        return _oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
    oreq = _oauth_request(request, pairs)
    server = auth.server
    return _oauth(await server.run(lambda: server.create_endpoint_response(name, oreq)))


@router.post("/auth/launch")
async def launch(request: Request) -> Response:
    """An EHR launch: a signed-in user (bearer token) binds a patient (and encounter) context to a new
    ``launch`` id, which the EHR passes to the app's launch URL with ``iss``."""
    auth = _auth(request)
    principal = await bearer_principal(request)
    if principal.kind != "user":
        return JSONResponse(
            operation_outcome("error", "forbidden", "only staff users start EHR launches"), status_code=403
        )
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("patient"), str) or not body["patient"]:
        return JSONResponse(
            operation_outcome("error", "invalid", 'the body must be {"patient": "<id>"}'), status_code=400
        )
    context = {"patient": body["patient"]}
    if isinstance(body.get("encounter"), str):
        context["encounter"] = body["encounter"]
    launch_id = secrets.token_urlsafe(24)
    lifetime = auth.config.launch_minutes * 60
    async with db.get_pool().connection() as connection:
        await storage.save_launch(connection, launch_id, principal.subject, context, lifetime)
    return JSONResponse(
        {"launch": launch_id, "iss": auth.config.fhir_base, "expires_in": lifetime}, headers=_NO_STORE
    )


class BearerMiddleware:
    """Pure ASGI middleware: authenticates every request's bearer token and sets
    :func:`senhealth.fhir.access.current_principal` for the FHIR core (None without a token); a bad
    token answers 401 before the route runs. ``/auth/`` and ``/.well-known/`` are left alone."""

    def __init__(self, app: ASGIApp, authenticator: BearerAuthenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(("/auth/", "/.well-known/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            principal = await self.authenticator.authenticate(headers)
        except InvalidTokenError as exc:
            response = await _invalid_token(Request(scope), exc)
            await response(scope, receive, send)
            return
        token = current_principal().set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal().reset(token)


def _pool_conninfo() -> str:
    info = db.get_pool().conninfo
    if not isinstance(info, str):
        raise RuntimeError("the pool's conninfo is not a plain string")
    return info


def install_auth(
    app: FastAPI,
    directory: UserDirectory,
    *,
    settings: Settings | None = None,
    config: OAuthConfig | None = None,
    issuer: str | None = None,
    external: Sequence[ExternalIssuer] = (),
    conninfo: Callable[[], str] | None = None,
    authenticate_requests: bool = False,
) -> AuthInstallation:
    """Mount the authorization server's endpoints on ``app`` and install the bearer authenticator.

    ``config`` defaults to :meth:`OAuthConfig.from_settings` (``settings``, else ``app.state.settings``,
    else the process's); ``issuer`` overrides its public base URL; ``external`` are the accepted
    external OpenID providers; ``conninfo`` gives the database the synchronous OAuth storage connects
    to (default: the process pool's). ``authenticate_requests`` adds :class:`BearerMiddleware`, which
    sets the principal of every request for the FHIR API (call ``install_auth`` after the app's other
    middleware so that it runs first).
    """
    cfg = config or OAuthConfig.from_settings(settings or getattr(app.state, "settings", None), issuer=issuer)
    tokens = TokenService.from_config(cfg)
    server = AuthServer(cfg, tokens, conninfo or _pool_conninfo)
    authenticator = BearerAuthenticator(tokens, tuple(external))
    secret = (cfg.secret_key or "").encode() or hashlib.sha256(
        b"senhealth-csrf:" + str(tokens.key.as_dict(private=True)["d"]).encode()
    ).digest()
    installation = AuthInstallation(cfg, tokens, server, directory, authenticator, secret)
    app.state.auth = installation
    install_authenticator(authenticator)
    app.add_exception_handler(InvalidTokenError, _invalid_token)
    app.include_router(router)
    if authenticate_requests:
        app.add_middleware(BearerMiddleware, authenticator=authenticator)
    return installation
