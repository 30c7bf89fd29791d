"""The platform as the clinical-document pages' tests need it: the document, signature, printing and claim
operations registered, the pages' routes and the public verification page mounted.

``install_emr(app, settings)`` completes an application made by ``senhealth.app.build_app`` with whatever
it does not install itself yet, exactly as the platform wires it (each step is skipped when the platform
already does it, so the same tests run before and after the wiring lands; today the platform registers
the operations and the verification page, and the pages' routes are added here):

- the operations: ``register_document_operations()``, ``register_signature_operations(settings)``,
  ``register_printing_operations(settings)``, ``register_claims_operations(...)`` (keys and trust roots of
  ``settings``' PKI);
- the pages: ``senhealth.web.views.emr_documents.ROUTES`` and ``senhealth.web.views.verification.ROUTES``
  in the web application, and ``/verify`` dispatched to it.

``uninstall_emr()`` removes the operations again (the registry is global to the process).
``build_emr_app()`` is a factory for ``uvicorn --factory`` (the live server of the browser test), reading
the settings from the environment as ``senhealth serve`` does.

``emr_environment(schema_url, tmp_path)`` (a context manager) gives an :class:`EmrWeb`: settings on a
migrated schema, a running test PKI (``tests/emr/emr_pki_support.py``) with a signing certificate for the
doctor ``bs.binh`` and one for the facility ``bv-tinh``, and ``run(scenario)`` that assembles the
platform in-process, seeds the web tests' dataset and calls ``scenario(client, seeded)``.

Also here: ``sys.path`` gets ``tests/emr`` so that ``emr_pki_support`` (the test PKI) can be imported;
its ``TestPki`` and ``make_test_pki`` are re-exported.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from web_dataset import PASSWORD, Seeded, seed
from web_support import csrf_of, sign_in

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate

_EMR_TESTS = str(Path(__file__).resolve().parents[1] / "emr")
if _EMR_TESTS not in sys.path:
    sys.path.insert(0, _EMR_TESTS)

from emr_pki_support import TestPki, make_test_pki  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

__all__ = [
    "DOCS",
    "ENCOUNTER",
    "HOSPITAL",
    "EmrWeb",
    "TestPki",
    "build_emr_app",
    "doctor",
    "emr_environment",
    "install_emr",
    "make_test_pki",
    "sign_as",
    "text_of",
    "uninstall_emr",
]

Scenario = Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]
DOCS = "/app/patients/p-an/clinical-documents"
ENCOUNTER = "p-an-enc2"
HOSPITAL = "Bệnh viện Đa khoa tỉnh"

_INSTALLED: list[str] = []
VERIFY = "/verify"


class _VerifyDispatch:
    """``/verify`` and ``/verify/...`` to the web application (until the platform routes them itself)."""

    def __init__(self, app: ASGIApp, web: ASGIApp) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == VERIFY or path.startswith(VERIFY + "/")):
            await self.web(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _register_operations(settings: Any) -> None:
    from senhealth.emr.claims.operations import register_claims_operations
    from senhealth.emr.documents.operations import register_document_operations
    from senhealth.emr.pki.installation import trust_roots
    from senhealth.emr.pki.keystore import signing_key
    from senhealth.emr.printing import register_printing_operations
    from senhealth.emr.signatures import register_signature_operations
    from senhealth.fhir.operations.registry import get_operation

    if get_operation("create-document") is None:
        register_document_operations()
        _INSTALLED.append("documents")
    if get_operation("sign") is None:
        register_signature_operations(settings)
        _INSTALLED.append("signatures")
    if get_operation("pdf") is None:
        register_printing_operations(settings)
        _INSTALLED.append("printing")
    if get_operation("claim-xml") is None:
        register_claims_operations(
            signing_key=lambda org: signing_key(settings, organization=org),
            trust_roots=lambda: trust_roots(settings),
        )
        _INSTALLED.append("claims")


def uninstall_emr() -> None:
    """Remove what :func:`install_emr` registered, and the process-wide registrations of the signature and
    printing operations that ``build_app`` made (operations, the immutability guard, the one-time-code
    sender, the access policy), as the EMR tests' own fixtures do: no later test sees them."""
    from senhealth.emr.claims.operations import unregister_claims_operations
    from senhealth.emr.documents.operations import unregister_document_operations
    from senhealth.emr.printing import unregister_printing_operations
    from senhealth.emr.signatures import (
        install_otp_sender,
        remove_immutability_guard,
        unregister_signature_operations,
    )
    from senhealth.fhir import access

    undo = {"documents": unregister_document_operations, "claims": unregister_claims_operations}
    while _INSTALLED:
        step = _INSTALLED.pop()
        if step in undo:
            undo[step]()
    unregister_printing_operations()
    unregister_signature_operations()
    remove_immutability_guard()
    install_otp_sender(None)
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


