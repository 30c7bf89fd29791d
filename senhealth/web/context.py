"""What every view needs: the web state (settings, keys, templates), the session, rendering, errors.

Views raise :class:`Redirect` or :class:`PageError`; the web application's exception handlers turn them
into responses (:mod:`senhealth.web.app`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import wraps
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp

from senhealth.core.config import Settings
from senhealth.core.db import transaction
from senhealth.security import accounts, break_glass
from senhealth.security.directory import user_info
from senhealth.security.login_rate import LoginLimit
from senhealth.security.oauth.bearer import note_revoked
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import BREAK_GLASS_CLAIM, TokenService
from senhealth.security.oauth.users import UserInfo
from senhealth.web import csrf, sessions
from senhealth.web.fhir_client import FhirClient
from senhealth.web.i18n import LANGUAGES, Translator, language_of, translator
from senhealth.web.keys import WebKeys
from senhealth.web.labels import role_label
from senhealth.web.record import first_code, text_of
from senhealth.web.sessions import Session, SessionLimits

__all__ = [
    "PageError",
    "Redirect",
    "WebState",
    "checked_form",
    "client_ip",
    "csrf_protected",
    "end_break_glass",
    "fhir",
    "lang_of",
    "mint_token",
    "render",
    "require_patient",
    "require_staff",
    "session_of",
    "session_token",
    "start_break_glass",
    "state",
    "store_token",
    "t",
    "token_of",
]

TEMPLATES: Final = Path(__file__).parent / "templates"
View = Callable[[Request], Awaitable[Response]]


@dataclass
class WebState:
    settings: Settings
    keys: WebKeys
    platform: ASGIApp  # the whole application: the FHIR API is called through it
    fhir_store: Any  # the platform's FhirStore (for the merge of the review queue)
    limits: SessionLimits = field(default_factory=SessionLimits)
    login_limit: LoginLimit = field(default_factory=LoginLimit)
    env: Environment = field(init=False)
    _tokens: TokenService | None = None

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["concept"] = text_of
        self.env.filters["code"] = first_code

    @property
    def tokens(self) -> TokenService:
        if self._tokens is None:
            self._tokens = TokenService.from_config(OAuthConfig.from_settings(self.settings))
        return self._tokens

    def secure_cookies(self, request: Request) -> bool:
        return not (self.settings.environment == "development" and request.url.scheme == "http")

    def cookie_name(self, request: Request) -> str:
        return sessions.SECURE_COOKIE if self.secure_cookies(request) else sessions.COOKIE

    def in_facility_network(self, address: str | None) -> bool:
        return accounts.in_facility_network(address, self.settings.facility_networks)


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class PageError(Exception):
    """An error page: ``message`` is a catalogue message id (translated when shown)."""

    def __init__(
        self, status: int, message: str, *, retry_after: int | None = None, **values: object
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.values = values
        self.retry_after = retry_after


def state(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def session_of(request: Request) -> Session | None:
    """The request's live session (loaded once per request)."""
    if hasattr(request.state, "session"):
        found: Session | None = request.state.session
        return found
    web = state(request)
    found = await sessions.load(request.cookies.get(web.cookie_name(request)), web.limits)
    request.state.session = found
    return found


async def require_staff(request: Request) -> Session:
    found = await session_of(request)
    if found is None or not found.active:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect("/app/login?" + urlencode({"next": target}))
    if found.is_patient:
        raise PageError(403, "This page is for health workers. Your own record is in the citizen portal.")
    if found.role == "facility_admin" and found.facility:
        # the navigation shows the administrator how many emergency accesses wait for review
        async with transaction() as conn:
            request.state.break_glass_unreviewed = await break_glass.unreviewed_count(conn, found.facility)
    return found


async def require_patient(request: Request) -> Session:
    found = await session_of(request)
    if found is None or not found.active:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect("/portal/login?" + urlencode({"next": target}))
    if not found.is_patient or not found.patient:
        raise PageError(403, "The citizen portal is for patients' own accounts.")
    return found


def token_of(request: Request, found: Session) -> str:
    web = state(request)
    if found.sealed is None:
        raise Redirect("/app/login")
    raw = web.keys.decrypt(found.sealed, "token:" + found.account_id)
    if raw is None:
        raise Redirect("/app/login")
    return raw.decode()


