"""The prospective space-time permutation scan over every commune: ``python -m bench.surveillance_scan``.

Issue 8's budget: the scan for one disease over all **3,321 communes** with **999 replications** in **≤ 5
minutes** on the development machine.

Data (generated beforehand, not timed): 52 weeks of a dengue-like disease in the 3,321 communes of the 2025
units; each commune's centroid is the vertex mean of the outer ring of its (largest) polygon in
``../shared/data/geo/communes-2025.geojson``; weekly counts are negative binomial (θ = 2) around a mean of
``population / 100,000 × 1.2`` cases a week times a seasonal cosine (peak in week 38, amplitude 0.8) — about
70,000 cases a year (the GeoJSON's populations) — and one cluster is planted in the last 3 weeks over a commune and its 7 nearest
neighbours (three times their expected counts, at least 3 cases a week each), so the run also shows that the
scan finds it.

Timed: :func:`senhealth.surveillance.scan.space_time_permutation_scan` with its defaults (circles up to 50 % of
the communes, windows of 1–4 weeks ending at the latest week, 999 replications, seed 1), set-up included
(distances, circles). Prints a Markdown table and writes it to ``bench/results/surveillance_scan.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported: the scan threads itself

import argparse
import json
import math
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.__main__ import machine
from senhealth.surveillance.scan import space_time_permutation_scan
from senhealth.surveillance.scan.geometry import distance_matrix

ROOT = Path(__file__).resolve().parents[1]
GEOJSON = ROOT / ".." / "shared" / "data" / "geo" / "communes-2025.geojson"
OUT = ROOT / "bench" / "results" / "surveillance_scan.md"
WEEKS = 52
CLUSTER_WEEKS = 3
CLUSTER_SIZE = 8
BUDGET_S = 300.0


def outer_ring_mean(geometry: dict[str, Any]) -> tuple[float, float]:
    """(longitude, latitude): the mean of the vertices of the outer ring of the largest polygon (by vertices)."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    ring = max((poly[0] for poly in polygons), key=len)
    points = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    return (
        float(sum(p[0] for p in points) / len(points)),
        float(sum(p[1] for p in points) / len(points)),
    )


def communes() -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """Centroids (longitude, latitude) and populations of the 3,321 communes."""
    features = json.loads(GEOJSON.read_text(encoding="utf-8"))["features"]
    centroids = {str(f["properties"]["code"]): outer_ring_mean(f["geometry"]) for f in features}
    population = {
        str(f["properties"]["code"]): int(f["properties"].get("population") or 10_000) for f in features
    }
    return dict(sorted(centroids.items())), population


def simulate(
    centroids: dict[str, tuple[float, float]], population: dict[str, int], seed: int
) -> tuple[list[str], list[int], list[int], list[str]]:
    """A long table (commune, week, count) and the planted cluster's members."""
    rng = np.random.default_rng(seed)
    codes = list(centroids)
    pop = np.array([population[c] for c in codes], dtype=np.float64)
    weeks = np.arange(WEEKS)
    season = 1 + 0.8 * np.cos(2 * math.pi * (weeks - 38) / 52)
    mean = np.outer(pop / 100_000 * 1.2, season)
    theta = 2.0
    counts = rng.negative_binomial(theta, theta / (theta + mean)).astype(np.int64)
    lon = np.array([centroids[c][0] for c in codes])
    lat = np.array([centroids[c][1] for c in codes])
    centre = int(rng.integers(len(codes)))
    nearest = np.argsort(_distances(lon, lat, centre), kind="stable")
    members = nearest[:CLUSTER_SIZE]
    for j in range(WEEKS - CLUSTER_WEEKS, WEEKS):
        extra = np.maximum(3, np.round(2 * mean[members, j])).astype(np.int64)
        counts[members, j] += rng.poisson(extra)
    rows = np.argwhere(counts > 0)
    locations = [codes[i] for i in rows[:, 0]]
    times = [int(t) for t in rows[:, 1]]
    values = [int(counts[i, t]) for i, t in rows]
    return locations, times, values, [codes[i] for i in members]


def _distances(lon: np.ndarray, lat: np.ndarray, centre: int) -> np.ndarray:
    d: np.ndarray = distance_matrix(np.append(lon[centre], lon), np.append(lat[centre], lat))[0, 1:]
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replications", type=int, default=999)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    centroids, population = communes()
    locations, times, values, planted = simulate(centroids, population, args.seed)
    recent = sum(v for t, v in zip(times, values, strict=True) if t >= WEEKS - 4)
    recent_communes = len({loc for loc, t in zip(locations, times, strict=True) if t >= WEEKS - 4})
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = space_time_permutation_scan(
        locations, times, values, centroids, replications=args.replications, seed=1
    )
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    top = result.clusters[0] if result.clusters else None
    found = set(top.locations) if top else set()
    lines = [
        "# Space-time permutation scan over every commune (bench/surveillance_scan.py)",
        "",
        f"Machine: {machine()}, numpy {np.__version__}",
        "",
        f"Load average before the run: {load_before}; after: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "",
        f"One disease, {len(centroids):,} communes (centroids: vertex mean of the outer ring, 2025 boundaries), "
        f"{WEEKS} weeks, {result.total_cases:,} cases ({recent:,} in the last 4 weeks, in {recent_communes:,} "
        f"communes); a cluster planted over {CLUSTER_SIZE} neighbouring communes in the last {CLUSTER_WEEKS} "
        "weeks. Defaults: circles up to 50 % of the communes, windows of 1–4 weeks, seed 1.",
        "",
        "| replications | wall s | CPU s | peak memory MB | clusters reported | most likely cluster | "
        "planted members found | LLR | p |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        f"| {args.replications} | {wall:.1f} | {cpu:.1f} | {peak_mb:,.0f} | {len(result.clusters)} | "
        + (
            f"{top.centre} + {len(top.locations) - 1} communes, weeks {top.start + 1}–{top.end + 1} | "
            f"{len(found & set(planted))}/{len(planted)} | {top.llr:.1f} | {top.p_value:.3f} |"
            if top
            else "none | 0 | – | – |"
        ),
        "",
        f"**{wall:.0f} s** wall ({'within' if wall <= BUDGET_S else 'OVER'} the {BUDGET_S:.0f} s budget).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
