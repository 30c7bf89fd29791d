"""Retrain the patient-index model on a synthetic population and write senhealth/mpi/data/splink_model.json.

    python -m bench.mpi.train --population 100000 --duplicates 5000 --seed 7

Seed 7 by default, so that the quality measurement (seed 11) is not scored on its own training data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from senhealth.mpi.match import match_table
from senhealth.mpi.model import MODEL_FILE, train
from senhealth.mpi.record import match_row
from tests.mpi.mpi_population import RATES, generate

OUT = Path(__file__).resolve().parents[2] / "senhealth" / "mpi" / "data" / MODEL_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--duplicates", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    pop = generate(args.population, args.duplicates, args.seed)
    table = match_table(match_row(c) for c in pop.records)
    settings = train(table, cccd_recall=1 - RATES["no_cccd"], seed=args.seed)
    args.out.write_bytes(orjson.dumps(settings, option=orjson.OPT_INDENT_2))
    print(f"trained in {time.perf_counter() - started:.1f} s → {args.out}")


if __name__ == "__main__":
    main()
