"""GLR detectors for a change in the intercept of Poisson or negative-binomial counts: ``glrnb`` of R ``surveillance``.

Definitions: Höhle and Paul (2008), https://doi.org/10.1016/j.csda.2008.02.015; Höhle (2010),
https://doi.org/10.1007/s10182-009-0126-1; R reference: ``glrnb`` / ``algo.glrnb`` and their C routines in
https://cran.r-project.org/package=surveillance (1.20.3).

With in-control means ``μ₀ₜ`` over the monitored points (``range``), the statistic at point ``n`` is
``GLR(n) = max_k sup_κ Σ_{t=k..n} log f_κ(x_t)/f_0(x_t)`` with ``μ₁ₜ = μ₀ₜ·e^κ``, ``κ ≥ 0`` (``dir="inc"``) or
``κ ≤ 0`` (``"dec"``). Poisson (``alpha = 0``): ``κ̂ = log(Σx/Σμ₀)`` and the term is ``κ̂·Σx − (e^κ̂ − 1)·Σμ₀``;
negative binomial (``alpha > 0``, variance ``μ + alpha·μ²``): ``κ̂`` by Newton–Raphson as R does (start 0.5, the
previous ``k``'s estimate carried over, stop at a step below 1e-6). Alarm at ``GLR(n) ≥ c.ARL``; after an alarm
the chart restarts at the next point with the history before dropped (R's loop). ``theta`` given: the LR CUSUM with
the known change ``κ = theta`` (alarm at ``> c.ARL``, R's C code). Windows as R's C code: ``M`` (−1: all ``k``) the
furthest ``k`` back, ``Mtilde`` the points needed — note that R's windowed Poisson statistic (``M > 0``) leaves out
the window of the last ``Mtilde`` points alone (its ``k`` starts at ``n − Mtilde``), and its first ``Mtilde`` values
are 0.

``ret="value"``: the upper bound is the statistic itself. ``ret="cases"``: the number of cases at ``n`` that would
make ``GLR(n)`` reach ``c.ARL`` (Poisson: the smallest count ``≥ 0`` found by R's upward search; here by bisection,
the statistic being monotone in the count). For the negative binomial R searches by brute force from the observed
count (``xMax`` the limit): before the first alarm it counts up from ``x + 1`` (a week with 0 cases gets R's
``1e99``), at the alarm it counts down and returns the smallest alarming count; reproduced here. Negative and NA
bounds become 0, as in R.

``mu0``: given (one value per monitored point, or one number) or R's default: ``glm(y ~ 1 [+ t] + Σ_s cos(2sπ/p·t)
+ sin(2sπ/p·t))`` on the points before the range (``t`` their index 1, 2, …; ``S`` harmonics, default 1), Poisson
for ``alpha = 0``, ``negative.binomial(1/alpha)`` otherwise, predicted at the monitored indices. R's ``glrnb`` with
no ``alpha`` in the control list estimates it with ``MASS::glm.nb``; that fit is not reproduced here: ``alpha``
defaults to 0 (Poisson, the documented default). ``change="epi"`` (the epidemic chart) is not offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors._stats_glm import glm_log_fit, glm_predict, harmonic_design
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = ["GlrBatch", "glr_mu0", "glrnb", "glrpois_batch"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Stat = Callable[[FloatArray, FloatArray, int], float]
"""``GLR(n)`` of a segment (counts, means, n) as the C routine computes it."""


def _default_start(n: int, freq: int) -> int:
    """No R default (``range`` is required there): monitor the last year, the years before for ``mu0``."""
    return max(n - freq + 1, 2)


def glr_mu0(
    counts: npt.ArrayLike,
    first: int,
    *,
    alpha: float = 0.0,
    harmonics: int = 1,
    trend: bool = False,
    freq: int = 52,
) -> FloatArray:
    """R's default ``mu0`` for points ``first..n−1`` (0-based) of each series (series × monitored)."""
    y = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n = y.shape[1]
    train = harmonic_design(np.arange(1, first + 1, dtype=np.float64), freq, harmonics, trend)
    if first < train.shape[1]:
        raise ValueError(
            f"glrnb: the in-control model has {train.shape[1]} coefficients but only {first} points come before "
            "the monitored range: start the range later or give mu0"
        )
    if alpha == 0:
        beta = glm_log_fit(train, y[:, :first])
    else:
        beta = glm_log_fit(train, y[:, :first], "negbin", 1 / alpha)
    return glm_predict(
        beta, harmonic_design(np.arange(first + 1, n + 1, dtype=np.float64), freq, harmonics, trend)
    )


