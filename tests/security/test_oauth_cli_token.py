"""``senhealth token --user U``: a bearer token for scripts and tests, accepted by the API."""

from __future__ import annotations

from pathlib import Path

from oauth_support import DOCTOR, LiveAuth, directory, get, live
from typer.testing import CliRunner

from senhealth.cli_token import make_token_app
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService

__all__ = ["live"]


def test_token_command_prints_a_verifiable_token(tmp_path: Path) -> None:
    config = OAuthConfig(issuer="https://ehr.example.vn", signing_key_path=tmp_path / "key.jwk")
    app = make_token_app(directory().lookup, config=lambda: config)
    result = CliRunner().invoke(
        app, ["token", "--user", DOCTOR.username, "--scope", "user/Patient.rs", "--minutes", "5"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    claims = TokenService.from_config(config).verify(token)
    assert claims["sub"] == DOCTOR.id and claims["scope"] == "user/Patient.rs"
    assert claims["client_id"] == "senhealth-cli" and claims["exp"] - claims["iat"] == 300


def test_token_command_unknown_user(tmp_path: Path) -> None:
    config = OAuthConfig(issuer="https://ehr.example.vn", signing_key_path=tmp_path / "key.jwk")
    result = CliRunner().invoke(
        make_token_app(directory().lookup, config=lambda: config), ["token", "--user", "nobody"]
    )
    assert result.exit_code == 1


def test_cli_token_works_against_the_live_server(live: LiveAuth) -> None:
    app = make_token_app(live.users.lookup, config=lambda: live.config)
    result = CliRunner().invoke(app, ["token", "--user", DOCTOR.username, "--client", "script"])
    assert result.exit_code == 0, result.output
    me = get(f"{live.base}/test/whoami", headers={"Authorization": f"Bearer {result.output.strip()}"})
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == DOCTOR.id and me.json()["client_id"] == "script"
