"""``senhealth users add|list|disable|enable|totp|password``: manage the platform's user accounts.

Uses the database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, and
applies pending migrations first. Passwords are prompted for (hidden, asked twice) when not given; a
password on the command line lands in the shell history, so ``--password`` is for scripts only. When an
account needs two-factor sign-in, ``add`` enrols TOTP and prints the ``otpauth://`` URI once, to put in an
authenticator app. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_users import users_app
    app.add_typer(users_app, name="users")

- Typer prompts: https://typer.tiangolo.com/tutorial/options/password/
- Key URI format: https://github.com/google/google-authenticator/wiki/Key-Uri-Format
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import run_command
from senhealth.security.roles import ROLES, Role

__all__ = ["users_app"]

T = TypeVar("T")

out = Console()
err = Console(stderr=True)

users_app = typer.Typer(
    help="Tài khoản người dùng / user accounts: add, list, disable, TOTP.",
    no_args_is_help=True,
    add_completion=False,
)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with the pool open on the configured (or embedded) database, migrated."""
    return run_command(work)


def _print_uri(username: str, uri: str) -> None:
    err.print(
        f"TOTP cho / for [bold]{username}[/]: quét hoặc nhập vào ứng dụng xác thực / scan or enter in an "
        "authenticator app (shown once):"
    )
    typer.echo(uri)


@users_app.command("add")
def add_command(
    username: Annotated[str, typer.Option("--username", "-u", help="Sign-in name (any case; unique).")],
    role: Annotated[
        list[str],
        typer.Option("--role", "-r", help=f"Role (repeatable): {', '.join(r.value for r in Role)}."),
    ],
    password: Annotated[
        str | None, typer.Option(help="The password (for scripts; prompted for, hidden, when absent).")
    ] = None,
    facility: Annotated[
        str | None, typer.Option(help="Facility: Organization/<id> (or the bare id).")
    ] = None,
    practitioner: Annotated[str | None, typer.Option(help="Practitioner/<id> this user is.")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient/<id>, for a patient account.")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 'Nguyễn Văn An'.")] = "",
) -> None:
    """Add a user account; prints the TOTP URI when the role needs two-factor sign-in."""
    from senhealth.security.accounts import User, create_user, enroll_totp

    if password is None:
        password = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)

    async def work() -> tuple[User, str | None]:
        user = await create_user(
            username,
            password,
            role,
            display_name=name,
            facility=facility,
            practitioner=practitioner,
            patient=patient,
        )
        uri = await enroll_totp(user.username) if user.totp_required else None
        return user, uri

    user, uri = _run(work)
    err.print(
        f"Đã tạo tài khoản / account created: [bold]{user.username}[/] ({', '.join(sorted(user.roles))})"
    )
    if uri is not None:
        _print_uri(user.username, uri)


@users_app.command("list")
def list_command(
    facility: Annotated[str | None, typer.Option(help="Only users of this facility.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Leave out disabled accounts.")] = False,
) -> None:
    """List user accounts."""
    from senhealth.security.accounts import User, list_users

    async def work() -> list[User]:
        return await list_users(facility=facility, include_disabled=not active)

    users = _run(work)
    if not users:
        err.print("Chưa có tài khoản / no accounts")
        return
    table = Table(
        "Tên đăng nhập / username",
        "Họ tên / name",
        "Vai trò / roles",
        "Cơ sở / facility",
        "TOTP",
        "Trạng thái / status",
        "Đăng nhập cuối / last sign-in",
    )
    for u in users:
        labels = ", ".join(ROLES[Role(r)].label_vi for r in sorted(u.roles))
        totp = "✓" if u.totp_enrolled else ("[red]cần / needed[/]" if u.totp_required else "")
        status = "[red]vô hiệu / disabled[/]" if u.disabled else "[green]hoạt động / active[/]"
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else ""
        table.add_row(u.username, u.display_name, labels, u.facility or "", totp, status, last)
    out.print(table)


@users_app.command("disable")
def disable_command(username: Annotated[str, typer.Argument(help="The account to disable.")]) -> None:
    """Disable an account: it can no longer sign in."""
    from senhealth.security.accounts import disable_user

    user = _run(lambda: disable_user(username))
    err.print(f"Đã vô hiệu hóa / disabled: {user.username}")


@users_app.command("enable")
def enable_command(username: Annotated[str, typer.Argument(help="The account to enable again.")]) -> None:
    """Enable a disabled account."""
    from senhealth.security.accounts import enable_user

    user = _run(lambda: enable_user(username))
    err.print(f"Đã kích hoạt / enabled: {user.username}")


@users_app.command("totp")
def totp_command(username: Annotated[str, typer.Argument(help="The account to enrol.")]) -> None:
    """Enrol (or re-enrol) TOTP two-factor sign-in; prints the otpauth:// URI once."""
    from senhealth.security.accounts import enroll_totp

    uri = _run(lambda: enroll_totp(username))
    _print_uri(username, uri)


@users_app.command("password")
def password_command(
    username: Annotated[str, typer.Argument(help="The account.")],
    password: Annotated[str | None, typer.Option(help="The new password (prompted for when absent).")] = None,
) -> None:
    """Set a new password (and clear the account's sign-in lock-out)."""
    from senhealth.security.accounts import set_password

    if password is None:
        password = typer.prompt("Mật khẩu mới / new password", hide_input=True, confirmation_prompt=True)
    new = password
    _run(lambda: set_password(username, new))
    err.print(f"Đã đổi mật khẩu / password changed: {username}")
