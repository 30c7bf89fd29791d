"""The improved Farrington detector against R's ``farringtonFlexible`` (issue 8), each threshold method."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from r_reference_support import r_number, reference
from typer.testing import CliRunner

from senhealth.surveillance.detectors import Detection, Params, method
from senhealth.surveillance.detectors.farrington_flexible import (
    farrington_flexible,
    farrington_flexible_batch,
    seasonal_blocks,
)

NOUFAILY = [
    "b=5",
    "w=3",
    "noPeriods=10",
    "pastWeeksNotIncluded=26",
    "weightsThreshold=2.58",
    "pThresholdTrend=1",
]
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "default_nbPlugin": ["thresholdMethod=nbPlugin"],
    "default_muan": ["thresholdMethod=muan"],
    "noufaily_delta": [*NOUFAILY, "thresholdMethod=delta"],
    "noufaily_nbPlugin": [*NOUFAILY, "thresholdMethod=nbPlugin"],
    "noufaily_muan": [*NOUFAILY, "thresholdMethod=muan"],
    "b3w2_plain": ["b=3", "w=2", "reweight=FALSE", "trend=FALSE", "powertrans=none", "alpha=0.01"],
    "sqrt_periods": ["powertrans=1/2", "noPeriods=4", "pastWeeksNotIncluded=0", "limit54=c(10,3)"],
}
"""The R script's variants as R-named parameters (``population`` needs the population series: API only)."""


def _load() -> tuple[
    dict[str, list[float]], dict[str, list[float]], dict[tuple[str, str], list[dict[str, str]]]
]:
    series: dict[str, list[float]] = defaultdict(list)
    population: dict[str, list[float]] = defaultdict(list)
    results: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in reference("farrington_flexible"):
        if row["variant"] == "input":
            series[row["series"]].append(float(row["observed"]))
            population[row["series"]].append(float(row["population"]))
        else:
            results[(row["series"], row["variant"])].append(row)
    return dict(series), dict(population), dict(results)


SERIES, POPULATION, RESULTS = _load()


