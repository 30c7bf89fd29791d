"""EARS C1, C2 and C3: the CDC's Early Aberration Reporting System, as ``earsC`` of the R package ``surveillance``.

Definitions: Hutwagner et al. (2003), https://doi.org/10.1007/PL00022304; Fricker et al. (2008),
https://doi.org/10.1002/sim.3197; R reference: ``earsC`` in https://cran.r-project.org/package=surveillance
(version 1.20.3). For a monitored time point ``t`` with the baseline mean ``m`` and sample standard deviation ``s``
(``σ = max(s, minSigma)``) of the ``baseline`` points before it:

- **C1**: baseline ``t−baseline … t−1``; bound ``m + z·σ``, ``z = Φ⁻¹(1 − alpha)``; alarm when ``y_t > bound``.
- **C2**: the same with a two-point guard band: baseline ``t−baseline−2 … t−3``.
- **C3**: ``C2(i) = (y_i − m_i)/σ_i`` and ``C3(t) = Σ_{i=t−2..t} max(0, C2(i) − 1)``.

``mode="r-parity"`` (the default) reproduces ``earsC`` exactly. Its C3 bound is ``y_t + σ_t·(z − lag₂ − lag₁)``
(lagᵢ = ``max(0, C2(t−i) − 1)``) cut at 0, so the alarm ``y_t > bound`` depends on the two *lagged* terms only: it
fires when ``lag₂ + lag₁ > z`` whatever ``y_t`` is, and ``C2(t)`` is ignored. ``mode="cdc"`` follows the CDC
definition: alarm when ``C3(t) > z``; its bound is the count ``m_t + σ_t·(1 + z − lag₂ − lag₁)`` at which ``C3(t)``
reaches ``z`` (0 when the lagged terms alone exceed ``z``: then every count alarms). C1 and C2 are the same in both
modes.

``alpha`` default: R's ``earsC`` uses 0.001 for C1/C2 and 0.025 for C3 when the ``control`` list omits ``alpha``;
but its *function default* ``control`` list carries ``alpha = 0.001`` — a bare ``earsC(x)`` call (no control at
all) gets alpha 0.001, and so does C3 whenever that default list is modified rather than replaced. Here ``None``
means the per-method default (0.001 / 0.025); pass ``alpha=0.001`` to reproduce the bare-call value for C3.

R computes everything in IEEE doubles without special cases: a zero standard deviation with ``minSigma = 0`` makes
C2 infinite or NaN and the C3 bound NaN, where R's alarm is NA; here the bound is then ``None`` and the alarm False.
numpy does the arithmetic (no scipy: ``Φ⁻¹`` is :class:`statistics.NormalDist`, the same Wichura AS 241 algorithm
as R's ``qnorm``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = ["EarsBatch", "ears_batch", "ears_c1", "ears_c2", "ears_c3"]

Method = Literal["C1", "C2", "C3"]
Mode = Literal["r-parity", "cdc"]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_CHUNK = 4096
"""Series per block in :func:`ears_batch` (bounds the memory of the window views' temporaries)."""


@dataclass(frozen=True, slots=True)
class EarsBatch:
    """Results for many series: arrays of shape (series, monitored points)."""

    start: int
    """0-based index of the first monitored point."""
    expected: FloatArray
    """The baseline mean of each monitored point."""
    upperbound: FloatArray
    """NaN where R's bound is NaN."""
    alarm: BoolArray


def _default_alpha(method: Method, alpha: float | None) -> float:
    if alpha is None:
        return 0.025 if method == "C3" else 0.001
    if not 0 < alpha < 1:
        raise ValueError(f"EARS {method}: alpha={alpha} must be between 0 and 1 (for example alpha=0.001)")
    return alpha


def _max_lag(method: Method, baseline: int) -> int:
    return {"C1": baseline, "C2": baseline + 2, "C3": baseline + 4}[method]


def ears_batch(
    counts: npt.ArrayLike,
    method: Method = "C1",
    *,
    range_start: int | None = None,
    alpha: float | None = None,
    baseline: int = 7,
    min_sigma: float = 0.0,
    mode: Mode = "r-parity",
) -> EarsBatch:
    """EARS over many series at once: ``counts`` of shape (series, time), oldest first.

    Same arguments as :func:`ears_c1` and the other two (``range_start`` 1-based, default R's: the first point
    with a full baseline).
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2:
        raise ValueError("counts must be one series or a 2-D array (series × time)")
    if method not in ("C1", "C2", "C3"):
        raise ValueError(f"EARS method {method!r}: choose C1, C2 or C3")
    if mode not in ("r-parity", "cdc"):
        raise ValueError(f"EARS mode {mode!r}: choose r-parity or cdc")
    if min_sigma < 0:
        raise ValueError(f"EARS {method}: minSigma={min_sigma} must be ≥ 0")
    if baseline < 3:
        raise ValueError(f"EARS {method}: baseline={baseline}: the minimum baseline is 3 (R's earsC)")
    z = NormalDist().inv_cdf(1 - _default_alpha(method, alpha))
    n = y.shape[1]
    lag = _max_lag(method, baseline)
    if n == 0:
        raise ValueError("the series is empty")
    start = monitored_range(n, range_start, min(lag + 1, n)).start
    if start - lag < 0:
        raise ValueError(
            f"EARS {method}: the series is too short: monitoring from point {start + 1} needs {lag} earlier "
            f"points (baseline={baseline}); start later (range_start ≥ {lag + 1}) or give a longer series"
        )
    expected = np.empty((y.shape[0], n - start))
    upper = np.empty_like(expected)
    alarm = np.empty(expected.shape, dtype=np.bool_)
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, y.shape[0], _CHUNK):
            block = y[lo : lo + _CHUNK]
            e, u, a = _block(block, method, start, baseline, min_sigma, z, mode)
            expected[lo : lo + _CHUNK], upper[lo : lo + _CHUNK], alarm[lo : lo + _CHUNK] = e, u, a
    return EarsBatch(start, expected, upper, alarm)


def _baseline_stats(
    y: FloatArray, first: int, last: int, guard: int, baseline: int
) -> tuple[FloatArray, FloatArray]:
    """Mean and sample SD of the baselines of points ``first..last`` (0-based, inclusive), ``guard`` points skipped."""
    windows = np.lib.stride_tricks.sliding_window_view(y, baseline, axis=1)
    # the baseline of point t is y[t-guard-baseline : t-guard], i.e. windows[:, t-guard-baseline]
    view = windows[:, first - guard - baseline : last - guard - baseline + 1]
    mean = view.mean(axis=2)
    sd = np.sqrt(((view - mean[..., np.newaxis]) ** 2).sum(axis=2) / (baseline - 1))
    return mean, sd


def _block(
    y: FloatArray, method: Method, start: int, baseline: int, min_sigma: float, z: float, mode: Mode
) -> tuple[FloatArray, FloatArray, BoolArray]:
    n = y.shape[1]
    if method in ("C1", "C2"):
        mean, sd = _baseline_stats(y, start, n - 1, 0 if method == "C1" else 2, baseline)
        upper = mean + z * np.maximum(sd, min_sigma)
        return mean, upper, y[:, start:] > upper
    # C3: C2 from two points before the range
    mean, sd = _baseline_stats(y, start - 2, n - 1, 2, baseline)
    sigma = np.maximum(sd, min_sigma)
    c2 = (y[:, start - 2 :] - mean) / sigma
    lag2 = np.maximum(0.0, c2[:, :-2] - 1)
    lag1 = np.maximum(0.0, c2[:, 1:-1] - 1)
    lags = lag2 + lag1
    obs = y[:, start:]
    sigma_t, mean_t = sigma[:, 2:], mean[:, 2:]
    if mode == "r-parity":
        upper = np.maximum(0.0, obs + sigma_t * (z - lags))
        return mean_t, upper, obs > upper
    c3 = lags + np.maximum(0.0, c2[:, 2:] - 1)
    upper = np.where(lags > z, 0.0, np.maximum(0.0, mean_t + sigma_t * (1 + (z - lags))))
    return mean_t, upper, c3 > z


def _detections(counts: Sequence[float], batch: EarsBatch) -> list[Detection]:
    rows: list[Detection] = []
    for j in range(batch.upperbound.shape[1]):
        t = batch.start + j
        bound = float(batch.upperbound[0, j])
        mean = float(batch.expected[0, j])
        rows.append(
            Detection(
                index=t,
                observed=float(counts[t]),
                expected=None if math.isnan(mean) else mean,
                upperbound=None if math.isnan(bound) else bound,
                alarm=bool(batch.alarm[0, j]),
            )
        )
    return rows


def _one(
    counts: Sequence[float],
    method: Method,
    range_start: int | None,
    alpha: float | None,
    baseline: int,
    min_sigma: float,
    mode: Mode,
) -> list[Detection]:
    batch = ears_batch(
        np.asarray(counts, dtype=np.float64)[np.newaxis, :],
        method,
        range_start=range_start,
        alpha=alpha,
        baseline=baseline,
        min_sigma=min_sigma,
        mode=mode,
    )
    return _detections(counts, batch)


def ears_c1(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    alpha: float | None = None,
    baseline: int = 7,
    min_sigma: float = 0.0,
    mode: Mode = "r-parity",
) -> list[Detection]:
    """EARS C1 (R: ``earsC(x, control = list(method = "C1", range, alpha, baseline, minSigma))``).

    ``range_start``: 1-based first monitored point (R's ``range``; default ``baseline + 1``); ``alpha`` (default
    0.001); ``baseline``: points in the baseline (default 7); ``min_sigma`` (R's ``minSigma``, default 0).
    """
    return _one(counts, "C1", range_start, alpha, baseline, min_sigma, mode)


def ears_c2(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    alpha: float | None = None,
    baseline: int = 7,
    min_sigma: float = 0.0,
    mode: Mode = "r-parity",
) -> list[Detection]:
    """EARS C2: C1 with a two-point guard band (default ``range_start`` = ``baseline + 3``, alpha 0.001)."""
    return _one(counts, "C2", range_start, alpha, baseline, min_sigma, mode)


def ears_c3(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    alpha: float | None = None,
    baseline: int = 7,
    min_sigma: float = 0.0,
    mode: Mode = "r-parity",
) -> list[Detection]:
    """EARS C3 (default ``range_start`` = ``baseline + 5``, alpha 0.025); ``mode`` ``"r-parity"`` or ``"cdc"``."""
    return _one(counts, "C3", range_start, alpha, baseline, min_sigma, mode)


def _runner(method: Method) -> MethodSpec:
    def run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
        mode = params.choice("mode", ("r-parity", "cdc"), "r-parity")
        return _one(
            counts,
            method,
            range_start,
            params.optional_number("alpha"),
            params.integer("baseline", 7),
            params.number("minSigma", 0.0),
            "cdc" if mode == "cdc" else "r-parity",
        )

    return MethodSpec(
        name=f"ears-{method.lower()}",
        run=run,
        summary={
            "C1": "EARS C1: mean + z·sd of the 7 previous weeks (R earsC, method C1)",
            "C2": "EARS C2: C1 with a 2-week guard band (R earsC, method C2)",
            "C3": "EARS C3: C2 summed over 3 weeks (R earsC, method C3; mode=cdc for the CDC definition)",
        }[method],
        parameters={
            "alpha": f"one-sided level, z = qnorm(1 - alpha) (default {0.025 if method == 'C3' else 0.001})",
            "baseline": "weeks in the baseline (default 7, at least 3)",
            "minSigma": "lower limit of the standard deviation (default 0)",
            "mode": "r-parity (R's earsC, default) or cdc (CDC definition; differs for C3 only)",
        },
    )


EARS_C1 = register(_runner("C1"))
EARS_C2 = register(_runner("C2"))
EARS_C3 = register(_runner("C3"))
