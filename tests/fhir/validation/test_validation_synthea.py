"""Every Synthea bundle and every resource in it validates without errors (warnings allowed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from senhealth.fhir.validation import is_valid, validate, validation_issues

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "synthea"
FILES = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []

pytestmark = pytest.mark.skipif(
    not FILES, reason="the Synthea sample data (../shared/data/synthea) is not next to the repository"
)


def _errors(issues: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    return [i for i in issues if i[0] in ("error", "fatal")]


def test_all_43_bundles_are_there() -> None:
    assert len(FILES) == 43


@pytest.mark.parametrize("path", FILES, ids=[p.stem[:40] for p in FILES])
def test_bundle_and_its_resources_are_valid(path: Path) -> None:
    bundle: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert bundle["type"] == "transaction"
    outcome = validate(bundle)
    assert is_valid(outcome), [i for i in outcome["issue"] if i["severity"] == "error"][:5]
    for n, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        errors = _errors(validation_issues(resource))
        assert not errors, (n, resource["resourceType"], errors[:5])


def test_resource_count() -> None:
    total = sum(len(json.loads(p.read_text(encoding="utf-8"))["entry"]) for p in FILES)
    assert total == 12724
