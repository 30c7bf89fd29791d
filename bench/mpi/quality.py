"""Patient-index quality on a synthetic population with injected duplicates (issue 4, item 5).

    python -m bench.mpi.quality --population 100000 --duplicates 5000 --seed 11

Prints and writes bench/results/mpi.md: precision and recall of the automatic links (pairwise, against
the injected original–duplicate pairs), the review-queue size and how many true pairs it holds, time,
machine. The model is the packaged one (trained on seed 7 by bench/mpi/train.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from senhealth.mpi.match import Thresholds, deduplicate_rows
from senhealth.mpi.record import match_row
from tests.mpi.mpi_population import Population, generate

RESULTS = Path(__file__).resolve().parents[1] / "results" / "mpi.md"


@dataclass(frozen=True, slots=True)
class Quality:
    records: int
    true_pairs: int
    links: int
    true_links: int
    review: int
    true_review: int
    generate_s: float
    match_s: float

    @property
    def precision(self) -> float:
        return self.true_links / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.true_links / self.true_pairs if self.true_pairs else 1.0


def measure(pop: Population, thresholds: Thresholds | None = None, generate_s: float = 0.0) -> Quality:
    started = time.perf_counter()
    rows = [match_row(c) for c in pop.records]
    result = deduplicate_rows(rows, thresholds or Thresholds())
    match_s = time.perf_counter() - started
    links = {(p.left, p.right) for p in result.links}
    review = {(p.left, p.right) for p in result.review}
    return Quality(
        records=len(pop.records),
        true_pairs=len(pop.truth),
        links=len(links),
        true_links=len(links & pop.truth),
        review=len(review),
        true_review=len(review & pop.truth),
        generate_s=generate_s,
        match_s=match_s,
    )


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--duplicates", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    pop = generate(args.population, args.duplicates, args.seed)
    q = measure(pop, generate_s=time.perf_counter() - started)
    t = Thresholds()
    lines = [
        "# Patient index quality (bench/mpi/quality.py)",
        "",
        f"Population {args.population:,} + {args.duplicates:,} injected duplicates, seed {args.seed}; "
        f"corruptions applied: {dict(sorted(pop.applied.items()))}.",
        f"Thresholds: link ≥ {t.link}, review ≥ {t.review} (match probability); model trained on seed 7.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| records | {q.records:,} |",
        f"| automatic links | {q.links:,} ({q.true_links:,} true) |",
        f"| precision of automatic links | {q.precision:.4f} |",
        f"| recall of automatic links | {q.recall:.4f} |",
        f"| review queue | {q.review:,} pairs ({q.true_review:,} true) |",
        f"| true pairs neither linked nor queued | {q.true_pairs - q.true_links - q.true_review:,} |",
        f"| generate time | {q.generate_s:.1f} s |",
        f"| match time (keys + Splink + decisions) | {q.match_s:.1f} s |",
        f"| machine | {machine()} (shared with other work) |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
