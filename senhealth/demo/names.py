"""Vietnamese personal names: family name, middle name(s) and given name, drawn by frequency.

A Vietnamese name is written family–middle–given ("Nguyễn Văn An"); in FHIR it becomes a HumanName
(https://hl7.org/fhir/R4/datatypes.html#HumanName) with ``family`` "Nguyễn", ``given`` ["Văn", "An"]
and ``text`` "Nguyễn Văn An". The frequency tables and their sources are in ``data/names.json``
(approximate figures; see its ``_sources``). All text is Unicode NFC with Vietnamese diacritics.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

from senhealth.demo.streams import Weighted

__all__ = ["NameTables", "PersonName", "name_tables", "sample_name"]


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str
    middle: tuple[str, ...]
    given: str

    @property
    def text(self) -> str:
        return " ".join((self.family, *self.middle, self.given))

    @property
    def given_names(self) -> list[str]:
        """FHIR ``HumanName.given``: the middle name(s) then the given name."""
        return [*self.middle, self.given]

    def to_fhir(self) -> dict[str, Any]:
        return {"use": "official", "text": self.text, "family": self.family, "given": self.given_names}


@dataclass(frozen=True, slots=True)
class NameTables:
    family: dict[str, Weighted[str]]  # by region
    middle: dict[tuple[str, str], Weighted[str]]  # by (sex, cohort)
    given: dict[tuple[str, str], Weighted[str]]
    second_middle: dict[str, float]  # by cohort
    cohorts: tuple[tuple[str, int, int], ...]
    hamlets: tuple[str, ...]
    streets: tuple[str, ...]

    def cohort(self, birth_year: int) -> str:
        for name, low, high in self.cohorts:
            if low <= birth_year <= high:
                return name
        return self.cohorts[-1][0]


@cache
def name_tables() -> NameTables:
    """The name tables of ``data/names.json``, loaded once."""
    raw = orjson.loads(resources.files(__package__).joinpath("data", "names.json").read_bytes())
    family: dict[str, Weighted[str]] = {}
    for region in ("north", "central", "south"):
        weights: dict[str, float] = {}
        for key, share in raw["family"].items():
            variants = raw["family_variants"].get(key)
            if variants is None:
                weights[key] = weights.get(key, 0.0) + share
            else:
                for variant, fraction in variants[region].items():
                    weights[variant] = weights.get(variant, 0.0) + share * fraction
        family[region] = Weighted.of(weights)
    middle = {
        (sex, cohort): Weighted.of(table) for sex, by in raw["middle"].items() for cohort, table in by.items()
    }
    given = {
        (sex, cohort): Weighted.of(table) for sex, by in raw["given"].items() for cohort, table in by.items()
    }
    cohorts = tuple((name, low, high) for name, (low, high) in raw["cohorts"].items())
    return NameTables(
        family,
        middle,
        given,
        raw["second_middle_share"],
        cohorts,
        tuple(raw["hamlets"]),
        tuple(raw["streets"]),
    )


def sample_name(
    rng: random.Random, sex: str, birth_year: int, region: str = "north", family: str | None = None
) -> PersonName:
    """A name for a person of ``sex`` born in ``birth_year``; ``family`` forces the family name."""
    tables = name_tables()
    cohort = tables.cohort(birth_year)
    surname = family or tables.family[region].pick(rng)
    middle_table = tables.middle[(sex, cohort)]
    given_table = tables.given[(sex, cohort)]
    middles = [middle_table.pick(rng)]
    if rng.random() < tables.second_middle[cohort]:
        second = given_table.pick(rng)
        if second != middles[0]:
            middles.append(second)
    given = given_table.pick(rng)
    for _ in range(3):
        if given not in middles:
            break
        given = given_table.pick(rng)
    return PersonName(surname, tuple(middles), given)