# --- the statistics, one n at a time (x, mu0: the current segment; n: 0-based within it) -----------------------


def _pois_terms(sx: FloatArray, sm: FloatArray, direction: int) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = direction * np.maximum(0.0, direction * np.log(sx / sm))
        terms = kappa * sx + (1 - np.exp(kappa)) * sm
    terms = terms[~np.isnan(terms)]
    return max(-1e99, float(terms.max())) if terms.size else -1e99


def _pois_glr(direction: int) -> Stat:
    def stat(x: FloatArray, mu: FloatArray, n: int) -> float:
        return _pois_terms(np.cumsum(x[n::-1]), np.cumsum(mu[n::-1]), direction)

    return stat


def _pois_glr_window(direction: int, m: int, m_tilde: int) -> Stat:
    def stat(x: FloatArray, mu: FloatArray, n: int) -> float:
        sx0 = float(np.sum(x[n - m_tilde + 1 : n + 1]))
        sm0 = float(np.sum(mu[n - m_tilde + 1 : n + 1]))
        low = max(0, n - m)
        if n - m_tilde < low:
            return -1e99
        ks = slice(n - m_tilde, low - 1 if low > 0 else None, -1)
        return _pois_terms(sx0 + np.cumsum(x[ks]), sm0 + np.cumsum(mu[ks]), direction)

    return stat


def _nb_glr_window(direction: int, alpha: float, m: int, m_tilde: int) -> Stat:
    def stat(x: FloatArray, mu: FloatArray, n: int) -> float:
        low = 0 if m == -1 else max(0, n - m)
        best = -1e99
        kappa_ml = 0.5
        for k in range(low, n - (m_tilde - 1) + 1):
            xs, ms = x[k : n + 1], mu[k : n + 1]
            kappa_old, kappa_new, it = 0.4, kappa_ml, 0
            while kappa_new > -18 and abs(kappa_new - kappa_old) > 1e-6 and it < 1000:
                it += 1
                kappa_old = kappa_new
                e = math.exp(kappa_old)
                score = float(np.sum((xs - e * ms) / (1 + alpha * e * ms)))
                fisher = e * float(np.sum(ms * (alpha * xs + 1) / (1 + alpha * e * ms) ** 2))
                kappa_new = kappa_old + score / fisher
            kappa_ml = direction * max(0.0, direction * kappa_new)
            lnk = float(
                np.sum(
                    kappa_ml * xs
                    + (xs + 1 / alpha) * np.log((1 + alpha * ms) / (1 + alpha * ms * math.exp(kappa_ml)))
                )
            )
            best = max(best, lnk)
        return best

    return stat


# --- the charts: one run of a C routine over a segment ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    n_alarm: int
    """0-based position of the first alarm in the segment, or the segment's length when none."""
    value: FloatArray
    cases: FloatArray


