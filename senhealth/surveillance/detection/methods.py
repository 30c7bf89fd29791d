"""One plan entry over many series at once: the detectors' batch functions, and the history each one needs.

The scheduled run holds, per disease and level, a matrix of weekly counts (areas × weeks, oldest first) and
monitors its last columns. :func:`run_plan` runs one :class:`~.config.MethodPlan` over every row in one numpy
computation where the detector has a batch variant (each equals the one-series function row by row, tested in
``tests/surveillance/test_*``):

- ``ears-c1``, ``ears-c2``, ``ears-c3``: :func:`~senhealth.surveillance.detectors.ears.ears_batch`;
- ``cusum``: :func:`~senhealth.surveillance.detectors.cusum.cusum_batch`;
- ``glrnb`` with ``alpha=0`` (Poisson), ``M=-1``, ``Mtilde=1``, ``ret=value``, no ``theta`` and no ``mu0``:
  :func:`~senhealth.surveillance.detectors.glr.glrpois_batch`;
- ``endemic-channel``: :func:`~senhealth.surveillance.detectors.endemic_channel.endemic_channel_batch`;
- ``farrington``: :func:`~senhealth.surveillance.detectors.farrington.farrington_batch`;
- ``farrington-flexible``: :func:`~senhealth.surveillance.detectors.farrington_flexible.farrington_flexible_batch`;

and otherwise row by row through the registered :class:`~senhealth.surveillance.detectors.MethodSpec` (what the
command line calls). Parameters keep the R package's names; a name the method does not read is a ValueError.

:func:`history_needed` says how many weeks a plan needs before its first monitored week; :func:`fit_history`
lowers ``b`` (years back) of the methods that have it to the full years the data hold, or says why the plan
cannot run yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detection.config import MethodPlan
from senhealth.surveillance.detectors import Params, method
from senhealth.surveillance.detectors.cusum import TRANSFORMS, cusum_batch
from senhealth.surveillance.detectors.ears import ears_batch
from senhealth.surveillance.detectors.endemic_channel import METHODS as CHANNELS
from senhealth.surveillance.detectors.endemic_channel import endemic_channel_batch
from senhealth.surveillance.detectors.farrington import farrington_batch_params
from senhealth.surveillance.detectors.farrington_flexible import farrington_flexible_batch_params
from senhealth.surveillance.detectors.glr import glrpois_batch

__all__ = ["Outcome", "fit_history", "history_needed", "run_plan"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Channel = Literal["meansd", "nbquantile", "bortman"]

_EARS_GUARD = {"ears-c1": 0, "ears-c2": 2, "ears-c3": 4}
_YEARS_BACK = {"farrington": 1, "farrington-flexible": 1, "endemic-channel": 1, "bayes": 1}
"""Methods with ``b`` (years back) and the fewest years they run with."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The monitored weeks of every series: arrays of shape (series, monitored weeks); NaN where undefined."""

    expected: FloatArray
    upperbound: FloatArray
    alarm: BoolArray


def _params(plan: MethodPlan) -> Params:
    return Params.parse(plan.method, plan.params)


def history_needed(plan: MethodPlan, freq: int = 52) -> int:
    """Weeks of data the plan needs before its first monitored week (its chart's weeks included)."""
    p = _params(plan)
    name = plan.method
    if name in _EARS_GUARD:
        need = p.integer("baseline", 7) + _EARS_GUARD[name]
    elif name in ("farrington", "farrington-flexible"):
        need = p.integer("b", 5) * freq + p.integer("w", 3)
    elif name == "endemic-channel":
        need = p.integer("b", 5) * freq + p.integer("w", 0)
    elif name == "bayes":
        b, w = p.integer("b", 0), p.integer("w", 6)
        need = b * freq + w if b > 0 else w
    elif name == "cusum":
        need = 3 if (p.values.get("m") or "").strip("\"'") == "glm" else 1
    elif name == "glrnb":
        need = 0 if p.values.get("mu0") else 2 * p.integer("S", 1) + 1 + int(p.boolean("trend", False))
    else:
        need = 0
    return need + plan.chart_weeks


def _with_b(plan: MethodPlan, b: int) -> MethodPlan:
    kept = tuple(item for item in plan.params if item.partition("=")[0].strip() != "b")
    return plan.model_copy(update={"params": (*kept, f"b={b}")})


def fit_history(plan: MethodPlan, available: int, freq: int = 52) -> tuple[MethodPlan | None, str]:
    """``(plan, "")`` when ``available`` weeks before the first monitored one suffice; ``(plan with a lower b,
    "b=5 → b=2")`` when fewer full years suffice; ``(None, why)`` when the plan cannot run yet."""
    need = history_needed(plan, freq)
    if available >= need:
        return plan, ""
    why = (
        f"{plan.label}: needs {need} weeks of data before the first monitored week, the data hold {available}"
    )
    if plan.method not in _YEARS_BACK:
        return None, why
    p = _params(plan)
    b = p.integer("b", 0 if plan.method == "bayes" else 5)
    w = p.integer("w", 6 if plan.method == "bayes" else 0 if plan.method == "endemic-channel" else 3)
    lowest = _YEARS_BACK[plan.method]
    if plan.method == "endemic-channel" and w == 0:
        lowest = 2  # one reference value has no standard deviation
    years = (available - plan.chart_weeks - w) // freq
    if b <= 0 or years < lowest:
        return None, why
    return _with_b(plan, years), f"{plan.label}: b={b} → b={years} ({available} weeks of data)"


