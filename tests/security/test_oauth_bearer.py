"""Bearer tokens to principals; the published metadata and keys; the server's signing key file; tokens
of an external OpenID provider checked against its JWKS, served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from oauth_support import DOCTOR, LiveAuth, directory, free_port, get, jwks_server, live

from senhealth.security.oauth.bearer import BearerAuthenticator
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.external import ClaimMapping, ExternalIssuer
from senhealth.security.oauth.keys import load_or_create_signing_key
from senhealth.security.oauth.tokens import InvalidTokenError, TokenService

__all__ = ["live"]


def test_smart_configuration(live: LiveAuth) -> None:
    r = get(f"{live.base}/.well-known/smart-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == live.base
    assert doc["authorization_endpoint"] == f"{live.base}/auth/authorize"
    assert doc["token_endpoint"] == f"{live.base}/auth/token"
    assert doc["introspection_endpoint"] == f"{live.base}/auth/introspect"
    assert doc["revocation_endpoint"] == f"{live.base}/auth/revoke"
    assert doc["jwks_uri"] == f"{live.base}/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    for capability in (
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "context-ehr-patient",
        "context-standalone-patient",
        "permission-v2",
        "permission-patient",
        "permission-user",
        "permission-offline",
    ):
        assert capability in doc["capabilities"]
    assert "patient/*.rs" in doc["scopes_supported"]


def test_jwks_verifies_issued_tokens(live: LiveAuth) -> None:
    keys = get(f"{live.base}/.well-known/jwks.json").json()
    assert [k["kty"] for k in keys["keys"]] == ["EC"] and "d" not in keys["keys"][0]
    tokens = live.installation.tokens
    signed = tokens.mint(tokens.access_claims(client_id="c", scope="user/*.rs", user=DOCTOR))
    from joserfc.jwk import KeySet

    decoded = jwt.decode(signed, KeySet.import_key_set(keys), algorithms=["ES256"])
    assert decoded.claims["sub"] == DOCTOR.id and decoded.claims["facility"] == "Organization/bv-tinh"
    assert decoded.claims["fhirUser"] == "Practitioner/pr-1" and decoded.claims["roles"] == ["doctor"]
    for claim in ("iss", "aud", "exp", "iat", "jti", "client_id", "scope"):
        assert claim in decoded.claims


def test_bad_bearer_tokens_are_401(live: LiveAuth, tmp_path: Path) -> None:
    tokens = live.installation.tokens
    expired = tokens.mint(
        tokens.access_claims(client_id="c", scope="user/*.rs", user=DOCTOR, lifetime_s=-120)
    )
    other = TokenService.from_config(OAuthConfig(issuer=live.base, signing_key_path=tmp_path / "other.jwk"))
    forged = other.mint(other.access_claims(client_id="c", scope="user/*.cruds", user=DOCTOR))
    for token in (
        "garbage",
        expired,
        forged,
        tokens.mint(tokens.access_claims(client_id="c", scope="", user=DOCTOR))[:-4] + "AAAA",
    ):
        r = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith('Bearer realm="senhealth", error="invalid_token"')
        body = r.json()
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "login"
    none = get(f"{live.base}/test/whoami")
    assert none.status_code == 401 and none.headers["www-authenticate"] == 'Bearer realm="senhealth"'


def test_middleware_sets_the_principal_for_every_request(live: LiveAuth) -> None:
    tokens = live.installation.tokens
    good = tokens.mint(tokens.access_claims(client_id="c", scope="user/*.rs", user=DOCTOR))
    assert get(f"{live.base}/test/context").json() == {"subject": None}  # anonymous: the policy decides
    assert get(f"{live.base}/test/context", headers={"Authorization": f"Bearer {good}"}).json() == {
        "subject": DOCTOR.id
    }
    bad = get(f"{live.base}/test/context", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_signing_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "oauth" / "signing-key.jwk"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_signing_key(path).kid == key.kid
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


# -- external OpenID provider ---------------------------------------------------------------------------


class _Jwks:
    def __init__(self) -> None:
        self.keys: list[RSAKey] = [RSAKey.generate_key(2048, auto_kid=True)]
        self.counter = [0]

    @property
    def fetches(self) -> int:
        return self.counter[0]


@pytest.fixture
def provider() -> Iterator[tuple[str, _Jwks]]:
    state = _Jwks()
    with jwks_server(lambda: [k.as_dict(private=False) for k in state.keys]) as (uri, counter):
        state.counter = counter
        yield uri, state


ISS = "https://id.tinh.example.vn"


def _external_token(key: RSAKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISS, "aud": "senhealth", "sub": "079123456789", "iat": now, "exp": now + 300, **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


def test_external_issuer_tokens(provider: tuple[str, _Jwks], tmp_path: Path) -> None:
    uri, jwks = provider
    external = ExternalIssuer(
        ISS,
        uri,
        "senhealth",
        ClaimMapping(roles="groups", facility="org", default_scopes=("user/*.rs",)),
        min_refetch_s=0.0,
    )
    own = TokenService.from_config(
        OAuthConfig(issuer="http://127.0.0.1:1", signing_key_path=tmp_path / "k.jwk")
    )
    auth = BearerAuthenticator(own, (external,), revoked=_never)

    async def scenario() -> None:
        staff = _external_token(jwks.keys[0], groups=["doctor"], org="Organization/ttyt-1")
        p = await auth.authenticate({"authorization": f"Bearer {staff}"})
        assert p is not None and p.kind == "user" and p.subject == f"{ISS}#079123456789"
        assert p.roles == {"doctor"} and p.facility == "Organization/ttyt-1" and p.scopes == {"user/*.rs"}
        citizen = _external_token(jwks.keys[0], patient="pt-5", scope="patient/*.rs")
        p = await auth.authenticate({"Authorization": f"Bearer {citizen}"})
        assert p is not None and p.kind == "patient" and p.patient == "pt-5" and p.scopes == {"patient/*.rs"}
        assert jwks.fetches == 1  # cached

        # the provider rotates its key: an unknown kid makes one refetch
        jwks.keys.insert(0, RSAKey.generate_key(2048, auto_kid=True))
        rotated = _external_token(jwks.keys[0])
        assert (await auth.authenticate({"authorization": f"Bearer {rotated}"})) is not None
        assert jwks.fetches == 2

        for bad in (
            _external_token(jwks.keys[0], aud="another-app"),
            _external_token(jwks.keys[0], exp=int(time.time()) - 600),
            _external_token(RSAKey.generate_key(2048, auto_kid=True)),  # a key the provider never published
        ):
            with pytest.raises(InvalidTokenError):
                await auth.authenticate({"authorization": f"Bearer {bad}"})

    asyncio.run(scenario())


def test_external_refetch_is_rate_limited(provider: tuple[str, _Jwks], tmp_path: Path) -> None:
    uri, jwks = provider
    external = ExternalIssuer(ISS, uri, "senhealth", min_refetch_s=60.0)

    async def scenario() -> None:
        claims = await external.verify(_external_token(jwks.keys[0]), {"kid": jwks.keys[0].kid})
        assert claims["sub"] == "079123456789"
        forged = RSAKey.generate_key(2048, auto_kid=True)
        for _ in range(5):
            with pytest.raises(InvalidTokenError):
                await external.verify(_external_token(forged), {"kid": forged.kid})
        assert jwks.fetches == 1

    asyncio.run(scenario())


async def _never(jti: str) -> bool:
    return False


def test_with_the_real_api_app(schema_url: str, tmp_path: Path) -> None:
    """install_auth on create_app(...): metadata and the FHIR API under the bearer middleware."""
    import threading as _threading

    import uvicorn

    from senhealth.api import create_app
    from senhealth.api.auth import install_auth
    from senhealth.core.config import Settings
    from senhealth.core.migrate import migrate

    migrate(schema_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(Settings(database_url=schema_url, data_dir=tmp_path))
    installation = install_auth(app, directory(), issuer=base, authenticate_requests=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = _threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        assert get(f"{base}/.well-known/smart-configuration").json()["issuer"] == base
        tokens = installation.tokens
        good = tokens.mint(tokens.access_claims(client_id="c", scope="user/*.rs", user=DOCTOR))
        ok = get(f"{base}/fhir/metadata", headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200, ok.text[:300]
        bad = get(f"{base}/fhir/metadata", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["resourceType"] == "OperationOutcome"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
