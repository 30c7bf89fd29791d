"""The improved Farrington detector (Noufaily et al. 2013), as ``farringtonFlexible`` of the R package
``surveillance``.

Definition: Noufaily, Enki, Farrington, Garthwaite, Andrews & Charlett (2013), "An improved algorithm for
outbreak detection in multiple surveillance systems", Statistics in Medicine 32:1206–1222,
https://doi.org/10.1002/sim.5595; R reference: ``farringtonFlexible`` in
https://cran.r-project.org/package=surveillance (version 1.20.3).

For a monitored week ``k`` the weeks ``k − i·freq ± w`` (``i = 1..b``) and ``k − w … k`` are the reference
windows (seasonal factor level ``noPeriods``); with ``noPeriods > 1`` the ``freq − 2w − 1`` weeks between two
windows are cut into ``noPeriods − 1`` blocks (levels ``1 … noPeriods − 1``, the first blocks one week longer
when the weeks do not divide evenly), so all weeks of the last ``b`` years enter the model. The last
``pastWeeksNotIncluded + 1`` weeks up to ``k`` are left out (default ``w``). A quasi-Poisson GLM with the log
link, ``1 + wtime`` (if ``trend``) ``+ seasgroups`` (if ``noPeriods > 1``) ``+ offset(log(population))`` (if
``populationOffset``) is fitted; with ``reweight`` the weeks with Anscombe residuals above ``weightsThreshold``
are down-weighted by ``s⁻²`` and the model refitted; ``φ = max(Pearson dispersion, 1)``. The trend is kept when
its t test p-value is below ``pThresholdTrend``, ``b ≥ 3`` and the prediction does not exceed the largest
reference count. Thresholds (``thresholdMethod``):

- ``delta``: Farrington's one-sided ``1 − alpha`` bound on the ``powertrans`` scale, by the delta method;
- ``nbPlugin``: the ``1 − alpha`` quantile of a negative binomial with mean ``μ₀ = exp(η₀)`` and variance
  ``φ·μ₀`` (Poisson when ``φ = 1``);
- ``muan``: the same with ``μ₀`` replaced by ``exp(η₀ + Φ⁻¹(1 − alpha)·se(η₀))``.

An alarm needs the count to exceed the bound, a count above 0 and at least ``limit54[0]`` cases in the last
``limit54[1]`` weeks (otherwise the bound is NA: ``None``). ``expected`` is R's ``control$expected``: ``μ₀``
(``exp(η₀)`` for nbPlugin and muan), ``None`` where the bound is. Where the GLM does not converge (with nor
without the trend) R gives NA for the week; so does this.

R's defaults: ``b=5, w=3, reweight=TRUE, weightsThreshold=2.58, alpha=0.05, trend=TRUE, pThresholdTrend=0.05,
limit54=c(5,4), powertrans="2/3", populationOffset=FALSE, noPeriods=1, pastWeeksNotIncluded=NULL (= w),
thresholdMethod="delta"``. The paper's settings (R's help page example): ``noPeriods=10,
pastWeeksNotIncluded=26, weightsThreshold=2.58, pThresholdTrend=1, thresholdMethod="nbPlugin"`` (b=5, w=3).

Reproduced R details that differ from the paper: (1) after reweighting R replaces the model's working weights by
the prior weights ``ω``, so the dispersion behind the trend's t test and behind the standard error of the
prediction (``predict.glm`` is called with ``dispersion`` inside ``newdata``, i.e. not at all) is
``Σ ω·r²/df`` with the working residuals ``r = (y − μ)/μ``, not ``φ``; (2) the score is
``(y − η₀)/(U − η₀)`` with ``η₀`` on the log scale for nbPlugin and muan, so the alarm is ``y > U`` only when
``U > η₀`` (always in practice). The GLM is the hand-written IRLS of ``_farrington_common`` (see there why).
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
    qnbinom,
    qnorm,
    qpois,
)
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = [
    "THRESHOLD_METHODS",
    "FlexibleBatch",
    "farrington_flexible",
    "farrington_flexible_batch",
    "farrington_flexible_batch_params",
    "seasonal_blocks",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

THRESHOLD_METHODS = ("delta", "nbPlugin", "muan")


@dataclass(frozen=True, slots=True)
class FlexibleBatch(Batch):
    """Results for many series: arrays of shape (series, monitored weeks); NaN where R gives NA."""


def _colon(a: int, b: int) -> range:
    """R's ``a:b`` (descending when ``b < a``)."""
    return range(a, b + 1) if b >= a else range(a, b - 1, -1)


