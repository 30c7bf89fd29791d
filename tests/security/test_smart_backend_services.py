"""SMART Backend Services over real HTTP: client credentials with a ``private_key_jwt`` assertion
signed by a key pair made in the test, and the assertion errors (expired, wrong audience, replayed,
wrong key, too long-lived) answered with the right OAuth errors."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from joserfc.jwk import ECKey, RSAKey
from oauth_support import LiveAuth, assertion, backend_client, client_credentials, get, live, post

__all__ = ["live"]


@pytest.fixture
def es384() -> ECKey:
    return ECKey.generate_key("P-384", auto_kid=True)


def test_client_credentials_with_private_key_jwt(live: LiveAuth, es384: ECKey) -> None:
    live.register(backend_client(es384))
    r = client_credentials(
        live, assertion(es384, "svc-lab", live.token_url), scope="system/Observation.rs system/Patient.rs"
    )
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "system/Observation.rs system/Patient.rs"
    assert "refresh_token" not in token and "patient" not in token
    assert 0 < token["expires_in"] <= 300  # SMART: short-lived system tokens

    me = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["kind"] == "system" and body["subject"] == "svc-lab" and body["client_id"] == "svc-lab"
    assert body["scopes"] == ["system/Observation.rs", "system/Patient.rs"]

    # a confidential client may introspect; revoke; then the token is inactive
    intro = post(
        f"{live.base}/auth/introspect",
        data={
            "token": token["access_token"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(es384, "svc-lab", live.token_url),
        },
    )
    assert intro.status_code == 200 and intro.json()["active"] is True, intro.text


def test_rsa_rs384_assertion(live: LiveAuth) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    live.register(backend_client(key, client_id="svc-rsa"))
    r = client_credentials(live, assertion(key, "svc-rsa", live.token_url, alg="RS384"))
    assert r.status_code == 200, r.text


def test_scope_is_narrowed_to_the_registration(live: LiveAuth, es384: ECKey) -> None:
    live.register(backend_client(es384, scope="system/Observation.rs"))
    r = client_credentials(
        live, assertion(es384, "svc-lab", live.token_url), scope="system/Observation.cruds system/Patient.rs"
    )
    assert r.status_code == 200 and r.json()["scope"] == "system/Observation.rs", r.text
    r = client_credentials(
        live, assertion(es384, "svc-lab", live.token_url), scope="user/*.cruds patient/*.rs"
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda k, aud: assertion(k, "svc-lab", aud, exp_in=-120, iat_offset=-400)),
        ("wrong audience", lambda k, aud: assertion(k, "svc-lab", "https://elsewhere.example/token")),
        ("too long-lived", lambda k, aud: assertion(k, "svc-lab", aud, exp_in=3600)),
        ("unknown client", lambda k, aud: assertion(k, "svc-nobody", aud)),
        ("wrong key", lambda k, aud: assertion(ECKey.generate_key("P-384", auto_kid=True), "svc-lab", aud)),
        ("not a JWT", lambda k, aud: "not.a.jwt"),
    ],
)
def test_bad_assertions_are_invalid_client(live: LiveAuth, es384: ECKey, case: str, make: object) -> None:
    live.register(backend_client(es384))
    signed = make(es384, live.token_url)  # type: ignore[operator]
    r = client_credentials(live, signed)
    assert r.status_code in (400, 401), (case, r.text)
    assert r.json()["error"] == "invalid_client", (case, r.text)


def test_replayed_assertion_is_refused(live: LiveAuth, es384: ECKey) -> None:
    live.register(backend_client(es384))
    signed = assertion(es384, "svc-lab", live.token_url, jti="once-" + str(time.time()))
    assert client_credentials(live, signed).status_code == 200
    again = client_credentials(live, signed)
    assert again.status_code in (400, 401) and again.json()["error"] == "invalid_client", again.text


def test_public_client_cannot_use_client_credentials(live: LiveAuth) -> None:
    r = post(
        live.token_url,
        data={"grant_type": "client_credentials", "client_id": "app-public", "scope": "system/*.rs"},
    )
    assert r.status_code in (400, 401) and r.json()["error"] in ("invalid_client", "unauthorized_client"), (
        r.text
    )


def test_unsupported_grant_type(live: LiveAuth) -> None:
    r = post(
        live.token_url,
        data={"grant_type": "password", "username": "x", "password": "y", "client_id": "app-public"},
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type", r.text


def test_client_registered_with_a_jwks_uri(live: LiveAuth, es384: ECKey) -> None:
    from oauth_support import jwks_server

    with jwks_server(lambda: [es384.as_dict(private=False)]) as (uri, _):
        client = backend_client(es384, client_id="svc-uri")
        live.register(replace(client, jwks=None, jwks_uri=uri))
        r = client_credentials(live, assertion(es384, "svc-uri", live.token_url))
        assert r.status_code == 200, r.text
