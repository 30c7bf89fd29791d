"""Risk recomputation benchmark: ``python -m bench.risk --people N`` (default 1,000,000).

Measures, on this machine, people per second for the WHO 2019 CVD risk (Southeast Asia), laboratory and
non-laboratory models, over a synthetic population (ages 40–74, both sexes, blood pressure, cholesterol,
BMI, smoking and diabetes drawn from plausible distributions with a fixed seed; generated beforehand, not
counted):

- the scalar function :func:`senhealth.checkup.risk.who_cvd_risk`, one call per person (input checks
  included), as a write hook recomputing one patient at a time would call it;
- the vectorised :func:`senhealth.checkup.risk.who_cvd_risk_many` over the whole population at once.

Each figure is the best of ``--repeat`` passes (the vectorised path) or one pass (the scalar path, which
runs for seconds). Before timing, the two paths are compared on every person: the largest relative
difference is printed, and the run stops if any person's risk differs by more than 1e-12 relative.
Prints a Markdown table and writes it to ``bench/results/risk.md``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.__main__ import machine
from senhealth.checkup.risk import who_cvd_risk, who_cvd_risk_many

ROOT = Path(__file__).resolve().parents[1]


def population(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["male", "female"]), n)
    return {
        "sex": sex,
        "age": rng.uniform(40, 75, n).clip(40, 74.99),
        "sbp": rng.normal(132, 20, n).clip(80, 260).round(),
        "smoker": rng.random(n) < np.where(sex == "male", 0.45, 0.02),
        "total_cholesterol": rng.normal(5.0, 1.0, n).clip(2, 12).round(1),
        "diabetes": rng.random(n) < 0.07,
        "bmi": rng.normal(22.5, 3.2, n).clip(14, 45).round(1),
    }


def scalar_pass(model: str, people: dict[str, Any]) -> tuple[float, list[float]]:
    columns = {k: v.tolist() for k, v in people.items()}
    args = list(
        zip(
            columns["sex"],
            columns["age"],
            columns["sbp"],
            columns["smoker"],
            columns["total_cholesterol"],
            columns["diabetes"],
            columns["bmi"],
            strict=True,
        )
    )
    out: list[float] = []
    append = out.append
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    if model == "lab":
        for sex, age, sbp, smoker, tc, dm, _bmi in args:
            append(
                who_cvd_risk(
                    model="lab", sex=sex, age=age, sbp=sbp, smoker=smoker, total_cholesterol=tc, diabetes=dm
                )
            )
    else:
        for sex, age, sbp, smoker, _tc, _dm, bmi in args:
            append(who_cvd_risk(model="nonlab", sex=sex, age=age, sbp=sbp, smoker=smoker, bmi=bmi))
    elapsed = time.perf_counter() - t0
    gc.enable()
    return elapsed, out


def vector_pass(model: str, people: dict[str, Any], repeat: int) -> tuple[float, np.ndarray]:
    best = float("inf")
    out = np.empty(0)
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = who_cvd_risk_many(model=model, **people)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="WHO CVD risk recomputation benchmark")
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "risk.md")
    args = parser.parse_args(argv)
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    people = population(args.people, args.seed)
    rows = []
    for model in ("lab", "nonlab"):
        scalar_s, scalar = scalar_pass(model, people)
        vector_s, vector = vector_pass(model, people, args.repeat)
        worst = float(np.max(np.abs(vector - np.asarray(scalar)) / np.asarray(scalar)))
        if worst > 1e-12:
            raise SystemExit(
                f"{model}: the vectorised path differs from the scalar one by {worst:.3g} relative"
            )
        mean = float(np.mean(vector))
        high = float(np.mean(vector >= 20) * 100)
        rows.append((model, scalar_s, vector_s, worst, mean, high))
    n = args.people
    lines = [
        f"Machine: {machine()}, numpy {np.__version__}",
        "",
        f"Load average before the run: {load_before}",
        "",
        f"{n:,} synthetic people aged 40–74 (seed {args.seed}), WHO 2019 CVD risk, Southeast Asia. Scalar: one "
        f"`who_cvd_risk` call per person, input checks included, one pass. Vectorised: `who_cvd_risk_many` "
        f"over all {n:,} at once, best of {args.repeat}. Both paths agree on every person (largest relative "
        "difference shown).",
        "",
        "| model | scalar s | scalar people/s | vectorised s | vectorised people/s | speed-up "
        "| largest relative difference | mean risk % | risk >= 20 % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, scalar_s, vector_s, worst, mean, high in rows:
        lines.append(
            f"| {model} | {scalar_s:.2f} | {n / scalar_s:,.0f} | {vector_s:.3f} | {n / vector_s:,.0f} "
            f"| {scalar_s / vector_s:.0f}× | {worst:.1e} | {mean:.2f} | {high:.1f} % |"
        )
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
