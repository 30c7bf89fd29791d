"""A synthetic dengue season with injected outbreaks: each detector's sensitivity, detection delay and false-alarm
rate, and a cross-border cluster the space-time scan must find.

``python -m bench.surveillance_evaluation [--simulations 20] [--communes 40] [--scans 5] [--seed 2026]``

**Detectors.** Each simulation draws 315 weeks (six years and three weeks: Farrington's ``b = 5, w = 3`` needs
``52·5 + 3 = 263`` weeks before the first of the 52 monitored ones) of weekly dengue counts for ``--communes``
communes: a seasonal baseline (the rainy-season peak of southern Viet Nam around epidemiological week 38, a
yearly trend of +3 %), scaled by each commune's population (log-normal around 15,000), with negative-binomial
noise (dispersion θ = 5); then injects outbreaks in a quarter of the communes during the last year, each
starting at a known week and lasting 6 weeks, adding a ramp of extra cases: **large** outbreaks 1, 2, 3, 3, 2, 1
times the commune's expected weekly count (at least 2, 4, 6, 6, 4, 2 cases), **small** ones half that (at least
1, 2, 3, 3, 2, 1). Every detector then monitors the last
52 weeks of every commune, through :func:`senhealth.surveillance.detection.run_plan` (the detectors' batch
variants, the scheduled run's path; each equals the one-series ``MethodSpec.run`` the command line calls, as
``tests/surveillance/test_detection_run.py`` checks), with R's defaults unless the row says otherwise.

Per method:

- **sensitivity**: outbreaks with at least one alarm during their 6 weeks;
- **delay**: weeks from the outbreak's first week to its first alarm (median and mean over the detected ones);
- **false-alarm rate**: alarms in commune-weeks outside any outbreak window, per 100 such weeks (what an
  officer would have to verify for nothing); the weeks just after an outbreak count too (a chart that has not
  come back down, a baseline the outbreak inflated).

A second table applies the scheduled run's default dengue plan as the officer sees it: EARS C2, Farrington
flexible (Noufaily) and the endemic channel (b = 5, w = 1), each week an alarm only with at least 3 cases (the
run's floor for group-B diseases), and "any of the three".

**Space-time scan.** The communes of two neighbouring provinces, Bắc Ninh (24) and Hà Nội (01), 225 in all, at
their packaged centroids (:mod:`senhealth.demo.geography`). (Since 1 July 2025 Viet Nam has no districts: the
administrative border a cluster crosses is now a province border, where each province's own series sees only its
part.) 52 weeks of dengue-like counts (Poisson around population / 100,000 × 1.2 a week, seasonal); in the last 3
weeks a cluster is injected over the commune pair nearest across the border and the communes nearest to them (8
communes, both provinces), adding their expected count + 0.5 cases a week each (Poisson): about
twice the usual, too little for most of the communes' own series. The scan
(:func:`senhealth.surveillance.scan.space_time_permutation_scan`, 999 replications, circles up to 50 % of the
communes, windows of 1–4 weeks) must return a most likely cluster with p < 0.05 holding the injected communes;
the table lists the members found against those injected, per data set (``--scans``), and the same scans on
data without the injection (the p-value should then not be small). EARS C2 on each injected commune's own series
is shown beside it.

Prints Markdown tables and writes them to ``bench/results/surveillance_evaluation.md`` (docs/surveillance-
evaluation.md quotes them).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported: many small matrix products

import argparse
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.__main__ import machine
from senhealth.demo.geography import load_province
from senhealth.surveillance.detection import MethodPlan, run_plan
from senhealth.surveillance.detection.config import NOUFAILY
from senhealth.surveillance.scan import space_time_permutation_scan
from senhealth.surveillance.scan.geometry import distance_matrix

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "surveillance_evaluation.md"
FREQ = 52
WEEKS = 6 * FREQ + 3
"""315: Farrington (b = 5, w = 3) needs 263 weeks before the first of the 52 monitored weeks."""
MONITORED = 52
OUTBREAK_LENGTH = 6
SCENARIOS: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {
    "large": ((1.0, 2.0, 3.0, 3.0, 2.0, 1.0), (2, 4, 6, 6, 4, 2)),
    "small": ((0.5, 1.0, 1.5, 1.5, 1.0, 0.5), (1, 2, 3, 3, 2, 1)),
}
"""Outbreak ramps: extra cases per outbreak week as a multiple of the expected count, and at least so many."""
FLOOR = 3
"""The scheduled run's fewest cases for a signal of a group-B disease (dengue)."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PLANS: list[tuple[str, MethodPlan]] = [
    ("ears-c1", MethodPlan(method="ears-c1")),
    ("ears-c2", MethodPlan(method="ears-c2")),
    ("ears-c3", MethodPlan(method="ears-c3")),
    ("ears-c3 (mode=cdc)", MethodPlan(method="ears-c3", params=("mode=cdc",))),
    ("cusum", MethodPlan(method="cusum")),
    ("cusum (m=glm, rossi)", MethodPlan(method="cusum", params=("m=glm", "trans=rossi"))),
    ("glrnb (Poisson)", MethodPlan(method="glrnb")),
    ("bayes (Bayes 1)", MethodPlan(method="bayes")),
    ("farrington (b=5, w=3)", MethodPlan(method="farrington")),
    ("farrington-flexible (R defaults)", MethodPlan(method="farrington-flexible")),
    ("farrington-flexible (Noufaily 2013)", MethodPlan(method="farrington-flexible", params=NOUFAILY)),
    ("endemic-channel (b=5, mean + 2 SD)", MethodPlan(method="endemic-channel", params=("b=5",))),
    ("endemic-channel (b=5, w=1)", MethodPlan(method="endemic-channel", params=("b=5", "w=1"))),
    (
        "endemic-channel (b=5, w=1, NB q90)",
        MethodPlan(method="endemic-channel", params=("b=5", "w=1", "method=nbquantile")),
    ),
]
"""(row label, plan): every detector with R's defaults, and the settings the scheduled run uses."""
RUN_PLAN = ("ears-c2", "farrington-flexible (Noufaily 2013)", "endemic-channel (b=5, w=1)")
"""The scheduled run's default dengue plan (senhealth.surveillance.detection.config)."""


