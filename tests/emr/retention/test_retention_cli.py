"""``senhealth retention ...`` (the Typer app of senhealth.cli_retention) on a real database: holds placed,
listed and released (audited), the report, a purge that refuses a held document (exit status 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from printing_support import run_store, seed
from typer.testing import CliRunner

from senhealth.cli_retention import retention_app
from senhealth.core.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(emr_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", emr_url)
    get_settings.cache_clear()
    yield emr_url
    get_settings.cache_clear()


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_hold_report_purge(cli_db: str) -> None:
    async def scenario(store: Any) -> None:
        await seed(store, "cli-due", encounter_id="enc-cli-due")
        await seed(store, "cli-held", encounter_id="enc-cli-held")

    run_store(cli_db, scenario)
    placed = runner.invoke(retention_app, ["hold", "place", "Composition/cli-held", "--reason", "Thanh tra Sở Y tế",
                                           "--by", "qt.bv"])  # fmt: skip
    assert placed.exit_code == 0, placed.output
    assert "hold placed" in placed.output
    bad = runner.invoke(retention_app, ["hold", "place", "Observation/x", "--reason", "r", "--by", "qt.bv"])
    assert bad.exit_code == 2 and "invalid hold target" in bad.output
    listed = runner.invoke(retention_app, ["hold", "list"])
    assert listed.exit_code == 0 and "Composition/cli-held" in listed.output and "Thanh tra" in listed.output

    report = runner.invoke(retention_app, ["report", "--as-of", "2026-03-01", "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert data["total"] == 2 and data["due"] == 1 and data["kept"] == {"legal-hold": 1}

    status = runner.invoke(retention_app, ["status", "cli-held", "--as-of", "2026-03-01"])
    assert status.exit_code == 0 and "legal-hold" in status.output

    missing = runner.invoke(retention_app, ["purge", "cli-due"])
    assert missing.exit_code == 2 and "--reason" in missing.output
    purged = runner.invoke(retention_app, ["purge", "cli-due", "cli-held", "--reason", "QĐ 15/QĐ-BV", "--by", "qt.bv",
                                           "--as-of", "2026-03-01"])  # fmt: skip
    assert purged.exit_code == 1, purged.output  # something was refused
    assert "destroyed: Composition/cli-due" in purged.output and "refused:" in purged.output
    assert _sql(cli_db, "SELECT res_id FROM fhir_resource WHERE res_type = 'Composition'") == [("cli-held",)]

    hold_id = _sql(cli_db, "SELECT id FROM emr_legal_hold")[0][0]
    released = runner.invoke(retention_app, ["hold", "release", str(hold_id), "--reason", "Kết thúc thanh tra",
                                             "--by", "qt.bv"])  # fmt: skip
    assert released.exit_code == 0, released.output
    events = _sql(cli_db, "SELECT query, details->>'event' FROM audit_event ORDER BY seq")
    assert events == [
        ("retention-hold", "legal-hold-placed"),
        ("retention-purge", "retention-purge"),
        ("retention-hold", "legal-hold-released"),
    ]
