"""A synthetic population with injected duplicates, for the patient-index quality test and bench/mpi.

Shared by ``tests/mpi/test_mpi_quality.py`` and ``bench/mpi/`` (which imports it as
``tests.mpi.mpi_population``); it lives under tests/ because bench/ is not importable from the tests.
It uses the demo generator's Vietnamese names, age pyramid, personal IDs, communes and phone numbers
(senhealth.demo); senhealth.mpi itself never imports it.

Each duplicate copies one distinct original and then, each independently (issue 4, item 5):
a one-character typo in one name part (30 %), diacritics removed from the name (30 %), day and month
swapped (10 %; only possible when the day is at most 12 and differs from the month, so the applied
share is lower: :attr:`Population.applied` counts it), moved to another commune (20 %), personal ID
missing (30 %), phone changed (10 %; a new number, also for an original without one).
Insurance cards are left out, so that the result measures the name / birth date / commune / phone model.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date

from senhealth.core.text import fold_diacritics
from senhealth.demo.geography import load_province
from senhealth.demo.identifiers import cccd, mobile_number, serial
from senhealth.demo.names import sample_name
from senhealth.demo.population import birth_date_for, sample_age_sex
from senhealth.mpi.record import Candidate

RATES = {"typo": 0.30, "diacritics": 0.30, "swap": 0.10, "moved": 0.20, "no_cccd": 0.30, "phone": 0.10}
_LETTERS = "abcdeghiklmnopqrstuvxyăâđêôơư"
AS_OF = date(2026, 1, 1)


@dataclass(frozen=True, slots=True)
class Population:
    records: list[Candidate]
    truth: set[tuple[str, str]]  # (original id, duplicate id), sorted
    applied: Counter[str]


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word))
    kind = rng.choice(("sub", "del", "ins") if len(word) > 1 else ("sub", "ins"))
    letter = rng.choice(_LETTERS)
    if kind == "sub":
        while letter == word[i].lower():
            letter = rng.choice(_LETTERS)
        return word[:i] + letter + word[i + 1 :]
    if kind == "del":
        return word[:i] + word[i + 1 :]
    return word[:i] + letter + word[i:]


def _duplicate(
    rng: random.Random, c: Candidate, new_id: str, communes: list[str], applied: Counter[str]
) -> Candidate:
    family, given = c.family, list(c.given)
    if rng.random() < RATES["typo"]:
        applied["typo"] += 1
        part = rng.randrange(1 + len(given))
        if part == 0:
            family = _typo(rng, family)
        else:
            given[part - 1] = _typo(rng, given[part - 1])
    if rng.random() < RATES["diacritics"]:
        applied["diacritics"] += 1
        family, given = fold_diacritics(family), [fold_diacritics(g) for g in given]
    birth = c.birth_date
    if rng.random() < RATES["swap"]:
        assert birth is not None
        if birth.day <= 12 and birth.day != birth.month:
            applied["swap"] += 1
            birth = date(birth.year, birth.day, birth.month)
        else:
            applied["swap_impossible"] += 1
    commune = c.commune
    if rng.random() < RATES["moved"]:
        applied["moved"] += 1
        while commune == c.commune:
            commune = rng.choice(communes)
    personal_id = c.cccd
    if rng.random() < RATES["no_cccd"]:
        applied["no_cccd"] += 1
        personal_id = None
    phone = c.phone
    if rng.random() < RATES["phone"]:
        applied["phone"] += 1
        while phone == c.phone:
            phone = mobile_number(rng)
    return replace(
        c,
        id=new_id,
        family=family,
        given=tuple(given),
        birth_date=birth,
        commune=commune,
        phone=phone,
        cccd=personal_id,
    )


def generate(population: int, duplicates: int, seed: int, province: str = "24") -> Population:
    """``population`` distinct people of ``province`` plus ``duplicates`` corrupted copies, shuffled."""
    rng = random.Random(f"senhealth-mpi/{seed}")
    info = load_province(province)
    communes = [c.code for c in info.communes]
    cumulative = list(itertools.accumulate(max(c.population, 1) for c in info.communes))
    records: list[Candidate] = []
    for index in range(population):
        age, sex = sample_age_sex(rng)
        birth = birth_date_for(rng, age, AS_OF)
        name = sample_name(rng, sex, birth.year, info.region)
        registration = rng.choice(info.old_codes)
        commune = communes[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        phone = mobile_number(rng) if age >= 15 and rng.random() < 0.9 else None
        records.append(
            Candidate(
                id=f"p{index}",
                family=name.family,
                given=tuple(name.given_names),
                birth_date=birth,
                sex=sex,
                commune=commune,
                phone=phone,
                cccd=cccd(registration, sex, birth, serial(index, seed, 10**6, salt=1)),
            )
        )
    applied: Counter[str] = Counter()
    truth = set()
    for n, original in enumerate(rng.sample(records, duplicates)):
        dup = _duplicate(rng, original, f"d{n}", communes, applied)
        records.append(dup)
        truth.add((original.id, dup.id) if original.id <= dup.id else (dup.id, original.id))
    rng.shuffle(records)
    return Population(records, truth, applied)
