"""DHIS2-style data sets: data elements, category option combos and validation rules, as package data.

Spec: DHIS2 metadata (https://docs.dhis2.org/en/develop/using-the-api/dhis-core-version-master/metadata.html)
and validation rules (.../validation.html), kept minimal: a data set is a form of numbers per period
(``periodType`` ``Monthly``); each data element has a category combo, here a flat list of category
option combos (``default``; ``M``/``F``); validation rules compare a left-side and a right-side
expression. Identifiers are DHIS2 **codes** (exports use ``idScheme=CODE``), not generated UIDs.

Each data set is a JSON file ``data/<CODE>.json``; docs/dhis2.md describes the format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

__all__ = [
    "OPERATORS",
    "CategoryOptionCombo",
    "DataElement",
    "DataSet",
    "ValidationRule",
    "data_set",
    "data_sets",
]

Operator = Literal[
    "equal_to",
    "not_equal_to",
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "compulsory_pair",
    "exclusive_pair",
]
OPERATORS: Final = frozenset(
    {
        "equal_to",
        "not_equal_to",
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "compulsory_pair",
        "exclusive_pair",
    }
)
MissingValueStrategy = Literal["SKIP_IF_ANY_VALUE_MISSING", "SKIP_IF_ALL_VALUES_MISSING", "NEVER_SKIP"]


@dataclass(frozen=True, slots=True)
class CategoryOptionCombo:
    code: str
    name_vi: str
    name_en: str


@dataclass(frozen=True, slots=True)
class DataElement:
    code: str
    name_vi: str
    name_en: str
    value_type: str
    combos: tuple[CategoryOptionCombo, ...]

    @property
    def combo_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.combos)


@dataclass(frozen=True, slots=True)
class ValidationRule:
    code: str
    name_vi: str
    name_en: str
    left: str
    operator: Operator
    right: str
    importance: Literal["HIGH", "MEDIUM", "LOW"] = "MEDIUM"
    missing: MissingValueStrategy = "SKIP_IF_ALL_VALUES_MISSING"


@dataclass(frozen=True, slots=True)
class DataSet:
    code: str
    version: str
    name_vi: str
    name_en: str
    period_type: str
    timely_days: int
    elements: tuple[DataElement, ...]
    rules: tuple[ValidationRule, ...]

    def element(self, code: str) -> DataElement:
        for e in self.elements:
            if e.code == code:
                return e
        raise KeyError(f"{self.code} has no data element {code!r}")

    @property
    def measure_url(self) -> str:
        return f"https://senhealth.vn/fhir/Measure/dhis2-{self.code}"


def _parse(doc: dict[str, Any]) -> DataSet:
    combos = {
        name: tuple(CategoryOptionCombo(c["code"], c["name_vi"], c["name_en"]) for c in options)
        for name, options in doc["categoryCombos"].items()
    }
    elements = tuple(
        DataElement(e["code"], e["name_vi"], e["name_en"], e["valueType"], combos[e["categoryCombo"]])
        for e in doc["dataElements"]
    )
    rules = []
    for r in doc["validationRules"]:
        if r["operator"] not in OPERATORS:
            raise ValueError(f"{doc['code']}: rule {r['code']}: unknown operator {r['operator']!r}")
        rules.append(
            ValidationRule(
                r["code"],
                r["name_vi"],
                r["name_en"],
                r["leftSide"],
                r["operator"],
                r["rightSide"],
                r.get("importance", "MEDIUM"),
                r.get("missingValueStrategy", "SKIP_IF_ALL_VALUES_MISSING"),
            )
        )
    return DataSet(
        doc["code"],
        doc["version"],
        doc["name_vi"],
        doc["name_en"],
        doc["periodType"],
        int(doc.get("timelyDays", 15)),
        elements,
        tuple(rules),
    )


@cache
def data_sets() -> dict[str, DataSet]:
    """Every packaged data set, by code."""
    folder = resources.files(__package__) / "data"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            ds = _parse(json.loads(entry.read_text(encoding="utf-8")))
            out[ds.code] = ds
    return out


def data_set(code: str) -> DataSet:
    """The data set ``code``; KeyError naming the known ones otherwise."""
    try:
        return data_sets()[code]
    except KeyError:
        raise KeyError(f"no data set {code!r}: one of {', '.join(data_sets())}") from None
