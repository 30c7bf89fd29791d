"""Outbreak detectors at the scale of the country: ``python -m bench.surveillance_detectors``.

Issue 8's budget: EARS C1–C3, CUSUM, GLR and the endemic channel over **3,321 communes × 20 diseases** with six
years of weekly data, monitoring the last 52 weeks, plus Farrington flexible over **34 provinces × 20
diseases**, in **≤ 60 s** in all on the development machine.

Data (generated beforehand, not timed): for every commune (the 3,321 of the 2025 units, with their provinces,
read from ``../shared/data/geo/communes-2025.geojson``) and each of 20 synthetic diseases, weekly counts drawn
from a negative binomial (dispersion θ = 2) around a seasonal mean: a disease-specific level (from 0.02 to 4
cases a week per commune, log-uniform: rare diseases to dengue-like ones), a commune factor (log-normal, σ =
0.6), a yearly cosine peaking at a disease-specific week (amplitude 0 to 0.8) and a yearly trend of −5 % to
+5 %. Province series are the sums of their communes.

The series are **315 weeks** long, six years and three weeks (6·52 + 3): Farrington flexible with its defaults
``b = 5, w = 3`` needs ``52·b + w = 263`` weeks before the first monitored week, so monitoring the last 52 weeks
needs 263 + 52 = 315. The other methods get the same 315 weeks.

Each method runs through its batch function (series × weeks in one numpy computation), the way the scheduled
detection run (:mod:`senhealth.surveillance.detection`) calls them, with R's defaults (range: the last 52
weeks):

- ``ears-c1``, ``ears-c2``, ``ears-c3``: :func:`~senhealth.surveillance.detectors.ears.ears_batch`;
- ``cusum``: :func:`~senhealth.surveillance.detectors.cusum.cusum_batch` (``k = 1.04, h = 2.26``, ``m`` the mean
  of the 263 weeks before, standard transform);
- ``glrnb`` (Poisson): :func:`~senhealth.surveillance.detectors.glr.glrpois_batch` with R's default ``mu0`` (a
  Poisson GLM with one harmonic fitted per series on the weeks before the range);
- ``endemic-channel``: :func:`~senhealth.surveillance.detectors.endemic_channel.endemic_channel_batch`
  (``b = 5, w = 0``, mean + 2 SD);
- ``farrington-flexible``: :func:`~senhealth.surveillance.detectors.farrington_flexible.farrington_flexible_batch`
  with the Noufaily et al. (2013) settings (``b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
  pThresholdTrend = 1, thresholdMethod = nbPlugin``) over the 680 province series.

Each method is timed once (``--repeat`` N keeps the best of N). BLAS is pinned to one thread
(``OPENBLAS_NUM_THREADS=1``, set before numpy is imported): the batches are many small matrix products, where
threads cost more than they give on a shared 2-core machine. Prints a Markdown table and writes it to
``bench/results/surveillance_detectors.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (see the docstring)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.__main__ import machine
from senhealth.surveillance.detectors.cusum import cusum_batch
from senhealth.surveillance.detectors.ears import ears_batch
from senhealth.surveillance.detectors.endemic_channel import endemic_channel_batch
from senhealth.surveillance.detectors.farrington_flexible import farrington_flexible_batch
from senhealth.surveillance.detectors.glr import glrpois_batch

ROOT = Path(__file__).resolve().parents[1]
GEOJSON = ROOT / ".." / "shared" / "data" / "geo" / "communes-2025.geojson"
OUT = ROOT / "bench" / "results" / "surveillance_detectors.md"
FREQ = 52
WEEKS = 6 * FREQ + 3
"""315: Farrington flexible (b = 5, w = 3) needs 52·5 + 3 = 263 weeks before the first of the 52 monitored."""
MONITORED = 52
DISEASES = 20
BUDGET_S = 60.0
NOUFAILY = {
    "b": 5,
    "w": 3,
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "p_threshold_trend": 1.0,
    "threshold_method": "nbPlugin",
}

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    settings: str
    series: int
    seconds: float
    alarms: int
    cells: int


def communes() -> tuple[list[str], list[str]]:
    """(commune codes, their province codes) of the 2025 units, from the GeoJSON."""
    features = json.loads(GEOJSON.read_text(encoding="utf-8"))["features"]
    rows = sorted((str(f["properties"]["code"]), str(f["properties"]["province_code"])) for f in features)
    return [c for c, _ in rows], [p for _, p in rows]


def simulate(n_communes: int, seed: int) -> FloatArray:
    """Counts of shape (diseases × communes, weeks): see the module docstring."""
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS, dtype=np.float64)
    commune_factor = rng.lognormal(0.0, 0.6, n_communes)
    out = np.empty((DISEASES * n_communes, WEEKS))
    theta = 2.0
    for d in range(DISEASES):
        level = math.exp(rng.uniform(math.log(0.02), math.log(4.0)))
        amplitude = rng.uniform(0.0, 0.8)
        peak = rng.integers(0, FREQ)
        trend = rng.uniform(-0.05, 0.05)
        season = (1 + amplitude * np.cos(2 * math.pi * (t - peak) / FREQ)) * (1 + trend) ** (t / FREQ)
        mean = np.outer(level * commune_factor, season)
        out[d * n_communes : (d + 1) * n_communes] = rng.negative_binomial(theta, theta / (theta + mean))
    return out


def province_sums(counts: FloatArray, provinces: list[str]) -> FloatArray:
    """Per disease, the sums over each province's communes: (diseases × provinces, weeks)."""
    codes = sorted(set(provinces))
    index = np.array([codes.index(p) for p in provinces])
    n_communes = len(provinces)
    out = np.zeros((DISEASES * len(codes), counts.shape[1]))
    for d in range(DISEASES):
        block = counts[d * n_communes : (d + 1) * n_communes]
        summed = np.zeros((len(codes), counts.shape[1]))
        np.add.at(summed, index, block)
        out[d * len(codes) : (d + 1) * len(codes)] = summed
    return out


