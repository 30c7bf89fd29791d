"""The endemic channel: per week of year, the usual range of counts from the same weeks of the previous years.

What provincial preventive-medicine centres read for dengue (issue 8; ``reference/risk-and-surveillance.md`` §4).
There is no implementation in the R package ``surveillance``; the definitions are:

- ``method="meansd"``: the reference values of week *t* are the counts of the same week in each of the previous
  ``b`` years (default 5), widened by ``w`` neighbouring weeks on each side (default 0); the channel is
  ``mean ± k·SD`` (``k`` = 2, sample SD with ``n − 1``), ``expected`` the mean, ``upperbound`` ``mean + k·SD``
  (the "mean + 2 SD" channel of WHO/PAHO dengue guidance).
- ``method="bortman"``: Bortman M., *Elaboración de corredores o canales endémicos mediante planillas de
  cálculo*, Rev Panam Salud Publica 1999;5(1):1–8: the reference values are transformed to ``log(x + 1)``; the
  channel is the 95 % confidence interval of their mean, ``mean ± t(0.975, n − 1)·SD/√n``, transformed back
  (``exp(·) − 1``): the centre line is the geometric mean. ``k`` is not used.
- ``method="nbquantile"``: a negative-binomial distribution fitted to the reference values by the *method of
  moments* (mean ``m``, sample variance ``v``: size ``r = m²/(v − m)``, ``p = m/v``; Poisson(``m``) when
  ``v ≤ m``, the limit of the negative binomial; all zero when ``m = 0``); the channel is its quantiles
  q50 / q75 / q90, ``expected`` the mean ``m``, ``upperbound`` the quantile ``quantile`` (default 0.9; a discrete
  quantile: the smallest count whose cumulative probability reaches it).

An alarm is ``observed > upperbound``.

*The same week of a previous year* is, as in the R package's Farrington reference values, the point ``freq``
points earlier (``t − j·freq``, j = 1..b, plus ``−w..w``): a weekly series with ``freq = 52`` drifts by one week
in years of 53 ISO weeks, as R's does. Pass ``weeks`` (ISO ``(year, week)`` pairs) to match calendar weeks
instead: week W of year Y takes week W of years Y−1..Y−b, and week 53 takes week 52 of a year that has none.

:func:`endemic_channel_batch` runs many series at once (a 2-D array, series × time) for the scheduled runs and
the benchmark; :func:`channel_table` gives the whole channel of one year (for the epidemic-curve page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
from scipy import stats

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = [
    "METHODS",
    "Channel",
    "ChannelBatch",
    "channel_table",
    "endemic_channel",
    "endemic_channel_batch",
    "reference_indices",
]

Method = Literal["meansd", "nbquantile", "bortman"]
METHODS: tuple[Method, ...] = ("meansd", "nbquantile", "bortman")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class ChannelBatch:
    """The channel at the monitored points of many series (series × monitored point)."""

    indices: IntArray
    """0-based positions monitored (columns)."""
    expected: FloatArray
    upperbound: FloatArray
    alarm: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Channel:
    """The endemic channel of one year, one row per week of that year.

    ``meansd``: lower = mean − k·SD (may be negative), centre = mean, upper = mean + k·SD.
    ``bortman``: lower / upper the back-transformed 95 % interval, centre the geometric mean.
    ``nbquantile``: lower = q50, centre = q75, upper = q90 (``q50``, ``q75``, ``q90`` name them too), and
    ``threshold`` the quantile chosen as the alarm bound.
    """

    method: Method
    week: tuple[int, ...]
    """Week of the year, 1-based."""
    index: tuple[int, ...]
    """0-based position of that week in the series."""
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    centre: tuple[float, ...]
    upper: tuple[float, ...]
    threshold: tuple[float, ...]
    """The alarm bound (``upperbound`` of :func:`endemic_channel`)."""


def _check(b: int, w: int, k: float, method: str, quantile: float, freq: int) -> None:
    if b < 1:
        raise ValueError(f"b={b}: the number of past years must be at least 1")
    if w < 0 or 2 * w + 1 > freq:
        raise ValueError(
            f"w={w}: the window of neighbouring weeks must be 0 or more and narrower than a year"
        )
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    if b * (2 * w + 1) < 2:
        raise ValueError("b=1 with w=0 gives one reference value: a standard deviation needs b ≥ 2 or w ≥ 1")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile={quantile}: write a probability between 0 and 1, e.g. 0.9")
    if not math.isfinite(k):
        raise ValueError(f"k={k}: write a finite number")
    if freq < 2:
        raise ValueError(f"freq={freq}: points per year must be at least 2")


def reference_indices(
    targets: Sequence[int] | IntArray,
    *,
    b: int = 5,
    w: int = 0,
    freq: int = 52,
    weeks: Sequence[tuple[int, int]] | None = None,
) -> IntArray:
    """The 0-based positions of the reference values of each target (targets × ``b·(2w+1)``).

    Without ``weeks``: ``t − j·freq + d`` for j = 1..b, d = −w..w. With ``weeks`` (ISO ``(year, week)`` of each
    point): week W of the years before, week 52 standing for week 53 in a year without one, ±w points around.
    ValueError when a target has too little history.
    """
    t = np.asarray(targets, dtype=np.intp)
    offsets = np.arange(-w, w + 1, dtype=np.intp)
    if weeks is None:
        lags = np.arange(1, b + 1, dtype=np.intp) * freq
        anchors = t[:, None] - lags[None, :]
    else:
        position = {yw: i for i, yw in enumerate(weeks)}
        anchors = np.empty((len(t), b), dtype=np.intp)
        for row, target in enumerate(t):
            year, week = weeks[int(target)]
            for j in range(1, b + 1):
                found = position.get((year - j, week))
                if found is None and week == 53:
                    found = position.get((year - j, 52))
                if found is None:
                    raise ValueError(
                        f"week {year}-W{week:02d} needs week {week} of {year - j} (b={b} years back), which the "
                        "series does not have: start the monitored range later or lower b"
                    )
                anchors[row, j - 1] = found
    refs = (anchors[:, :, None] + offsets[None, None, :]).reshape(len(t), -1)
    if refs.size and (refs.min() < 0 or np.any(refs >= t[:, None])):
        first = int(t[np.argmax((refs < 0).any(axis=1) | (refs >= t[:, None]).any(axis=1))])
        raise ValueError(
            f"point {first + 1} needs b={b} years of history plus w={w} weeks (b·freq + w = {b * freq + w} "
            f"points before it): start the monitored range at {b * freq + w + 1} or later, or lower b"
        )
    return refs


def default_start(*, b: int, w: int, freq: int) -> int:
    """The first point (1-based) with a full history: ``b·freq + w + 1``."""
    return b * freq + w + 1


def _nb_quantile(q: float, mean: FloatArray, var: FloatArray) -> FloatArray:
    """Quantile ``q`` of the moment-matched negative binomial (Poisson where ``var ≤ mean``; 0 where mean is 0).

    Counts repeat: the quantile is computed once per distinct (mean, variance) pair, which makes the batch of
    many sparse series fast.
    """
    if mean.size > 64:
        pairs, inverse = np.unique(mean.ravel() + 1j * var.ravel(), return_inverse=True)
        if len(pairs) < mean.size // 2:
            return _nb_quantile(q, pairs.real.copy(), pairs.imag.copy())[inverse].reshape(mean.shape)
    out = np.zeros_like(mean)
    over = (var > mean) & (mean > 0)
    poisson = (~over) & (mean > 0)
    if over.any():
        m, v = mean[over], var[over]
        out[over] = stats.nbinom.ppf(q, m * m / (v - m), m / v)
    if poisson.any():
        out[poisson] = stats.poisson.ppf(q, mean[poisson])
    return out


def _summaries(
    x: FloatArray, *, method: Method, k: float, quantiles: Sequence[float]
) -> tuple[FloatArray, FloatArray, FloatArray, list[FloatArray]]:
    """From reference values (..., m): (expected, lower, upper-at-k, quantiles) along the last axis."""
    n = x.shape[-1]
    if method == "bortman":
        y = np.log1p(x)
        centre = y.mean(axis=-1)
        half = stats.t.ppf(0.975, n - 1) * y.std(axis=-1, ddof=1) / math.sqrt(n)
        return np.expm1(centre), np.expm1(centre - half), np.expm1(centre + half), []
    mean = x.mean(axis=-1)
    var = x.var(axis=-1, ddof=1)
    if method == "meansd":
        sd = np.sqrt(var)
        return mean, mean - k * sd, mean + k * sd, []
    return mean, mean, mean, [_nb_quantile(q, mean, var) for q in quantiles]


def _bound(x: FloatArray, *, method: Method, k: float, quantile: float) -> tuple[FloatArray, FloatArray]:
    """(expected, upperbound) from reference values (..., m)."""
    expected, _, upper, qs = _summaries(x, method=method, k=k, quantiles=(quantile,))
    return expected, (qs[0] if method == "nbquantile" else upper)


def endemic_channel(
    counts: Sequence[float] | FloatArray,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 0,
    k: float = 2.0,
    method: Method = "meansd",
    quantile: float = 0.9,
    freq: int = 52,
    weeks: Sequence[tuple[int, int]] | None = None,
) -> list[Detection]:
    """The endemic channel's bound and alarm for each monitored point of one series.

    ``range_start`` is the 1-based first monitored point (default the first with a full history,
    ``b·freq + w + 1``); ``b`` past years, ``w`` neighbouring weeks each side, ``k`` SDs (``meansd``),
    ``quantile`` the negative-binomial quantile used as the bound (``nbquantile``), ``freq`` points per year,
    ``weeks`` the ISO ``(year, week)`` of each point to align calendar weeks (see the module docstring).
    """
    x = np.asarray(counts, dtype=np.float64)
    _check(b, w, k, method, quantile, freq)
    if weeks is not None and len(weeks) != len(x):
        raise ValueError(f"weeks has {len(weeks)} entries for {len(x)} counts")
    first = default_start(b=b, w=w, freq=freq) if weeks is None else 1
    if range_start is None and weeks is not None:
        raise ValueError("with weeks, give range_start (the first monitored point, 1-based)")
    if range_start is None and first > len(x):
        raise ValueError(
            f"the series has {len(x)} points; b={b} years of history need at least {first}: lower b or add data"
        )
    targets = np.fromiter(monitored_range(len(x), range_start, first), dtype=np.intp)
    refs = reference_indices(targets, b=b, w=w, freq=freq, weeks=weeks)
    expected, upper = _bound(x[refs], method=method, k=k, quantile=quantile)
    return [
        Detection(int(t), float(x[t]), float(e), float(u), bool(x[t] > u))
        for t, e, u in zip(targets, expected, upper, strict=True)
    ]


def endemic_channel_batch(
    counts: npt.ArrayLike,
    *,
    range_start: int | None = None,
    b: int = 5,
    w: int = 0,
    k: float = 2.0,
    method: Method = "meansd",
    quantile: float = 0.9,
    freq: int = 52,
    chunk: int = 8192,
) -> ChannelBatch:
    """:func:`endemic_channel` over many series at once: ``counts`` is series × time (all the same length)."""
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("counts must be a 2-D array: one row per series, one column per week")
    _check(b, w, k, method, quantile, freq)
    first = default_start(b=b, w=w, freq=freq)
    if range_start is None and first > x.shape[1]:
        raise ValueError(
            f"the series have {x.shape[1]} points; b={b} years of history need at least {first}: lower b"
        )
    targets = np.fromiter(monitored_range(x.shape[1], range_start, first), dtype=np.intp)
    refs = reference_indices(targets, b=b, w=w, freq=freq)
    expected = np.empty((x.shape[0], len(targets)))
    upper = np.empty_like(expected)
    for lo in range(0, x.shape[0], chunk):
        block = x[lo : lo + chunk]
        expected[lo : lo + chunk], upper[lo : lo + chunk] = _bound(
            block[:, refs], method=method, k=k, quantile=quantile
        )
    return ChannelBatch(targets, expected, upper, x[:, targets] > upper)


def channel_table(
    counts: Sequence[float] | FloatArray,
    *,
    year_start: int,
    b: int = 5,
    w: int = 0,
    k: float = 2.0,
    method: Method = "meansd",
    quantile: float = 0.9,
    freq: int = 52,
    weeks: Sequence[tuple[int, int]] | None = None,
) -> Channel:
    """The whole channel of the year whose first point is ``year_start`` (0-based), one row per week of that year.

    The weeks of that year need not be observed yet: the rows run to the year's end (``freq`` points, or the
    ISO weeks given in ``weeks`` of that year). A reference value that would lie after the end of the series
    (only with ``w`` > 0, in the last ``w`` weeks, before the first weeks of the year are observed) is left out.
    """
    x = np.asarray(counts, dtype=np.float64)
    _check(b, w, k, method, quantile, freq)
    if weeks is None:
        targets = np.arange(year_start, year_start + freq, dtype=np.intp)
        week_numbers = list(range(1, freq + 1))
        refs = reference_indices(targets, b=b, w=w, freq=freq)
    else:
        if not 0 <= year_start < len(weeks):
            raise ValueError(f"year_start={year_start} is outside the series")
        year = weeks[year_start][0]
        rows = [i for i in range(year_start, len(weeks)) if weeks[i][0] == year]
        targets = np.asarray(rows, dtype=np.intp)
        week_numbers = [weeks[i][1] for i in rows]
        refs = reference_indices(targets, b=b, w=w, freq=freq, weeks=weeks)
    values = np.where(refs < len(x), x[np.minimum(refs, len(x) - 1)], np.nan)
    expected, lower, upper, qs = _summaries_nan(
        values, method=method, k=k, quantiles=(0.5, 0.75, 0.9, quantile)
    )
    if method == "nbquantile":
        lower, centre, upper, threshold = qs
    else:
        centre, threshold = (expected, upper)
    return Channel(
        method=method,
        week=tuple(week_numbers),
        index=tuple(int(t) for t in targets),
        mean=tuple(float(v) for v in expected),
        lower=tuple(float(v) for v in lower),
        centre=tuple(float(v) for v in centre),
        upper=tuple(float(v) for v in upper),
        threshold=tuple(float(v) for v in threshold),
    )


def _summaries_nan(
    values: FloatArray, *, method: Method, k: float, quantiles: Sequence[float]
) -> tuple[FloatArray, FloatArray, FloatArray, list[FloatArray]]:
    """:func:`_summaries` row by row where some reference values are missing (NaN)."""
    if not np.isnan(values).any():
        return _summaries(values, method=method, k=k, quantiles=quantiles)
    parts = [
        _summaries(row[~np.isnan(row)][None, :], method=method, k=k, quantiles=quantiles) for row in values
    ]
    expected, lower, upper = (np.concatenate([p[i] for p in parts]) for i in range(3))
    qs = (
        [np.concatenate([p[3][j] for p in parts]) for j in range(len(quantiles))]
        if method == "nbquantile"
        else []
    )
    return expected, lower, upper, qs


PARAMETERS = {
    "b": "past years in the reference (default 5)",
    "w": "neighbouring weeks on each side of the same week (default 0)",
    "k": "standard deviations above the mean, method=meansd (default 2)",
    "method": "meansd (mean + k·SD), nbquantile (negative-binomial quantile) or bortman (log(x+1), 95 % CI)",
    "quantile": "the negative-binomial quantile used as the bound, method=nbquantile (default 0.9)",
}


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    chosen = params.choice("method", METHODS, "meansd")
    return endemic_channel(
        counts,
        range_start=range_start,
        b=params.integer("b", 5),
        w=params.integer("w", 0),
        k=params.number("k", 2.0),
        method=cast(Method, chosen),
        quantile=params.number("quantile", 0.9),
        freq=freq,
    )


SPEC = register(
    MethodSpec(
        name="endemic-channel",
        run=_run,
        summary="Endemic channel: per week of year, mean + k·SD or negative-binomial quantiles of the past b years",
        parameters=PARAMETERS,
    )
)
