"""The Farrington detector (Farrington et al. 1996), as ``algo.farrington`` / ``farrington`` of the R package
``surveillance``.

Definition: Farrington, Andrews, Beale & Catchpole (1996), "A statistical algorithm for the early detection of
outbreaks of infectious disease", J. R. Stat. Soc. A 159:547–563, https://doi.org/10.2307/2983331; R reference:
``algo.farrington`` in https://cran.r-project.org/package=surveillance (version 1.20.3).

For a monitored week ``k`` the reference values are the weeks ``k − i·freq − w … k − i·freq + w`` of the ``b``
previous years (those before the series start are left out, as R does). A quasi-Poisson GLM with the log link and
a linear time trend is fitted to them (R's ``algo.farrington.fitGLM.fast``); with ``reweight`` the reference weeks
with Anscombe residuals above 1 are down-weighted by ``s⁻²`` and the model refitted; the dispersion is
``φ = max(Pearson dispersion, 1)``. The trend is kept only when it is significant (t test p < 0.05), ``b ≥ 3`` and
the prediction does not exceed the largest reference count; otherwise the model is refitted without it. The
threshold is the upper limit of the two-sided ``1 − alpha`` prediction interval of ``μ₀`` on the ``powertrans``
scale (``2/3``: ``(μ₀^{2/3} + z·√(4/9·μ₀^{1/3}·τ))^{3/2}``, ``τ = φ + se(μ₀)²/μ₀``, ``z = Φ⁻¹(1 − alpha/2)``). An
alarm is raised when the count exceeds it — but only when the last ``limit54[1]`` weeks hold at least
``limit54[0]`` cases; otherwise R reports the bound as 0 and no alarm.

Where R differs from the paper: R's interval is two-sided (``alpha/2``), the paper's one-sided ``alpha`` is the
same number with alpha doubled; the bound is 0, not undefined, when ``limit54`` is not met. ``expected`` here is the
predicted mean ``μ₀``, which R returns as ``control$pd[, 2]`` (the median of the transformed normal).
``fitFun="algo.farrington.fitGLM"`` is the same model through ``glm()`` (identical results);
``"algo.farrington.fitGLM.populationOffset"`` adds ``offset(log(population))`` (population 1 where none is given,
as R does for a series without one). When a fit with the trend does not converge, the fast fit drops the trend
(as R does); the other two fit functions make R return nothing at all, and raise ValueError here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors._farrington_common import (
    EPS,
    POWERTRANS,
    Batch,
    GlmFit,
    anscombe_residuals,
    as_counts,
    assign_weights,
    check_alpha_limit54,
    delta_upper_bound,
    detections,
    glm_quasipoisson,
    limit54_param,
    parse_powertrans,
    population_matrix,
    pt_two_sided,
    qnorm,
)
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = ["FIT_FUNCTIONS", "FarringtonBatch", "farrington", "farrington_batch", "farrington_batch_params"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

FIT_FUNCTIONS = (
    "algo.farrington.fitGLM.fast",
    "algo.farrington.fitGLM",
    "algo.farrington.fitGLM.populationOffset",
)
"""R's ``fitFun`` choices (the first is R's default)."""


@dataclass(frozen=True, slots=True)
class FarringtonBatch(Batch):
    """Results for many series: arrays of shape (series, monitored weeks); NaN where R gives NA."""


def _fit(
    x: FloatArray,
    y: FloatArray,
    offset: FloatArray | None,
    reweight: bool,
) -> tuple[GlmFit, FloatArray]:
    """One design: the fit and ``φ = max(dispersion, 1)``, reweighted when asked (R's fitGLM without fallbacks)."""
    fit = glm_quasipoisson(x, y, offset=offset)
    phi = np.maximum(fit.dispersion(), 1.0)
    if reweight:
        omega = assign_weights(anscombe_residuals(fit, x, y, phi), 1.0)
        fit = glm_quasipoisson(x, y, prior=omega, offset=offset)
        phi = np.maximum(fit.dispersion(), 1.0)
    return fit, phi


def _fit_fun(
    x: FloatArray,
    y: FloatArray,
    offset: FloatArray | None,
    *,
    with_trend: bool,
    reweight: bool,
    fit_fun: str,
) -> tuple[GlmFit, FloatArray, BoolArray]:
    """R's ``fitFun(response, wtime, timeTrend, reweight)`` for every series: (fit, φ, has the trend column).

    The fit of a series without the trend is returned with a zero trend coefficient (its design column unused).
    """
    n_series = y.shape[0]
    design = x if with_trend else x[:, :1]
    first = glm_quasipoisson(design, y, offset=offset)
    has_trend = np.full(n_series, with_trend)
    if not first.converged.all():
        if fit_fun == FIT_FUNCTIONS[2] or not with_trend:
            raise ValueError(
                f"{fit_fun}: the GLM did not converge (R returns no result); use fitFun={FIT_FUNCTIONS[0]}"
            )
        has_trend &= first.converged
        if fit_fun == FIT_FUNCTIONS[1]:
            rows = np.flatnonzero(~first.converged)
            if not glm_quasipoisson(x[:, :1], y[rows]).converged.all():
                raise ValueError(
                    f"{fit_fun}: the GLM did not converge (R returns no result); use fitFun={FIT_FUNCTIONS[0]}"
                )
    fit, phi = _combine(x, y, offset, has_trend, reweight)
    return fit, phi, has_trend


def _combine(
    x: FloatArray, y: FloatArray, offset: FloatArray | None, has_trend: BoolArray, reweight: bool
) -> tuple[GlmFit, FloatArray]:
    """Fit each series with the trend where ``has_trend``, without elsewhere; results in the 2-column layout."""
    n_series, n = y.shape
    coef = np.zeros((n_series, 2))
    cov = np.zeros((n_series, 2, 2))
    fit = GlmFit(
        coef=coef,
        eta=np.zeros((n_series, n)),
        mu=np.zeros((n_series, n)),
        weights=np.zeros((n_series, n)),
        cov_unscaled=cov,
        converged=np.zeros(n_series, dtype=np.bool_),
        df_residual=np.zeros(n_series, dtype=np.int64),
        residuals=np.zeros((n_series, n)),
    )
    phi = np.zeros(n_series)
    for trend_here, design in ((True, x), (False, x[:, :1])):
        rows = np.flatnonzero(has_trend == trend_here)
        if rows.size == 0:
            continue
        part, part_phi = _fit(design, y[rows], None if offset is None else offset[rows], reweight)
        _store(fit, phi, rows, part, part_phi)
    return fit, phi


def farrington_batch(
    counts: npt.ArrayLike,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    alpha: float = 0.05,
    trend: bool = True,
    limit54: tuple[float, float] = (5, 4),
    powertrans: str = "2/3",
    fit_fun: str = "algo.farrington.fitGLM.fast",
    population: npt.ArrayLike | None = None,
    freq: int = 52,
) -> FarringtonBatch:
    """:func:`farrington` over many series at once (``counts``: series × time, all the same length)."""
    y_all = as_counts(counts)
    n_series, n = y_all.shape
    exponent = parse_powertrans(powertrans)
    if fit_fun not in FIT_FUNCTIONS:
        raise ValueError(f"fitFun={fit_fun!r}: choose one of {', '.join(FIT_FUNCTIONS)}")
    if b < 1 or w < 0:
        raise ValueError(f"b={b}, w={w}: b must be ≥ 1 and w ≥ 0")
    cases, period = check_alpha_limit54(alpha, limit54)
    use_offset = fit_fun == FIT_FUNCTIONS[2]
    pop = population_matrix(population, y_all, use_offset)
    weeks = monitored_range(n, range_start, freq * b - w)
    first_k = weeks.start + 1
    if first_k - period + 1 < 1:
        raise ValueError(f"range_start={first_k}: limit54 needs {period} weeks up to the first monitored one")
    z = qnorm(1 - alpha / 2)
    out = FarringtonBatch.empty(weeks.start, n_series, len(weeks))
    window = np.concatenate([np.arange(-freq * i - w, -freq * i + w + 1) for i in range(b, 0, -1)])
    for col, k0 in enumerate(weeks):
        k = k0 + 1
        wtime = window + k
        wtime = wtime[wtime > 0]
        if wtime.size < 3:
            raise ValueError(
                f"week {k}: only {wtime.size} reference weeks before it; start the range later "
                f"(R's default is {freq * b - w}) or lower b"
            )
        y = y_all[:, wtime - 1]
        offset = np.log(pop[:, wtime - 1]) if use_offset else None
        x = np.column_stack([np.ones(wtime.size), (wtime - k) / freq])
        offset_k = np.log(pop[:, k0]) if use_offset else np.zeros(n_series)
        fit, phi, has_trend = _fit_fun(x, y, offset, with_trend=trend, reweight=reweight, fit_fun=fit_fun)
        if has_trend.any():
            # R: keep the trend when significant (p < 0.05), b ≥ 3 and μ₀ ≤ max(reference counts)
            se_t = np.sqrt(fit.dispersion() * fit.cov_unscaled[:, 1, 1])
            with np.errstate(divide="ignore", invalid="ignore"):
                p_value = pt_two_sided(fit.coef[:, 1] / se_t, fit.df_residual.astype(np.float64))
            mu0_hat = np.maximum(np.exp(fit.coef[:, 0] + offset_k), EPS)
            keep = has_trend & (b >= 3) & (p_value < 0.05) & (mu0_hat <= y.max(axis=1))
            drop = has_trend & ~keep
            if drop.any():
                rows = np.flatnonzero(drop)
                refit, rephi, _ = _fit_fun(
                    x,
                    y[rows],
                    None if offset is None else offset[rows],
                    with_trend=False,
                    reweight=reweight,
                    fit_fun=fit_fun,
                )
                _store(fit, phi, rows, refit, rephi)
            has_trend = keep
        # the prediction at week k (the trend column is 0 there): predict.glm(dispersion = φ, se.fit = TRUE)
        eta0 = fit.coef[:, 0] + offset_k
        mu0 = np.maximum(np.exp(eta0), EPS)
        se = np.sqrt(fit.cov_unscaled[:, 0, 0] * phi) * mu0
        upper = delta_upper_bound(mu0, se, phi, z, exponent)
        obs = y_all[:, k0]
        enough = y_all[:, k - period : k].sum(axis=1) >= cases
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(enough, (obs - mu0) / (upper - mu0), 0.0)
        out.expected[:, col] = np.where(np.isnan(se), np.nan, mu0)
        out.upperbound[:, col] = np.where(enough, upper, 0.0)
        out.alarm[:, col] = score > 1
        out.trend[:, col] = has_trend
    return out


def _store(fit: GlmFit, phi: FloatArray, rows: IntArray, part: GlmFit, part_phi: FloatArray) -> None:
    """Put ``part`` (its first ``p`` coefficients) in the rows ``rows`` of ``fit`` and ``phi``."""
    p = part.coef.shape[1]
    fit.coef[rows, :p] = part.coef
    fit.cov_unscaled[rows, :p, :p] = part.cov_unscaled
    fit.eta[rows], fit.mu[rows], fit.weights[rows] = part.eta, part.mu, part.weights
    fit.converged[rows], fit.df_residual[rows], fit.residuals[rows] = (
        part.converged,
        part.df_residual,
        part.residuals,
    )
    phi[rows] = part_phi


def farrington(
    counts: Sequence[float] | npt.ArrayLike,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    alpha: float = 0.05,
    trend: bool = True,
    limit54: tuple[float, float] = (5, 4),
    powertrans: str = "2/3",
    fit_fun: str = "algo.farrington.fitGLM.fast",
    population: Sequence[float] | None = None,
    freq: int = 52,
) -> list[Detection]:
    """R's ``algo.farrington(disProg, control = list(range, b, w, reweight, alpha, trend, limit54, powertrans,
    fitFun))`` on one series counted by week index.

    ``range_start`` is the first week of R's ``range`` (1-based; default ``freq·b − w``, R's), ``fit_fun`` R's
    ``fitFun``, ``population`` R's ``populationFrac`` (used by ``fitFun="algo.farrington.fitGLM.populationOffset"``),
    ``freq`` the weeks per year.
    """
    y = as_counts(counts)
    if y.shape[0] != 1:
        raise ValueError("farrington: give one series (farrington_batch takes many)")
    result = farrington_batch(
        y,
        range_start=range_start,
        b=b,
        w=w,
        reweight=reweight,
        alpha=alpha,
        trend=trend,
        limit54=limit54,
        powertrans=powertrans,
        fit_fun=fit_fun,
        population=None if population is None else [list(population)],
        freq=freq,
    )
    return detections(y, result)


def farrington_batch_params(
    counts: npt.ArrayLike, params: Params, range_start: int | None, freq: int
) -> FarringtonBatch:
    """:func:`farrington_batch` with the parameters as R names them (the command line's and a plan's)."""
    return farrington_batch(
        counts,
        range_start=range_start,
        b=params.integer("b", 5),
        w=params.integer("w", 3),
        reweight=params.boolean("reweight", True),
        alpha=params.number("alpha", 0.05),
        trend=params.boolean("trend", True),
        limit54=limit54_param(params),
        powertrans=params.choice("powertrans", tuple(POWERTRANS), "2/3"),
        fit_fun=params.choice("fitFun", FIT_FUNCTIONS, FIT_FUNCTIONS[0]),
        freq=freq,
    )


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    result = farrington_batch_params(counts, params, range_start, freq)
    return detections(as_counts(counts), result)


FARRINGTON = register(
    MethodSpec(
        name="farrington",
        run=_run,
        summary="Farrington et al. (1996): quasi-Poisson GLM on the same weeks of past years (R algo.farrington)",
        parameters={
            "b": "years back (default 5)",
            "w": "half-width of the window of weeks around each reference week (default 3)",
            "reweight": "down-weight past outbreaks by their Anscombe residuals (default TRUE)",
            "alpha": "level of the two-sided prediction interval (default 0.05)",
            "trend": "fit a time trend, kept when significant (default TRUE)",
            "limit54": "c(cases,weeks): no alarm unless the last weeks hold that many cases (default c(5,4))",
            "powertrans": "2/3, 1/2 or none: scale of the prediction interval (default 2/3)",
            "fitFun": "algo.farrington.fitGLM.fast (default), algo.farrington.fitGLM, "
            "algo.farrington.fitGLM.populationOffset (population 1 on the command line)",
        },
    )
)
