"""Retention rules as a table: which rule applies to which document, and from when it may be destroyed.

Spec: Circular 33/2025/TT-BYT as summarised in vietnam.md §2 (unverified): 10 years for inpatient and
outpatient records, 20 for psychiatric, occupational / traffic accident, transplant and cosmetic
surgery records, 30 for deaths, permanent for medical incidents, 2 for health-check certificates,
counted from the end of the year the episode ended.
"""

from __future__ import annotations

from datetime import date

import pytest

from senhealth.emr.documents.types import DOCUMENT_TYPES
from senhealth.emr.retention.rules import RULES, DocumentFacts, classify, purgeable_from


@pytest.mark.parametrize(
    ("facts", "rule", "years"),
    [
        (DocumentFacts("discharge-paper"), "medical-record", 10),
        (DocumentFacts("outpatient-record", icd10=("J18.9",)), "medical-record", 10),
        (DocumentFacts("prescription"), "medical-record", 10),
        (DocumentFacts("inpatient-summary", icd10=("F20.0",)), "psychiatric", 20),
        (DocumentFacts("discharge-paper", icd10=("S72.0", "V43.5")), "traffic-accident", 20),
        (DocumentFacts("discharge-paper", icd10=("S62.3", "Y96")), "occupational-accident", 20),
        (
            DocumentFacts("discharge-paper", tags=frozenset({"occupational-accident"})),
            "occupational-accident",
            20,
        ),
        (DocumentFacts("inpatient-summary", icd10=("Z94.0",)), "transplant", 20),
        (DocumentFacts("inpatient-summary", icd10=("T86.1",)), "transplant", 20),
        (DocumentFacts("discharge-paper", icd10=("Z41.1",)), "cosmetic-surgery", 20),
        (
            DocumentFacts("discharge-paper", icd10=("Z41.2",)),
            "medical-record",
            10,
        ),  # circumcision: not cosmetic
        (DocumentFacts("discharge-paper", discharge_disposition="exp"), "death", 30),
        (DocumentFacts("discharge-paper", died_during_episode=True), "death", 30),
        (DocumentFacts("discharge-paper", icd10=("F32",), discharge_disposition="exp"), "death", 30),
        (
            DocumentFacts("discharge-paper", tags=frozenset({"medical-incident"}), icd10=("F32",)),
            "medical-incident",
            None,
        ),
        (DocumentFacts("health-check-certificate"), "health-check-certificate", 2),
        (DocumentFacts("", tags=frozenset({"health-check-certificate"})), "health-check-certificate", 2),
        (DocumentFacts("", tags=frozenset({"psychiatric"})), "psychiatric", 20),
    ],
)
def test_the_longest_matching_rule_wins(facts: DocumentFacts, rule: str, years: int | None) -> None:
    found = classify(facts)
    assert found is not None
    assert (found.rule.key, found.years) == (rule, years)
    assert found.permanent == (years is None)


def test_no_rule_for_an_unknown_document() -> None:
    """Nothing is destroyed without a rule: an unknown type with nothing else is not classified."""
    assert classify(DocumentFacts("")) is None
    assert classify(DocumentFacts("some-other-form", icd10=("J18.9",))) is None


def test_every_document_type_has_its_retention() -> None:
    for key, dtype in DOCUMENT_TYPES.items():
        found = classify(DocumentFacts(key))
        assert found is not None and found.years == dtype.retention_years, key


def test_rules_name_their_source() -> None:
    assert {r.key: r.years for r in RULES.values()} == {
        "medical-record": 10, "health-check-certificate": 2, "psychiatric": 20, "occupational-accident": 20,
        "traffic-accident": 20, "transplant": 20, "cosmetic-surgery": 20, "death": 30, "medical-incident": None,
    }  # fmt: skip
    assert all("33/2025" in r.source and not r.verified for r in RULES.values())


@pytest.mark.parametrize(
    ("end", "years", "expected"),
    [
        (date(2015, 6, 3), 10, date(2026, 1, 1)),
        (date(2015, 1, 1), 10, date(2026, 1, 1)),
        (date(2015, 12, 31), 10, date(2026, 1, 1)),
        (date(2016, 1, 1), 10, date(2027, 1, 1)),
        (date(2024, 2, 29), 2, date(2027, 1, 1)),
        (date(2015, 6, 3), 30, date(2046, 1, 1)),
        (date(2015, 6, 3), None, None),
    ],
)
def test_counted_from_the_end_of_the_year(end: date, years: int | None, expected: date | None) -> None:
    assert purgeable_from(end, years) == expected
