"""Bayes detectors (Bayes 1, 2, 3), as ``bayes`` / ``algo.bayes`` of the R package ``surveillance``.

Definition: Riebler (2004), "Empirischer Vergleich von statistischen Methoden zur Ausbruchserkennung bei
Surveillance Daten" (LMU München), the predictive distribution of a Poisson count with a Gamma(½-flat) prior;
R reference: ``algo.bayes`` in https://cran.r-project.org/package=surveillance (1.20.3).

For monitored point ``t`` the reference values are the ``w`` points before ``t`` (when ``actY``) and, for each of
the ``b`` past years ``i``, the points ``t − i·freq − w … t − i·freq + w``. With their sum ``S`` and number ``N``
the bound is the ``1 − alpha`` quantile of the negative binomial ``NB(size = S + ½, prob = N/(N + 1))`` (R's
``qnbinom``), and the alarm is ``y_t > bound``. R's presets: **Bayes 1** (``algo.bayes1``) ``b=0, w=6, actY=TRUE``;
**Bayes 2** (``algo.bayes2``) ``b=1, w=6, actY=TRUE``; **Bayes 3** (``algo.bayes3``) ``b=2, w=4, actY=FALSE``;
all with ``alpha=0.05``. R's ``algo.bayes`` defaults are Bayes 1's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from senhealth.surveillance.detectors import register
from senhealth.surveillance.detectors._stats_glm import qnbinom
from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = ["PRESETS", "bayes"]

PRESETS: dict[str, tuple[int, int, bool]] = {
    "bayes1": (0, 6, True),
    "bayes2": (1, 6, True),
    "bayes3": (2, 4, False),
}
"""R's ``algo.bayes1/2/3``: (b, w, actY), each with alpha 0.05."""


def bayes(
    counts: Sequence[float],
    *,
    range_start: int | None = None,
    b: int = 0,
    w: int = 6,
    act_y: bool = True,
    alpha: float = 0.05,
    freq: int = 52,
) -> list[Detection]:
    """Bayes detector (R: ``algo.bayes(x, control = list(range, b, w, actY, alpha))``).

    ``b``: past years (0); ``w``: window half-width (6); ``act_y`` (R's ``actY``): include the ``w`` points just
    before (TRUE); ``alpha`` (0.05); ``range_start`` 1-based, default the first point with all reference values
    (``b·freq + w + 1``; R requires ``range``). ``expected`` is the reference mean ``S/N``.
    """
    y = np.asarray(counts, dtype=np.float64)
    n = len(y)
    if n == 0:
        raise ValueError("the series is empty")
    if b < 0 or w < 0:
        raise ValueError(f"bayes: b={b} and w={w} must be ≥ 0")
    if not act_y and b == 0:
        raise ValueError(
            "bayes: with actY=FALSE and b=0 there are no reference values: set b ≥ 1 or actY=TRUE"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"bayes: alpha={alpha} must be between 0 and 1")
    if act_y and w == 0 and b == 0:
        raise ValueError("bayes: w=0 with b=0 leaves no reference values: set w ≥ 1")
    need = b * freq + w
    rng = monitored_range(n, range_start, min(need + 1, n))
    if rng.start < need:
        raise ValueError(
            f"bayes: the series is too short: monitoring from point {rng.start + 1} needs {need} earlier points "
            f"(b={b}, w={w}, freq={freq}); start at range_start ≥ {need + 1}"
        )
    if b >= 1 and n - 1 - freq + w >= n:
        raise ValueError(f"bayes: w={w} must be smaller than freq={freq}")
    rows: list[Detection] = []
    for t in rng:
        parts: list[npt.NDArray[np.float64]] = []
        if act_y:
            parts.append(y[t - w : t])
        for i in range(1, b + 1):
            parts.append(y[t - i * freq - w : t - i * freq + w + 1])
        base = np.concatenate(parts) if parts else np.empty(0)
        total, size = float(base.sum()), len(base)
        bound = qnbinom(1 - alpha, total + 0.5, size / (size + 1))
        rows.append(Detection(t, float(y[t]), total / size if size else None, bound, bool(y[t] > bound)))
    return rows


def _run(counts: Sequence[float], params: Params, range_start: int | None, freq: int) -> list[Detection]:
    return bayes(
        counts,
        range_start=range_start,
        b=params.integer("b", 0),
        w=params.integer("w", 6),
        act_y=params.boolean("actY", True),
        alpha=params.number("alpha", 0.05),
        freq=freq,
    )


BAYES = register(
    MethodSpec(
        name="bayes",
        run=_run,
        summary="Bayes 1/2/3: negative-binomial predictive quantile of past counts (R bayes / algo.bayes)",
        parameters={
            "b": "past years in the reference (default 0; Bayes 2: 1, Bayes 3: 2)",
            "w": "window half-width (default 6; Bayes 3: 4)",
            "actY": "include the w weeks just before (default TRUE; Bayes 3: FALSE)",
            "alpha": "1 - quantile of the predictive distribution (default 0.05)",
        },
    )
)
