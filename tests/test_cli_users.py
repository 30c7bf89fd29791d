"""``senhealth users ...`` (the Typer app of senhealth.cli_users) on a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from senhealth.cli_users import users_app
from senhealth.core.config import get_settings

runner = CliRunner()
PW = "Sen-health 2026!"


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()
    yield schema_url
    get_settings.cache_clear()


def test_add_list_totp_disable(cli_db: str) -> None:
    added = runner.invoke(
        users_app,
        [
            "add",
            "--username",
            "bacsi.an",
            "--role",
            "doctor",
            "--facility",
            "bv-tinh",
            "--name",
            "Nguyễn Văn An",
        ],
        input=f"{PW}\n{PW}\n",
    )
    assert added.exit_code == 0, added.output
    assert PW not in added.output  # the prompt does not echo it
    assert "Đã tạo tài khoản / account created: bacsi.an" in added.output and "otpauth://" not in added.output

    admin = runner.invoke(
        users_app,
        [
            "add",
            "-u",
            "qt.bvtinh",
            "-r",
            "facility_admin",
            "--password",
            PW,
            "--facility",
            "Organization/bv-tinh",
        ],
    )
    assert admin.exit_code == 0, admin.output
    assert "otpauth://totp/Sen%20Health:qt.bvtinh?secret=" in admin.output

    listed = runner.invoke(users_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "bacsi.an" in listed.output and "qt.bvtinh" in listed.output and "Bác sĩ" in listed.output

    enrolled = runner.invoke(users_app, ["totp", "bacsi.an"])
    assert enrolled.exit_code == 0 and "otpauth://totp/Sen%20Health:bacsi.an" in enrolled.output

    disabled = runner.invoke(users_app, ["disable", "BACSI.AN"])
    assert disabled.exit_code == 0 and "disabled: bacsi.an" in disabled.output
    active = runner.invoke(users_app, ["list", "--active"])
    assert "bacsi.an" not in active.output and "qt.bvtinh" in active.output

    changed = runner.invoke(users_app, ["password", "bacsi.an", "--password", "another good one"])
    assert changed.exit_code == 0, changed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "-u", "x.y.z", "-r", "surgeon", "--password", PW], "unknown role"),
        (["add", "-u", "x.y.z", "-r", "doctor", "--password", "short"], "too short"),
        (["add", "-u", "x.y.z", "-r", "facility_admin", "--password", PW], "needs a facility"),
        (["disable", "nobody"], "no such account"),
        (["totp", "nobody"], "no such account"),
    ],
)
def test_errors_exit_1_with_the_reason(cli_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(users_app, args)
    assert result.exit_code == 1 and message in result.output
