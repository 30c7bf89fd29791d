"""``senhealth checkup install-forms``: the packaged check-up Questionnaires into the store, once."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from senhealth.checkup.forms import all_forms
from senhealth.cli_checkup import checkup_app
from senhealth.core.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()
    yield schema_url
    get_settings.cache_clear()


def test_install_forms_creates_them_once(cli_db: str) -> None:
    first = runner.invoke(checkup_app, ["install-forms"])
    assert first.exit_code == 0, first.output
    forms = list(all_forms())
    assert first.output.count("created") == len(forms) >= 8
    again = runner.invoke(checkup_app, ["install-forms"])
    assert again.exit_code == 0 and again.output.count("unchanged") == len(forms), again.output
    with psycopg.connect(cli_db) as conn:
        row = conn.execute("SELECT count(*) FROM fhir_resource WHERE res_type = 'Questionnaire'").fetchone()
    assert row is not None and row[0] == len(forms)
