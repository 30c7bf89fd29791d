"""R's own output as the reference for the detectors (issue 8: parity with the R package ``surveillance``).

Each reference is an R script ``tests/surveillance/reference/NAME.R`` that runs the package on its shipped series
and writes one CSV (its first argument): the input series and R's results side by side, one row per week.
:func:`reference` runs the script when ``Rscript`` is installed (Debian ``r-cran-surveillance``) and otherwise
reads the committed copy ``NAME.csv`` beside it, written by the same script (``Rscript NAME.R NAME.csv``).
Set ``SENHEALTH_R_REFERENCE=committed`` to use the committed copy even where R is present.
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def r_available() -> bool:
    return os.environ.get("SENHEALTH_R_REFERENCE") != "committed" and shutil.which("Rscript") is not None


@functools.cache
def reference_text(name: str) -> tuple[str, str]:
    """(CSV text, where it came from: ``"R"`` or ``"committed"``)."""
    script = REFERENCE_DIR / f"{name}.R"
    committed = REFERENCE_DIR / f"{name}.csv"
    if r_available():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{name}.csv"
            subprocess.run(
                ["Rscript", "--vanilla", str(script), str(out)], check=True, timeout=900, capture_output=True
            )
            return out.read_text(encoding="utf-8"), "R"
    return committed.read_text(encoding="utf-8"), "committed"


def reference(name: str) -> list[dict[str, str]]:
    """The rows of reference ``name`` (R's output: from R when present, else the committed copy)."""
    text, _ = reference_text(name)
    return list(csv.DictReader(text.splitlines()))


def r_number(text: str) -> float | None:
    """A number as R wrote it: ``NA``/``NaN``/empty is None; ``Inf`` is infinity."""
    if text in ("", "NA", "NaN"):
        return None
    if text in ("Inf", "-Inf"):
        return float(text.replace("Inf", "inf"))
    return float(text)


def series_and_results(
    name: str,
) -> tuple[dict[str, list[float]], dict[tuple[str, str], list[dict[str, str]]]]:
    """Reference ``name`` split into its input series (rows of variant ``input``: series → counts) and R's
    results (series, variant) → rows, in the order R wrote them."""
    series: dict[str, list[float]] = {}
    results: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in reference(name):
        if row["variant"] == "input":
            series.setdefault(row["series"], []).append(float(row["observed"]))
        else:
            results.setdefault((row["series"], row["variant"]), []).append(row)
    return series, results