def seasonal_blocks(k: int, n: int, *, b: int, w: int, no_periods: int, freq: int) -> IntArray:
    """R's ``blocks()``: the seasonal factor level of each week (0 = not used), for the 1-based week ``k``."""
    levels = np.zeros(n + 1, dtype=np.int64)  # 1-based; index 0 unused
    levels[k - w : k + 1] = no_periods
    reference = [k - i * freq for i in range(b + 1)]
    for i in range(1, b + 1):
        ref = reference[i]
        levels[ref - w : ref + w + 1] = no_periods
        if no_periods != 1:
            period = reference[i - 1] - 2 * w - 1 - ref
            if period < no_periods - (2 * w + 1):
                raise ValueError(
                    f"noPeriods={no_periods} is too big for w={w}: R stops (Number of factors too big)"
                )
            length, rest = divmod(period, no_periods - 1)
            lengths = [length + (1 if j < rest else 0) for j in range(no_periods - 1)]
            cum = np.concatenate(([0], np.cumsum(lengths)))
            for j in range(1, no_periods):
                for t in _colon(ref + w + 1 + int(cum[j - 1]), ref + w + 1 + int(cum[j]) - 1):
                    levels[t] = j
    return levels[1:]


@dataclass(slots=True)
class _Model:
    """A fitted ``algo.farrington.fitGLM.flexible`` model per series (rows of the group)."""

    fit: GlmFit
    phi: FloatArray
    """``max(dispersion, 1)``."""
    summary_dispersion: FloatArray
    """What ``summary.glm`` later finds (with the prior weights in place of the working weights)."""
    ok: BoolArray
    """False where R's fit function returns NULL (no convergence)."""


def _fit_flexible(
    x: FloatArray,
    y: FloatArray,
    offset: FloatArray | None,
    *,
    reweight: bool,
    weights_threshold: float,
) -> _Model:
    fit = glm_quasipoisson(x, y, offset=offset)
    ok = fit.converged.copy()
    phi = np.maximum(fit.dispersion(), 1.0)
    summary_dispersion = fit.dispersion()
    if reweight:
        omega = assign_weights(anscombe_residuals(fit, x, y, phi), weights_threshold)
        fit = glm_quasipoisson(x, y, prior=omega, offset=offset)
        phi = np.maximum(fit.dispersion(), 1.0)
        summary_dispersion = fit.dispersion(weights=omega)
    else:
        summary_dispersion = fit.dispersion()
    return _Model(fit, phi, summary_dispersion, ok)


