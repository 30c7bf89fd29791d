"""What the Farrington detectors share, written to reproduce the R package ``surveillance`` step by step.

- :func:`glm_quasipoisson`: R's ``glm.fit`` for ``quasipoisson(link = "log")`` (https://stat.ethz.ch/R-manual/
  R-devel/library/stats/html/glm.html), optionally with prior weights and an offset, over many series sharing
  one design matrix. It is a small hand-written IRLS rather than statsmodels because parity to 1e-6 with R needs
  R's own details: the start ``mustart = y + 0.1``, the floor ``max(exp(η), ε)`` of R's log link, the stopping
  rule (relative deviance change < 1e-8, at most 25 iterations, each series stopping at its own iteration), and
  above all *which* weights R keeps: ``glm.fit`` returns the working weights and the QR decomposition of the
  last iteration, computed from the fitted means *before* its final update, and ``summary.glm`` (the Pearson
  dispersion, the t test of the trend), ``hatvalues`` (the Anscombe residuals) and ``predict.glm`` (the standard
  error of the prediction) all use those. Batching the series through one numpy computation is what the
  benchmark needs as well. The design is expected with the trend column centred and scaled by the caller (the
  fitted values, the t statistic and the predictions do not change; the normal equations stay well conditioned).
- :func:`anscombe_residuals`, :func:`assign_weights`: ``anscombe.residuals`` and
  ``algo.farrington.assign.weights`` (Farrington et al. 1996's down-weighting of past outbreaks).
- :func:`qnorm`, :func:`pt_two_sided`, :func:`qnbinom`, :func:`qpois`: the distribution functions needed, in
  numpy without scipy (``qnorm`` is :class:`statistics.NormalDist`, the same Wichura AS 241 algorithm as R's; the
  count quantiles apply R's fuzz ``p·(1 − 64ε)`` for left continuity).
- :func:`delta_upper_bound`: ``algo.farrington.threshold.farrington``'s bound on the ``powertrans`` scale;
  :class:`Batch`, :func:`detections`: the results of many series and one series' rows;
  :func:`check_alpha_limit54`, :func:`population_matrix`, :func:`limit54_param`: the argument checks both share.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Self

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors.base import Detection, Params

__all__ = [
    "POWERTRANS",
    "Batch",
    "GlmFit",
    "anscombe_residuals",
    "as_counts",
    "assign_weights",
    "check_alpha_limit54",
    "delta_upper_bound",
    "detections",
    "glm_quasipoisson",
    "limit54_param",
    "parse_powertrans",
    "population_matrix",
    "pt_two_sided",
    "qnbinom",
    "qnorm",
    "qpois",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

LogStep = Callable[[IntArray, FloatArray], FloatArray]
"""``log(pmf(k + 1)/pmf(k))`` for the problems ``rows`` at the counts ``k`` (rows × counts)."""

EPS = float(np.finfo(np.float64).eps)
"""R's ``.Machine$double.eps``: the log link's floor on the mean."""

POWERTRANS = {"2/3": 2.0 / 3.0, "1/2": 0.5, "none": 1.0}
"""R's ``powertrans`` (``skewness.transform``) spellings and their exponents."""


def parse_powertrans(value: str) -> float:
    """The exponent of R's ``powertrans`` value; ValueError naming the choices."""
    try:
        return POWERTRANS[value]
    except KeyError:
        raise ValueError(f"powertrans={value!r}: choose one of 2/3, 1/2, none") from None


def as_counts(counts: npt.ArrayLike, what: str = "counts") -> FloatArray:
    """Counts as a float array (2-D: series × time); ValueError on NaN or negative values."""
    array = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if array.ndim != 2:
        raise ValueError(f"{what}: give one series or a 2-D array (series × time)")
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError(f"{what} must be numbers ≥ 0 (no missing weeks)")
    return array


