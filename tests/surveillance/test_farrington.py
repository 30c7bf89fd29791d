"""The Farrington detector against R's ``algo.farrington`` (issue 8): bounds, expected counts, alarms week by week."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from r_reference_support import r_number, reference
from typer.testing import CliRunner

from senhealth.surveillance.detectors import Detection, Params, method
from senhealth.surveillance.detectors.farrington import farrington, farrington_batch

VARIANTS: dict[str, list[str]] = {
    "default": [],
    "b5w3_282": ["b=5", "w=3"],
    "b3w2": ["b=3", "w=2"],
    "plain": ["reweight=FALSE", "trend=FALSE"],
    "sqrt_alpha01": ["powertrans=1/2", "alpha=0.01"],
    "none_limit54": ["powertrans=none", "limit54=c(10,3)"],
    "fitGLM": ["fitFun=algo.farrington.fitGLM", "b=4", "w=2"],
}
"""The R script's variants as R-named parameters (``population`` needs the population series: API only)."""


def _load() -> tuple[
    dict[str, list[float]], dict[str, list[float]], dict[tuple[str, str], list[dict[str, str]]]
]:
    series: dict[str, list[float]] = defaultdict(list)
    population: dict[str, list[float]] = defaultdict(list)
    results: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in reference("farrington"):
        if row["variant"] == "input":
            series[row["series"]].append(float(row["observed"]))
            population[row["series"]].append(float(row["population"]))
        else:
            results[(row["series"], row["variant"])].append(row)
    return dict(series), dict(population), dict(results)


SERIES, POPULATION, RESULTS = _load()


def _run(series: str, variant: str, start: int) -> list[Detection]:
    if variant == "population":
        return farrington(
            SERIES[series],
            range_start=start,
            fit_fun="algo.farrington.fitGLM.populationOffset",
            population=POPULATION[series],
        )
    params = Params.parse("farrington", VARIANTS[variant])
    rows = method("farrington").run(SERIES[series], params, start, 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_brief() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    assert {v for _, v in RESULTS} == set(VARIANTS) | {"population"}
    assert sum(len(rows) for rows in RESULTS.values()) > 3000


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    want = RESULTS[key]
    rows = _run(series, variant, int(want[0]["week"]))
    assert [r.index + 1 for r in rows] == [int(w["week"]) for w in want]
    for got, row in zip(rows, want, strict=True):
        assert got.observed == float(row["observed"])
        assert got.upperbound == pytest.approx(r_number(row["upperbound"]), rel=1e-6, abs=1e-12), row["week"]
        assert got.expected == pytest.approx(r_number(row["expected"]), rel=1e-6), row["week"]
        assert got.alarm == (row["alarm"] == "1"), row["week"]


def test_reference_has_alarms_quiet_weeks_and_limit54_zeros() -> None:
    alarms = [row["alarm"] for rows in RESULTS.values() for row in rows]
    assert 50 < alarms.count("1") < len(alarms) // 2
    zeros = [row for rows in RESULTS.values() for row in rows if row["upperbound"] == "0"]
    assert zeros, "limit54 not met somewhere: R's bound 0"


def test_batch_equals_single_series() -> None:
    names = ["salmonella.agona", "shadar", "influMen.meningococcal"]
    n = min(len(SERIES[s]) for s in names)
    counts = np.array([SERIES[s][:n] for s in names])
    batch = farrington_batch(counts, b=3, w=2)
    for i, s in enumerate(names):
        single = farrington(SERIES[s][:n], b=3, w=2)
        assert batch.start == single[0].index
        assert np.allclose(batch.upperbound[i], [d.upperbound or 0.0 for d in single], rtol=1e-12)
        assert list(batch.alarm[i]) == [d.alarm for d in single]


def test_zeros_and_short_history() -> None:
    rows = farrington([0.0] * 300, range_start=280)
    assert all(not r.alarm and r.upperbound == 0 for r in rows)  # limit54 never met
    rows = farrington([0.0] * 295 + [9.0] * 5, range_start=280, limit54=(0, 4))
    assert rows[-1].alarm and rows[-1].upperbound is not None and rows[-1].upperbound < 9
    with pytest.raises(ValueError, match="reference weeks"):
        farrington([1.0] * 60, range_start=10)
    with pytest.raises(ValueError, match="outside the series"):
        farrington([1.0] * 60)  # R's default start 257 is past the end
    with pytest.raises(ValueError, match="powertrans"):
        farrington([1.0] * 300, powertrans="1/3")
    with pytest.raises(ValueError, match="limit54"):
        farrington([1.0] * 300, limit54=(5, 0))


def test_params_refuse_unknown_and_bad_values() -> None:
    spec = method("farrington")
    params = Params.parse("farrington", ["b=5", "W=3"])
    spec.run(SERIES["salmonella.agona"], params, None, 52)
    with pytest.raises(ValueError, match="unknown parameter"):
        params.check_all_used()
    for bad in (["powertrans=3/4"], ["fitFun=glm"], ["limit54=c(5)"], ["reweight=maybe"]):
        with pytest.raises(ValueError):
            spec.run(SERIES["salmonella.agona"], Params.parse("farrington", bad), None, 52)


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from senhealth.cli import app

    y = SERIES["salmonella.agona"]
    path = tmp_path / "agona.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    args = ["surveillance", "detect", "--method", "farrington", "--input", str(path)]
    result = CliRunner().invoke(
        app, [*args, "--param", "b=3", "--param", "w=2", "--param", "range_start=209"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "week,observed,expected,upperbound,alarm"
    want = RESULTS[("salmonella.agona", "b3w2")]
    assert len(lines) - 1 == len(want)
    for line, row in zip(lines[1:], want, strict=True):
        week, observed, expected, bound, alarm = line.split(",")
        assert week == row["week"] and float(observed) == float(row["observed"])
        assert float(expected) == pytest.approx(float(row["expected"]), rel=1e-6)
        assert float(bound) == pytest.approx(float(row["upperbound"]), rel=1e-6, abs=1e-12)
        assert (alarm in ("1", "TRUE", "True", "true")) == (row["alarm"] == "1")