def _break_glass_token(request: Request, found: Session) -> str | None:
    if not found.break_glass or found.break_glass_sealed is None:
        return None
    raw = state(request).keys.decrypt(found.break_glass_sealed, "break-glass:" + found.account_id)
    return None if raw is None else raw.decode()


CLIENT_ID: Final = "senhealth-web"
STAFF_SCOPE: Final = "openid fhirUser user/*.cruds"
PATIENT_SCOPE: Final = "openid fhirUser patient/*.cruds"
_RENEW_BEFORE: Final = dt.timedelta(minutes=2)


def mint_token(web: WebState, user: accounts.User, role: str) -> tuple[str, dict[str, Any]]:
    """An access token of the platform for ``user`` acting in ``role`` (and their facility), and its claims.

    The same token service as ``/auth/token`` (:class:`senhealth.security.oauth.tokens.TokenService`):
    the FHIR API checks it like any other. It lives at most an hour; :func:`session_token` renews it.
    """
    base = user_info(user)
    info = UserInfo(
        id=base.id,
        username=base.username,
        roles=frozenset({role}),
        facility=base.facility,
        practitioner=base.practitioner,
        patient=base.patient,
    )
    lifetime = int(min(web.limits.absolute, dt.timedelta(hours=1)).total_seconds())
    scope = PATIENT_SCOPE if role == "patient" else STAFF_SCOPE
    claims = web.tokens.access_claims(client_id=CLIENT_ID, scope=scope, user=info, lifetime_s=lifetime)
    return web.tokens.mint(claims), claims


async def start_break_glass(request: Request, found: Session, reason: str, patient: str | None) -> None:
    """Give the session an emergency (break-the-glass) token for its role, beside its normal token, for
    30 minutes at most (https://hl7.org/fhir/R4/security.html#break-glass); the grant is recorded for
    the administrators' review. Raises :class:`senhealth.security.break_glass.BreakGlassError`."""
    web = state(request)
    user = await accounts.get_user(found.account_id)
    if user is None or user.disabled or found.role not in user.roles:
        await sessions.delete(found)
        raise Redirect("/app/login")
    base = user_info(user)
    info = replace(base, roles=frozenset({str(found.role)}))
    minutes = int(
        min(web.limits.absolute, dt.timedelta(minutes=break_glass.MAX_MINUTES)).total_seconds() // 60
    )
    token, claims = break_glass.mint_break_glass_token(
        web.tokens, info, reason, found.facility or user.facility, max(1, minutes), client_id=CLIENT_ID,
        scope=STAFF_SCOPE,
    )  # fmt: skip
    sealed = web.keys.encrypt(token.encode(), "break-glass:" + found.account_id)
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    async with transaction() as conn:
        await break_glass.record_grant(conn, claims, username=user.username, patient=patient)
        await sessions.set_break_glass(
            conn,
            found,
            sealed_token=sealed,
            jti=claims["jti"],
            token_exp=expires,
            reason=claims[BREAK_GLASS_CLAIM],
        )
    request.state.session = replace(
        found,
        break_glass_sealed=sealed,
        break_glass_jti=claims["jti"],
        break_glass_exp=expires,
        break_glass_reason=claims[BREAK_GLASS_CLAIM],
    )


async def end_break_glass(request: Request, found: Session) -> None:
    """End the session's emergency access now: the token is revoked (at once in this process, within the
    bearer check's revocation cache elsewhere) and forgotten."""
    if found.break_glass_jti is None:
        return
    async with transaction() as conn:
        await sessions.end_break_glass(conn, found)
    note_revoked(found.break_glass_jti)
    request.state.session = replace(
        found, break_glass_sealed=None, break_glass_jti=None, break_glass_exp=None, break_glass_reason=None
    )


async def store_token(
    request: Request, found: Session, user: accounts.User, role: str, *, restart: bool
) -> str:
    """Mint a token for the session's role and keep it (encrypted) in the session; returns it."""
    web = state(request)
    token, claims = mint_token(web, user, role)
    sealed = web.keys.encrypt(token.encode(), "token:" + found.account_id)
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    if found.break_glass_jti is not None and role != found.role:
        await end_break_glass(request, found)  # emergency access belongs to the role it was asked in
        found = request.state.session
    await sessions.activate(
        found,
        role=role,
        facility=user.facility,
        sealed_token=sealed,
        jti=claims["jti"],
        token_exp=expires,
        limits=web.limits,
        restart=restart,
        multi_role=len(user.roles) > 1,
    )
    # The rest of this request sees the new token (no second renewal).
    request.state.session = replace(
        found,
        stage="active",
        role=role,
        facility=user.facility,
        sealed=sealed,
        token_jti=claims["jti"],
        token_exp=expires,
        multi_role=len(user.roles) > 1,
    )
    return token


