"""The prospective space-time permutation scan statistic: clusters of cases that cross commune borders.

Kulldorff M, Heffernan R, Hartman J, Assunção R, Mostashari F. *A space-time permutation scan statistic for
disease outbreak detection.* PLoS Med 2005;2(3):e59, https://doi.org/10.1371/journal.pmed.0020059, as SaTScan
(https://www.satscan.org, user guide: "Space-Time Permutation Model") computes it:

- cases ``c_zd`` by location z (a commune) and time d (a day or week); ``C`` all cases. Expected counts from the
  marginals only (no population needed): ``μ_zd = C_z · C_d / C``;
- cylinders: a circle (a centre location and its k − 1 nearest neighbours by centroid distance, up to
  ``max_share`` of all locations and optionally ``max_radius_km``) × a time window ending at the latest time
  (prospective), 1..``max_window`` time points long;
- each cylinder A scores the Poisson generalised log-likelihood ratio, for an excess only (``c_A > μ_A``):
  ``LLR = c_A·log(c_A/μ_A) + (C − c_A)·log((C − c_A)/(C − μ_A))``;
- significance by Monte Carlo: the times of the cases are permuted (both marginals kept), ``replications``
  times (999, seeded); a cluster's ``p = (1 + #{replications whose largest LLR ≥ its LLR}) / (R + 1)``; the
  recurrence interval (prospective surveillance) is ``1/p`` time points: with one analysis per week, a cluster
  this strong arises by chance once in ``1/p`` weeks;
- the most likely cluster is the cylinder with the largest LLR; secondary clusters are the best cylinder of each
  other centre, in decreasing LLR, keeping only those sharing no location with a cluster already reported
  (SaTScan's "no geographical overlap"), each with its own p-value against the same replications.

Written with numpy by hand: no maintained Python package implements this scan (SaTScan itself is closed
software). Two exact shortcuts make 3,321 communes × 999 replications fast:

1. the expected counts ``μ_A`` depend on the marginals only, which the permutation keeps, so everything that
   depends on ``μ_A`` (its logarithms) is computed once; the replications then need, per cylinder, one table
   look-up ``X(c) = c·log c + (C − c)·log(C − c)`` and one multiply-add:
   ``LLR = X(c_A) − c_A·(log μ_A − log(C − μ_A)) − C·log(C − μ_A)``;
2. a prospective window only sees the cases of the last ``max_window`` time points, so a replication draws
   just those: permuting the times is the same as drawing, per time point from the newest back, which cases
   take it (multivariate hypergeometric draws over the locations), done for the last ``max_window`` points.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.scan.geometry import distance_matrix, neighbour_order

__all__ = ["Cluster", "ScanResult", "llr", "permute_times", "space_time_permutation_scan"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = 16
"""Circle sizes per block when pruning the replications (see :func:`_max_llr`)."""
_LLR_TOLERANCE = 1e-9
"""Relative tolerance when comparing a replication's LLR with an observed one (equal up to rounding counts)."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """One space-time cluster: the circle's locations over a window of the latest time points."""

    centre: str
    locations: tuple[str, ...]
    """The members, nearest to the centre first (the centre itself first)."""
    start: int
    """First time index of the window (inclusive)."""
    end: int
    """Last time index of the window: the latest time (prospective)."""
    observed: int
    expected: float
    relative_risk: float
    """``(c/μ) / ((C − c)/(C − μ))``: the risk inside over the risk outside, as SaTScan reports it."""
    observed_over_expected: float
    llr: float
    p_value: float
    recurrence_interval: float
    """``1/p`` time points (weeks for a weekly analysis)."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    clusters: tuple[Cluster, ...]
    """Most likely cluster first, then secondary clusters sharing no location with one before, by LLR."""
    total_cases: int
    replications: int
    null_llr: tuple[float, ...]
    """The largest LLR of each replication (0 where no cylinder has an excess)."""


def llr(observed: float, expected: float, total: float) -> float:
    """The Poisson generalised log-likelihood ratio of one cylinder, 0 unless ``observed > expected``."""
    if observed <= expected:
        return 0.0
    inside = observed * math.log(observed / expected)
    rest = total - observed
    outside = rest * math.log(rest / (total - expected)) if rest > 0 else 0.0
    return inside + outside