def check_alpha_limit54(alpha: float, limit54: tuple[float, float]) -> tuple[float, int]:
    """ValueError unless ``0 < alpha < 1`` and ``limit54`` is (cases ≥ 0, a whole period > 0); (cases, period)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha}: must be between 0 and 1")
    cases, period = limit54
    if not (cases >= 0 and period > 0) or not float(period).is_integer():
        raise ValueError(f"limit54=c({cases:g},{period:g}): cases ≥ 0 and a whole period > 0")
    return cases, int(period)


def limit54_param(params: Params) -> tuple[float, float]:
    """R's ``limit54`` from the parameters: two numbers, cases and weeks."""
    values = params.numbers("limit54", (5, 4))
    if len(values) != 2:
        raise ValueError(f"{params.method}: limit54 takes two numbers, cases and weeks: c(5,4)")
    return values[0], values[1]


def population_matrix(population: npt.ArrayLike | None, counts: FloatArray, offset: bool) -> FloatArray:
    """The population of each series and week (1 where none is given, as R); > 0 when used as an offset."""
    pop = (
        np.ones_like(counts)
        if population is None
        else np.atleast_2d(np.asarray(population, dtype=np.float64))
    )
    if pop.shape != counts.shape:
        raise ValueError("population must have the shape of counts")
    if offset and (pop <= 0).any():
        raise ValueError("population must be > 0 for the population offset")
    return pop


@dataclass(frozen=True, slots=True)
class Batch:
    """Results for many series: arrays of shape (series, monitored weeks); NaN where R gives NA."""

    start: int
    """0-based index of the first monitored week."""
    expected: FloatArray
    upperbound: FloatArray
    alarm: BoolArray
    trend: BoolArray
    """Whether the time trend was kept (R's ``trend``)."""

    @classmethod
    def empty(cls, start: int, n_series: int, weeks: int) -> Self:
        """All NaN, no alarm, no trend: filled week by week."""
        return cls(
            start,
            np.full((n_series, weeks), np.nan),
            np.full((n_series, weeks), np.nan),
            np.zeros((n_series, weeks), dtype=np.bool_),
            np.zeros((n_series, weeks), dtype=np.bool_),
        )


def detections(counts: FloatArray, result: Batch) -> list[Detection]:
    """The rows of the one series of ``counts`` (1 × time) in ``result``."""
    return [
        Detection(
            index=result.start + i,
            observed=float(counts[0, result.start + i]),
            expected=_optional(result.expected[0, i]),
            upperbound=_optional(result.upperbound[0, i]),
            alarm=bool(result.alarm[0, i]),
        )
        for i in range(result.expected.shape[1])
    ]


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def delta_upper_bound(
    mu0: FloatArray, se_mu: FloatArray, phi: FloatArray, z: float, exponent: float
) -> FloatArray:
    """``algo.farrington.threshold.farrington``: the upper end of R's ``sort((μ₀^e ± z·se)^(1/e), na.last = FALSE)``
    with ``τ = φ + se(μ₀)²/μ₀`` (NaN only when both ends are NaN)."""
    tau = phi + se_mu**2 / mu0
    if exponent == 1.0:
        se = np.sqrt(mu0 * tau)
    elif exponent == 0.5:
        se = np.sqrt(0.25 * tau)
    else:
        se = np.sqrt(4.0 / 9.0 * mu0 ** (1.0 / 3.0) * tau)
    centre = mu0**exponent
    with np.errstate(invalid="ignore"):
        low = (centre - z * se) ** (1.0 / exponent)
        high = (centre + z * se) ** (1.0 / exponent)
    result: FloatArray = np.where(np.isnan(low), high, np.where(np.isnan(high), low, np.maximum(low, high)))
    return result


def qnorm(p: float) -> float:
    """R's ``qnorm(p)`` (standard normal)."""
    return NormalDist().inv_cdf(p)


