"""The Vietnamese ICD-10 list of the Ministry of Health (Decision 4469/QĐ-BYT, 2020), packaged.

ICD-10 in FHIR: https://terminology.hl7.org/CodeSystem-icd10.html ; code systems:
https://hl7.org/fhir/R4/codesystem.html . The Vietnamese edition follows WHO ICD-10 with the Ministry's
additions (the 2019 WHO dengue codes A97.x, the U codes) and Vietnamese names; Sen Health identifies it
with its own code-system URI, :data:`SYSTEM`, so that codes of this edition are never confused with the
WHO list (``http://hl7.org/fhir/sid/icd-10``).

The data is derived from the Ministry's annex by ``scripts/package_icd10_vn.py`` into
``data/icd10-vn-qd4469-2020.json.gz`` (source and licence in ``data/README.md``) and loaded once per
process. Quirks of the source, kept as they are:

- a few English names are wrong: ``I10`` reads "Other rheumatic heart diseases", the U00–U49 group reads
  "Emergency use of ..."; prefer the Vietnamese name (:attr:`Icd10Code.name_vi`) as the display;
- 858 rows carry the dagger (``†``, aetiology) or asterisk (``*``, manifestation) mark: the mark is kept
  in :attr:`Icd10Code.mark`, the code itself is stored without it; look-ups accept either;
- 82 codes are listed twice (the heading, then the marked code): they are one entry here;
- some English names carry stray punctuation (``Alzheimer s``), kept;
- dengue is ``A90`` and ``A97.0``/``A97.1``/``A97.2``/``A97.9``; there is no ``A91``; hand-foot-and-mouth
  disease is ``B08.4`` (its Vietnamese name is the list's own wording);
- Circular 06/2026 replaces this edition from 1 July 2026 with the same layout.

Written by hand because no Python package carries the Vietnamese edition.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson

__all__ = [
    "DATA_FILE",
    "EDITION",
    "SYSTEM",
    "Chapter",
    "Icd10Code",
    "chapters",
    "codes",
    "display",
    "get",
    "lookup",
    "normalise",
]

SYSTEM = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
"""The code-system URI Sen Health uses for the Vietnamese ICD-10 edition."""

EDITION = "QĐ 4469/QĐ-BYT (2020)"
DATA_FILE = "icd10-vn-qd4469-2020.json.gz"


@dataclass(frozen=True, slots=True)
class Chapter:
    """A chapter (``I`` … ``XXII``) with its code range and names."""

    number: str
    range: str
    name_vi: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Icd10Code:
    """One code of the list: a 3-character category (``A97``) or a sub-category (``A97.0``)."""

    code: str
    name_vi: str
    name_en: str
    chapter: Chapter
    group: str
    group_vi: str
    group_en: str
    category: str
    mark: str

    @property
    def code_nodot(self) -> str:
        """The code without its dot, as the insurance claim XML writes it (``A970``)."""
        return self.code.replace(".", "")

    @property
    def is_category(self) -> bool:
        """True for a 3-character category (``A97``), False for a sub-category (``A97.0``)."""
        return self.code == self.category


@dataclass(frozen=True, slots=True)
class _Table:
    codes: dict[str, Icd10Code]
    by_nodot: dict[str, str]
    chapters: tuple[Chapter, ...]


@cache
def _table() -> _Table:
    raw = resources.files(__package__).joinpath("data", DATA_FILE).read_bytes()
    doc = orjson.loads(gzip.decompress(raw))
    chapter_map = {number: Chapter(number, rng, vi, en) for number, (rng, vi, en) in doc["chapters"].items()}
    blocks: dict[str, list[str]] = doc["blocks"]
    table: dict[str, Icd10Code] = {}
    by_nodot: dict[str, str] = {}
    for code, chapter, group, _sub1, _sub2, category, name_vi, name_en, mark in doc["codes"]:
        group_vi, group_en = blocks.get(group, ["", ""])
        table[code] = Icd10Code(
            code, name_vi, name_en, chapter_map[chapter], group, group_vi, group_en, category, mark
        )
        by_nodot.setdefault(code.replace(".", ""), code)
    ordered = tuple(sorted(chapter_map.values(), key=lambda c: _roman(c.number)))
    return _Table(table, by_nodot, ordered)


def _roman(numeral: str) -> int:
    values = {"I": 1, "V": 5, "X": 10, "L": 50}
    total = 0
    for i, ch in enumerate(numeral):
        value = values[ch]
        total += -value if i + 1 < len(numeral) and values[numeral[i + 1]] > value else value
    return total


def normalise(code: str) -> str:
    """Upper-case, trimmed, without a dagger/asterisk mark; a dot added to a dot-less sub-category."""
    text = code.strip().upper().rstrip("†*+")
    if "." not in text and len(text) > 3:
        text = f"{text[:3]}.{text[3:]}"
    return text


def lookup(code: str) -> Icd10Code | None:
    """The entry of a code (``"A97.0"``, ``"A970"``, ``"a97.0"``, ``"A17†"``), or None when not listed."""
    table = _table()
    found = table.codes.get(normalise(code))
    if found is None:
        dotted = table.by_nodot.get(code.strip().upper().rstrip("†*+").replace(".", ""))
        found = table.codes.get(dotted) if dotted else None
    return found


def get(code: str) -> Icd10Code:
    """Like :func:`lookup`, but raise ``KeyError`` for a code the list does not have."""
    found = lookup(code)
    if found is None:
        raise KeyError(f"ICD-10 code not in {EDITION}: {code!r}")
    return found


def display(code: str, language: str = "vi") -> str:
    """The name of a code in Vietnamese (``vi``, the default) or English (``en``)."""
    entry = get(code)
    return entry.name_en if language == "en" else entry.name_vi


def codes() -> Iterator[Icd10Code]:
    """Every code, in the list's order."""
    return iter(_table().codes.values())


def chapters() -> tuple[Chapter, ...]:
    """The 22 chapters, in the order of their numbers (I … XXII)."""
    return _table().chapters
