"""Time the batch de-duplication of N patient records (issue 4, item 5: "de-duplicating 1 million").

    python -m bench.mpi.dedup --records 1000000

N records = 95 % distinct people + 5 % injected duplicates (same corruptions as bench/mpi/quality.py),
seed 11; prints the time to build the keys, to score with Splink on DuckDB and to cluster, and the
quality at that size. Appends its table to bench/results/mpi.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.mpi.quality import RESULTS, machine
from senhealth.mpi.match import Thresholds, clusters, deduplicate_rows
from senhealth.mpi.record import match_row
from tests.mpi.mpi_population import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    duplicates = args.records // 20
    t0 = time.perf_counter()
    pop = generate(args.records - duplicates, duplicates, args.seed)
    t1 = time.perf_counter()
    rows = [match_row(c) for c in pop.records]
    t2 = time.perf_counter()
    result = deduplicate_rows(rows, Thresholds())
    t3 = time.perf_counter()
    groups = clusters(result.links)
    t4 = time.perf_counter()
    links = {(p.left, p.right) for p in result.links}
    true_links = len(links & pop.truth)
    lines = [
        "",
        f"## De-duplicating {args.records:,} records (bench/mpi/dedup.py, seed {args.seed})",
        "",
        "| step | value |",
        "|---|---|",
        f"| generate (not part of de-duplication) | {t1 - t0:.1f} s |",
        f"| comparison keys (Python) | {t2 - t1:.1f} s |",
        f"| Splink scoring on DuckDB + decisions | {t3 - t2:.1f} s |",
        f"| clustering | {t4 - t3:.1f} s |",
        f"| **de-duplication total** | **{t4 - t1:.1f} s** |",
        f"| automatic links / clusters / review | {len(links):,} / {len(groups):,} / {len(result.review):,} |",
        f"| precision / recall | {true_links / max(len(links), 1):.4f} / {true_links / len(pop.truth):.4f} |",
        f"| machine | {machine()} (shared with other work) |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with args.out.open("a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