def farrington_flexible_batch(
    counts: npt.ArrayLike,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    alpha: float = 0.05,
    trend: bool = True,
    p_threshold_trend: float = 0.05,
    limit54: tuple[float, float] = (5, 4),
    powertrans: str = "2/3",
    population_offset: bool = False,
    no_periods: int = 1,
    past_weeks_not_included: int | None = None,
    threshold_method: str = "delta",
    population: npt.ArrayLike | None = None,
    freq: int = 52,
) -> FlexibleBatch:
    """:func:`farrington_flexible` over many series at once (``counts``: series × time, all the same length)."""
    y_all = as_counts(counts)
    n_series, n = y_all.shape
    exponent = parse_powertrans(powertrans)
    if threshold_method not in THRESHOLD_METHODS:
        raise ValueError(
            f"thresholdMethod={threshold_method!r}: choose one of {', '.join(THRESHOLD_METHODS)}"
        )
    if b < 1 or w < 0 or no_periods < 1:
        raise ValueError(f"b={b}, w={w}, noPeriods={no_periods}: b and noPeriods must be ≥ 1 and w ≥ 0")
    cases, period = check_alpha_limit54(alpha, limit54)
    past = w if past_weeks_not_included is None else past_weeks_not_included
    if past < 0:
        raise ValueError(f"pastWeeksNotIncluded={past}: must be ≥ 0")
    pop = population_matrix(population, y_all, population_offset)
    default_start = freq * b + w + 1
    weeks = monitored_range(n, range_start, default_start)
    if weeks.start + 1 < default_start:
        raise ValueError(
            f"range_start={weeks.start + 1}: b={b} years of history (and w={w} weeks) are needed before it; "
            f"start at week {default_start} or later, or lower b"
        )
    z_delta = qnorm(1 - alpha)
    out = FlexibleBatch.empty(weeks.start, n_series, len(weeks))
    factors = no_periods != 1
    for col, k0 in enumerate(weeks):
        k = k0 + 1
        levels = seasonal_blocks(k, n, b=b, w=w, no_periods=no_periods, freq=freq)
        levels[max(k - past, 1) - 1 : k] = 0
        idx = np.flatnonzero(levels > 0)
        y = y_all[:, idx]
        offset = np.log(pop[:, idx]) if population_offset else None
        offset_k = np.log(pop[:, k0]) if population_offset else np.zeros(n_series)
        columns = [np.ones(idx.size)]
        x0 = [1.0]
        if trend:
            columns.append((idx + 1 - k) / freq)
            x0.append(0.0)
        if factors:
            present = np.unique(levels[idx])
            for level in present[1:]:
                columns.append((levels[idx] == level).astype(np.float64))
                x0.append(1.0 if level == no_periods else 0.0)
        x_full = np.column_stack(columns)
        x0_full = np.array(x0)
        keep_cols = [0, *range(2 if trend else 1, len(x0))]
        x_notrend, x0_notrend = x_full[:, keep_cols], x0_full[keep_cols]

        def fit_rows(
            rows: IntArray,
            with_trend: bool,
            x_full: FloatArray = x_full,
            x_notrend: FloatArray = x_notrend,
            y: FloatArray = y,
            offset: FloatArray | None = offset,
        ) -> _Model:
            return _fit_flexible(
                x_full if with_trend else x_notrend,
                y[rows],
                None if offset is None else offset[rows],
                reweight=reweight,
                weights_threshold=weights_threshold,
            )

        all_rows = np.arange(n_series)
        eta0 = np.full(n_series, np.nan)
        var0 = np.full(n_series, np.nan)
        phi = np.full(n_series, np.nan)
        disp = np.full(n_series, np.nan)
        kept = np.zeros(n_series, dtype=np.bool_)
        no_trend_rows = all_rows
        if trend:
            model = fit_rows(all_rows, True)
            # no convergence with the trend: R refits without it
            with_trend_rows = all_rows[model.ok]
            no_trend_rows = all_rows[~model.ok]
            if with_trend_rows.size:
                sub = _take(model, model.ok)
                coef_t = sub.fit.coef[:, 1]
                se_t = np.sqrt(sub.summary_dispersion * sub.fit.cov_unscaled[:, 1, 1])
                with np.errstate(divide="ignore", invalid="ignore"):
                    p_value = pt_two_sided(coef_t / se_t, sub.fit.df_residual.astype(np.float64))
                eta_hat = sub.fit.coef @ x0_full + offset_k[with_trend_rows]
                mu_hat = np.maximum(np.exp(eta_hat), EPS)
                keep = (b >= 3) & (p_value < p_threshold_trend) & (mu_hat <= y[with_trend_rows].max(axis=1))
                rows = with_trend_rows[keep]
                kept[rows] = True
                eta0[rows] = eta_hat[keep]
                cov = sub.fit.cov_unscaled[keep]
                var0[rows] = np.einsum("p,spq,q->s", x0_full, cov, x0_full)
                phi[rows] = sub.phi[keep]
                disp[rows] = sub.summary_dispersion[keep]
                no_trend_rows = np.sort(np.concatenate([no_trend_rows, with_trend_rows[~keep]]))
        if no_trend_rows.size:
            model = fit_rows(no_trend_rows, False)
            rows = no_trend_rows[model.ok]
            sub = _take(model, model.ok)
            eta0[rows] = sub.fit.coef @ x0_notrend + offset_k[rows]
            var0[rows] = np.einsum("p,spq,q->s", x0_notrend, sub.fit.cov_unscaled, x0_notrend)
            phi[rows] = sub.phi
            disp[rows] = sub.summary_dispersion
        se_eta = np.sqrt(var0 * disp)
        obs = y_all[:, k0]
        if threshold_method == "delta":
            mu0 = np.maximum(np.exp(eta0), EPS)
            pred_fit = mu0
            upper = delta_upper_bound(mu0, se_eta * mu0, phi, z_delta, exponent)
            mean = mu0
        else:
            pred_fit = eta0
            with np.errstate(over="ignore"):
                mu_q = np.exp(eta0) if threshold_method == "nbPlugin" else np.exp(eta0 + z_delta * se_eta)
            upper = np.full(n_series, np.nan)
            finite = np.isfinite(mu_q)
            nb = finite & (phi > 1)
            pois = finite & (phi <= 1)
            if nb.any():
                upper[nb] = qnbinom(1 - alpha, mu_q[nb] / (phi[nb] - 1), 1 / phi[nb])
            if pois.any():
                upper[pois] = qpois(1 - alpha, mu_q[pois])
            with np.errstate(over="ignore"):
                mean = np.exp(eta0)
        enough = y_all[:, k - period : k].sum(axis=1) >= cases
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (obs - pred_fit) / (upper - pred_fit)
        has_upper = ~np.isnan(upper)
        out.alarm[:, col] = enough & has_upper & (score > 1) & (obs != 0)
        out.upperbound[:, col] = np.where(enough, upper, np.nan)
        out.expected[:, col] = np.where(enough & has_upper, mean, np.nan)
        out.trend[:, col] = kept
    return out