def _has_route(routes: list[Any], path: str) -> bool:
    return any(getattr(r, "path", None) == path for r in routes)


def install_emr(app: FastAPI, settings: Any) -> None:
    """See the module docstring."""
    from senhealth.web import app as web_app
    from senhealth.web.views import emr_documents, verification

    _register_operations(settings)
    web = app.state.senhealth_web
    routes = web.router.routes
    if not _has_route(routes, emr_documents.ROUTES[0].path):
        routes[0:0] = list(emr_documents.ROUTES)
    if not _has_route(routes, verification.PREFIX + "/{code}"):
        routes[0:0] = list(verification.ROUTES)
    if VERIFY not in web_app.PREFIXES:
        app.add_middleware(_VerifyDispatch, web=web)


def build_emr_app() -> FastAPI:
    """``uvicorn --factory emr_web_support:build_emr_app``: the platform with the pages above."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    settings = get_settings()
    app = build_app(settings)
    install_emr(app, settings)
    return app


@dataclass
class EmrWeb:
    settings: Settings
    pki: TestPki
    doctor_key: Any

    def run(self, scenario: Scenario) -> Any:
        from senhealth.app import build_app
        from senhealth.web import install_web

        async def main() -> Any:
            app = build_app(self.settings)
            install_web(app, self.settings)
            install_emr(app, self.settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test", timeout=120
                ) as client:
                    seeded = await seed(client, self.settings, with_clinical=True)
                    return await scenario(client, seeded)

        return asyncio.run(main())


@contextmanager
def emr_environment(schema_url: str, tmp_path: Path) -> Iterator[EmrWeb]:
    """See the module docstring; everything is undone on exit."""
    uninstall_emr()  # whatever an earlier test of this process left registered
    migrate(schema_url)
    settings = Settings(
        database_url=schema_url, data_dir=tmp_path, auth_required=True, facility_networks=["10.0.0.0/8"]
    )
    pki = make_test_pki(tmp_path, settings)
    try:
        key = pki.issue_user("bs.binh", "BS. Trần Thị Bình", organization=HOSPITAL)
        pki.issue_organization("bv-tinh", HOSPITAL)
        yield EmrWeb(settings, pki, key)
    finally:
        pki.close()
        uninstall_emr()


async def doctor(c: httpx.AsyncClient, s: Seeded) -> None:
    """Sign in as the provincial hospital's doctor (password and two-factor code)."""
    r = await sign_in(c, "bs.binh", PASSWORD, totp_secret=s.totp["bs.binh"])
    assert r.url.path == "/app/patients", r.text[:300]


def text_of(html: str) -> str:
    """A page's text, tags removed and spaces collapsed (for assertions on what a user reads)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def sign_as(
    c: httpx.AsyncClient, cid: str, role: str = "author", certificate: str = "user", docs: str = DOCS
) -> httpx.Response:
    """Open the signing page of ``cid`` and submit it."""
    page = await c.get(f"{docs}/{cid}/sign")
    assert page.status_code == 200, page.text[:500]
    return await c.post(
        f"{docs}/{cid}/sign",
        data={"certificate": certificate, "role": role, "csrf_token": csrf_of(page.text)},
    )