@dataclass(slots=True)
class Outbreak:
    commune: int
    start: int
    """0-based week index of the first outbreak week."""


@dataclass(slots=True)
class Tally:
    outbreaks: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    quiet_weeks: int = 0
    false_alarms: int = 0
    seconds: float = 0.0


def simulate(
    rng: np.random.Generator, communes: int, ramp: tuple[float, ...], floors: tuple[int, ...]
) -> tuple[FloatArray, list[Outbreak]]:
    weeks = np.arange(WEEKS)
    season = 1.0 + 0.9 * np.cos(2 * math.pi * (weeks % 52 - 38) / 52)
    trend = 1.03 ** (weeks / 52)
    population = rng.lognormal(mean=math.log(15_000), sigma=0.5, size=communes)
    incidence = 4.0 / 100_000  # weekly cases per person at the season's mean
    mean = np.outer(population * incidence, season * trend)
    theta = 5.0
    counts = rng.negative_binomial(theta, theta / (theta + mean)).astype(float)
    outbreaks: list[Outbreak] = []
    for commune in rng.choice(communes, size=max(1, communes // 4), replace=False):
        start = int(rng.integers(WEEKS - MONITORED, WEEKS - OUTBREAK_LENGTH))
        for i, (factor, floor) in enumerate(zip(ramp, floors, strict=True)):
            extra = max(floor, factor * mean[commune, start + i])
            counts[commune, start + i] += rng.poisson(extra)
        outbreaks.append(Outbreak(int(commune), start))
    return counts, outbreaks


def tally(alarm: BoolArray, outbreaks: list[Outbreak], t: Tally) -> None:
    """Add one simulation's alarms (communes × monitored weeks) to ``t``."""
    first = WEEKS - MONITORED
    quiet = np.ones(alarm.shape, dtype=np.bool_)
    for o in outbreaks:
        cols = slice(o.start - first, o.start - first + OUTBREAK_LENGTH)
        quiet[o.commune, cols] = False
        hits = np.flatnonzero(alarm[o.commune, cols])
        t.outbreaks += 1
        if hits.size:
            t.detected += 1
            t.delays.append(int(hits[0]))
    t.quiet_weeks += int(quiet.sum())
    t.false_alarms += int((alarm & quiet).sum())


def row(label: str, t: Tally, *, timed: bool = True) -> str:
    sens = t.detected / t.outbreaks if t.outbreaks else float("nan")
    median = statistics.median(t.delays) if t.delays else float("nan")
    mean = statistics.fmean(t.delays) if t.delays else float("nan")
    far = 100 * t.false_alarms / t.quiet_weeks if t.quiet_weeks else float("nan")
    seconds = f" {t.seconds:.1f} |" if timed else ""
    return f"| {label} | {sens:.0%} ({t.detected}/{t.outbreaks}) | {median:.1f} | {mean:.2f} | {far:.2f} |{seconds}"


def evaluate_detectors(simulations: int, communes: int, seed: int, scenario: str) -> list[str]:
    ramp, floors = SCENARIOS[scenario]
    tallies = {label: Tally() for label, _ in PLANS}
    run_tallies = {label: Tally() for label in (*RUN_PLAN, "any of the three")}
    rng = np.random.default_rng(seed)
    first = WEEKS - MONITORED
    for _ in range(simulations):
        counts, outbreaks = simulate(rng, communes, ramp, floors)
        observed = counts[:, first:]
        floored: dict[str, BoolArray] = {}
        for label, plan in PLANS:
            t0 = time.perf_counter()
            alarm = run_plan(plan, counts, first, FREQ).alarm
            tallies[label].seconds += time.perf_counter() - t0
            tally(alarm, outbreaks, tallies[label])
            if label in RUN_PLAN:
                floored[label] = alarm & (observed >= FLOOR)
                tally(floored[label], outbreaks, run_tallies[label])
        union = np.logical_or.reduce([floored[label] for label in RUN_PLAN])
        tally(union, outbreaks, run_tallies["any of the three"])
    header = [
        "| method | sensitivity | median delay (weeks) | mean delay | false alarms per 100 quiet weeks | run time s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines = [
        f"{simulations} simulations × {communes} communes × {WEEKS} weeks (6 years + 3 weeks; seed {seed}); the "
        f"last {MONITORED} weeks monitored; {max(1, communes // 4)} outbreaks of {OUTBREAK_LENGTH} weeks per "
        f"simulation, extra cases {', '.join(f'{r:g}' for r in ramp)} × the expected count (at least "
        f"{', '.join(str(f) for f in floors)}).",
        "",
        *header,
        *(row(label, tallies[label]) for label, _ in PLANS),
        "",
        f"The scheduled run's default dengue plan, a week an alarm only with at least {FLOOR} cases:",
        "",
        header[0].removesuffix(" run time s |"),
        header[1].removesuffix("---:|"),
        *(row(label, run_tallies[label], timed=False) for label in (*RUN_PLAN, "any of the three")),
    ]
    return lines


# -- the space-time scan: a cluster across a province border ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Region:
    codes: list[str]
    province: list[str]
    centroids: dict[str, tuple[float, float]]
    population: FloatArray
    cluster: list[int]
    """Indices of the injected communes."""


def region() -> Region:
    provinces = [load_province("24"), load_province("01")]
    communes = [(c, p.code) for p in provinces for c in p.communes]
    codes = [c.code for c, _ in communes]
    lon = np.array([c.longitude for c, _ in communes])
    lat = np.array([c.latitude for c, _ in communes])
    d = distance_matrix(lon, lat)
    side = np.array([p == "24" for _, p in communes])
    across = np.where(side[:, None] != side[None, :], d, np.inf)
    a, b = np.unravel_index(int(np.argmin(across)), across.shape)
    # the 8 communes nearest to the midpoint of the closest pair across the border
    mid_lon, mid_lat = (lon[a] + lon[b]) / 2, (lat[a] + lat[b]) / 2
    to_mid = distance_matrix(np.append(mid_lon, lon), np.append(mid_lat, lat))[0, 1:]
    cluster = [int(i) for i in np.argsort(to_mid, kind="stable")[:8]]
    population = np.array([max(c.population, 5_000) for c, _ in communes], dtype=np.float64)
    return Region(
        codes=codes,
        province=[p for _, p in communes],
        centroids={c.code: (c.longitude, c.latitude) for c, _ in communes},
        population=population,
        cluster=cluster,
    )


def scan_data(r: Region, rng: np.random.Generator, inject: bool) -> FloatArray:
    weeks = np.arange(52)
    season = 1.0 + 0.8 * np.cos(2 * math.pi * (weeks - 38) / 52)
    mean = np.outer(r.population / 100_000 * 1.2, season)
    counts = rng.poisson(mean).astype(np.float64)
    if inject:
        for j in range(49, 52):
            counts[r.cluster, j] += rng.poisson(mean[r.cluster, j] + 0.5)
    return counts


def evaluate_scan(scans: int, seed: int) -> list[str]:
    r = region()
    injected = {r.codes[i] for i in r.cluster}
    sides = sorted({r.province[i] for i in r.cluster})
    rng = np.random.default_rng(seed + 1)
    lines = [
        f"{len(r.codes)} communes of Bắc Ninh (24) and Hà Nội (01); cluster injected in weeks 50–52 over "
        f"{len(injected)} communes ({', '.join(sorted(injected))}; provinces {' and '.join(sides)}).",
        "",
        "| data set | injected | p | most likely cluster: centre + members | window (weeks) | injected found | "
        "others included | O/E | EARS C2 alarms on the injected communes' own series | seconds |",
        "|---|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    plan = MethodPlan(method="ears-c2")
    for k in range(scans):
        for inject in (True, False):
            counts = scan_data(r, rng, inject)
            rows = np.argwhere(counts > 0)
            t0 = time.perf_counter()
            result = space_time_permutation_scan(
                [r.codes[i] for i in rows[:, 0]],
                [int(t) for t in rows[:, 1]],
                [int(counts[i, t]) for i, t in rows],
                r.centroids,
                replications=999,
                seed=k,
            )
            seconds = time.perf_counter() - t0
            ears = run_plan(plan, counts[r.cluster], 49, FREQ).alarm
            ears_text = f"{int(ears.any(axis=1).sum())}/{len(r.cluster)} communes"
            top = result.clusters[0] if result.clusters else None
            if top is None:
                lines.append(f"| {k + 1} | {'yes' if inject else 'no'} | – | none | – | 0 | 0 | – | {ears_text} | "
                             f"{seconds:.1f} |")  # fmt: skip
                continue
            members = set(top.locations)
            found = len(members & injected)
            lines.append(
                f"| {k + 1} | {'yes' if inject else 'no'} | {top.p_value:.3f} | {top.centre} + "
                f"{len(members) - 1} | {top.start + 1}–{top.end + 1} | {found}/{len(injected)} | "
                f"{len(members - injected)} | {top.observed_over_expected:.2f} | {ears_text} | {seconds:.1f} |"
            )
    return lines


def run(simulations: int, communes: int, scans: int, seed: int) -> str:
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    large = evaluate_detectors(simulations, communes, seed, "large")
    small = evaluate_detectors(simulations, communes, seed, "small")
    scan = evaluate_scan(scans, seed)
    lines = [
        "# Detectors on a synthetic dengue season (bench/surveillance_evaluation.py)",
        "",
        f"Machine: {machine()}, numpy {np.__version__}; load average before the run: {load_before}; "
        f"whole run {time.perf_counter() - t0:.0f} s.",
        "",
        "## Large injected outbreaks, per detector",
        "",
        *large,
        "",
        "## Small injected outbreaks, per detector",
        "",
        *small,
        "",
        "## A cluster across a province border, and the space-time permutation scan",
        "",
        *scan,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--simulations", type=int, default=20)
    parser.add_argument("--communes", type=int, default=40)
    parser.add_argument(
        "--scans", type=int, default=5, help="data sets for the scan (each also without injection)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    text = run(args.simulations, args.communes, args.scans, args.seed)
    print(text)
    OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
