"""The Fellegi–Sunter model of the patient index, built and trained with Splink; its packaged parameters.

Fellegi & Sunter, "A Theory for Record Linkage", JASA 64 (1969); Splink 4:
https://moj-analytical-services.github.io/splink/ (DuckDB backend by default; the same settings run on
Spark through ``splink.SparkAPI`` for national scale, DESIGN.md §5).

Comparisons (columns of :func:`senhealth.mpi.record.match_row`):

- ``family``, ``middle``, ``given``: exact fold key (term-frequency adjusted for family and given, since
  "Nguyễn" or "Anh" say little), Damerau–Levenshtein ≤ 1 (one typo), Jaro–Winkler ≥ 0.88, else;
- ``birth_date``: exact, day and month swapped, same year, else;
- ``sex``, ``commune``, ``phone``: exact, else;
- ``cccd``: exact, one edit, else; ``sin`` (social-insurance number of the card): exact, else.

Blocking rules (which pairs are scored at all) are chosen to stay linear at a million records and to
survive each single corruption: personal ID; insurance number; phone; the swap-proof birth-date key with
the family name, and with the given name (so a typo in either name part, a swapped day and month, a
move or a changed phone each leave one rule that still pairs the records); commune with family and
given name (for records without a birth date).

Training (:func:`train`): λ from the pairs sharing a personal ID, u by random sampling, m by
expectation maximisation in three blocked passes (birth-date key with family name, with given
name, phone), so each comparison is trained in a pass that does not block on it. The trained model is the JSON file
``data/splink_model.json``, loaded by :func:`load_settings`, so that scoring never retrains. Retrain with
``python -m bench.mpi.train`` (docs/mpi.md).
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

__all__ = [
    "MODEL_FILE",
    "blocking_rules",
    "linker_for",
    "load_settings",
    "new_settings",
    "train",
]

MODEL_FILE = "splink_model.json"

logging.getLogger("splink").setLevel(logging.WARNING)


def _name_part(column: str, *, tf: bool) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=tf),
            cll.DamerauLevenshteinLevel(column, 1),
            cll.JaroWinklerLevel(column, 0.88),
            cll.ElseLevel(),
        ],
    )


def _birth_date() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                '"birth_date_set_l" = "birth_date_set_r"', label_for_charts="day and month swapped"
            ),
            cll.CustomLevel('"birth_year_l" = "birth_year_r"', label_for_charts="same year"),
            cll.ElseLevel(),
        ],
    )


def _exact(column: str) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[cll.NullLevel(column), cll.ExactMatchLevel(column), cll.ElseLevel()],
    )


def blocking_rules() -> list[Any]:
    """The rules that generate the scored pairs (see the module docstring)."""
    return [
        block_on("cccd"),
        block_on("sin"),
        block_on("phone"),
        block_on("birth_date_set", "family"),
        block_on("birth_date_set", "given"),
        block_on("commune", "family", "given"),
    ]


def new_settings() -> SettingsCreator:
    """Untrained settings: comparisons and blocking rules, default m and u."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            _name_part("family", tf=True),
            _name_part("middle", tf=False),
            _name_part("given", tf=True),
            _birth_date(),
            _exact("sex"),
            _exact("commune"),
            _exact("phone"),
            cl.CustomComparison(
                output_column_name="cccd",
                comparison_levels=[
                    cll.NullLevel("cccd"),
                    cll.ExactMatchLevel("cccd"),
                    cll.DamerauLevenshteinLevel("cccd", 1).configure(m_probability=0.02, u_probability=1e-6),
                    cll.ElseLevel(),
                ],
            ),
            cl.CustomComparison(
                output_column_name="sin",
                comparison_levels=[
                    cll.NullLevel("sin"),
                    # Not observed in the synthetic training data (no cards): set by hand, lifelong number.
                    cll.ExactMatchLevel("sin").configure(m_probability=0.95, u_probability=1e-7),
                    cll.ElseLevel().configure(m_probability=0.05, u_probability=1.0),
                ],
            ),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )


def linker_for(table: Any, settings: SettingsCreator | dict[str, Any] | None = None) -> Linker:
    """A Splink linker on DuckDB over ``table`` (a pandas DataFrame of match rows)."""
    return Linker(table, settings if settings is not None else load_settings(), db_api=DuckDBAPI())


def train(table: Any, *, cccd_recall: float = 0.7, seed: int = 11) -> dict[str, Any]:
    """Train the model on ``table`` (match rows) and return the settings dict to save as JSON.

    ``cccd_recall``: the share of true duplicate pairs that share a personal ID, from which λ (the
    probability that two random records match) is estimated.
    """
    linker = Linker(table, new_settings(), db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match([block_on("cccd")], recall=cccd_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date_set", "family"), fix_probability_two_random_records_match=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date_set", "given"), fix_probability_two_random_records_match=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("phone"), fix_probability_two_random_records_match=True
    )
    settings: dict[str, Any] = linker.misc.save_model_to_json()
    return floor_m(settings)


def floor_m(settings: dict[str, Any], floor: float = 0.005) -> dict[str, Any]:
    """Give every level an m probability of at least ``floor`` (renormalised per comparison).

    Synthetic training data never holds, say, a duplicate whose sex or personal ID differs, so EM
    drives those m values to 0: a weight of minus infinity that no other evidence could outweigh.
    Real records have such typos; the floor keeps them strongly, not infinitely, against a match.
    """
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for level in levels:
            level["m_probability"] = max(float(level.get("m_probability") or 0.0), floor)
        total = sum(level["m_probability"] for level in levels)
        for level in levels:
            level["m_probability"] /= total
    return settings


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """The trained settings: ``path``, else the packaged ``data/splink_model.json``."""
    if path is not None:
        loaded: dict[str, Any] = orjson.loads(path.read_bytes())
        return loaded
    return dict(_packaged())


@cache
def _packaged() -> dict[str, Any]:
    raw: dict[str, Any] = orjson.loads(resources.files(__package__).joinpath("data", MODEL_FILE).read_bytes())
    return raw