def timed(
    method: str,
    settings: str,
    counts: FloatArray,
    run: Callable[[FloatArray], npt.NDArray[np.bool_]],
    repeat: int,
) -> Row:
    best = math.inf
    alarms = np.zeros((0, 0), dtype=np.bool_)
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        alarms = run(counts)
        best = min(best, time.perf_counter() - t0)
    return Row(method, settings, counts.shape[0], best, int(alarms.sum()), int(alarms.size))


def bench(repeat: int, seed: int) -> tuple[list[Row], int, int]:
    codes, provinces = communes()
    counts = simulate(len(codes), seed)
    by_province = province_sums(counts, provinces)
    start = WEEKS - MONITORED + 1  # 1-based, R's range
    rows = [
        timed(
            f"ears-{m.lower()}",
            "alpha " + ("0.025" if m == "C3" else "0.001") + ", baseline 7",
            counts,
            lambda c, m=m: ears_batch(c, m, range_start=start).alarm,  # type: ignore[misc]
            repeat,
        )
        for m in ("C1", "C2", "C3")
    ]
    rows.append(
        timed(
            "cusum",
            "k 1.04, h 2.26, m = mean before, standard",
            counts,
            lambda c: cusum_batch(c, range_start=start).alarm,
            repeat,
        )
    )
    rows.append(
        timed(
            "glrnb (Poisson)",
            "c.ARL 5, mu0 = R's GLM (1 harmonic)",
            counts,
            lambda c: glrpois_batch(c, range_start=start).alarm,
            repeat,
        )
    )
    rows.append(
        timed(
            "endemic-channel",
            "b 5, w 0, mean + 2 SD",
            counts,
            lambda c: endemic_channel_batch(c, range_start=start).alarm,
            repeat,
        )
    )
    rows.append(
        timed(
            "farrington-flexible",
            "Noufaily 2013: b 5, w 3, noPeriods 10, pastWeeksNotIncluded 26, nbPlugin",
            by_province,
            lambda c: farrington_flexible_batch(c, range_start=start, **NOUFAILY).alarm,  # type: ignore[arg-type]
            repeat,
        )
    )
    return rows, len(codes), len(set(provinces))


def table(rows: list[Row], n_communes: int, n_provinces: int, load_before: str, repeat: int) -> str:
    total = sum(r.seconds for r in rows)
    lines = [
        "# Outbreak detectors at national scale (bench/surveillance_detectors.py)",
        "",
        f"Machine: {machine()}, numpy {np.__version__}, BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}",
        "",
        f"Load average before the run: {load_before}; after: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "",
        f"{n_communes:,} communes × {DISEASES} diseases = {n_communes * DISEASES:,} series, and {n_provinces} "
        f"provinces × {DISEASES} diseases = {n_provinces * DISEASES:,} province series for Farrington flexible; "
        f"{WEEKS} weekly counts each (6 years + 3 weeks: Farrington flexible's b = 5, w = 3 needs 263 weeks "
        f"before the first monitored one); the last {MONITORED} weeks monitored; synthetic negative-binomial "
        f"seasonal counts generated beforehand (not timed). Time: "
        + ("one run" if repeat == 1 else f"best of {repeat} runs")
        + " per method.",
        "",
        "| method | settings | series | weeks monitored | seconds | series per second | alarms (% of monitored weeks) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        share = 100 * r.alarms / r.cells if r.cells else 0.0
        lines.append(
            f"| {r.method} | {r.settings} | {r.series:,} | {MONITORED} | {r.seconds:.2f} | "
            f"{r.series / r.seconds:,.0f} | {r.alarms:,} ({share:.2f} %) |"
        )
    verdict = "within" if total <= BUDGET_S else "OVER"
    lines += ["", f"**Total: {total:.1f} s** ({verdict} the {BUDGET_S:.0f} s budget)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per method, the best kept (default 1)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, n_communes, n_provinces = bench(args.repeat, args.seed)
    text = table(rows, n_communes, n_provinces, load_before, args.repeat)
    print(text)
    OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