def _draw_recent(
    location_totals: IntArray, time_totals: Sequence[int], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Cases per location at each of the given time points (newest first) after a random permutation of times.

    Assigning the times at random to the cases is drawing, for the newest time point, which ``time_totals[0]``
    cases take it (a multivariate hypergeometric draw over the locations' remaining cases), then the next...
    """
    remaining = location_totals.astype(np.int64).copy()
    out = np.zeros((len(location_totals), len(time_totals)), dtype=np.int64)
    for j, total in enumerate(time_totals):
        if total:
            drawn = rng.multivariate_hypergeometric(remaining, int(total), method="marginals")
            out[:, j] = drawn
            remaining -= drawn
    return out


def permute_times(counts: npt.ArrayLike, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """One random permutation of the cases' times: a locations × times table with both marginals kept."""
    c = np.asarray(counts, dtype=np.int64)
    newest_first = _draw_recent(c.sum(axis=1), [int(v) for v in c.sum(axis=0)[::-1]], rng)
    return np.ascontiguousarray(newest_first[:, ::-1])


@dataclass(slots=True)
class _Cylinders:
    """What does not change between replications: the circles, their case totals, the log terms of μ."""

    order: npt.NDArray[np.int32]
    """(centres × k): members of each circle, nearest first (padded to whole blocks)."""
    total: int
    window_totals: IntArray
    """Cases in the last ``win + 1`` time points, win = 0..L − 1."""
    cases: FloatArray
    """(centres × k): all cases of the circle's members over the study period; +inf where not allowed."""
    xlogx: FloatArray
    """``X(c) = c·log c + (C − c)·log(C − c)``, c = 0..(cases in the longest window)."""
    block: int
    """Circles are cut into blocks of this many consecutive sizes k."""
    blocks: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]]
    """Per window, (centres × blocks): μ, slope and offset (:func:`_terms`) at the first and last k of a block."""