def _nan(values: FloatArray) -> FloatArray:
    return np.where(np.isfinite(values), values, np.nan)


def _batch(plan: MethodPlan, counts: FloatArray, range_start: int, freq: int) -> Outcome | None:
    """The batch variant of the plan's method, or None when it has none for these parameters."""
    p = _params(plan)
    name = plan.method
    if name in _EARS_GUARD:
        mode = p.choice("mode", ("r-parity", "cdc"), "r-parity")
        ears = ears_batch(
            counts,
            "C1" if name == "ears-c1" else "C2" if name == "ears-c2" else "C3",
            range_start=range_start,
            alpha=p.optional_number("alpha"),
            baseline=p.integer("baseline", 7),
            min_sigma=p.number("minSigma", 0.0),
            mode="cdc" if mode == "cdc" else "r-parity",
        )
        p.check_all_used()
        return Outcome(ears.expected, _nan(ears.upperbound), ears.alarm)
    if name == "cusum":
        raw_m = (p.values.get("m") or "").strip("\"'")
        if raw_m == "glm":
            p.used.add("m")
        m = "glm" if raw_m == "glm" else p.optional_number("m")
        trans = p.choice("trans", TRANSFORMS, "standard")
        chart = cusum_batch(
            counts,
            range_start=range_start,
            k=p.number("k", 1.04),
            h=p.number("h", 2.26),
            m=m,  # type: ignore[arg-type]
            trans=trans,  # type: ignore[arg-type]
            alpha=p.optional_number("alpha"),
            freq=freq,
            start=p.integer("start", 1),
        )
        p.check_all_used()
        return Outcome(chart.expected, _nan(chart.upperbound), chart.alarm)
    if name == "glrnb":
        poisson = (
            p.number("alpha", 0.0) == 0
            and p.integer("M", -1) == -1
            and p.integer("Mtilde", 1) == 1
            and p.optional_number("theta") is None
            and p.choice("ret", ("value", "cases"), "value") == "value"
            and not p.numbers("mu0", ())
        )
        if not poisson:
            return None
        glr = glrpois_batch(
            counts,
            range_start=range_start,
            c_arl=p.number("c.ARL", 5.0),
            direction="dec" if p.choice("dir", ("inc", "dec"), "inc") == "dec" else "inc",
            harmonics=p.integer("S", 1),
            trend=p.boolean("trend", False),
            freq=freq,
        )
        p.choice("change", ("intercept",), "intercept")
        p.number("xMax", 10000)
        p.check_all_used()
        return Outcome(glr.expected, _nan(glr.upperbound), glr.alarm)
    if name == "endemic-channel":
        chosen = p.choice("method", CHANNELS, "meansd")
        channel = endemic_channel_batch(
            counts,
            range_start=range_start,
            b=p.integer("b", 5),
            w=p.integer("w", 0),
            k=p.number("k", 2.0),
            method=cast(Channel, chosen),
            quantile=p.number("quantile", 0.9),
            freq=freq,
        )
        p.check_all_used()
        return Outcome(_nan(channel.expected), _nan(channel.upperbound), channel.alarm)
    if name == "farrington":
        far = farrington_batch_params(counts, p, range_start, freq)
        p.check_all_used()
        return Outcome(_nan(far.expected), _nan(far.upperbound), far.alarm)
    if name == "farrington-flexible":
        flex = farrington_flexible_batch_params(counts, p, range_start, freq)
        p.check_all_used()
        return Outcome(_nan(flex.expected), _nan(flex.upperbound), flex.alarm)
    return None


def _row_by_row(plan: MethodPlan, counts: FloatArray, range_start: int, freq: int) -> Outcome:
    spec = method(plan.method)
    monitored = counts.shape[1] - range_start + 1
    expected = np.full((counts.shape[0], monitored), np.nan)
    upper = np.full_like(expected, np.nan)
    alarm = np.zeros(expected.shape, dtype=np.bool_)
    for i, row in enumerate(counts):
        params = _params(plan)
        for d in spec.run(row.tolist(), params, range_start, freq):
            j = d.index - (range_start - 1)
            if 0 <= j < monitored:
                expected[i, j] = math.nan if d.expected is None else d.expected
                upper[i, j] = math.nan if d.upperbound is None else d.upperbound
                alarm[i, j] = d.alarm
        params.check_all_used()
    return Outcome(_nan(expected), _nan(upper), alarm)


def run_plan(plan: MethodPlan, counts: npt.ArrayLike, first: int, freq: int = 52) -> Outcome:
    """Run ``plan`` over every row of ``counts`` (series × weeks), monitoring the columns from ``first``
    (0-based) to the end; a cumulative chart starts ``plan.chart_weeks`` columns earlier. ValueError for bad
    parameters or too little history."""
    y = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n = y.shape[1]
    if not 0 <= first < n:
        raise ValueError(f"the first monitored week {first} is outside the series (0..{n - 1})")
    chart_start = first - plan.chart_weeks
    if chart_start < 0:
        raise ValueError(f"{plan.label}: the chart needs {plan.chart_weeks} weeks before the monitored ones")
    if y.shape[0] == 0:
        empty = np.zeros((0, n - first))
        return Outcome(empty, empty.copy(), empty.astype(np.bool_))
    outcome = _batch(plan, y, chart_start + 1, freq) or _row_by_row(plan, y, chart_start + 1, freq)
    skip = first - chart_start
    return Outcome(outcome.expected[:, skip:], outcome.upperbound[:, skip:], outcome.alarm[:, skip:])
