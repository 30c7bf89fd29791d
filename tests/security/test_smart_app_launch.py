"""SMART App Launch over real HTTP: authorization code + PKCE end to end (standalone and EHR launch),
refresh, introspection, revocation, and the errors of each step."""

from __future__ import annotations

import httpx
import psycopg
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_support import (
    CITIZEN,
    DOCTOR,
    REDIRECT,
    LiveAuth,
    authorize_params,
    code_from,
    get,
    hidden_fields,
    live,
    new_browser,
    pkce,
    post,
    sign_in,
)

__all__ = ["live"]


def _token(live: LiveAuth, code: str, verifier: str, client_id: str = "app-public") -> httpx.Response:
    return post(
        live.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


def _introspect(live: LiveAuth, token: str) -> dict[str, object]:
    r = post(f"{live.base}/auth/introspect", data={"token": token, "client_id": "app-public"})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_authorization_code_pkce_end_to_end(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(live, challenge)
    with new_browser() as browser:
        page = browser.get(f"{live.base}/auth/authorize", params=params)
        assert page.status_code == 200
        assert "Tên đăng nhập / Username" in page.text
        assert "Mật khẩu / Password" in page.text
        assert "patient/Observation.rs" in page.text  # the scopes asked for are shown
        assert page.headers["x-frame-options"] == "DENY"
        assert "senhealth_csrf" in page.headers["set-cookie"]
        fields = hidden_fields(page.text)
        assert fields["code_challenge"] == challenge and fields["csrf_token"]
        fields.update(username=CITIZEN.username, password="mat-khau-2")
        answer = browser.post(f"{live.base}/auth/authorize", data=fields)
    code = code_from(answer, params["state"])

    r = _token(live, code, verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = r.json()
    assert token["token_type"] == "Bearer"
    assert token["patient"] == "pt-42"  # a citizen's own record is the patient context
    assert token["refresh_token"] and token["id_token"]
    assert set(token["scope"].split()) == {
        "openid",
        "fhirUser",
        "launch/patient",
        "patient/Observation.rs",
        "patient/Patient.r",
        "offline_access",
    }
    access = token["access_token"]

    me = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200, me.text
    assert me.json() | {"scopes": None} == {
        "kind": "patient",
        "subject": "u-citizen",
        "roles": ["patient"],
        "facility": None,
        "scopes": None,
        "patient": "pt-42",
        "practitioner": None,
        "client_id": "app-public",
    }

    info = _introspect(live, access)
    assert info["active"] is True
    assert info["client_id"] == "app-public" and info["sub"] == "u-citizen" and info["patient"] == "pt-42"
    assert info["fhirUser"] == "Patient/pt-42"

    # refresh (rotated: the old refresh token stops working)
    r2 = post(
        live.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "app-public",
        },
    )
    assert r2.status_code == 200, r2.text
    assert r2.json()["refresh_token"] != token["refresh_token"]
    again = post(
        live.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "app-public",
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    revoked = post(f"{live.base}/auth/revoke", data={"token": access, "client_id": "app-public"})
    assert revoked.status_code == 200, revoked.text
    assert _introspect(live, access) == {"active": False}
    denied = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {access}"})
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["www-authenticate"]
    assert denied.json()["resourceType"] == "OperationOutcome"


def test_staff_standalone_launch_picks_a_patient_and_needs_totp(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(
        live, challenge, scope="openid fhirUser launch/patient patient/*.rs user/Patient.rs"
    )
    with new_browser() as browser:
        wrong = sign_in(browser, live, params, DOCTOR.username, "mật-khẩu-1")  # no TOTP
        assert wrong.status_code == 401 and "Sai tên đăng nhập" in wrong.text
        ask = sign_in(browser, live, params, DOCTOR.username, "mật-khẩu-1", totp="123456")
        assert ask.status_code == 400 and 'name="patient"' in ask.text  # choose a patient
        answer = sign_in(browser, live, params, DOCTOR.username, "mật-khẩu-1", totp="123456", patient="pt-7")
    token = _token(live, code_from(answer, params["state"]), verifier).json()
    assert token["patient"] == "pt-7" and token["need_patient_banner"] is True
    assert "refresh_token" not in token  # no offline_access / online_access asked
    me = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert me["kind"] == "user" and me["roles"] == ["doctor"] and me["facility"] == "Organization/bv-tinh"
    assert me["practitioner"] == "pr-1" and me["patient"] == "pt-7"


def test_patient_scopes_need_a_patient_context(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(live, challenge, scope="openid fhirUser patient/*.rs user/Patient.rs")
    with new_browser() as browser:
        answer = sign_in(browser, live, params, DOCTOR.username, "mật-khẩu-1", totp="123456")
    token = _token(live, code_from(answer, params["state"]), verifier).json()
    assert token["scope"] == "openid fhirUser user/Patient.rs" and "patient" not in token
    claims = jwt.decode(
        token["id_token"], KeySet.import_key_set(get(f"{live.base}/.well-known/jwks.json").json())
    ).claims
    assert claims["aud"] == "app-public" and claims["sub"] == DOCTOR.id
    assert claims["fhirUser"] == f"{live.config.fhir_base}/Practitioner/pr-1"


def test_ehr_launch_binds_the_patient_context(live: LiveAuth) -> None:
    # the doctor, signed in to the EHR, starts a launch for a patient
    doctor = live.installation.tokens
    claims = doctor.access_claims(client_id="ehr", scope="user/*.cruds", user=DOCTOR)
    launched = post(
        f"{live.base}/auth/launch",
        json={"patient": "pt-99", "encounter": "enc-1"},
        headers={"Authorization": f"Bearer {doctor.mint(claims)}"},
    )
    assert launched.status_code == 200, launched.text
    assert launched.json()["iss"] == live.config.fhir_base
    launch_id = launched.json()["launch"]

    verifier, challenge = pkce()
    params = authorize_params(live, challenge, scope="launch openid fhirUser patient/*.rs", launch=launch_id)
    with new_browser() as browser:
        other = sign_in(browser, live, params, CITIZEN.username, "mat-khau-2")  # not the launching user
        assert other.status_code == 400
        answer = sign_in(browser, live, params, DOCTOR.username, "mật-khẩu-1", totp="123456")
    token = _token(live, code_from(answer, params["state"]), verifier).json()
    assert token["patient"] == "pt-99" and token["encounter"] == "enc-1"
    assert token["need_patient_banner"] is False


def test_launch_needs_a_signed_in_user(live: LiveAuth) -> None:
    r = post(f"{live.base}/auth/launch", json={"patient": "pt-1"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_wrong_verifier_and_reused_code(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(live, challenge)
    with new_browser() as browser:
        code = code_from(sign_in(browser, live, params, CITIZEN.username, "mat-khau-2"), params["state"])
    bad = _token(live, code, pkce()[0])
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    # a code is single use: after a failed attempt it is spent too
    assert _token(live, code, verifier).json()["error"] == "invalid_grant"

    with new_browser() as browser:
        params = authorize_params(live, challenge)
        code = code_from(sign_in(browser, live, params, CITIZEN.username, "mat-khau-2"), params["state"])
    first = _token(live, code, verifier)
    assert first.status_code == 200
    replay = _token(live, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # the replay revoked what the first use issued (RFC 6749 §4.1.2)
    assert _introspect(live, first.json()["access_token"]) == {"active": False}
    assert _introspect(live, first.json()["refresh_token"]) == {"active": False}


def test_expired_code_and_missing_verifier(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(live, challenge)
    with new_browser() as browser:
        code = code_from(sign_in(browser, live, params, CITIZEN.username, "mat-khau-2"), params["state"])
    missing = post(
        live.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "app-public",
        },
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"

    with new_browser() as browser:
        params = authorize_params(live, challenge)
        code = code_from(sign_in(browser, live, params, CITIZEN.username, "mat-khau-2"), params["state"])
    live.sql("UPDATE oauth_authorization_code SET expires_at = now() - interval '1 second'")
    assert _token(live, code, verifier).json()["error"] == "invalid_grant"


def test_authorization_request_errors(live: LiveAuth) -> None:
    _, challenge = pkce()
    with new_browser() as browser:
        for extra, error in (
            ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),  # PKCE required
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"aud": "https://elsewhere.example/fhir"}, "invalid_request"),
        ):
            params = authorize_params(live, challenge, **extra)
            r = browser.get(f"{live.base}/auth/authorize", params=params)
            assert r.status_code == 302, (extra, r.text[:300])
            location = httpx.URL(r.headers["location"])
            assert str(location).startswith(REDIRECT)
            assert location.params["error"] == error and location.params["state"] == params["state"]
        # an unknown client or redirect URI is never redirected to
        for extra in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"}):
            r = browser.get(f"{live.base}/auth/authorize", params=authorize_params(live, challenge, **extra))
            assert r.status_code == 400 and "location" not in r.headers


def test_sign_in_form_is_csrf_protected(live: LiveAuth) -> None:
    _, challenge = pkce()
    params = authorize_params(live, challenge)
    with new_browser() as browser:
        page = browser.get(f"{live.base}/auth/authorize", params=params)
        fields = hidden_fields(page.text) | {"username": CITIZEN.username, "password": "mat-khau-2"}
    # another browser (no cookie), or a forged token: refused
    assert post(f"{live.base}/auth/authorize", data=fields).status_code == 403
    with new_browser() as browser:
        browser.get(f"{live.base}/auth/authorize", params=params)
        assert (
            browser.post(f"{live.base}/auth/authorize", data=fields | {"csrf_token": "0" * 64}).status_code
            == 403
        )


def test_disabled_account_cannot_refresh(live: LiveAuth) -> None:
    verifier, challenge = pkce()
    params = authorize_params(live, challenge)
    with new_browser() as browser:
        code = code_from(sign_in(browser, live, params, CITIZEN.username, "mat-khau-2"), params["state"])
    token = _token(live, code, verifier).json()
    live.users.disabled.add(CITIZEN.id)
    r = post(
        live.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "app-public",
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_sign_in_attempts_are_limited_per_address(live: LiveAuth) -> None:
    """Beyond 20 sign-in attempts in 10 minutes from one address, the form answers 429 with Retry-After
    (whatever the usernames tried: the per-account lock-out does not see a spray over many accounts)."""
    _, challenge = pkce()
    params = authorize_params(live, challenge)
    with psycopg.connect(live.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM web_login_attempt")
    try:
        with new_browser() as browser:
            answers = [
                sign_in(browser, live, params, f"khong-co-{n}", "sai-mat-khau").status_code for n in range(21)
            ]
            limited = sign_in(browser, live, params, CITIZEN.username, "mat-khau-2")
        assert answers == [401] * 20 + [429]
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert "Quá nhiều lần đăng nhập" in limited.text
    finally:
        with psycopg.connect(live.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM web_login_attempt")
