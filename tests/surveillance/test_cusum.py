"""CUSUM against R's ``cusum`` / ``algo.cusum`` (issue 8: bounds within 1e-6 relative, alarms equal, every week)."""

from __future__ import annotations

import numpy as np
import pytest
from r_reference_support import r_number, series_and_results
from typer.testing import CliRunner

from senhealth.surveillance.detectors import Detection, Params, method
from senhealth.surveillance.detectors.cusum import cusum, cusum_batch

SERIES, RESULTS = series_and_results("cusum")


def _run(counts: list[float], variant: str) -> list[Detection]:
    """A variant is ``NAME=VALUE;...`` with R's names (``standard`` alone: R's defaults), read through Params."""
    items = [item for item in variant.split(";") if item != "standard"]
    params = Params.parse("cusum", items)
    rows = method("cusum").run(counts, params, params.optional_integer("range_start"), 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_brief() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    variants = {v.rsplit(";range_start", 1)[0] for _, v in RESULTS}
    assert {"standard", "trans=rossi", "m=glm", "m=glm;trans=rossi"} <= variants


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    expected = RESULTS[key]
    rows = _run(SERIES[series], variant)
    assert [r.index + 1 for r in rows] == [int(e["week"]) for e in expected]
    for got, want in zip(rows, expected, strict=True):
        bound = r_number(want["upperbound"])
        assert bound is not None and got.upperbound is not None
        assert got.upperbound == pytest.approx(bound, rel=1e-6, abs=1e-9), f"week {want['week']}"
        assert got.alarm == (want["alarm"] == "1"), f"week {want['week']}"


def test_alarms_are_not_all_equal() -> None:
    rows = _run(SERIES["salmonella.agona"], "m=glm;range_start=209")
    assert 0 < sum(r.alarm for r in rows) < len(rows)


def test_definition_by_hand() -> None:
    # m = 4 (mean of the reference), z = (x - 4)/2, S = max(0, S + z - 1.04), alarm at S >= 2.26
    y = [4.0, 4, 4, 4, 4, 10, 10, 4]
    rows = cusum(y, range_start=5)
    s, stats = 0.0, []
    for x in y[4:]:
        s = max(0.0, s + (x - 4) / 2 - 1.04)
        stats.append(s)
    assert [r.alarm for r in rows] == [v >= 2.26 for v in stats] == [False, False, True, True]
    # bound: ceiling(2 (h + k - S_{t-1}) + 4)
    assert rows[0].upperbound == 11 and rows[1].upperbound == 11
    assert rows[2].upperbound == np.ceil(2 * (2.26 + 1.04 - stats[1]) + 4)
    assert all(r.expected == 4 for r in rows)


def test_batch_equals_single_series() -> None:
    rng = np.random.default_rng(8)
    y = rng.poisson(6.0, size=(40, 156)).astype(float)
    for options in ({}, {"trans": "rossi"}, {"m": "glm"}):
        batch = cusum_batch(y, range_start=105, **options)  # type: ignore[arg-type]
        for i in (0, 39):
            one = cusum(list(y[i]), range_start=105, **options)  # type: ignore[arg-type]
            assert [r.alarm for r in one] == list(batch.alarm[i])
            assert np.allclose(
                [np.nan if r.upperbound is None else r.upperbound for r in one],
                batch.upperbound[i],
                rtol=1e-12,
            )


def test_errors() -> None:
    with pytest.raises(ValueError, match="range_start"):
        cusum([1.0, 2.0], range_start=1)
    with pytest.raises(ValueError, match="trans"):
        cusum([1.0] * 10, range_start=5, trans="anscombeNegBin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trans"):
        method("cusum").run([1.0] * 10, Params.parse("cusum", ["trans=Rossi"]), 5, 52)
    with pytest.raises(ValueError, match="m="):
        method("cusum").run([1.0] * 10, Params.parse("cusum", ["m=glmm"]), 5, 52)
    # zeros: m = 0 gives NaN/Inf standardised values; R's bounds become 0
    rows = cusum([0.0] * 10, range_start=6)
    assert all(r.upperbound == 0 for r in rows)


def test_default_range_is_the_last_year() -> None:
    rows = cusum(SERIES["salmonella.agona"])
    assert len(rows) == 52 and rows[-1].index == len(SERIES["salmonella.agona"]) - 1


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from senhealth.cli import app

    y = SERIES["hepatitisA"]
    path = tmp_path / "hepA.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    want = RESULTS[("hepatitisA", "m=glm;trans=rossi;range_start=105")]
    result = CliRunner().invoke(
        app,
        [
            "surveillance",
            "detect",
            "--method",
            "cusum",
            "--input",
            str(path),
            "--param",
            "m=glm",
            "--param",
            "trans=rossi",
            "--param",
            "range_start=105",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()[1:]
    assert len(lines) == len(want)
    for line, row in zip(lines, want, strict=True):
        week, _, _, bound, alarm = line.split(",")
        assert week == row["week"] and alarm == row["alarm"]
        assert float(bound) == pytest.approx(float(row["upperbound"]), rel=1e-6, abs=1e-9)
