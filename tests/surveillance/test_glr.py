"""GLR detectors against R's ``glrnb`` (issue 8: bounds within 1e-6 relative, alarms equal, every week)."""

from __future__ import annotations

import numpy as np
import pytest
from r_reference_support import r_number, series_and_results
from typer.testing import CliRunner

from senhealth.surveillance.detectors import Detection, Params, method
from senhealth.surveillance.detectors.glr import glrnb, glrpois_batch

SERIES, RESULTS = series_and_results("glr")


def _run(counts: list[float], variant: str) -> list[Detection]:
    """A variant is ``NAME=VALUE;...`` with R's names, read through Params as the command line does."""
    params = Params.parse("glrnb", variant.split(";"))
    rows = method("glrnb").run(counts, params, params.optional_integer("range_start"), 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_brief() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    variants = {v.rsplit(";range_start", 1)[0] for _, v in RESULTS}
    assert {
        "alpha=0;ret=value",
        "alpha=0;ret=cases",
        "alpha=0.2;ret=value",
        "alpha=0.2;ret=cases",
    } <= variants


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    expected = RESULTS[key]
    rows = _run(SERIES[series], variant)
    assert [r.index + 1 for r in rows] == [int(e["week"]) for e in expected]
    for got, want in zip(rows, expected, strict=True):
        bound = r_number(want["upperbound"])
        assert bound is not None and got.upperbound is not None
        assert got.upperbound == pytest.approx(bound, rel=1e-6, abs=1e-8), f"week {want['week']}"
        assert got.alarm == (want["alarm"] == "1"), f"week {want['week']}"


def test_alarms_and_restart() -> None:
    rows = _run(SERIES["salmonella.agona"], "alpha=0;ret=value;range_start=209")
    alarms = [r for r in rows if r.alarm]
    assert 0 < len(alarms) < len(rows)
    after = rows.index(alarms[0]) + 1
    # the chart restarts after an alarm: the next value only sees the new segment
    bound = rows[after].upperbound
    assert bound is not None and bound < 5


def test_poisson_by_hand() -> None:
    # one point, mu0 = 2, x = 9: kappa = log(4.5), GLR = 9 log 4.5 - 7
    rows = glrnb([9.0], range_start=1, mu0=2.0)
    assert rows[0].upperbound == pytest.approx(9 * np.log(4.5) - 7, rel=1e-12) and rows[0].alarm
    cases = glrnb([0.0], range_start=1, mu0=2.0, ret="cases")[0].upperbound
    assert cases is not None

    def glr(x: float) -> float:
        return float(x * np.log(x / 2) - (x - 2))

    assert glr(cases) >= 5 > glr(cases - 1)


def test_batch_equals_single_series() -> None:
    rng = np.random.default_rng(8)
    y = rng.poisson(5.0, size=(30, 156)).astype(float)
    y[3, 140:146] += 15  # an outbreak: alarms and restarts
    batch = glrpois_batch(y, range_start=105)
    assert batch.alarm[3].any()
    for i in (0, 3, 29):
        one = glrnb(list(y[i]), range_start=105)
        assert [r.alarm for r in one] == list(batch.alarm[i])
        assert np.allclose(
            [np.nan if r.upperbound is None else r.upperbound for r in one],
            batch.upperbound[i],
            rtol=1e-9,
            atol=1e-12,
        )


def test_errors() -> None:
    with pytest.raises(ValueError, match="theta=1"):
        glrnb([1.0] * 60, theta=1)
    with pytest.raises(ValueError, match="change"):
        method("glrnb").run([1.0] * 60, Params.parse("glrnb", ["change=epi"]), None, 52)
    with pytest.raises(ValueError, match="before the monitored range"):
        glrnb([1.0] * 10, range_start=1)
    with pytest.raises(ValueError, match="alpha"):
        glrnb([1.0] * 60, alpha=-1)


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from senhealth.cli import app

    y = SERIES["ha"]
    path = tmp_path / "ha.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    key = next(k for k in RESULTS if k[0] == "ha" and k[1].startswith("alpha=0;ret=cases"))
    start = key[1].rsplit("=", 1)[1]
    result = CliRunner().invoke(
        app,
        [
            "surveillance",
            "detect",
            "--method",
            "glrnb",
            "--input",
            str(path),
            "--param",
            "ret=cases",
            "--param",
            f"range_start={start}",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()[1:]
    assert len(lines) == len(RESULTS[key])
    for line, row in zip(lines, RESULTS[key], strict=True):
        week, _, _, bound, alarm = line.split(",")
        assert week == row["week"] and alarm == row["alarm"]
        assert float(bound) == pytest.approx(float(row["upperbound"]), rel=1e-6, abs=1e-8)