@dataclass(slots=True)
class GlmFit:
    """One ``glm.fit`` per series (arrays: series first)."""

    coef: FloatArray
    eta: FloatArray
    mu: FloatArray
    weights: FloatArray
    """Working weights of the last iteration (prior weight × mean before the final update), as R returns them."""
    cov_unscaled: FloatArray
    """``(XᵀWX)⁻¹`` with those weights (R's ``summary.glm(...)$cov.unscaled``)."""
    converged: BoolArray
    df_residual: IntArray
    residuals: FloatArray
    """Working residuals ``(y − μ)/μ``."""

    def dispersion(self, weights: FloatArray | None = None) -> FloatArray:
        """``summary.glm``'s Pearson dispersion ``Σ w·r²/df`` (``weights``: R's ``object$weights``, if replaced)."""
        w = self.weights if weights is None else weights
        total = np.where(w > 0, w * self.residuals**2, 0.0).sum(axis=1)
        df = self.df_residual.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(df > 0, total / np.where(df > 0, df, 1.0), np.nan)

    def hat(self, x: FloatArray) -> FloatArray:
        """``hatvalues``: ``wᵢ·xᵢᵀ(XᵀWX)⁻¹xᵢ``."""
        quad = (np.matmul(x, self.cov_unscaled) * x).sum(axis=-1)
        return self.weights * quad

    def take(self, rows: IntArray) -> GlmFit:
        return GlmFit(
            self.coef[rows],
            self.eta[rows],
            self.mu[rows],
            self.weights[rows],
            self.cov_unscaled[rows],
            self.converged[rows],
            self.df_residual[rows],
            self.residuals[rows],
        )


