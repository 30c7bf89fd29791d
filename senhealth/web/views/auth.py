"""Sign-in (password, then TOTP or its enrolment, then role and facility), sign-out, language switch.

Two-factor is needed when :func:`senhealth.security.accounts.authenticate` says so: roles that always need
it, accounts that enrolled, and everyone outside the facility networks (``Settings.facility_networks``).
The password is checked first; the session then waits (``pending``, 5 minutes) for the code, holding the
password encrypted because ``authenticate`` checks both together. Every submission counts against the
client address's rate limit (:mod:`senhealth.security.login_rate`); a locked username answers 429 too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.security import accounts
from senhealth.security import login_rate as ratelimit
from senhealth.web import sessions, totp_enrolment
from senhealth.web.context import (
    PageError,
    Redirect,
    client_ip,
    csrf_protected,
    lang_of,
    render,
    session_of,
    state,
    store_token,
)
from senhealth.web.i18n import N_
from senhealth.web.labels import role_label
from senhealth.web.sessions import Session

__all__ = ["ROUTES"]


_ERRORS: dict[type[accounts.AuthenticationError], str] = {
    accounts.InvalidCredentials: N_("Wrong username or password."),
    accounts.AccountDisabled: N_("This account is disabled. Contact your facility's administrator."),
    accounts.TotpInvalid: N_("Wrong two-factor code. Wait for the next code and try again."),
}


async def _rate_limited(request: Request) -> None:
    wait = await ratelimit.attempt(client_ip(request), state(request).login_limit)
    if wait:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        raise PageError(
            429,
            "Too many sign-in attempts from this address. Try again after {time}.",
            retry_after=wait,
            time=until,
        )


def _locked(error: accounts.AccountLocked) -> PageError:
    wait = max(1, int((error.until - dt.datetime.now(dt.UTC)).total_seconds()))
    return PageError(
        429,
        "Too many failed sign-ins for this account. Try again after {time}.",
        retry_after=wait,
        time=error.until,
    )


def _seal(request: Request, account_id: str, data: dict[str, Any]) -> bytes:
    return state(request).keys.encrypt(json.dumps(data).encode(), "pending:" + account_id)


def _unseal(request: Request, found: Session) -> dict[str, Any]:
    raw = state(request).keys.decrypt(found.sealed or b"", "pending:" + found.account_id)
    if raw is None:
        raise Redirect("/app/login")
    data: dict[str, Any] = json.loads(raw)
    return data


def _set_cookie(request: Request, response: Response, found: Session) -> None:
    web = state(request)
    response.set_cookie(
        web.cookie_name(request),
        found.id,
        httponly=True,
        secure=web.secure_cookies(request),
        samesite="lax",
        path="/",
    )


NEXT_COOKIE = "senhealth_next"


def safe_next(value: str | None) -> str | None:
    """A page of this application to return to after sign-in (a local path only: no open redirect)."""
    if not value or len(value) > 500 or not value.startswith(("/app/", "/portal", "/dashboards/")):
        return None
    if (
        value.startswith("//")
        or "\\" in value
        or value.startswith(("/app/login", "/app/logout", "/portal/login"))
    ):
        return None
    return value


def _go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def login_page(request: Request) -> Response:
    found = await session_of(request)
    if found is not None and found.active:
        return _go("/portal" if found.is_patient else "/app/patients")
    portal = request.url.path.startswith("/portal")
    response = render(request, "auth/login.html", {"portal": portal})
    target = safe_next(request.query_params.get("next"))
    if target:  # remembered through the sign-in steps (TOTP, enrolment, role)
        web = state(request)
        response.set_cookie(
            NEXT_COOKIE,
            target,
            max_age=600,
            httponly=True,
            secure=web.secure_cookies(request),
            samesite="lax",
            path="/",
        )
    return response


async def _after_password(request: Request, found: Session) -> Response:
    """Signed in (password and any second factor): choose the role, or take the only one."""
    user = await accounts.get_user(found.account_id)
    if user is None or user.disabled:
        await sessions.delete(found)
        raise Redirect("/app/login")
    roles = sorted(user.roles)
    await sessions.set_stage_choose(found)
    if len(roles) == 1:
        return await _activate(request, found, user, roles[0], restart=True)
    return _go("/app/login/role")


async def _activate(
    request: Request, found: Session, user: accounts.User, role: str, *, restart: bool
) -> Response:
    await store_token(request, found, user, role, restart=restart)
    home = "/portal" if role == "patient" else "/app/patients"
    target = safe_next(request.cookies.get(NEXT_COOKIE))
    if target and target.startswith("/portal") != (role == "patient"):
        target = None  # a staff page for a patient, or the reverse
    response = _go(target or home)
    response.delete_cookie(NEXT_COOKIE, path="/")
    return response


@csrf_protected
async def login_submit(request: Request, form: FormData) -> Response:
    await _rate_limited(request)
    web = state(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    inside = web.in_facility_network(client_ip(request))
    common = {"username": username, "portal": request.url.path.startswith("/portal")}
    account: accounts.User | None = None
    stage = "choose"
    sealed: bytes | None = None
    try:
        account = await accounts.authenticate(username, password, None, from_facility_network=inside)
    except accounts.AccountLocked as e:
        raise _locked(e) from None
    except accounts.TotpNotEnrolled:
        account = await accounts.get_user(username)
        stage = "enrol"
        if account is not None:
            sealed = _seal(request, account.id, {"password": password, "secret": totp_enrolment.new_secret()})
    except accounts.TotpRequired:
        account = await accounts.get_user(username)
        stage = "pending"
        if account is not None:
            sealed = _seal(request, account.id, {"password": password})
    except accounts.AuthenticationError as e:
        message = _ERRORS.get(type(e), N_("Wrong username or password."))
        return render(request, "auth/login.html", {**common, "error": message}, status=401)
    if account is None:
        return render(
            request, "auth/login.html", {**common, "error": _ERRORS[accounts.InvalidCredentials]}, status=401
        )
    found = await sessions.create(
        stage=stage,
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        patient=account.patient,
        sealed=sealed,
        lang=lang_of(request),
        client_address=client_ip(request),
        limits=web.limits,
    )
    request.state.session = found
    if stage == "enrol":
        response: Response = _go("/app/login/enrol")
    elif stage == "pending":
        response = _go("/app/login/totp")
    else:
        try:
            response = await _after_password(request, found)
        except Redirect as r:
            response = _go(r.url)
    _set_cookie(request, response, found)
    return response


async def _pending(request: Request, stage: str) -> Session:
    found = await session_of(request)
    if found is None or found.stage != stage:
        raise Redirect("/app/login")
    return found


async def totp_page(request: Request) -> Response:
    await _pending(request, "pending")
    return render(request, "auth/totp.html")


@csrf_protected
async def totp_submit(request: Request, form: FormData) -> Response:
    found = await _pending(request, "pending")
    await _rate_limited(request)
    code = str(form.get("code") or "")
    data = _unseal(request, found)
    inside = state(request).in_facility_network(client_ip(request))
    try:
        await accounts.authenticate(found.username, data["password"], code, from_facility_network=inside)
    except accounts.AccountLocked as e:
        await sessions.delete(found)
        raise _locked(e) from None
    except accounts.TotpInvalid:
        return render(request, "auth/totp.html", {"error": _ERRORS[accounts.TotpInvalid]}, status=401)
    except accounts.AuthenticationError:
        await sessions.delete(found)
        raise Redirect("/app/login") from None
    return await _after_password(request, found)


async def enrol_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    found = await _pending(request, "enrol")
    data = _unseal(request, found)
    uri = totp_enrolment.provisioning_uri(data["secret"], found.username)
    context = {"qr": totp_enrolment.qr_svg(uri), "secret": data["secret"], "error": error}
    return render(request, "auth/enrol.html", context, status=status)


@csrf_protected
async def enrol_submit(request: Request, form: FormData) -> Response:
    found = await _pending(request, "enrol")
    await _rate_limited(request)
    data = _unseal(request, found)
    code = str(form.get("code") or "")
    if not await totp_enrolment.confirm(found.account_id, data["secret"], code):
        return await enrol_page(request, _ERRORS[accounts.TotpInvalid], 401)
    inside = state(request).in_facility_network(client_ip(request))
    try:
        await accounts.authenticate(found.username, data["password"], code, from_facility_network=inside)
    except accounts.AccountLocked as e:
        raise _locked(e) from None
    except accounts.AuthenticationError:
        await sessions.delete(found)
        raise Redirect("/app/login") from None
    await sessions.update_pending(found, stage="pending", sealed=None)
    return await _after_password(request, found)


async def _choosing(request: Request) -> tuple[Session, accounts.User]:
    found = await session_of(request)
    if found is None or found.stage not in ("choose", "active"):
        raise Redirect("/app/login")
    user = await accounts.get_user(found.account_id)
    if user is None or user.disabled:
        raise Redirect("/app/login")
    return found, user


async def role_page(request: Request) -> Response:
    found, user = await _choosing(request)
    lang = lang_of(request)
    choices = [
        {"value": role, "label": role_label(role, lang), "facility": user.facility}
        for role in sorted(user.roles)
    ]
    return render(request, "auth/role.html", {"choices": choices, "current": found.role})


@csrf_protected
async def role_submit(request: Request, form: FormData) -> Response:
    found, user = await _choosing(request)
    role = str(form.get("role") or "")
    if role not in user.roles:
        raise PageError(400, "Choose one of your roles.")
    return await _activate(request, found, user, role, restart=found.stage != "active")


@csrf_protected
async def logout(request: Request, form: FormData) -> Response:
    found = await session_of(request)
    portal = found is not None and found.is_patient
    if found is not None:
        await sessions.delete(found)
    response = _go("/portal/login" if portal else "/app/login")
    web = state(request)
    response.delete_cookie(
        web.cookie_name(request), path="/", secure=web.secure_cookies(request), httponly=True
    )
    return response


async def root(request: Request) -> Response:
    found = await session_of(request)
    if found is not None and found.active and found.is_patient:
        return _go("/portal")
    query = urlencode({"lang": request.query_params["lang"]}) if "lang" in request.query_params else ""
    return _go("/app/patients" + (f"?{query}" if query else ""))


ROUTES = [
    Route("/app", root, methods=["GET"]),
    Route("/app/", root, methods=["GET"]),
    Route("/app/login", login_page, methods=["GET"]),
    Route("/app/login", login_submit, methods=["POST"]),
    Route("/portal/login", login_page, methods=["GET"]),
    Route("/portal/login", login_submit, methods=["POST"]),
    Route("/app/login/totp", totp_page, methods=["GET"]),
    Route("/app/login/totp", totp_submit, methods=["POST"]),
    Route("/app/login/enrol", enrol_page, methods=["GET"]),
    Route("/app/login/enrol", enrol_submit, methods=["POST"]),
    Route("/app/login/role", role_page, methods=["GET"]),
    Route("/app/login/role", role_submit, methods=["POST"]),
    Route("/app/logout", logout, methods=["POST"]),
]
