"""Bayes 1/2/3 against R's ``algo.bayes1/2/3`` and ``algo.bayes`` (bounds within 1e-6 relative, alarms equal)."""

from __future__ import annotations

import pytest
from r_reference_support import r_number, series_and_results

from senhealth.surveillance.detectors import Detection, Params, method
from senhealth.surveillance.detectors.bayes import PRESETS, bayes

SERIES, RESULTS = series_and_results("bayes")


def _run(counts: list[float], variant: str) -> list[Detection]:
    """``bayes1;range_start=...`` (a preset) or ``b=1;w=3;...``: R's names, read through Params."""
    items = variant.split(";")
    if items[0] in PRESETS:
        b, w, act_y = PRESETS[items[0]]
        items = [f"b={b}", f"w={w}", f"actY={'TRUE' if act_y else 'FALSE'}", *items[1:]]
    params = Params.parse("bayes", items)
    rows = method("bayes").run(counts, params, params.optional_integer("range_start"), 52)
    params.check_all_used()
    return rows


def test_reference_covers_the_presets() -> None:
    assert len(SERIES) >= 5 and "salmonella.agona" in SERIES
    assert {v.split(";")[0] for _, v in RESULTS} >= {"bayes1", "bayes2", "bayes3"}


@pytest.mark.parametrize("key", sorted(RESULTS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_r_parity(key: tuple[str, str]) -> None:
    series, variant = key
    expected = RESULTS[key]
    rows = _run(SERIES[series], variant)
    assert [r.index + 1 for r in rows] == [int(e["week"]) for e in expected]
    for got, want in zip(rows, expected, strict=True):
        bound = r_number(want["upperbound"])
        assert bound is not None and got.upperbound == pytest.approx(bound, rel=1e-6), f"week {want['week']}"
        assert got.alarm == (want["alarm"] == "1"), f"week {want['week']}"


def test_by_hand_and_errors() -> None:
    # six zeros before: NB(size 0.5, prob 6/7); P(0) = (6/7)^0.5 = 0.926 < 0.95 <= P(<=1)
    rows = bayes([0, 0, 0, 0, 0, 0, 1, 2], range_start=7)
    assert [r.upperbound for r in rows] == [1, 1] and [r.alarm for r in rows] == [False, True]
    assert rows[0].expected == 0
    with pytest.raises(ValueError, match="too short"):
        bayes([1.0] * 60, b=1, range_start=10)
    with pytest.raises(ValueError, match="no reference values"):
        bayes([1.0] * 60, b=0, act_y=False)
    with pytest.raises(ValueError, match="actY"):
        method("bayes").run([1.0] * 20, Params.parse("bayes", ["actY=maybe"]), None, 52)


def test_cli_matches_r(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from senhealth.cli import app

    y = SERIES["salmonella.agona"]
    path = tmp_path / "agona.csv"
    path.write_text(
        "week,count\n" + "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    key = next(k for k in RESULTS if k == ("salmonella.agona", k[1]) and k[1].startswith("bayes3"))
    start = key[1].rsplit("=", 1)[1]
    result = CliRunner().invoke(
        app,
        [
            "surveillance",
            "detect",
            "--method",
            "bayes",
            "--input",
            str(path),
            "--param",
            "b=2",
            "--param",
            "w=4",
            "--param",
            "actY=FALSE",
            "--param",
            f"range_start={start}",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()[1:]
    assert [line.split(",")[3] for line in lines] == [row["upperbound"] for row in RESULTS[key]]
    assert [line.split(",")[4] for line in lines] == [row["alarm"] for row in RESULTS[key]]
