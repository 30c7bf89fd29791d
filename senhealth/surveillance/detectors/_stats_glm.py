"""Small statistics shared by the CUSUM, GLR and Bayes detectors, written to reproduce R step by step.

- :func:`glm_log_fit`: R's ``glm.fit`` (iteratively reweighted least squares, https://stat.ethz.ch/R-manual/R-devel/
  library/stats/html/glm.html) for the Poisson and the fixed-``theta`` negative-binomial family
  (``MASS::negative.binomial``) with the log link, over many series sharing one design matrix. It is hand-written
  rather than taken from statsmodels because parity to 1e-6 needs R's own start (``mustart = y + 0.1`` for Poisson,
  ``y + (y == 0)/6`` for the negative binomial), R's stopping rule (relative deviance change < 1e-8, at most 25
  iterations) and the same number of iterations per series; batching thousands of series through one numpy
  computation is what the benchmark needs as well.
- :func:`harmonic_design`: R's ``1 + [t] + cos(2·s·π/p·t) + sin(2·s·π/p·t)`` model matrix.
- :func:`qnbinom`: R's ``qnbinom(p, size, prob)``, the smallest ``y`` with ``P(Y ≤ y) ≥ p·(1 − 64ε)`` (R's fuzz for
  left continuity), from the probability mass summed in log space (no scipy).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["glm_log_fit", "harmonic_design", "qnbinom"]

FloatArray = npt.NDArray[np.float64]
_EPS = float(np.finfo(np.float64).eps)


def harmonic_design(t: FloatArray, period: float, harmonics: int = 1, trend: bool = False) -> FloatArray:
    """Columns ``1, [t], cos(2·s·π/p·t), sin(2·s·π/p·t)`` for ``s = 1..harmonics`` (R's formula order)."""
    columns = [np.ones_like(t)]
    if trend:
        columns.append(t)
    for s in range(1, harmonics + 1):
        angle = (2 * s) * math.pi / period * t
        columns += [np.cos(angle), np.sin(angle)]
    return np.column_stack(columns)


def _dev_poisson(y: FloatArray, mu: FloatArray) -> FloatArray:
    # y·log(y/mu) − (y − mu) where y > 0, mu where y = 0 (R's poisson()$dev.resids)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = y * np.log(y / mu)
    r[y == 0] = 0.0
    r += mu - y
    return 2 * r.sum(axis=-1)


def _dev_negbin(y: FloatArray, mu: FloatArray, theta: float) -> FloatArray:
    r = y * np.log(np.maximum(1.0, y) / mu) - (y + theta) * np.log((y + theta) / (mu + theta))
    return 2 * r.sum(axis=-1)


def glm_log_fit(
    x: FloatArray,
    y: FloatArray,
    family: Literal["poisson", "negbin"] = "poisson",
    theta: float = math.inf,
    *,
    epsilon: float = 1e-8,
    maxit: int = 25,
) -> FloatArray:
    """Coefficients (series × columns) of R's ``glm(y ~ x - 1, family)`` with the log link, for each row of ``y``.

    ``x``: the design (time × columns) shared by every series; ``y``: counts (series × time). ``family="negbin"``
    is ``MASS::negative.binomial(theta)``. Each series stops at its own iteration as ``glm.fit`` would.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))

    def dev_fn(yy: FloatArray, mm: FloatArray) -> FloatArray:
        return _dev_poisson(yy, mm) if family == "poisson" else _dev_negbin(yy, mm, theta)

    mu = y + 0.1 if family == "poisson" else y + (y == 0) / 6
    eta = np.log(mu)
    mu = np.maximum(np.exp(eta), _EPS)
    devold = dev_fn(y, mu)
    p = x.shape[1]
    outer = (x[:, :, np.newaxis] * x[:, np.newaxis, :]).reshape(x.shape[0], p * p)
    beta = np.zeros((y.shape[0], p))
    active = np.ones(y.shape[0], dtype=np.bool_)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        whole = idx.size == y.shape[0]
        ya = y if whole else y[idx]
        mua = mu if whole else mu[idx]
        etaa = eta if whole else eta[idx]
        # log link: mu.eta(eta) = max(exp(eta), eps) = mu, so z = eta + (y - mu)/mu and w² = mu²/V(mu)
        z = etaa + (ya - mua) / mua
        w2 = mua if family == "poisson" else mua / (1 + mua / theta)
        xtwx = (w2 @ outer).reshape(-1, p, p)
        xtwz = (w2 * z) @ x
        b = np.linalg.solve(xtwx, xtwz[..., np.newaxis])[..., 0]
        beta[idx] = b
        eta_new = b @ x.T
        mu_new = np.maximum(np.exp(eta_new), _EPS)
        dev = dev_fn(ya, mu_new)
        if whole:
            eta, mu = eta_new, mu_new
        else:
            eta[idx], mu[idx] = eta_new, mu_new
        converged = np.abs(dev - devold[idx]) / (np.abs(dev) + 0.1) < epsilon
        devold[idx] = dev
        active[idx[converged]] = False
    return beta


def glm_predict(beta: FloatArray, x: FloatArray) -> FloatArray:
    """``predict(type = "response")``: ``max(exp(x·β), ε)`` (series × time)."""
    return np.maximum(np.exp(beta @ x.T), _EPS)


def qnbinom(p: float, size: float, prob: float) -> float:
    """R's ``qnbinom(p, size, prob)`` (lower tail): the smallest ``y ≥ 0`` with ``pnbinom(y) ≥ p·(1 − 64ε)``."""
    if not (0 < prob <= 1) or size < 0 or math.isnan(size):
        return math.nan
    if prob == 1 or size == 0:
        return 0.0
    target = p * (1 - 64 * _EPS)
    mean = size * (1 - prob) / prob
    sd = math.sqrt(size * (1 - prob)) / prob
    top = int(mean + 40 * sd + 50)
    while True:
        k = np.arange(top + 1, dtype=np.float64)
        # log pmf(k) = lgamma(k + size) - lgamma(size) - lgamma(k + 1) + size log(prob) + k log(1 - prob),
        # accumulated as log pmf(0) + Σ log((j + size)/(j + 1)) + k log(1 - prob)
        steps = np.log((k[:-1] + size) / (k[:-1] + 1)) + math.log1p(-prob)
        log_pmf = size * math.log(prob) + np.concatenate(([0.0], np.cumsum(steps)))
        cdf = np.cumsum(np.exp(log_pmf))
        hit = np.flatnonzero(cdf >= target)
        if hit.size:
            return float(hit[0])
        top *= 2