def _smallest_count(stat: Stat, x: FloatArray, mu: FloatArray, n: int, c_arl: float, direction: int) -> float:
    """R's C search: the smallest count ``v ≥ 0`` at ``n`` where ``dir·GLR < dir·c.ARL`` stops holding."""
    trial = x.copy()

    def done(v: float) -> bool:
        trial[n] = v
        g = stat(trial, mu, n)
        return not (direction * g < direction * c_arl)

    if done(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while not done(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = math.floor((lo + hi) / 2)
        if done(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _glr_run(
    stat: Stat, x: FloatArray, mu: FloatArray, first_n: int, c_arl: float, cases: bool, direction: int
) -> _Run:
    lx = len(x)
    value, found = np.zeros(lx), np.zeros(lx)
    for n in range(first_n, lx):
        value[n] = stat(x, mu, n)
        if cases:
            found[n] = _smallest_count(stat, x, mu, n, c_arl, direction)
        if value[n] >= c_arl:
            return _Run(n, value, found)
    return _Run(lx, value, found)


def _lr_run(x: FloatArray, mu: FloatArray, kappa: float, alpha: float, c_arl: float) -> _Run:
    lx = len(x)
    value, found = np.zeros(lx), np.zeros(lx)
    prev = 0.0
    for n in range(lx):
        if alpha == 0:
            zn = kappa * x[n] + (1 - math.exp(kappa)) * mu[n]
            found[n] = (c_arl - prev + mu[n] * (math.exp(kappa) - 1)) / kappa
        else:
            ratio = math.log((1 + alpha * mu[n]) / (1 + alpha * mu[n] * math.exp(kappa)))
            zn = kappa * x[n] + (x[n] + 1 / alpha) * ratio
            found[n] = -(prev * alpha + ratio - c_arl * alpha) / alpha / (kappa + ratio)
        value[n] = max(0.0, (prev if n else 0.0) + zn)
        prev = value[n]
        if value[n] > c_arl:
            return _Run(n, value, found)
    return _Run(lx, value, found)


def _nb_cases(
    stat: Stat,
    x: FloatArray,
    mu: FloatArray,
    n_alarm: int,
    first_n: int,
    c_arl: float,
    x_max: float,
    direction: int,
) -> FloatArray:
    """R's brute-force search of the cases for the negative-binomial GLR (the R loop in ``algo.glrnb``).

    R steps the count at each point one by one (up before the alarm, down at it) until the alarm status there
    changes; only the statistic at that point can change, and it is monotone in the count (up for ``dir="inc"``,
    down for ``"dec"``), so bisection over the same steps finds R's answer.
    """
    found = np.zeros(len(x))
    for pos in range(min(len(x), n_alarm + 1)):
        got_alarm = pos == n_alarm
        trial = x.copy()
        x0 = float(trial[pos])
        step = -1 if got_alarm else 1
        steps = 0 if not 1 <= x0 <= x_max else (int(x0) if got_alarm else int(x_max + 1 - x0))

        def changed(
            i: int,
            pos: int = pos,
            x0: float = x0,
            step: int = step,
            got: bool = got_alarm,
            trial: FloatArray = trial,
        ) -> bool:
            trial[pos] = x0 + step * i
            alarm = pos >= first_n and stat(trial, mu, pos) >= c_arl
            return alarm != got

        # for dir="inc" the status change is monotone along either search; for "dec" only the first step can change it
        towards = direction == 1
        hit: int | None = None
        if steps and towards:
            if changed(steps):
                lo, hi = 0, steps
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if changed(mid):
                        hi = mid
                    else:
                        lo = mid
                hit = hi
        elif steps and changed(1):
            hit = 1
        if hit is None:
            found[pos] = math.nan if got_alarm else 1e99
        else:
            v = x0 + step * hit
            found[pos] = v + 1 if got_alarm else v
    return found


# --- the public functions -----------------------------------------------------------------------------------------


def glrnb(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    c_arl: float = 5.0,
    mu0: Sequence[float] | float | None = None,
    alpha: float = 0.0,
    m_tilde: int = 1,
    m: int = -1,
    change: Literal["intercept"] = "intercept",
    theta: float | None = None,
    direction: Literal["inc", "dec"] = "inc",
    ret: Literal["value", "cases"] = "value",
    x_max: float = 10000,
    harmonics: int = 1,
    trend: bool = False,
    freq: int = 52,
) -> list[Detection]:
    """GLR / LR detector (R: ``glrnb(x, control = list(range, c.ARL, mu0, alpha, Mtilde, M, change, theta, dir,
    ret, xMax))``).

    ``c_arl`` is R's ``c.ARL`` (5); ``mu0`` R's ``mu0`` (``None``: the GLM, with ``harmonics`` = R's ``mu0$S`` and
    ``trend`` = ``mu0$trend``); ``alpha`` the negative-binomial dispersion (0: Poisson); ``m_tilde``/``m`` R's
    ``Mtilde``/``M``; ``theta`` a known change (LR CUSUM); ``direction`` R's ``dir``; ``ret`` ``"value"`` (the
    statistic) or ``"cases"``; ``x_max`` R's ``xMax``; ``range_start`` 1-based (default: the last ``freq`` points).
    """
    y = np.asarray(counts, dtype=np.float64)
    n_all = len(y)
    if n_all == 0:
        raise ValueError("the series is empty")
    if change != "intercept":
        raise ValueError(f"glrnb: change={change!r}: only change=intercept is implemented")
    if direction not in ("inc", "dec") or ret not in ("value", "cases"):
        raise ValueError("glrnb: dir must be inc or dec and ret value or cases")
    if alpha < 0:
        raise ValueError(f"glrnb: alpha={alpha} must be ≥ 0 (0: Poisson)")
    if theta is not None and theta == 1:
        raise ValueError(
            "glrnb: theta=1 is refused by R ('theta has to be larger than 1'): give another value"
        )
    if m_tilde < 1:
        raise ValueError(f"glrnb: Mtilde={m_tilde} must be ≥ 1")
    first = monitored_range(n_all, range_start, _default_start(n_all, freq)).start
    if mu0 is None:
        if first < 1:
            raise ValueError(
                "glrnb: no points before the monitored range to estimate mu0: start later or give mu0"
            )
        mu = glr_mu0(y, first, alpha=alpha, harmonics=harmonics, trend=trend, freq=freq)[0]
    else:
        mu = np.broadcast_to(np.asarray(mu0, dtype=np.float64), (n_all - first,)).copy()
    dirn = 1 if direction == "inc" else -1
    cases = ret == "cases"
    stat: Stat = _pois_glr(dirn)
    first_n = 0
    if theta is None:
        if alpha == 0:
            stat = _pois_glr_window(dirn, m, m_tilde) if m > 0 else _pois_glr(dirn)
            first_n = m_tilde if m > 0 else max(0, m_tilde - 1)
        else:
            stat = _nb_glr_window(dirn, alpha, m, m_tilde)
            first_n = max(m_tilde - 1, 0)
    x = y[first:]
    total = len(x)
    upper = np.zeros(total)
    alarm = np.zeros(total, dtype=np.bool_)
    done = 0
    while done < total:
        xs, ms = x[done:], mu[done:]
        if theta is not None:
            run = _lr_run(xs, ms, theta, alpha, c_arl)
            bound = run.cases if cases else run.value
        else:
            run = _glr_run(stat, xs, ms, first_n, c_arl, cases and alpha == 0, dirn)
            if cases and alpha > 0:
                bound = _nb_cases(stat, xs, ms, run.n_alarm, first_n, c_arl, x_max, dirn)
            else:
                bound = run.cases if cases else run.value
        if run.n_alarm < len(xs):
            upper[done : done + run.n_alarm + 1] = bound[: run.n_alarm + 1]
            alarm[done + run.n_alarm] = True
            done += run.n_alarm + 1
        else:
            upper[done:] = bound
            done = total
    upper[np.isnan(upper)] = 0.0
    upper[upper < 0] = 0.0
    return [
        Detection(
            index=first + j,
            observed=float(x[j]),
            expected=float(mu[j]),
            upperbound=float(upper[j]),
            alarm=bool(alarm[j]),
        )
        for j in range(total)
    ]


@dataclass(frozen=True, slots=True)
class GlrBatch:
    """Results for many series: arrays of shape (series, monitored points)."""

    start: int
    expected: FloatArray
    upperbound: FloatArray
    """The GLR statistic (R's ``ret="value"``), 0 where negative."""
    alarm: BoolArray


def glrpois_batch(
    counts: npt.ArrayLike,
    *,
    range_start: int | None = None,
    c_arl: float = 5.0,
    mu0: npt.ArrayLike | None = None,
    direction: Literal["inc", "dec"] = "inc",
    harmonics: int = 1,
    trend: bool = False,
    freq: int = 52,
) -> GlrBatch:
    """The Poisson GLR (``alpha = 0``, ``M = -1``, ``Mtilde = 1``, ``ret = "value"``) over many series at once.

    ``counts``: series × time; ``mu0``: series × monitored points, or ``None`` for R's GLM. Equal to
    :func:`glrnb` row by row, restarts after alarms included.
    """
    y = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n_all = y.shape[1]
    first = monitored_range(n_all, range_start, _default_start(n_all, freq)).start
    if first < 1 and mu0 is None:
        raise ValueError(
            "glrnb: no points before the monitored range to estimate mu0: start later or give mu0"
        )
    mu = (
        glr_mu0(y, first, harmonics=harmonics, trend=trend, freq=freq)
        if mu0 is None
        else np.broadcast_to(np.asarray(mu0, dtype=np.float64), (y.shape[0], n_all - first)).copy()
    )
    x = y[:, first:]
    s, total = x.shape
    dirn = 1 if direction == "inc" else -1
    upper = np.zeros((s, total))
    alarm = np.zeros((s, total), dtype=np.bool_)
    seg = np.zeros(s, dtype=np.int64)  # first point of each series' current segment (after its last alarm)
    sx = np.zeros((s, total))  # sx[:, k]: counts summed over k..n (n the current point), likewise sm for mu0
    sm = np.zeros((s, total))
    cols = np.arange(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        for n in range(total):
            sx[:, : n + 1] += x[:, n : n + 1]
            sm[:, : n + 1] += mu[:, n : n + 1]
            a, b = sx[:, : n + 1], sm[:, : n + 1]
            # kappa = dir·max(0, dir·log(a/b)); the term kappa·a − (e^kappa − 1)·b, with e^kappa = a/b where kappa ≠ 0
            grow = a > b if dirn == 1 else a < b
            terms = np.where(grow, a * np.log(a / b) - a + b, 0.0)
            if dirn == -1:
                terms[a == 0] = -1e99  # R: −inf·0 is NaN, skipped by the C maximum
            terms[cols[np.newaxis, : n + 1] < seg[:, np.newaxis]] = -1e99
            value = terms.max(axis=1)
            upper[:, n] = value
            hit = value >= c_arl
            alarm[hit, n] = True
            seg[hit] = n + 1
    upper[upper < 0] = 0.0
    return GlrBatch(first, mu, upper, alarm)


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    mu0_values = params.numbers("mu0", ())
    params.choice("change", ("intercept",), "intercept")
    return glrnb(
        counts,
        range_start=range_start,
        c_arl=params.number("c.ARL", 5.0),
        mu0=(mu0_values[0] if len(mu0_values) == 1 else mu0_values) if mu0_values else None,
        alpha=params.number("alpha", 0.0),
        m_tilde=params.integer("Mtilde", 1),
        m=params.integer("M", -1),
        theta=params.optional_number("theta"),
        direction="dec" if params.choice("dir", ("inc", "dec"), "inc") == "dec" else "inc",
        ret="cases" if params.choice("ret", ("value", "cases"), "value") == "cases" else "value",
        x_max=params.number("xMax", 10000),
        harmonics=params.integer("S", 1),
        trend=params.boolean("trend", False),
        freq=freq,
    )


GLRNB = register(
    MethodSpec(
        name="glrnb",
        run=_run,
        summary="GLR for a rise in Poisson (alpha=0) or negative-binomial counts (R glrnb / algo.glrnb)",
        parameters={
            "c.ARL": "alarm threshold of the GLR statistic (default 5)",
            "alpha": "negative-binomial dispersion; 0 is Poisson (default 0)",
            "mu0": "in-control means, one per monitored week or one number (default: R's GLM before the range)",
            "S": "harmonics of the in-control GLM (R's mu0$S, default 1)",
            "trend": "linear trend in the in-control GLM (R's mu0$trend, default FALSE)",
            "M": "window: how far back the change may lie (default -1: all)",
            "Mtilde": "points needed to estimate the change (default 1)",
            "theta": "a known log change: LR CUSUM instead of GLR (default NULL)",
            "dir": "inc (default) or dec",
            "ret": "value (the statistic, default) or cases (the count that would alarm)",
            "xMax": "upper limit of the negative-binomial cases search (default 10000)",
            "change": "intercept (the only one implemented)",
        },
    )
)