def _take(model: _Model, mask: BoolArray) -> _Model:
    rows = np.flatnonzero(mask)
    return _Model(model.fit.take(rows), model.phi[rows], model.summary_dispersion[rows], model.ok[rows])


def farrington_flexible(
    counts: Sequence[float] | npt.ArrayLike,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    alpha: float = 0.05,
    trend: bool = True,
    p_threshold_trend: float = 0.05,
    limit54: tuple[float, float] = (5, 4),
    powertrans: str = "2/3",
    population_offset: bool = False,
    no_periods: int = 1,
    past_weeks_not_included: int | None = None,
    threshold_method: str = "delta",
    population: Sequence[float] | None = None,
    freq: int = 52,
) -> list[Detection]:
    """R's ``farringtonFlexible(sts, control = list(range, b, w, reweight, weightsThreshold, alpha, trend,
    pThresholdTrend, limit54, powertrans, populationOffset, noPeriods, pastWeeksNotIncluded, thresholdMethod))`` on
    one series counted by week index (an ``sts`` without dates).

    ``range_start`` is the first week of R's ``range`` (1-based; default ``freq·b + w + 1``, R's); ``population``
    the ``sts`` population (1 when not given, as R), used with ``population_offset``; ``freq`` the weeks per year.
    """
    y = as_counts(counts)
    if y.shape[0] != 1:
        raise ValueError("farrington_flexible: give one series (farrington_flexible_batch takes many)")
    result = farrington_flexible_batch(
        y,
        range_start=range_start,
        b=b,
        w=w,
        reweight=reweight,
        weights_threshold=weights_threshold,
        alpha=alpha,
        trend=trend,
        p_threshold_trend=p_threshold_trend,
        limit54=limit54,
        powertrans=powertrans,
        population_offset=population_offset,
        no_periods=no_periods,
        past_weeks_not_included=past_weeks_not_included,
        threshold_method=threshold_method,
        population=None if population is None else [list(population)],
        freq=freq,
    )
    return detections(y, result)


def farrington_flexible_batch_params(
    counts: npt.ArrayLike, params: Params, range_start: int | None, freq: int
) -> FlexibleBatch:
    """:func:`farrington_flexible_batch` with the parameters as R names them (the command line's and a plan's)."""
    return farrington_flexible_batch(
        counts,
        range_start=range_start,
        b=params.integer("b", 5),
        w=params.integer("w", 3),
        reweight=params.boolean("reweight", True),
        weights_threshold=params.number("weightsThreshold", 2.58),
        alpha=params.number("alpha", 0.05),
        trend=params.boolean("trend", True),
        p_threshold_trend=params.number("pThresholdTrend", 0.05),
        limit54=limit54_param(params),
        powertrans=params.choice("powertrans", tuple(POWERTRANS), "2/3"),
        population_offset=params.boolean("populationOffset", False),
        no_periods=params.integer("noPeriods", 1),
        past_weeks_not_included=params.optional_integer("pastWeeksNotIncluded"),
        threshold_method=params.choice("thresholdMethod", THRESHOLD_METHODS, "delta"),
        freq=freq,
    )


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    result = farrington_flexible_batch_params(counts, params, range_start, freq)
    return detections(as_counts(counts), result)


FARRINGTON_FLEXIBLE = register(
    MethodSpec(
        name="farrington-flexible",
        run=_run,
        summary="Noufaily et al. (2013): improved Farrington, seasonal blocks and NB thresholds "
        "(R farringtonFlexible)",
        parameters={
            "b": "years back (default 5)",
            "w": "half-width of the reference windows (default 3)",
            "reweight": "down-weight past outbreaks (default TRUE)",
            "weightsThreshold": "Anscombe residual above which a week is down-weighted (default 2.58)",
            "alpha": "one-sided level (default 0.05)",
            "trend": "fit a time trend (default TRUE)",
            "pThresholdTrend": "p-value below which the trend is kept (default 0.05; the paper: 1)",
            "limit54": "c(cases,weeks): no alarm unless the last weeks hold that many cases (default c(5,4))",
            "powertrans": "2/3, 1/2 or none, for thresholdMethod=delta (default 2/3)",
            "populationOffset": "offset log(population) (default FALSE; population 1 on the command line)",
            "noPeriods": "seasonal factor levels (default 1 = windows only; the paper: 10)",
            "pastWeeksNotIncluded": "recent weeks left out of the fit (default w; the paper: 26)",
            "thresholdMethod": "delta (default), nbPlugin or muan (the paper: nbPlugin)",
        },
    )
)
