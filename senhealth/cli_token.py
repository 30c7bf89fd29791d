"""``senhealth token --user U``: print a bearer access token for a user, for scripts and tests.

Spec: the token is one of this server's SMART access tokens (RFC 9068 JWT,
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5), signed with the server's key
(:mod:`senhealth.security.oauth.keys`), so the API accepts it like one from ``/auth/token``. Typer:
https://typer.tiangolo.com/

:func:`make_token_app` takes the user lookup (``username -> UserInfo | None``, async) so the CLI does
not depend on the accounts module; ``senhealth.cli`` adds the app with the real directory::

    app.add_typer(make_token_app(accounts_lookup))   # or app.command("token")(...)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer

from senhealth.core.config import get_settings
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService
from senhealth.security.oauth.users import UserInfo

__all__ = ["UserLookup", "make_token_app", "mint_user_token"]

UserLookup = Callable[[str], Awaitable[UserInfo | None]]

DEFAULT_SCOPE = "openid fhirUser user/*.cruds"


def mint_user_token(
    user: UserInfo,
    *,
    scope: str = DEFAULT_SCOPE,
    client: str = "senhealth-cli",
    minutes: int = 60,
    config: OAuthConfig | None = None,
    patient: str | None = None,
) -> str:
    """A signed access token for ``user`` (no refresh token, nothing stored)."""
    tokens = TokenService.from_config(config or OAuthConfig.from_settings(get_settings()))
    claims = tokens.access_claims(
        client_id=client, scope=scope, user=user, patient=patient, lifetime_s=minutes * 60
    )
    return tokens.mint(claims)


def make_token_app(lookup: UserLookup, *, config: Callable[[], OAuthConfig] | None = None) -> typer.Typer:
    """A Typer app with the ``token`` command, looking users up with ``lookup``."""
    app = typer.Typer(help="Access tokens for scripts and tests.", no_args_is_help=True)

    @app.command("token")
    def token(
        user: str = typer.Option(..., "--user", "-u", help="Username (or user id) of the account."),
        scope: str = typer.Option(DEFAULT_SCOPE, "--scope", "-s", help="Space-separated SMART scopes."),
        client: str = typer.Option("senhealth-cli", "--client", "-c", help="client_id written in the token."),
        minutes: int = typer.Option(60, "--minutes", "-m", min=1, max=24 * 60, help="Lifetime in minutes."),
        patient: str | None = typer.Option(None, "--patient", help="Patient context (launch/patient)."),
    ) -> None:
        """Print a bearer access token for USER."""

        async def find() -> UserInfo | None:
            return await lookup(user)

        found = asyncio.run(find())
        if found is None:
            typer.echo(f"no such user: {user}", err=True)
            raise typer.Exit(1)
        cfg = config() if config else None
        typer.echo(
            mint_user_token(found, scope=scope, client=client, minutes=minutes, config=cfg, patient=patient)
        )

    @app.callback()
    def _main() -> None:
        """Access tokens for scripts and tests."""

    return app
