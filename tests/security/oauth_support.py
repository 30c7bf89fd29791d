"""What the OAuth / SMART tests share: an in-memory user directory, the app (the auth router, a
protected route, the pool on a migrated schema) served by uvicorn on a free loopback port, PKCE and
client-assertion helpers, and a parser for the sign-in form."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from fastapi import Depends, FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from senhealth.api.auth import AuthInstallation, bearer_principal, install_auth
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.fhir.access import Principal, current_principal
from senhealth.security.oauth.clients import Client, register_client_sync
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.external import ExternalIssuer
from senhealth.security.oauth.users import UserInfo

REDIRECT = "http://127.0.0.1:9/callback"
PUBLIC_SCOPE = (
    "openid fhirUser profile launch launch/patient offline_access online_access patient/*.cruds user/*.cruds"
)


class SignInRefused(Exception):
    pass


@dataclass
class InMemoryDirectory:
    """A UserDirectory for tests: ``users`` by username, with password and optional TOTP code."""

    users: dict[str, tuple[UserInfo, str, str | None]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)

    def add(self, user: UserInfo, password: str, totp: str | None = None) -> UserInfo:
        self.users[user.username] = (user, password, totp)
        return user

    async def authenticate(self, username: str, password: str, totp: str | None) -> UserInfo:
        entry = self.users.get(username)
        if entry is None or entry[0].id in self.disabled:
            raise SignInRefused("unknown user")
        user, secret, code = entry
        if not secrets.compare_digest(password.encode(), secret.encode()) or (
            code is not None and totp != code
        ):
            raise SignInRefused("wrong credentials")
        return user

    async def get(self, user_id: str) -> UserInfo | None:
        if user_id in self.disabled:
            return None
        return next((u for u, _, _ in self.users.values() if u.id == user_id), None)

    async def lookup(self, username: str) -> UserInfo | None:
        entry = self.users.get(username)
        return entry[0] if entry else None


DOCTOR = UserInfo("u-doctor", "bs.lan", frozenset({"doctor"}), "Organization/bv-tinh", "pr-1")
CITIZEN = UserInfo("u-citizen", "nguyen.an", frozenset({"patient"}), None, None, "pt-42")


def directory() -> InMemoryDirectory:
    d = InMemoryDirectory()
    d.add(DOCTOR, "mật-khẩu-1", totp="123456")
    d.add(CITIZEN, "mat-khau-2")
    return d


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_app(
    database_url: str,
    data_dir: Path,
    issuer: str,
    users: InMemoryDirectory,
    external: tuple[ExternalIssuer, ...] = (),
) -> tuple[FastAPI, AuthInstallation]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open_pool(database_url, min_size=1, max_size=4)
        try:
            yield
        finally:
            await db.close_pool()

    app = FastAPI(lifespan=lifespan)
    settings = Settings(database_url=database_url, data_dir=data_dir)
    installation = install_auth(
        app, users, settings=settings, issuer=issuer, external=external, authenticate_requests=True
    )
    installation.authenticator.revocation_cache_s = 0.0  # the tests revoke and check at once

    @app.get("/test/whoami")
    async def whoami(principal: Principal = Depends(bearer_principal)) -> dict[str, Any]:  # noqa: B008
        return {
            "kind": principal.kind,
            "subject": principal.subject,
            "roles": sorted(principal.roles),
            "facility": principal.facility,
            "scopes": sorted(principal.scopes),
            "patient": principal.patient,
            "practitioner": principal.practitioner,
            "client_id": principal.client_id,
        }

    @app.get("/test/context")
    async def context() -> dict[str, Any]:
        principal = current_principal().get()  # set by the middleware
        return {"subject": principal.subject if principal else None}

    return app, installation


@dataclass
class LiveAuth:
    base: str
    installation: AuthInstallation
    users: InMemoryDirectory
    database_url: str

    @property
    def config(self) -> OAuthConfig:
        return self.installation.config

    @property
    def token_url(self) -> str:
        return f"{self.base}/auth/token"

    def register(self, client: Client) -> Client:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return register_client_sync(conn, client)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


@contextmanager
def serve(
    database_url: str,
    data_dir: Path,
    users: InMemoryDirectory | None = None,
    external: tuple[ExternalIssuer, ...] = (),
) -> Iterator[LiveAuth]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    users = users or directory()
    app, installation = build_app(database_url, data_dir, base, users, external)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveAuth(base, installation, users, database_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- PKCE and the sign-in form -------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    return {unescape(k): unescape(v) for k, v in _INPUT.findall(page)}


def public_client(client_id: str = "app-public", scope: str = PUBLIC_SCOPE) -> Client:
    return Client(
        client_id=client_id,
        client_name="Ứng dụng thử / Test app",
        token_endpoint_auth_method="none",
        redirect_uris=(REDIRECT,),
        grant_types=("authorization_code", "refresh_token"),
        scope=scope,
    )


def authorize_params(live: LiveAuth, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "app-public",
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser launch/patient patient/Observation.rs patient/Patient.r offline_access",
        "state": "st-" + uuid.uuid4().hex[:8],
        "aud": live.config.fhir_base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def sign_in(
    client: httpx.Client, live: LiveAuth, params: dict[str, str], username: str, password: str, **form: str
) -> httpx.Response:
    """GET the authorize page, then POST its form with the credentials; return the POST's answer."""
    page = client.get(f"{live.base}/auth/authorize", params=params)
    assert page.status_code == 200, page.text[:500]
    fields = hidden_fields(page.text)
    fields.update(username=username, password=password, **form)
    return client.post(f"{live.base}/auth/authorize", data=fields)


def code_from(response: httpx.Response, state: str) -> str:
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(REDIRECT), location
    assert location.params["state"] == state
    return location.params["code"]


# -- backend services ----------------------------------------------------------------------------------


def backend_client(
    key: ECKey | RSAKey, client_id: str = "svc-lab", scope: str = "system/Observation.cruds system/Patient.rs"
) -> Client:
    return Client(
        client_id=client_id,
        client_name="Lab system",
        token_endpoint_auth_method="private_key_jwt",
        grant_types=("client_credentials",),
        scope=scope,
        jwks={"keys": [key.as_dict(private=False)]},
    )


def assertion(
    key: ECKey | RSAKey,
    client_id: str,
    audience: str,
    *,
    alg: str = "ES384",
    exp_in: int = 240,
    jti: str | None = None,
    iat_offset: int = 0,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": now + exp_in,
        "iat": now + iat_offset,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def client_credentials(live: LiveAuth, signed: str, scope: str = "system/Observation.rs") -> httpx.Response:
    return post(
        live.token_url,
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- fixtures (imported by the test modules) -----------------------------------------------------------

import pytest  # noqa: E402

from senhealth.core.migrate import migrate  # noqa: E402


@pytest.fixture
def live(schema_url: str, tmp_path: Path) -> Iterator[LiveAuth]:
    migrate(schema_url)
    with serve(schema_url, tmp_path / "data") as running:
        running.register(public_client())
        yield running


TIMEOUT = 60.0  # the test machine is shared and often loaded


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=TIMEOUT, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=TIMEOUT, **kwargs)


def new_browser() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT)


@contextmanager
def jwks_server(keys: Callable[[], list[dict[str, Any]]]) -> Iterator[tuple[str, list[int]]]:
    """A JWKS endpoint on a loopback port serving ``{"keys": keys()}`` (read at each request): yields its
    URL and a one-item list counting the fetches."""
    fetches = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches[0] += 1
            body = json.dumps({"keys": keys()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", fetches
    finally:
        server.shutdown()
        server.server_close()