def _run(series: str, variant: str, start: int) -> list[Detection]:
    if variant == "population":
        return farrington_flexible(
            SERIES[series],
            range_start=start,
            population_offset=True,
            no_periods=10,
            threshold_method="muan",
            population=POPULATION[series],
        )
    params = Params.parse("farrington-flexible", VARIANTS[variant])
    rows = method("farrington-flexible").run(SERIES[series], params, start, 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_brief() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    assert {v for _, v in RESULTS} == set(VARIANTS) | {"population"}


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    want = RESULTS[key]
    rows = _run(series, variant, int(want[0]["week"]))
    assert [r.index + 1 for r in rows] == [int(w["week"]) for w in want]
    for got, row in zip(rows, want, strict=True):
        assert got.observed == float(row["observed"])
        bound, expected = r_number(row["upperbound"]), r_number(row["expected"])
        if bound is None:
            assert got.upperbound is None, row["week"]
        else:
            assert got.upperbound == pytest.approx(bound, rel=1e-6, abs=1e-12), row["week"]
        if expected is None:
            assert got.expected is None, row["week"]
        else:
            assert got.expected == pytest.approx(expected, rel=1e-6), row["week"]
        assert got.alarm == (row["alarm"] == "1"), row["week"]


def test_reference_has_alarms_and_undefined_bounds() -> None:
    for prefix in ("default", "noufaily_delta", "noufaily_nbPlugin", "noufaily_muan"):
        rows = [row for (_, v), rr in RESULTS.items() if v.startswith(prefix) for row in rr]
        assert any(row["alarm"] == "1" for row in rows), prefix
        assert any(row["alarm"] == "0" for row in rows), prefix
    assert any(row["upperbound"] == "NA" for rows in RESULTS.values() for row in rows)


def test_seasonal_blocks_as_r() -> None:
    levels = seasonal_blocks(300, 312, b=2, w=3, no_periods=10, freq=52)
    assert list(levels[300 - 4 : 300]) == [10] * 4 and levels[300] == 0  # k − w … k, nothing after k
    assert list(levels[300 - 52 - 4 : 300 - 52 + 3]) == [10] * 7  # the window of the year before
    between = levels[300 - 52 + 3 : 300 - 4]  # 45 weeks in 9 blocks of 5
    assert list(between) == [j for j in range(1, 10) for _ in range(5)]
    assert levels[: 300 - 104 - 4].sum() == 0


def test_batch_equals_single_series() -> None:
    names = ["salmonella.agona", "influMen.influenza", "influMen.meningococcal"]
    counts = np.array([SERIES[s] for s in names])
    batch = farrington_flexible_batch(
        counts, no_periods=10, past_weeks_not_included=26, threshold_method="nbPlugin"
    )
    for i, s in enumerate(names):
        single = farrington_flexible(
            SERIES[s], no_periods=10, past_weeks_not_included=26, threshold_method="nbPlugin"
        )
        got = np.array([np.nan if d.upperbound is None else d.upperbound for d in single])
        assert np.allclose(batch.upperbound[i], got, equal_nan=True, rtol=1e-12)
        assert list(batch.alarm[i]) == [d.alarm for d in single]


def test_zeros_then_cases_as_r() -> None:
    """295 zero weeks, then 9 cases a week; R 1.20.3 (limit54=c(0,4), noPeriods=10): no convergence (NA) for
    weeks 297-299; week 300 bound 0.004727364 (delta), 0 (nbPlugin), NA (muan), alarms 1, 1, 0."""
    y = [0.0] * 295 + [9.0] * 5
    got = {
        m: farrington_flexible(y, range_start=297, limit54=(0, 4), no_periods=10, threshold_method=m)
        for m in ("delta", "nbPlugin", "muan")
    }
    for rows in got.values():
        assert [r.upperbound for r in rows[:3]] == [None] * 3 and not any(r.alarm for r in rows[:3])
    assert got["delta"][3].upperbound == pytest.approx(0.004727364, rel=1e-6) and got["delta"][3].alarm
    assert got["nbPlugin"][3].upperbound == 0 and got["nbPlugin"][3].alarm
    assert got["muan"][3].upperbound is None and not got["muan"][3].alarm


def test_short_history_and_bad_values() -> None:
    with pytest.raises(ValueError, match="years of history"):
        farrington_flexible([1.0] * 300, range_start=200)
    with pytest.raises(ValueError, match="outside the series"):
        farrington_flexible([1.0] * 100)
    with pytest.raises(ValueError, match="thresholdMethod"):
        farrington_flexible([1.0] * 300, threshold_method="quantile")
    with pytest.raises(ValueError, match="too big"):
        farrington_flexible([1.0] * 300, no_periods=60)
    with pytest.raises(ValueError, match="≥ 0"):
        farrington_flexible([1.0] * 299 + [-1.0])


def test_params_refuse_unknown_names() -> None:
    spec = method("farrington-flexible")
    params = Params.parse("farrington-flexible", ["noPeriods=10", "nPeriods=10"])
    spec.run(SERIES["salmonella.agona"], params, None, 52)
    with pytest.raises(ValueError, match="unknown parameter"):
        params.check_all_used()
    with pytest.raises(ValueError, match="thresholdMethod"):
        spec.run(
            SERIES["salmonella.agona"], Params.parse("farrington-flexible", ["thresholdMethod=nb"]), None, 52
        )


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from senhealth.cli import app

    y = SERIES["salmonella.agona"]
    path = tmp_path / "agona.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    args = ["surveillance", "detect", "--method", "farrington-flexible", "--input", str(path)]
    for item in [*NOUFAILY, "thresholdMethod=nbPlugin"]:
        args += ["--param", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "week,observed,expected,upperbound,alarm"
    want = RESULTS[("salmonella.agona", "noufaily_nbPlugin")]
    assert len(lines) - 1 == len(want)
    for line, row in zip(lines[1:], want, strict=True):
        week, observed, expected, bound, alarm = line.split(",")
        assert week == row["week"] and float(observed) == float(row["observed"])
        assert (bound == "") == (row["upperbound"] == "NA")
        if bound:
            assert float(bound) == pytest.approx(float(row["upperbound"]), abs=1e-9)
            assert float(expected) == pytest.approx(float(row["expected"]), rel=1e-6)
        assert (alarm == "1") == (row["alarm"] == "1")
