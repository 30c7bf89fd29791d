"""The web application, installed into the platform's FastAPI app: staff pages under ``/app``, the citizen
portal under ``/portal``, their static files under ``/static/web``.

:func:`install_web` builds a separate Starlette application for the pages (its own middleware: security
headers, gzip; its own error pages) and puts a small dispatcher in front of the platform's middleware, so
page requests do not go through the FHIR API's bearer-token check (pages use the session cookie) while
everything else is untouched. The pages reach patient data only through the FHIR API, calling the whole
platform application in-process with the session's token (:mod:`senhealth.web.fhir_client`).

Unexpected errors: :class:`ServerErrorPages`, the outermost middleware of the pages but inside the
security headers, answers them with the 500 page of the pages' language, so that it carries the same
headers as every other page (Starlette's own ``ServerErrorMiddleware`` sits outside all user middleware:
https://www.starlette.io/middleware/#servererrormiddleware).

Starlette: https://www.starlette.io/ (routing, static files, middleware)
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from senhealth.core.config import Settings, get_settings
from senhealth.security.login_rate import LoginLimit
from senhealth.web.context import PageError, Redirect, WebState, render, session_of, t
from senhealth.web.i18n import N_
from senhealth.web.keys import load_keys
from senhealth.web.security_headers import SecurityHeaders
from senhealth.web.sessions import SessionLimits
from senhealth.web.views import (
    auth,
    break_glass,
    checkup_station,
    dashboard_checkup,
    dashboard_pages,
    documents,
    emr_documents,
    imaging_review,
    portal,
    review,
    staff,
    surveillance_web,
    telehealth_calendar,
    telehealth_consults,
    telehealth_portal,
    telehealth_recording,
    telehealth_referrals,
    telehealth_room,
    verification,
)

__all__ = ["PREFIXES", "ServerErrorPages", "build_web", "install_web"]

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_PREFIX: Final = "/static/web"
PREFIXES: Final = ("/app", "/portal", "/verify", "/dashboards", STATIC_PREFIX)


def _is_web(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


class WebDispatch:
    """ASGI middleware: page paths go to the web application, the rest to the platform."""

    def __init__(self, app: ASGIApp, web: ASGIApp) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_web(str(scope.get("path", ""))):
            await self.web(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    await session_of(request)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    tr = t(request)
    values = {k: tr.datetime(v) if isinstance(v, dt.datetime) else v for k, v in exc.values.items()}
    context = {"status": exc.status, "message": exc.message, "values": values}
    if request.headers.get("hx-request"):
        return render(request, "partials/error.html", context, status=exc.status, headers=headers)
    return render(request, "error.html", context, status=exc.status, headers=headers)


async def _redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": exc.url})
    return RedirectResponse(exc.url, status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: N_("This page does not exist."), 405: N_("This page does not accept this request.")}
    return await _page_error(
        request, PageError(exc.status_code, messages.get(exc.status_code, N_("Something went wrong.")))
    )


class ServerErrorPages:
    """ASGI middleware: an exception that no handler took becomes the 500 error page (logged with its
    traceback), rendered like the other error pages, so that the security headers around it apply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = _server_error_page(Request(scope, receive))
            await response(scope, receive, send)


def _server_error_page(request: Request) -> Response:
    try:
        context = {"status": 500, "message": N_("Something went wrong."), "values": {}}
        return render(request, "error.html", context, status=500)
    except Exception:  # the page itself failed: a plain answer, still inside the security headers
        log.exception("the error page failed")
        return PlainTextResponse("500", status_code=500)


def build_web(
    platform: FastAPI,
    settings: Settings,
    *,
    limits: SessionLimits | None = None,
    login_limit: LoginLimit | None = None,
) -> Starlette:
    """The pages' application (see the module docstring); ``platform`` serves the FHIR API it calls."""
    web_state = WebState(
        settings=settings,
        keys=load_keys(settings),
        platform=platform,
        fhir_store=platform.state.fhir_store,
        limits=limits or SessionLimits(),
        login_limit=login_limit or LoginLimit(),
    )
    routes = [
        *auth.ROUTES,
        *staff.ROUTES,
        *review.ROUTES,
        *break_glass.ROUTES,
        *documents.ROUTES,
        *emr_documents.ROUTES,  # clinical documents, signing, print preview, claim XML
        *checkup_station.ROUTES,  # the commune station's day, check-up form, risk result, worklists
        *dashboard_checkup.ROUTES,  # the province's check-up map: coverage and control rates per commune
        *dashboard_pages.ROUTES,  # the province's dashboards: overview, indicators, communes, facilities, reports
        *telehealth_room.ROUTES,  # the video room of an Appointment (docs/telehealth-video.md)
        *telehealth_recording.ROUTES,  # in the room: files in the chat, recording with consent (docs/web-telehealth.md)
        *telehealth_consults.ROUTES,  # consult inbox of both sides, request form, consult page and steps
        *telehealth_calendar.ROUTES,  # the practitioner's week: slots, remote visits, consult meetings
        *telehealth_referrals.ROUTES,  # the referral board: columns by step, both directions
        *telehealth_portal.ROUTES,  # the citizen's remote visits: booking, upcoming visits, join the call
        *imaging_review.ROUTES,  # the radiologist's worklist, viewer, review and signature (docs/web-imaging.md)
        *surveillance_web.ROUTES,  # the CDC's alert inbox, alert pages, outbreak map, line list, bulletin PDF
        *portal.ROUTES,
        *verification.ROUTES,
        Mount(STATIC_PREFIX, app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    web = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, static_prefix=STATIC_PREFIX),
            Middleware(ServerErrorPages),
            Middleware(GZipMiddleware, minimum_size=1000),
        ],
        exception_handlers={PageError: _page_error, Redirect: _redirect, HTTPException: _http_error},
    )
    web.state.web = web_state
    return web


def install_web(
    app: FastAPI,
    settings: Settings | None = None,
    *,
    limits: SessionLimits | None = None,
    login_limit: LoginLimit | None = None,
) -> None:
    """Mount the web application into ``app``. Idempotent: a second call mounts nothing again; it only
    applies the ``limits`` / ``login_limit`` it is given (so tests can tune an app that ``build_app``
    already equipped)."""
    installed: Starlette | None = getattr(app.state, "senhealth_web", None)
    if installed is not None:
        state: WebState = installed.state.web
        if limits is not None:
            state.limits = limits
        if login_limit is not None:
            state.login_limit = login_limit
        return
    cfg = settings or getattr(app.state, "settings", None) or get_settings()
    web = build_web(app, cfg, limits=limits, login_limit=login_limit)
    app.state.senhealth_web = web
    app.add_middleware(WebDispatch, web=web)