async def session_token(request: Request, found: Session) -> str:
    """The session's access token, renewed when it is about to expire (the account is checked again:
    a disabled account or a withdrawn role ends the session). While emergency access is on, its token."""
    emergency = _break_glass_token(request, found)
    if emergency is not None:
        return emergency
    if found.token_exp is not None and found.token_exp - now() > _RENEW_BEFORE:
        return token_of(request, found)
    user = await accounts.get_user(found.account_id)
    if user is None or user.disabled or found.role not in user.roles:
        await sessions.delete(found)
        raise Redirect("/app/login")
    return await store_token(request, found, user, str(found.role), restart=False)


@asynccontextmanager
async def fhir(request: Request, found: Session) -> AsyncIterator[FhirClient]:
    """A FHIR client acting as the session's user, from the browser's address."""
    token = await session_token(request, found)
    async with FhirClient(state(request).platform, token, client_ip(request)) as client:
        yield client


def lang_of(request: Request) -> str:
    found: Session | None = getattr(request.state, "session", None)
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    if request.cookies.get("lang") in LANGUAGES:
        return language_of(request)
    if found is not None:
        return found.lang
    return language_of(request, state(request).settings.language)


def t(request: Request) -> Translator:
    return translator(lang_of(request), state(request).settings.timezone)


def csrf_token(request: Request) -> str:
    web = state(request)
    found: Session | None = getattr(request.state, "session", None)
    if found is not None:
        return csrf.token_for(web.keys, session_id=found.id)
    pre = request.cookies.get(csrf.PRE_COOKIE) or getattr(request.state, "pre_session", None)
    if not pre:
        pre = csrf.new_pre_session()
        request.state.pre_session = pre
        request.state.new_pre_session = True
    return csrf.token_for(web.keys, pre_session=pre)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or an htmx partial) in the request's language, with the CSRF token and the language cookie."""
    web = state(request)
    tr = t(request)
    found: Session | None = getattr(request.state, "session", None)
    values: dict[str, Any] = {
        "_": tr.gettext,
        "t": tr,
        "lang": tr.lang,
        "request": request,
        "session": found if found is not None and found.active else None,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
        "other_lang": "en" if tr.lang == "vi" else "vi",
        "role_name": lambda role: role_label(role, tr.lang),
        "break_glass_unreviewed": getattr(request.state, "break_glass_unreviewed", 0),
        "may_break_glass": found is not None and found.role in break_glass.BREAK_GLASS_ROLES,
    }
    values.update(context or {})
    html = web.env.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=headers)
    secure = web.secure_cookies(request)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            "lang", tr.lang, max_age=365 * 86400, httponly=True, secure=secure, samesite="lax", path="/"
        )
    if getattr(request.state, "new_pre_session", False):
        response.set_cookie(
            csrf.PRE_COOKIE, request.state.pre_session, httponly=True, secure=secure, samesite="lax", path="/"
        )
    return response


async def checked_form(request: Request) -> FormData:
    """The posted form, after the CSRF check (403 :class:`PageError` when it fails)."""
    form = await request.form()
    found = await session_of(request)
    presented = request.headers.get(csrf.HEADER) or str(form.get(csrf.FIELD) or "")
    ok = csrf.check(
        state(request).keys,
        presented,
        session_id=found.id if found is not None else None,
        pre_session=request.cookies.get(csrf.PRE_COOKIE),
    )
    if not ok:
        raise PageError(
            403, "The form has expired or did not come from this site. Reload the page and try again."
        )
    return form


def csrf_protected(view: Callable[[Request, FormData], Awaitable[Response]]) -> View:
    """A POST view that receives the checked form."""

    @wraps(view)
    async def wrapper(request: Request) -> Response:
        form = await checked_form(request)
        return await view(request, form)

    return wrapper


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
