"""``senhealth views run | materialise | refresh | list | drop`` (the Typer app of senhealth.cli_views) on a
real database.

Spec: https://sql-on-fhir.org/ig/latest/ ; the commands: docs/analytics.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from senhealth import cli_views
from senhealth.analytics.view_store import create_view
from senhealth.cli_views import views_app
from senhealth.core import db
from senhealth.core.config import get_settings
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore

runner = CliRunner()

VIEW = {
    "resourceType": "ViewDefinition",
    "name": "patient_gender",
    "status": "active",
    "resource": "Patient",
    "select": [
        {"column": [{"name": "id", "path": "getResourceKey()"}, {"name": "gender", "path": "gender"}]}
    ],
}


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    migrate(schema_url)
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()
    yield schema_url
    get_settings.cache_clear()


def _setup(url: str) -> tuple[str, str, list[str]]:
    async def main() -> tuple[str, str, list[str]]:
        await db.open_pool(url, max_size=2)
        try:
            store = FhirStore(db.get_pool())
            ids = [
                (await store.create({"resourceType": "Patient", "gender": g})).res_id
                for g in ("male", "female")
            ]
            async with store.pool.connection() as conn:
                stored = await create_view(conn, VIEW)
                cur = await conn.execute("SELECT current_schema()")
                row = await cur.fetchone()
                assert row is not None
            return stored.id, str(row[0]), ids
        finally:
            await db.close_pool()

    return asyncio.run(main())


def test_run_materialise_refresh_list_drop(
    cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view_id, schema, ids = _setup(cli_db)
    path = tmp_path / "view.json"
    path.write_text(json.dumps(VIEW))

    ran = runner.invoke(views_app, ["run", str(path), "--format", "csv"])
    assert ran.exit_code == 0, ran.output
    lines = [line for line in ran.stdout.splitlines() if "," in line]
    records = list(csv.reader(io.StringIO("\n".join(lines))))
    assert records[0] == ["id", "gender"] and sorted(r[0] for r in records[1:]) == sorted(ids)

    out = tmp_path / "rows.ndjson"
    ran = runner.invoke(
        views_app, ["run", view_id, "--format", "ndjson", "--output", str(out), "--limit", "1"]
    )
    assert ran.exit_code == 0, ran.output
    assert len(out.read_text().splitlines()) == 1

    made = runner.invoke(views_app, ["materialise", view_id, "--schema", schema])
    assert made.exit_code == 0, made.output
    assert f"postgres:{schema}.patient_gender: built" in made.stdout
    parquet = tmp_path / "pq"
    made = runner.invoke(views_app, ["materialise", str(path), "--parquet", str(parquet)])
    assert made.exit_code == 0, made.output

    refreshed = runner.invoke(views_app, ["refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert refreshed.stdout.count("resources changed") == 2

    monkeypatch.setattr(cli_views.out, "width", 250)  # the tables unwrapped
    listed = runner.invoke(views_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "patient_gender" in listed.stdout and f"{schema}.patient_gender" in listed.stdout

    queued = runner.invoke(views_app, ["refresh", f"postgres:{schema}.patient_gender", "--queue"])
    assert queued.exit_code == 0 and "job" in queued.stdout, queued.output

    assert runner.invoke(views_app, ["drop", f"parquet:{parquet}"]).exit_code == 0
    assert runner.invoke(views_app, ["drop", f"parquet:{parquet}"]).exit_code == 1
    bad = runner.invoke(views_app, ["refresh", "nowhere:x"])
    assert bad.exit_code == 1
    bad = runner.invoke(views_app, ["run", str(path), "--format", "xml"])
    assert bad.exit_code == 2