def _terms(mu: FloatArray, total: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(μ, ``log μ − log(C − μ)``, ``C·log(C − μ)``), with μ = +inf where no excess is possible (μ ≤ 0, μ ≥ C).

    ``LLR = X(c) − c·slope − offset`` where ``c > μ``.
    """
    ok = (mu > 0) & (mu < total)
    safe = np.where(ok, mu, 1.0)
    slope = np.where(ok, np.log(safe) - np.log(total - safe), 0.0)
    offset = np.where(ok, total * np.log(total - safe), 0.0)
    return np.where(ok, mu, np.inf), slope, offset


def _prepare(
    location_totals: IntArray, window_totals: IntArray, order: npt.NDArray[np.int32], sizes: IntArray
) -> _Cylinders:
    total = int(location_totals.sum())
    width = order.shape[1]
    block = _BLOCK if width >= 4 * _BLOCK else width
    pad = -width % block
    # Padding repeats the last member; those sizes, like sizes past a radius cap, are not allowed (μ = inf).
    order = np.pad(order, ((0, 0), (0, pad)), mode="edge")
    cases = np.cumsum(location_totals[order], axis=1, dtype=np.float64)
    cases[np.arange(width + pad)[None, :] >= np.minimum(sizes, width)[:, None]] = np.inf
    c = np.arange(int(window_totals.max()) + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogx = np.where(c > 0, c * np.log(c), 0.0) + np.where(
            total - c > 0, (total - c) * np.log(total - c), 0.0
        )
    blocks = []
    with np.errstate(invalid="ignore"):
        for window in window_totals:
            share = float(window) / total
            # μ at a block's first size is the smallest of the block; where that size is not allowed
            # (μ = inf) no later one is either.
            blocks.append(
                (
                    *_terms(np.ascontiguousarray(cases[:, ::block]) * share, total),
                    *_terms(np.ascontiguousarray(cases[:, block - 1 :: block]) * share, total),
                )
            )
    return _Cylinders(order, total, window_totals, cases, xlogx, block, blocks)


def _llr_cells(cyl: _Cylinders, observed: npt.NDArray[np.int32], cases: FloatArray, win: int) -> FloatArray:
    """Exact LLR of cylinders given their observed counts in the window and their circles' case totals."""
    with np.errstate(invalid="ignore"):
        mu, slope, offset = _terms(cases * (float(cyl.window_totals[win]) / cyl.total), cyl.total)
    capped = np.minimum(observed, len(cyl.xlogx) - 1)  # padding can count the last member twice
    value = cyl.xlogx[capped] - capped * slope - offset
    value[capped <= mu] = 0.0
    return value


def _llr_table(cyl: _Cylinders, recent: npt.NDArray[np.int64], win: int) -> FloatArray:
    """LLR of every cylinder (centres × k) for window length ``win + 1``, 0 where no excess.

    ``recent``: cases per location in the last ``win + 1`` time points (a column per window length).
    """
    observed = np.cumsum(recent[:, win].astype(np.int32)[cyl.order], axis=1, dtype=np.int32)
    return _llr_cells(cyl, observed, cyl.cases, win)


def _max_llr(cyl: _Cylinders, recent: npt.NDArray[np.int32], rows: slice) -> float:
    """The largest LLR over the cylinders centred in ``rows`` (exact), pruning blocks of circle sizes.

    ``recent[win]``: cases per location in the last win + 1 time points (one row per window length).

    Within a block of consecutive sizes, ``c_A`` only grows and ``μ_A`` only grows; the LLR (where
    ``c_A > μ_A``) grows with ``c_A`` and falls with ``μ_A``, so ``LLR(c at the block's end, μ at its start)``
    bounds every cylinder of the block. The exact LLR at each block's end gives a first maximum; only blocks
    whose bound passes it are evaluated cylinder by cylinder.
    """
    best = 0.0
    order = cyl.order[rows]
    n, width = order.shape
    b = cyl.block
    cap = len(cyl.xlogx) - 1
    pending = []
    for win in range(len(cyl.window_totals)):
        observed = np.cumsum(recent[win][order], axis=1, dtype=np.int32).reshape(n, width // b, b)
        mu_s, slope_s, offset_s, mu_e, slope_e, offset_e = (a[rows] for a in cyl.blocks[win])
        end = np.minimum(observed[:, :, -1], cap)  # padding can count the last member twice
        x_end = cyl.xlogx[end]
        exact = x_end - end * slope_e - offset_e
        exact[end <= mu_e] = 0.0
        best = max(best, float(exact.max(initial=0.0)))
        bound = x_end - end * slope_s - offset_s
        bound[end <= mu_s] = 0.0
        pending.append((win, observed, bound))
    first = rows.start or 0
    for win, observed, bound in pending:
        i, j = np.nonzero(bound > best)
        if len(i) == 0:
            continue
        cols = j[:, None] * b + np.arange(b)[None, :]
        value = _llr_cells(cyl, observed[i, j], cyl.cases[(i + first)[:, None], cols], win)
        best = max(best, float(value.max(initial=0.0)))
    return best


def space_time_permutation_scan(
    locations: Sequence[str],
    times: Sequence[int] | npt.ArrayLike,
    counts: Sequence[int] | npt.ArrayLike,
    centroids: Mapping[str, tuple[float, float]],
    *,
    max_share: float = 0.5,
    max_radius_km: float | None = None,
    max_window: int = 4,
    replications: int = 999,
    seed: int = 0,
    max_clusters: int = 10,
    end: int | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan a long table of cases (``locations[i]``, ``times[i]``, ``counts[i]``) for space-time clusters.

    ``centroids``: ``location → (longitude, latitude)`` of every location (those without cases included: they
    belong to the circles). ``max_share``: the largest circle as a share of all locations (0.5 = 50 %);
    ``max_radius_km``: also cap the circle's radius. ``max_window``: the longest time window, in time points,
    ending at the latest time (``end``, default the latest time in the table). ``replications``: Monte Carlo
    permutations (999; 0 gives no p-values: they are NaN), ``seed`` makes them reproducible. ``workers``:
    threads (default: the CPU count, at most 4). Times are integer indices (weeks or days); the study period
    runs from the earliest time in the table to ``end``. Returns at most ``max_clusters`` clusters by LLR.
    """
    keys = list(centroids)
    index = {key: i for i, key in enumerate(keys)}
    if not keys:
        raise ValueError("no locations: give the centroid (longitude, latitude) of each location")
    t = np.asarray(times, dtype=np.float64)
    n_cases = np.asarray(counts, dtype=np.float64)
    if not (len(locations) == len(t) == len(n_cases)):
        raise ValueError("locations, times and counts must have the same length")
    if np.any(n_cases < 0) or np.any(n_cases != np.round(n_cases)):
        raise ValueError("counts must be whole numbers ≥ 0 (cases are permuted one by one)")
    if np.any(t != np.round(t)):
        raise ValueError("times must be whole numbers (time indices: weeks or days)")
    if not 0 < max_share <= 1:
        raise ValueError(f"max_share={max_share}: write a share of the locations in (0, 1], e.g. 0.5")
    if max_window < 1:
        raise ValueError(f"max_window={max_window}: the longest time window must be at least 1")
    if replications < 0:
        raise ValueError("replications must be 0 or more (999 is usual)")
    try:
        loc = np.fromiter((index[key] for key in locations), dtype=np.int64, count=len(t))
    except KeyError as exc:
        raise ValueError(f"location {exc.args[0]!r} has cases but no centroid") from None
    if len(t) == 0 or n_cases.sum() == 0:
        return ScanResult((), 0, replications, ())
    first = int(t.min())
    last = int(t.max()) if end is None else end
    if last < int(t.max()):
        raise ValueError(f"end={end} is before the latest time in the table ({int(t.max())})")
    n_times = last - first + 1
    table = np.zeros((len(keys), n_times), dtype=np.int64)
    np.add.at(table, (loc, t.astype(np.int64) - first), n_cases.astype(np.int64))
    length = min(max_window, n_times)

    location_totals = table.sum(axis=1)
    newest_first = table[:, ::-1][:, :length]
    time_totals = newest_first.sum(axis=0)
    window_totals = np.cumsum(time_totals)
    lon = np.array([centroids[k][0] for k in keys], dtype=np.float64)
    lat = np.array([centroids[k][1] for k in keys], dtype=np.float64)
    max_size = max(1, math.floor(max_share * len(keys)))
    order, sizes = neighbour_order(distance_matrix(lon, lat), max_size=max_size, max_radius_km=max_radius_km)
    cyl = _prepare(location_totals, window_totals, order, sizes)

    observed_recent = np.cumsum(newest_first, axis=1)
    candidates = _best_per_centre(cyl, observed_recent)
    clusters = _non_overlapping(candidates, cyl, max_clusters)

    threads = max(1, min(workers or (os.cpu_count() or 1), 4))
    null = _replicate(cyl, location_totals, time_totals, replications, seed, threads)
    results = []
    for centre, k, win, value in clusters:
        members = order[centre, : k + 1]
        observed = int(observed_recent[members, win].sum())
        expected = float(location_totals[members].sum() * window_totals[win] / cyl.total)
        rest = cyl.total - observed
        rr = (observed / expected) / (rest / (cyl.total - expected)) if rest > 0 else math.inf
        if replications:
            exceed = int(np.count_nonzero(null >= value - _LLR_TOLERANCE * max(1.0, abs(value))))
            p = (1 + exceed) / (replications + 1)
        else:
            p = math.nan
        results.append(
            Cluster(
                centre=keys[centre],
                locations=tuple(keys[int(m)] for m in members),
                start=last - win,
                end=last,
                observed=observed,
                expected=expected,
                relative_risk=rr,
                observed_over_expected=observed / expected,
                llr=value,
                p_value=p,
                recurrence_interval=1 / p if replications else math.nan,
            )
        )
    return ScanResult(tuple(results), cyl.total, replications, tuple(float(v) for v in null))


def _best_per_centre(cyl: _Cylinders, recent: npt.NDArray[np.int64]) -> list[tuple[int, int, int, float]]:
    """(centre, k, win, LLR) of each centre's best cylinder with an excess, largest LLR first."""
    n = cyl.order.shape[0]
    best = np.zeros(n)
    best_k = np.zeros(n, dtype=np.int64)
    best_l = np.zeros(n, dtype=np.int64)
    for win in range(len(cyl.window_totals)):
        values = _llr_table(cyl, recent, win)
        k = values.argmax(axis=1)
        v = values[np.arange(n), k]
        better = v > best
        best[better], best_k[better], best_l[better] = v[better], k[better], win
    ranked = np.argsort(-best, kind="stable")
    return [(int(c), int(best_k[c]), int(best_l[c]), float(best[c])) for c in ranked if best[c] > 0]


def _non_overlapping(
    candidates: list[tuple[int, int, int, float]], cyl: _Cylinders, max_clusters: int
) -> list[tuple[int, int, int, float]]:
    taken = np.zeros(cyl.order.shape[0], dtype=bool)
    kept = []
    for centre, k, win, value in candidates:
        members = cyl.order[centre, : k + 1]
        if taken[members].any():
            continue
        taken[members] = True
        kept.append((centre, k, win, value))
        if len(kept) >= max_clusters:
            break
    return kept


def _replicate(
    cyl: _Cylinders,
    location_totals: IntArray,
    time_totals: IntArray,
    replications: int,
    seed: int,
    threads: int,
) -> FloatArray:
    """The largest LLR of each Monte Carlo replication (the times of the cases permuted)."""
    rng = np.random.default_rng(seed)
    n = cyl.order.shape[0]
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    totals = [int(v) for v in time_totals]
    out = np.zeros(replications)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        for r in range(replications):
            drawn = _draw_recent(location_totals, totals, rng)
            recent = np.ascontiguousarray(np.cumsum(drawn, axis=1).T, dtype=np.int32)
            out[r] = max(pool.map(_max_llr, itertools.repeat(cyl), itertools.repeat(recent), parts))
    return out
