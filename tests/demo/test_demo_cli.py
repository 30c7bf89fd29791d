"""``senhealth demo generate``: files, formats, refusals; the tour still works."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from senhealth.cli import app

runner = CliRunner()


def test_generate_bundles(tmp_path: Path) -> None:
    out = tmp_path / "province"
    result = runner.invoke(app, ["demo", "generate", "--citizens", "12", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names[0] == "citizen-000001.json" and names[-1] == "facilities.json" and len(names) == 13
    bundle = orjson.loads((out / "citizen-000012.json").read_bytes())
    assert bundle["type"] == "transaction"


def test_generate_ndjson_and_force(tmp_path: Path) -> None:
    out = tmp_path / "bulk"
    args = ["demo", "generate", "-n", "10", "--out", str(out), "--format", "ndjson"]
    assert runner.invoke(app, args).exit_code == 0
    files = {p.name for p in out.iterdir()}
    assert {"Patient.ndjson", "Organization.ndjson", "Encounter.ndjson", "Observation.ndjson"} <= files
    lines = (out / "Patient.ndjson").read_bytes().splitlines()
    assert len(lines) == 10 and orjson.loads(lines[0])["resourceType"] == "Patient"
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    forced = runner.invoke(app, [*args[:-2], "--format", "bundle", "--force"])
    assert forced.exit_code == 0, forced.output
    assert not list(out.glob("*.ndjson")), "--force replaces the earlier output"


def test_generate_rejects_bad_options(tmp_path: Path) -> None:
    bad_province = runner.invoke(
        app, ["demo", "generate", "-n", "1", "--out", str(tmp_path / "a"), "--province", "99"]
    )
    assert bad_province.exit_code != 0
    bad_format = runner.invoke(
        app, ["demo", "generate", "-n", "1", "--out", str(tmp_path / "b"), "-f", "xml"]
    )
    assert bad_format.exit_code != 0
    bad_date = runner.invoke(
        app, ["demo", "generate", "-n", "1", "--out", str(tmp_path / "c"), "--as-of", "x"]
    )
    assert bad_date.exit_code != 0


def test_as_of_and_province_options(tmp_path: Path) -> None:
    out = tmp_path / "hn"
    result = runner.invoke(
        app, ["demo", "generate", "-n", "3", "--out", str(out), "--province", "1", "--as-of", "2024-06-30"]
    )
    assert result.exit_code == 0, result.output
    bundle = orjson.loads((out / "citizen-000001.json").read_bytes())
    patient = bundle["entry"][0]["resource"]
    assert patient["address"][0]["state"] == "Thành phố Hà Nội"
    dates = [
        e["resource"]["period"]["start"][:10]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    ]
    assert all(d <= "2024-06-30" for d in dates)


def test_tour_still_runs() -> None:
    result = runner.invoke(app, ["demo", "tour"])
    assert result.exit_code == 0, result.output
    assert "FHIRPath" in result.output
