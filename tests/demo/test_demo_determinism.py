"""Same options → the same bytes; another seed → other data; a citizen does not depend on the run's size."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from senhealth.demo.context import Options
from senhealth.demo.generator import generate_province, generate_resources
from senhealth.demo.writers import write_province


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for fmt in ("bundle", "ndjson"):
        a, b = tmp_path / f"{fmt}-a", tmp_path / f"{fmt}-b"
        write_province(a, Options(40, seed=7), fmt)
        write_province(b, Options(40, seed=7), fmt)
        assert _files(a) == _files(b)
        assert len(_files(a)) == (41 if fmt == "bundle" else len({p.stem for p in a.glob("*.ndjson")}))


def test_other_seed_other_data(tmp_path: Path) -> None:
    a = [orjson.dumps(b) for b in generate_province(20, seed=1)]
    b = [orjson.dumps(b) for b in generate_province(20, seed=2)]
    assert a[0] != b[0]  # the network: other practitioners, other ids
    assert all(x != y for x, y in zip(a[1:], b[1:]))


def test_api_matches_files(tmp_path: Path) -> None:
    write_province(tmp_path, Options(5, seed=3), "bundle")
    bundles = list(generate_province(5, seed=3))
    assert orjson.loads((tmp_path / "facilities.json").read_bytes()) == bundles[0]
    assert orjson.loads((tmp_path / "citizen-000005.json").read_bytes()) == bundles[5]


def test_citizen_does_not_depend_on_run_size() -> None:
    small = list(generate_province(5, seed=11))
    large = list(generate_province(12, seed=11))
    assert small == large[:6]


def test_ndjson_and_bundles_hold_the_same_resources() -> None:
    from_bundles = [e["resource"]["id"] for b in generate_province(8, seed=5) for e in b["entry"]]
    from_ndjson = [r["id"] for r in generate_resources(8, seed=5)]
    assert from_bundles == from_ndjson


def test_package_exports_the_api() -> None:
    import senhealth.demo as demo

    assert demo.generate_province is generate_province
    assert demo.Options is Options
    with pytest.raises(AttributeError):
        _ = demo.no_such_thing