def _deviance(y: FloatArray, mu: FloatArray, prior: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(y > 0, y * np.log(y / mu) - (y - mu), mu)
    return 2 * (prior * r).sum(axis=-1)


def glm_quasipoisson(
    x: FloatArray,
    y: FloatArray,
    prior: FloatArray | None = None,
    offset: FloatArray | None = None,
    *,
    epsilon: float = 1e-8,
    maxit: int = 25,
) -> GlmFit:
    """R's ``glm.fit(x, y, weights = prior, offset = offset, family = quasipoisson(link = "log"))`` per series.

    ``x``: the design (time × columns), shared; ``y``, ``prior``, ``offset``: series × time. A series whose deviance
    becomes non-finite stops there, not converged (R would halve the step; counts never get there).
    """
    n_series, n = y.shape
    p = x.shape[1]
    prior = np.ones_like(y) if prior is None else prior
    offset = np.zeros_like(y) if offset is None else offset
    # XᵀWX from the distinct columns of the products xᵢxⱼ (a seasonal-factor design has few: 1, t, t², the
    # indicators and indicator·t), one matrix product for all series
    outer = (x[:, :, np.newaxis] * x[:, np.newaxis, :]).reshape(n, p * p)
    distinct, inverse = np.unique(outer.T, axis=0, return_inverse=True)
    distinct_t = np.ascontiguousarray(distinct.T)
    inverse = inverse.reshape(-1)
    eta = np.log(y + 0.1)
    mu = np.maximum(np.exp(eta), EPS)
    devold = _deviance(y, mu, prior)
    coef = np.zeros((n_series, p))
    weights = np.zeros_like(y)
    cov: FloatArray = np.zeros((n_series, p, p))
    converged = np.zeros(n_series, dtype=np.bool_)
    active = np.arange(n_series)
    for _ in range(maxit):
        if active.size == 0:
            break
        if active.size == n_series:  # every series still iterating: views, no copies
            ya, mua, etaa, pa, oa = y, mu, eta, prior, offset
        else:
            ya, mua, etaa, pa, oa = y[active], mu[active], eta[active], prior[active], offset[active]
        good = pa > 0
        w2 = np.where(good, pa * mua, 0.0)
        z = np.where(good, etaa - oa + (ya - mua) / mua, 0.0)
        xtwx = (w2 @ distinct_t)[:, inverse].reshape(-1, p, p)
        xtwz = (w2 * z) @ x
        try:
            inv: FloatArray = np.asarray(np.linalg.inv(xtwx), dtype=np.float64)
        except np.linalg.LinAlgError:
            inv = np.asarray(np.linalg.pinv(xtwx), dtype=np.float64)
        b = np.einsum("spq,sq->sp", inv, xtwz)
        eta_new = b @ x.T + oa
        mu_new = np.maximum(np.exp(eta_new), EPS)
        dev = _deviance(ya, mu_new, pa)
        if active.size == n_series:
            coef, eta, mu, weights, cov = b, eta_new, mu_new, w2, inv
        else:
            coef[active], eta[active], mu[active], weights[active], cov[active] = b, eta_new, mu_new, w2, inv
        finite = np.isfinite(dev)
        done = finite & (np.abs(dev - devold[active]) / (np.abs(dev) + 0.1) < epsilon)
        converged[active[done]] = True
        devold[active] = dev
        active = active[~done & finite]
    n_ok = (prior != 0).sum(axis=1)
    return GlmFit(
        coef=coef,
        eta=eta,
        mu=mu,
        weights=weights,
        cov_unscaled=cov,
        converged=converged,
        df_residual=(n_ok - p).astype(np.int64),
        residuals=(y - mu) / mu,
    )


def anscombe_residuals(fit: GlmFit, x: FloatArray, y: FloatArray, phi: FloatArray) -> FloatArray:
    """R's ``anscombe.residuals(m, phi)``: ``3/2·(y^(2/3)·μ^(−1/6) − μ^(1/2)) / √(φ·(1 − h))``."""
    mu = fit.mu
    a = 1.5 * (y ** (2.0 / 3.0) * mu ** (-1.0 / 6.0) - np.sqrt(mu))
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = a / np.sqrt(phi[:, np.newaxis] * (1 - fit.hat(x)))
    return result


def assign_weights(s: FloatArray, threshold: float) -> FloatArray:
    """R's ``algo.farrington.assign.weights``: ``γ·s⁻²`` above the threshold, ``γ`` elsewhere, mean weight 1."""
    above = s > threshold
    with np.errstate(divide="ignore"):
        inv_sq = np.where(above, s ** (-2.0), 1.0)
    gamma = s.shape[1] / inv_sq.sum(axis=1, keepdims=True)
    result: FloatArray = gamma * inv_sq
    return result


def _betacf(a: FloatArray, b: FloatArray, x: FloatArray) -> FloatArray:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes §6.4), element-wise."""
    tiny = 1e-300

    def clamp(v: FloatArray) -> FloatArray:
        return np.where(np.abs(v) < tiny, tiny, v)

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 / clamp(1.0 - qab * x / qap)
    h = d.copy()
    for m in range(1, 301):
        m2 = 2 * m
        num = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 / clamp(1.0 + num * d)
        c = clamp(1.0 + num / c)
        h *= d * c
        num = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 / clamp(1.0 + num * d)
        c = clamp(1.0 + num / c)
        delta = d * c
        h *= delta
        if np.all(np.abs(delta - 1.0) < 1e-15):
            break
    return h


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def pt_two_sided(t: FloatArray, df: FloatArray) -> FloatArray:
    """``2·pt(−|t|, df)`` (R's p-value of a t test), element-wise; NaN where ``t`` or ``df`` is not usable."""
    t = np.asarray(t, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    ok = np.isfinite(t) & (df > 0)
    out = np.full(t.shape, np.nan)
    out[np.isinf(t) & (df > 0)] = 0.0
    if not ok.any():
        return out
    tt, nu = t[ok], df[ok]
    x = nu / (nu + tt * tt)
    a, b = nu / 2.0, 0.5
    lbeta = np.asarray(_lgamma(a) + math.lgamma(b) - _lgamma(a + b), dtype=np.float64)
    with np.errstate(divide="ignore"):
        front = np.exp(a * np.log(x) + b * np.log1p(-x) - lbeta)
    b_arr = np.full_like(a, b)
    # I_x(a, b) directly where x < (a + 1)/(a + b + 2), else 1 − I_{1−x}(b, a)
    direct = x < (a + 1.0) / (a + b + 2.0)
    value = np.empty_like(x)
    d, r = direct, ~direct
    value[d] = front[d] * _betacf(a[d], b_arr[d], x[d]) / a[d]
    value[r] = 1.0 - front[r] * _betacf(b_arr[r], a[r], 1.0 - x[r]) / b
    out[ok] = np.clip(value, 0.0, 1.0)
    return out


_MAX_WINDOW = 50_000_000
"""Longest run of counts a quantile is searched over (mean ± 40 sd); beyond it the bound is left undefined."""


def _count_quantile(p: float, log_step: LogStep, mean: FloatArray, sd: FloatArray) -> FloatArray:
    """Smallest ``y`` with ``P(Y ≤ y) ≥ p·(1 − 64ε)`` (R's fuzz), element-wise.

    The probabilities are built over ``mean ± 40 sd`` (the mass outside is far below double precision) from the
    ratios ``pmf(y + 1)/pmf(y)`` in log space, and normalised over that window: no log-gamma cancellation even
    for large means. Problems with similar windows are handled together in chunks.
    """
    target = p * (1 - 64 * EPS)
    out = np.full(mean.shape, np.nan)
    usable = np.isfinite(mean) & np.isfinite(sd)
    lo = np.where(usable, np.maximum(0.0, np.floor(mean - 40 * sd)), 0.0)
    length = np.where(usable, np.ceil(mean + 40 * sd + 50) - lo, 0.0)
    todo = np.flatnonzero(usable & (length <= _MAX_WINDOW))
    todo = todo[np.argsort(length[todo], kind="stable")]
    begin = 0
    while begin < todo.size:
        width = int(length[todo[begin]])
        end = begin + 1
        while end < todo.size and (end - begin + 1) * int(length[todo[end]]) <= 4_000_000:
            end += 1
        rows = todo[begin:end]
        width = int(length[rows[-1]])
        k = lo[rows, np.newaxis] + np.arange(width - 1, dtype=np.float64)
        log_pmf = np.concatenate((np.zeros((rows.size, 1)), np.cumsum(log_step(rows, k), axis=1)), axis=1)
        pmf = np.exp(log_pmf - log_pmf.max(axis=1, keepdims=True))
        beyond = np.arange(width) >= length[rows, np.newaxis]
        pmf[beyond] = 0.0
        cdf = np.cumsum(pmf, axis=1)
        cdf /= cdf[:, -1:]
        out[rows] = lo[rows] + (cdf >= target).argmax(axis=1)
        begin = end
    return out


def qnbinom(p: float, size: FloatArray, prob: float | FloatArray) -> FloatArray:
    """R's ``qnbinom(p, size, prob)`` (lower tail), element-wise in ``size`` (and ``prob``)."""
    size = np.asarray(size, dtype=np.float64)
    prob_arr = np.broadcast_to(np.asarray(prob, dtype=np.float64), size.shape)
    ok = (size > 0) & (prob_arr > 0) & (prob_arr < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(ok, size * (1 - prob_arr) / prob_arr, np.nan)
        sd = np.where(ok, np.sqrt(size * (1 - prob_arr)) / prob_arr, np.nan)
    log_q = np.log1p(-prob_arr)

    def step(rows: IntArray, k: FloatArray) -> FloatArray:
        s = size[rows, np.newaxis]
        result: FloatArray = np.log((k + s) / (k + 1)) + log_q[rows, np.newaxis]
        return result

    out = _count_quantile(p, step, mean, sd)
    out[(size == 0) | (prob_arr == 1)] = 0.0
    return out


def qpois(p: float, lam: FloatArray) -> FloatArray:
    """R's ``qpois(p, lambda)`` (lower tail), element-wise."""
    lam = np.asarray(lam, dtype=np.float64)
    ok = lam > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lam = np.where(ok, np.log(lam), np.nan)

    def step(rows: IntArray, k: FloatArray) -> FloatArray:
        result: FloatArray = log_lam[rows, np.newaxis] - np.log(k + 1)
        return result

    out = _count_quantile(p, step, lam, np.sqrt(np.where(ok, lam, np.nan)))
    out[lam == 0] = 0.0
    return out
