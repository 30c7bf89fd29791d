"""CUSUM for counts, as ``cusum`` / ``algo.cusum`` of the R package ``surveillance``.

Definition: Rossi, Lampugnani and Marchi (1999), https://doi.org/10.1002/(SICI)1097-0258(19990830)18:16%3C2111::
AID-SIM171%3E3.0.CO;2-Q; R reference: ``algo.cusum`` in https://cran.r-project.org/package=surveillance (1.20.3).

Over the monitored points ``t`` (R's ``range``) with in-control mean ``m`` the counts are standardised,
``z_t = trans(x_t, m)``, and summed: ``S_t = max(0, S_{t−1} + z_t − k)``, ``S`` starting at 0 before the range and
never reset; alarm when ``S_t ≥ h``. ``trans`` (R's names):

- ``standard``: ``(x − m)/√m``; ``rossi``: ``(x − 3m + 2√(x·m))/(2√m)``;
- ``anscombe``: ``3/2·(x^(2/3) − m^(2/3))/m^(1/6)``; ``anscombe2nd``: ``(x^(2/3) − (m^(2/3) − m^(−1/3)/9))/(2/3·m^(1/6))``;
- ``pearsonNegBin``: ``(x − m)/√(m + alpha·m²)`` (``alpha`` default 0.1); ``none``: ``x``.

R's ``anscombeNegBin`` reads a tabulated hypergeometric function shipped in the package; it is not offered here.

In-control mean ``m`` (R's ``m``): ``None`` (R's NULL) is the mean of all points before the range; a number is used
as is; ``"glm"`` fits ``glm(x ~ 1 + cos(2π/p·t) + sin(2π/p·t), poisson)`` to the points before the range
(``t = start + i − 1``, ``start`` R's ``disProgObj$start[2]``, the week of year of the first point) and predicts
each monitored point.

The upper bound is R's, the count that would make ``S_t`` reach ``h`` given ``S_{t−1}``, in counts — for
``standard`` rounded **up**: ``ceiling(√m·(h + k − S_{t−1}) + m)``; for ``rossi``
``2h√m + 2k√m − 2S_{t−1}√m + 5m − 2√(4m² + 2m^{3/2}h + 2m^{3/2}k − 2m^{3/2}S_{t−1})``; for ``anscombe`` and
``anscombe2nd`` the inverse transforms (R's ``anscombe2nd`` bound uses ``m^(1/3)/9`` where its transform uses
``m^(−1/3)/9``: kept as R has it); for ``pearsonNegBin`` ``√(m + alpha·m²)·(h + k − S_{t−1}) + m``; for ``none``
``h − S_t``. NaN and negative bounds become 0, as in R. The alarm is ``S_t ≥ h``, not ``x_t > bound``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors._stats_glm import glm_log_fit, glm_predict, harmonic_design
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = ["TRANSFORMS", "CusumBatch", "cusum", "cusum_batch"]

Trans = Literal["standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none"]
TRANSFORMS: tuple[str, ...] = ("standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none")
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CusumBatch:
    """Results for many series: arrays of shape (series, monitored points)."""

    start: int
    """0-based index of the first monitored point."""
    expected: FloatArray
    """The in-control mean ``m`` of each monitored point."""
    upperbound: FloatArray
    alarm: BoolArray
    statistic: FloatArray
    """``S_t``, the cumulative sum."""


def _default_start(n: int, freq: int) -> int:
    """No R default (``range`` is required there): monitor the last year, the years before as reference."""
    return max(n - freq + 1, 2)


def cusum_batch(
    counts: npt.ArrayLike,
    *,
    range_start: int | None = None,
    k: float = 1.04,
    h: float = 2.26,
    m: float | Literal["glm"] | None = None,
    trans: Trans = "standard",
    alpha: float | None = None,
    freq: int = 52,
    start: int = 1,
) -> CusumBatch:
    """CUSUM over many series at once: ``counts`` of shape (series, time); arguments as :func:`cusum`."""
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError("counts must be one non-empty series or a 2-D array (series × time)")
    if trans not in TRANSFORMS:
        raise ValueError(f"cusum: trans={trans!r}: choose one of {', '.join(TRANSFORMS)}")
    n = y.shape[1]
    first = monitored_range(n, range_start, _default_start(n, freq)).start
    if first < 1:
        raise ValueError(
            "cusum: the first monitored point needs at least one earlier point for m (range_start ≥ 2)"
        )
    a = 0.1 if alpha is None else alpha
    x = y[:, first:]
    if m is None:
        mean = y[:, :first].mean(axis=1)[:, np.newaxis] * np.ones_like(x)
    elif isinstance(m, str):
        if m != "glm":
            raise ValueError(f"cusum: m={m!r}: write a number, NULL or glm")
        if first < 3:
            raise ValueError(
                "cusum: m=glm needs at least 3 points before the monitored range (range_start ≥ 4)"
            )
        design = harmonic_design(start + np.arange(first, dtype=np.float64), freq)
        beta = glm_log_fit(design, y[:, :first])
        mean = glm_predict(beta, harmonic_design(start + np.arange(first, n, dtype=np.float64), freq))
    else:
        mean = np.full_like(x, float(m))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = _standardise(x, mean, trans, a)
        stat = np.zeros((y.shape[0], n - first + 1))
        for j in range(n - first):
            stat[:, j + 1] = np.maximum(0.0, stat[:, j] + (z[:, j] - k))
        before, after = stat[:, :-1], stat[:, 1:]
        upper = _bound(mean, before, after, trans, h, k, a)
    upper[np.isnan(upper)] = 0.0
    upper[upper < 0] = 0.0
    return CusumBatch(first, mean, upper, after >= h, after)


def _standardise(x: FloatArray, m: FloatArray, trans: Trans, alpha: float) -> FloatArray:
    if trans == "standard":
        return (x - m) / np.sqrt(m)
    if trans == "rossi":
        return (x - 3 * m + 2 * np.sqrt(x * m)) / (2 * np.sqrt(m))
    if trans == "anscombe":
        return 3 / 2 * (x ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6)
    if trans == "anscombe2nd":
        return (x ** (2 / 3) - (m ** (2 / 3) - m ** (-1 / 3) / 9)) / (2 / 3 * m ** (1 / 6))
    if trans == "pearsonNegBin":
        return (x - m) / np.sqrt(m + alpha * m**2)
    return x.copy()


def _bound(
    m: FloatArray, before: FloatArray, after: FloatArray, trans: Trans, h: float, k: float, alpha: float
) -> FloatArray:
    if trans == "standard":
        return np.ceil(np.sqrt(m) * (h + k - before) + m)
    if trans == "rossi":
        r = m**0.5
        m32 = m**1.5
        return (
            2 * h * r
            + 2 * k * r
            - 2 * before * r
            + 5 * m
            - 2 * (4 * m**2 + 2 * m32 * h + 2 * m32 * k - 2 * m32 * before) ** 0.5
        )
    if trans == "anscombe":
        inner = (2 / 3) * m ** (1 / 6) * (h + k - before) + m ** (2 / 3)
        return np.where(inner < 0, 0.0, inner ** (3 / 2))
    if trans == "anscombe2nd":
        inner = (2 / 3) * m ** (1 / 6) * (h + k - before) + (m ** (2 / 3) - m ** (1 / 3) / 9)
        return np.where(inner < 0, 0.0, inner ** (3 / 2))
    if trans == "pearsonNegBin":
        return np.sqrt(m + alpha * m**2) * (h + k - before) + m
    return h - after


def cusum(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    k: float = 1.04,
    h: float = 2.26,
    m: float | Literal["glm"] | None = None,
    trans: Trans = "standard",
    alpha: float | None = None,
    freq: int = 52,
    start: int = 1,
) -> list[Detection]:
    """CUSUM (R: ``cusum(x, control = list(range, k, h, m, trans, alpha))``).

    ``range_start``: 1-based first monitored point (R's ``range``, required there; default here the last ``freq``
    points); ``k`` reference value (1.04); ``h`` decision interval (2.26); ``m``: ``None`` (NULL, the mean of the
    points before the range), a number, or ``"glm"``; ``trans`` (``"standard"``); ``alpha``: the dispersion of
    ``pearsonNegBin`` (R's default 0.1); ``freq`` points per year (R's ``disProgObj$freq``); ``start``: the week of
    year of the first point (R's ``disProgObj$start[2]``, used by ``m="glm"``).
    """
    batch = cusum_batch(
        np.asarray(counts, dtype=np.float64)[np.newaxis, :],
        range_start=range_start,
        k=k,
        h=h,
        m=m,
        trans=trans,
        alpha=alpha,
        freq=freq,
        start=start,
    )
    return [
        Detection(
            index=batch.start + j,
            observed=float(counts[batch.start + j]),
            expected=float(batch.expected[0, j]),
            upperbound=float(batch.upperbound[0, j]),
            alarm=bool(batch.alarm[0, j]),
        )
        for j in range(batch.upperbound.shape[1])
    ]


def _m_param(params: Params) -> float | Literal["glm"] | None:
    raw = params.values.get("m")
    if raw is not None and raw.strip().strip("\"'") == "glm":
        params.used.add("m")
        return "glm"
    return params.optional_number("m")


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    trans = params.choice("trans", TRANSFORMS, "standard")
    return cusum(
        counts,
        range_start=range_start,
        k=params.number("k", 1.04),
        h=params.number("h", 2.26),
        m=_m_param(params),
        trans=trans,  # type: ignore[arg-type]
        alpha=params.optional_number("alpha"),
        freq=freq,
        start=params.integer("start", 1),
    )


CUSUM = register(
    MethodSpec(
        name="cusum",
        run=_run,
        summary="CUSUM of standardised counts (R cusum / algo.cusum; standard or Rossi, mean or GLM in-control)",
        parameters={
            "k": "reference value (default 1.04)",
            "h": "decision interval (default 2.26)",
            "m": "in-control mean: NULL (mean before the range, default), a number, or glm (Poisson, one harmonic)",
            "trans": "standard (default), rossi, anscombe, anscombe2nd, pearsonNegBin, none",
            "alpha": "dispersion for trans=pearsonNegBin (default 0.1)",
            "start": "week of year of the first count, for m=glm (R's start[2]; default 1)",
        },
    )
)
