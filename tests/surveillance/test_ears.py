"""EARS C1/C2/C3 against R's ``earsC`` (issue 8: bounds within 1e-6 relative, alarms equal, every week)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from r_reference_support import r_number, series_and_results
from typer.testing import CliRunner

from senhealth.surveillance.detectors import Params, method
from senhealth.surveillance.detectors.ears import ears_batch, ears_c1, ears_c2, ears_c3

SERIES, RESULTS = series_and_results("ears")


def _run(counts: list[float], variant: str) -> list:  # type: ignore[type-arg]
    """A variant is ``C1;alpha=0.05;...``: the method, then parameters with R's names (read through Params)."""
    name, *items = variant.split(";")
    if name == "bare":
        name, items = "C1", ["alpha=0.001"]
    params = Params.parse(f"ears-{name.lower()}", items)
    range_start = params.optional_integer("range_start")
    rows = method(f"ears-{name.lower()}").run(counts, params, range_start, 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_brief() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    assert {v for _, v in RESULTS} >= {"C1", "C2", "C3", "bare"}


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    expected = RESULTS[key]
    rows = _run(SERIES[series], variant)
    assert [r.index + 1 for r in rows] == [int(e["week"]) for e in expected]
    for got, want in zip(rows, expected, strict=True):
        bound = r_number(want["upperbound"])
        if bound is None:  # NaN in R (zero SD, minSigma 0): no bound, R's alarm NA
            assert got.upperbound is None and not got.alarm and want["alarm"] == "NA"
            continue
        assert got.upperbound is not None
        assert got.upperbound == pytest.approx(bound, rel=1e-6, abs=1e-9), f"week {want['week']}"
        assert got.alarm == (want["alarm"] == "1"), f"week {want['week']}"


def test_some_alarms_and_some_quiet_weeks() -> None:
    rows = _run(SERIES["salmonella.agona"], "C3")
    alarms = sum(r.alarm for r in rows)
    assert 0 < alarms < len(rows)


def test_c3_r_parity_ignores_the_current_week_cdc_does_not() -> None:
    base = [5.0, 6, 4, 5, 7, 5, 6, 5, 4, 6, 5, 5]
    quiet = ears_c3([*base, 5.0], alpha=0.025)[-1]
    spike = ears_c3([*base, 60.0], alpha=0.025)[-1]
    assert not quiet.alarm and not spike.alarm  # R: the current week never enters C3's alarm
    assert ears_c3([*base, 60.0], alpha=0.025, mode="cdc")[-1].alarm
    assert not ears_c3([*base, 5.0], alpha=0.025, mode="cdc")[-1].alarm
    cdc = ears_c3([*base, 5.0], mode="cdc")[-1]
    assert cdc.upperbound is not None and cdc.expected is not None
    # the CDC bound is the count where C3(t) reaches z: one SD above the mean plus z SDs (lags are 0 here)
    assert ears_c3([*base, math.floor(cdc.upperbound) + 1], mode="cdc")[-1].alarm
    assert not ears_c3([*base, math.floor(cdc.upperbound)], mode="cdc")[-1].alarm


def test_c1_c2_modes_agree_and_defaults() -> None:
    y = SERIES["hepatitisA"]
    for fn in (ears_c1, ears_c2):
        assert fn(y) == fn(y, mode="cdc")
    assert ears_c1(y)[0].index == 7 and ears_c2(y)[0].index == 9 and ears_c3(y)[0].index == 11
    # alpha default: 0.025 for C3, 0.001 for C1/C2
    assert ears_c3(y) == ears_c3(y, alpha=0.025) != ears_c3(y, alpha=0.001)
    assert ears_c1(y) == ears_c1(y, alpha=0.001)


def test_batch_equals_single_series() -> None:
    rng = np.random.default_rng(8)
    y = rng.poisson(4.0, size=(50, 80)).astype(float)
    for name, fn in (("C1", ears_c1), ("C2", ears_c2), ("C3", ears_c3)):
        batch = ears_batch(y, name, range_start=29)  # type: ignore[arg-type]
        for i in (0, 17, 49):
            one = fn(list(y[i]), range_start=29)
            assert [r.alarm for r in one] == list(batch.alarm[i])
            assert np.allclose(
                [np.nan if r.upperbound is None else r.upperbound for r in one],
                batch.upperbound[i],
                equal_nan=True,
            )


def test_zeros_and_short_history() -> None:
    rows = ears_c1([0.0] * 20)
    assert all(r.upperbound == 0 and not r.alarm for r in rows)
    assert ears_c1([0.0] * 20, min_sigma=1)[0].upperbound == pytest.approx(3.090232306, rel=1e-9)
    with pytest.raises(ValueError, match="too short"):
        ears_c3([1.0] * 20, range_start=5)
    with pytest.raises(ValueError, match="too short"):
        ears_c1([1.0] * 5)
    with pytest.raises(ValueError, match="outside the series"):
        ears_c1([1.0] * 20, range_start=21)
    with pytest.raises(ValueError, match="minimum baseline is 3"):
        ears_c1([1.0] * 20, baseline=2)
    with pytest.raises(ValueError, match="minSigma"):
        ears_c1([1.0] * 20, min_sigma=-1)
    with pytest.raises(ValueError, match="alpha"):
        ears_c1([1.0] * 20, alpha=1.5)


def test_params_refuse_unknown_and_bad_values() -> None:
    spec = method("ears-c1")
    params = Params.parse("ears-c1", ["alpha=0.01", "minsigma=1"])
    spec.run([1.0] * 20, params, None, 52)
    with pytest.raises(ValueError, match="minsigma"):
        params.check_all_used()
    with pytest.raises(ValueError, match="mode"):
        method("ears-c3").run([1.0] * 20, Params.parse("ears-c3", ["mode=CDC"]), None, 52)


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from senhealth.cli import app

    y = SERIES["salmonella.agona"]
    path = tmp_path / "agona.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app,
        [
            "surveillance",
            "detect",
            "--method",
            "ears-c3",
            "--input",
            str(path),
            "--param",
            "alpha=0.001",
            "--param",
            "range_start=209",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "week,observed,expected,upperbound,alarm"
    want = RESULTS[("salmonella.agona", "C3;alpha=0.001;range_start=209")]
    assert len(lines) - 1 == len(want)
    for line, row in zip(lines[1:], want, strict=True):
        week, observed, _, bound, alarm = line.split(",")
        assert week == row["week"] and float(observed) == float(row["observed"])
        assert float(bound) == pytest.approx(float(row["upperbound"]), rel=1e-6, abs=1e-9)
        assert alarm == row["alarm"]
