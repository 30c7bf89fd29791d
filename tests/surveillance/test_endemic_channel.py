"""The endemic channel against tables computed by hand (no R reference exists for it)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from senhealth.cli_surveillance import surveillance_app
from senhealth.surveillance.detectors import Params, method
from senhealth.surveillance.detectors.endemic_channel import (
    channel_table,
    endemic_channel,
    endemic_channel_batch,
)

# Four "years" of four weeks (freq=4): the fourth year is monitored against the three before it.
YEARS = [
    [1, 4, 2, 0],
    [3, 6, 2, 1],
    [5, 8, 2, 2],
    [9, 5, 2, 1],
]
COUNTS = [float(v) for year in YEARS for v in year]
T_975_2 = 4.302652729749462  # Student's t, 0.975 quantile, 2 degrees of freedom (tables: 4.303)


def _poisson_quantile(q: float, mean: float) -> int:
    x, cdf, pmf = 0, 0.0, math.exp(-mean)
    while True:
        cdf += pmf
        if cdf >= q:
            return x
        x += 1
        pmf *= mean / x


def _nb_quantile(q: float, size: float, p: float) -> int:
    """Smallest x with P(X ≤ x) ≥ q, X ~ NB(size, p) counting failures: pmf = C(x+r−1, x) p^r (1−p)^x."""
    x, cdf = 0, 0.0
    while True:
        cdf += (
            math.exp(math.lgamma(x + size) - math.lgamma(size) - math.lgamma(x + 1)) * p**size * (1 - p) ** x
        )
        if cdf >= q:
            return x
        x += 1


def test_mean_plus_k_sd_by_hand() -> None:
    rows = endemic_channel(COUNTS, b=3, freq=4)
    assert [r.index for r in rows] == [12, 13, 14, 15]
    # week 1: 1, 3, 5 → mean 3, SD 2; week 2: 4, 6, 8 → 6, 2; week 3: 2, 2, 2 → 2, 0; week 4: 0, 1, 2 → 1, 1
    assert [r.expected for r in rows] == pytest.approx([3, 6, 2, 1])
    assert [r.upperbound for r in rows] == pytest.approx([7, 10, 2, 3])
    assert [r.alarm for r in rows] == [True, False, False, False]  # 9 > 7; 2 is not above 2
    assert [r.observed for r in rows] == [9, 5, 2, 1]
    k15 = endemic_channel(COUNTS, b=3, freq=4, k=1.5)
    assert k15[0].upperbound == pytest.approx(6.0)


def test_window_of_neighbouring_weeks_by_hand() -> None:
    # week 2 of year 4 with w=1: weeks 1-3 of each past year: 5 8 2, 3 6 2, 1 4 2 → mean 11/3, variance 42/8
    rows = endemic_channel(COUNTS, b=3, w=1, freq=4, range_start=14)
    assert rows[0].index == 13
    assert rows[0].expected == pytest.approx(11 / 3)
    assert rows[0].upperbound == pytest.approx(11 / 3 + 2 * math.sqrt(42 / 8))
    with pytest.raises(ValueError, match="start the monitored range at 14"):
        endemic_channel(COUNTS, b=3, w=1, freq=4, range_start=13)


def test_negative_binomial_quantiles_by_hand() -> None:
    rows = endemic_channel(COUNTS, b=3, freq=4, method="nbquantile")
    # week 1: mean 3, variance 4 > 3 → NB size 9, p 3/4; week 2: mean 6, variance 4 ≤ 6 → Poisson(6)
    assert rows[0].expected == pytest.approx(3.0)
    assert rows[0].upperbound == _nb_quantile(0.9, 9.0, 0.75)
    assert rows[1].upperbound == _poisson_quantile(0.9, 6.0) == 9
    assert rows[2].upperbound == _poisson_quantile(0.9, 2.0)  # 2, 2, 2: variance 0 → Poisson(2)
    assert rows[0].alarm is (_nb_quantile(0.9, 9.0, 0.75) < 9)
    q75 = endemic_channel(COUNTS, b=3, freq=4, method="nbquantile", quantile=0.75)
    assert q75[1].upperbound == _poisson_quantile(0.75, 6.0)
    zeros = endemic_channel([0.0] * 16, b=3, freq=4, method="nbquantile")
    assert all(r.upperbound == 0 and not r.alarm for r in zeros)


def test_bortman_log_channel_by_hand() -> None:
    rows = endemic_channel(COUNTS, b=3, freq=4, method="bortman")
    y = [math.log(2), math.log(4), math.log(6)]  # week 1: 1, 3, 5 → log(x + 1)
    mean = sum(y) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in y) / 2)
    assert rows[0].expected == pytest.approx(math.exp(mean) - 1)  # geometric mean of x + 1, minus 1
    assert rows[0].upperbound == pytest.approx(math.exp(mean + T_975_2 * sd / math.sqrt(3)) - 1)
    assert rows[2].upperbound == pytest.approx(2.0)  # no spread: the bound is the value itself


def test_whole_channel_for_the_epidemic_curve() -> None:
    table = channel_table(COUNTS, year_start=12, b=3, freq=4)
    assert table.week == (1, 2, 3, 4)
    assert table.centre == pytest.approx((3, 6, 2, 1))
    assert table.lower == pytest.approx((-1, 2, 2, -1))
    assert table.upper == pytest.approx((7, 10, 2, 3))
    nb = channel_table(COUNTS, year_start=12, b=3, freq=4, method="nbquantile")
    assert nb.lower[1] == _poisson_quantile(0.5, 6.0)
    assert nb.centre[1] == _poisson_quantile(0.75, 6.0)
    assert nb.upper[1] == _poisson_quantile(0.9, 6.0)
    assert nb.mean[1] == pytest.approx(6.0)
    # The next year, not observed yet: the last week with w=1 would need week 1 of that year; it is left out.
    ahead = channel_table(COUNTS, year_start=16, b=3, w=1, freq=4)
    assert ahead.index == (16, 17, 18, 19)
    assert ahead.mean[3] == pytest.approx(np.mean([2, 1, 2, 2, 9, 2, 1, 5]))  # 14,15 | 10,11,12 | 6,7,8


def _iso_weeks(first: date, n: int) -> list[tuple[int, int]]:
    out = []
    for i in range(n):
        y, w, _ = (first + timedelta(weeks=i)).isocalendar()
        out.append((y, w))
    return out


def test_week_53_with_calendar_weeks() -> None:
    weeks = _iso_weeks(date.fromisocalendar(2015, 1, 1), 330)
    counts = [100.0 * (y - 2015) + w for y, w in weeks]
    at = weeks.index((2020, 53))
    rows = endemic_channel(counts, b=5, weeks=weeks, range_start=at + 1)
    # 2020-W53 takes W52 of 2019..2016 (no W53 there) and W53 of 2015
    assert rows[0].expected == pytest.approx((452 + 352 + 252 + 152 + 53) / 5)
    next_year = rows[1]
    assert weeks[next_year.index] == (2021, 1)
    assert next_year.expected == pytest.approx((501 + 401 + 301 + 201 + 101) / 5)
    # The lag rule (52 points back) drifts one week after a 53-week year, as R's reference weeks do.
    lagged = endemic_channel(counts, b=5, range_start=next_year.index + 1)
    assert lagged[0].expected != pytest.approx(next_year.expected)
    table = channel_table(counts, year_start=weeks.index((2020, 1)), b=5, weeks=weeks)
    assert table.week[-1] == 53 and len(table.week) == 53


def test_too_few_years_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lower b"):
        endemic_channel([1.0] * 150, b=5)
    with pytest.raises(ValueError, match="lower b"):
        endemic_channel([1.0] * 300, b=5, range_start=200)
    with pytest.raises(ValueError, match="b ≥ 2"):
        endemic_channel(COUNTS, b=1, freq=4)
    with pytest.raises(ValueError, match="quantile"):
        endemic_channel(COUNTS, b=3, freq=4, method="nbquantile", quantile=1.5)
    weeks = _iso_weeks(date.fromisocalendar(2019, 1, 1), 120)
    with pytest.raises(ValueError, match="2020-W08 needs week 8 of 2018"):
        endemic_channel([1.0] * 120, b=2, weeks=weeks, range_start=60)


def test_batch_equals_one_series_at_a_time() -> None:
    rng = np.random.default_rng(8)
    x = rng.negative_binomial(2, 0.4, size=(30, 6 * 52)).astype(float)
    for name in ("meansd", "nbquantile", "bortman"):
        batch = endemic_channel_batch(x, method=name, w=1, range_start=6 * 52 - 50, chunk=7)
        for s in (0, 13, 29):
            one = endemic_channel(x[s], method=name, w=1, range_start=6 * 52 - 50)
            assert list(batch.indices) == [r.index for r in one]
            assert batch.upperbound[s] == pytest.approx([r.upperbound for r in one], rel=1e-12)
            assert batch.expected[s] == pytest.approx([r.expected for r in one], rel=1e-12)
            assert list(batch.alarm[s]) == [r.alarm for r in one]


def test_registered_method_reads_r_names() -> None:
    spec = method("endemic-channel")
    params = Params.parse("endemic-channel", ["b=3", "k=1.5", "method=meansd"])
    rows = spec.run(COUNTS, params, None, 4)
    params.check_all_used()
    assert rows[0].upperbound == pytest.approx(6.0)
    nb = Params.parse("endemic-channel", ["b=3", "method=nbquantile", "quantile=0.75", "w=0"])
    assert spec.run(COUNTS, nb, None, 4)[1].upperbound == _poisson_quantile(0.75, 6.0)
    with pytest.raises(ValueError, match="choose one of"):
        spec.run(COUNTS, Params.parse("endemic-channel", ["method=median"]), None, 4)
    bad = Params.parse("endemic-channel", ["b=3", "alpha=0.05"])
    spec.run(COUNTS, bad, None, 4)
    with pytest.raises(ValueError, match="alpha"):
        bad.check_all_used()


def test_command_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    counts = rng.poisson(4, 6 * 52)
    counts[-1] = 40
    source = tmp_path / "series.csv"
    source.write_text(
        "week,count\n" + "".join(f"{i + 1},{c}\n" for i, c in enumerate(counts)), encoding="utf-8"
    )
    result = CliRunner().invoke(
        surveillance_app,
        ["detect", "--method", "endemic-channel", "--input", str(source), "--param", "range_start=300"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "week,observed,expected,upperbound,alarm"
    expected = endemic_channel(counts.astype(float), range_start=300)
    assert len(lines) == 1 + len(expected) == 14
    last = lines[-1].split(",")
    assert last[0] == "312" and last[1] == "40" and last[4] == "1"
    assert float(last[3]) == pytest.approx(expected[-1].upperbound)
    refused = CliRunner().invoke(
        surveillance_app, ["detect", "--method", "endemic-channel", "--input", str(source), "--param", "b=9"]
    )
    assert refused.exit_code == 2
