"""Matching patient records: deterministic on the personal ID, probabilistic (Fellegi–Sunter) on the rest.

Every scored pair ends in one of three places:

- **link** (automatic): the two records share a well-formed personal ID and neither contradicts it
  (sex, birth year: :func:`senhealth.mpi.identifiers.cccd_conflicts`), or the model's match probability
  is at least ``Thresholds.link``;
- **review**: the records share a personal ID that one of them contradicts (numbers are re-issued and
  mistyped: never a hard UNIQUE), or the probability is in [``Thresholds.review``, ``Thresholds.link``);
- dropped: below ``Thresholds.review``.

The probabilistic part is the trained Splink model of :mod:`senhealth.mpi.model`
(https://moj-analytical-services.github.io/splink/). :func:`clusters` turns automatic links into
groups of records that are one person (connected components), as a batch de-duplication needs.
FHIR's ``Patient/$match`` grades (certain / probable / possible / certainly-not) map onto the same
thresholds: https://hl7.org/fhir/R4/patient-operation-match.html.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from senhealth.mpi.identifiers import cccd_conflicts
from senhealth.mpi.model import linker_for, load_settings
from senhealth.mpi.record import MATCH_COLUMNS, Candidate, match_row

__all__ = ["MatchResult", "ScoredPair", "Thresholds", "clusters", "deduplicate", "match_table", "reasons"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Match-probability cut-offs (docs/mpi.md says how they were chosen)."""

    link: float = 0.99
    review: float = 0.5


@dataclass(frozen=True, slots=True)
class ScoredPair:
    left: str
    right: str
    probability: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MatchResult:
    links: list[ScoredPair]
    review: list[ScoredPair]


def match_table(rows: Iterable[dict[str, Any]]) -> Any:
    """A pandas DataFrame of match rows (the input Splink reads)."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(MATCH_COLUMNS))
    frame["birth_year"] = frame["birth_year"].map(lambda y: None if y is None or y != y else str(int(y)))
    return frame.astype(object).where(frame.notna(), None)


_REASON_FIELDS = (
    ("cccd", "personal ID"),
    ("sin", "insurance number"),
    ("phone", "phone"),
    ("family", "family name"),
    ("middle", "middle name"),
    ("given", "given name"),
    ("commune", "commune"),
    ("sex", "sex"),
)


def reasons(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, ...]:
    """What agrees and what differs between two match rows, for reviewers: ``("same personal ID", ...)``."""
    out = []
    for key, label in _REASON_FIELDS:
        if a[key] is None or b[key] is None:
            continue
        out.append(f"same {label}" if a[key] == b[key] else f"different {label}")
    if a["birth_date"] and b["birth_date"]:
        if a["birth_date"] == b["birth_date"]:
            out.append("same birth date")
        elif a["birth_date_set"] == b["birth_date_set"]:
            out.append("birth day and month swapped")
        else:
            out.append("different birth date")
    return tuple(out)


def _cccd_pairs(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Pairs sharing a personal ID → the conflicts that keep them from an automatic link."""
    by_cccd: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["cccd"]:
            by_cccd[row["cccd"]].append(row)
    out: dict[tuple[str, str], list[str]] = {}
    for value, group in by_cccd.items():
        for a, b in combinations(group, 2):
            conflicts = []
            for row in (a, b):
                year = int(row["birth_year"]) if row["birth_year"] else None
                conflicts += [f"{row['unique_id']}: {c}" for c in cccd_conflicts(value, row["sex"], year)]
            if a["sex"] and b["sex"] and a["sex"] != b["sex"]:
                conflicts.append("records differ in sex")
            out[_key(a["unique_id"], b["unique_id"])] = conflicts
    return out


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def deduplicate(
    candidates: Iterable[Candidate],
    thresholds: Thresholds | None = None,
    settings: dict[str, Any] | None = None,
) -> MatchResult:
    """Find the records that are one person among ``candidates``: automatic links and a review list."""
    rows = [match_row(c) for c in candidates]
    return deduplicate_rows(rows, thresholds, settings)


def deduplicate_rows(
    rows: Sequence[dict[str, Any]],
    thresholds: Thresholds | None = None,
    settings: dict[str, Any] | None = None,
) -> MatchResult:
    """:func:`deduplicate` on match rows already built (:func:`senhealth.mpi.record.match_row`)."""
    thresholds = thresholds or Thresholds()
    by_id = {row["unique_id"]: row for row in rows}
    scores: dict[tuple[str, str], float] = {}
    if len(rows) > 1:
        linker = linker_for(match_table(rows), settings if settings is not None else load_settings())
        predictions = linker.inference.predict(threshold_match_probability=thresholds.review)
        frame = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
        for left, right, p in zip(
            frame["unique_id_l"], frame["unique_id_r"], frame["match_probability"], strict=True
        ):
            scores[_key(str(left), str(right))] = float(p)
        predictions.drop_table_from_database_and_remove_from_cache()
    deterministic = _cccd_pairs(rows)
    links: list[ScoredPair] = []
    review: list[ScoredPair] = []
    for pair in sorted(set(scores) | set(deterministic)):
        p = scores.get(pair, 0.0)
        why = reasons(by_id[pair[0]], by_id[pair[1]])
        conflicts = deterministic.get(pair)
        if conflicts is not None:
            if conflicts:
                review.append(ScoredPair(*pair, p, (*why, *conflicts)))
            else:
                links.append(ScoredPair(*pair, max(p, thresholds.link), why))
        elif p >= thresholds.link:
            links.append(ScoredPair(*pair, p, why))
        elif p >= thresholds.review:
            review.append(ScoredPair(*pair, p, why))
    return MatchResult(links, review)


def clusters(links: Iterable[ScoredPair]) -> list[set[str]]:
    """Groups of record ids joined by links (connected components), largest first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        a, b = find(link.left), find(link.right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, set[str]] = defaultdict(set)
    for x in parent:
        groups[find(x)].add(x)
    return sorted(groups.values(), key=len, reverse=True)
