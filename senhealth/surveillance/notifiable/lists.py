"""The notifiable-disease lists as dated configuration: which list is in force on a date, and which of its
diseases an ICD-10 code or a laboratory test belongs to.

Sources (each list and each disease carries its own ``source`` and ``verified`` fields in ``data/``):

- Circular 54/2015/TT-BYT (Ministry of Health) on reporting infectious diseases, with the disease groups
  A / B / C of Law 03/2007/QH12 Art. 3; in force until 30 June 2026;
- the list of the 2025 Disease Prevention Law that replaces it from 1 July 2026 (Circular 15/2026/TT-BYT,
  groups of 15 / 47 / 19 diseases: unverified). Its file ``inherits`` Circular 54's diseases and changes
  them with ``overrides`` (by key), ``add`` and ``remove``, until the published list is entered.

A disease has a key (``dengue``), a group, ICD-10 codes of the Vietnamese list (a code ``A97`` covers
``A97.0`` … ``A97.9``; the most specific listed code wins: ``A83.0`` is Japanese encephalitis, ``A83.1``
viral encephalitis), names in Vietnamese and English, the reporting deadline (``24h``, ``48h`` or
``weekly``) and ``episode_days``: evidence more than that many days after a case's last evidence opens a
new case (a new episode).

:func:`list_on` picks the list by a case's date (its onset, else the date of its first evidence).
``SENHEALTH_SURVEILLANCE_LISTS_DIR`` points at another folder of ``notifiable-*.json`` and ``labs.json``
files (a province's corrections, tests); :func:`reload` forgets the cached lists.

ICD-10 in FHIR: https://terminology.hl7.org/CodeSystem-icd10.html ; the Vietnamese edition's system:
:data:`senhealth.fhir.terminology.icd10_vn.SYSTEM`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from senhealth.fhir.terminology import icd10_vn

__all__ = [
    "DEADLINES",
    "ICD10_SYSTEMS",
    "LOINC",
    "Deadline",
    "Disease",
    "LabTest",
    "NotifiableList",
    "all_lists",
    "any_list_code",
    "deadline_after",
    "disease_for_code",
    "lab_tests",
    "list_by_id",
    "list_on",
    "normalise_code",
    "reload",
]

Deadline = Literal["24h", "48h", "weekly"]
DEADLINES: Final[tuple[str, ...]] = ("24h", "48h", "weekly")
#: ICD-10 code systems read: the Vietnamese edition (what the platform writes) and WHO's.
ICD10_SYSTEMS: Final = frozenset({icd10_vn.SYSTEM, "http://hl7.org/fhir/sid/icd-10"})
LOINC: Final = "http://loinc.org"
_ENV: Final = "SENHEALTH_SURVEILLANCE_LISTS_DIR"


@dataclass(frozen=True, slots=True)
class Disease:
    key: str
    group: str  # A | B | C
    icd10: tuple[str, ...]
    name_vi: str
    name_en: str
    deadline: Deadline
    episode_days: int
    source: str
    verified: bool
    note: str = ""

    def name(self, lang: str = "vi") -> str:
        return self.name_en if lang == "en" else self.name_vi


@dataclass(frozen=True, slots=True)
class NotifiableList:
    id: str
    title_vi: str
    title_en: str
    instrument: str
    valid_from: date
    valid_to: date | None  # inclusive; None: open
    source: str
    verified: bool
    diseases: dict[str, Disease] = field(default_factory=dict)

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def for_code(self, code: str) -> Disease | None:
        """The disease whose most specific listed code covers ICD-10 ``code`` (``A97.1`` → dengue)."""
        best: tuple[int, Disease] | None = None
        c = normalise_code(code)
        for disease in self.diseases.values():
            for listed in disease.icd10:
                covers = c == listed or c.startswith(listed + ".")
                if covers and (best is None or len(listed) > best[0]):
                    best = (len(listed), disease)
        return best[1] if best else None


def normalise_code(code: str) -> str:
    """``a970`` → ``A97.0``: upper case, the dot after the category (as the Vietnamese list writes it)."""
    c = code.strip().upper()
    if "." not in c and len(c) > 3:
        c = f"{c[:3]}.{c[3:]}"
    return c


@dataclass(frozen=True, slots=True)
class LabTest:
    loinc: str
    disease: str
    display: str
    confirms: bool  # a positive result confirms the case


def _folder() -> Path | None:
    value = os.environ.get(_ENV, "").strip()
    return Path(value) if value else None


def _documents() -> list[tuple[str, bytes]]:
    folder = _folder()
    if folder is not None:
        return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.json"))]
    base = resources.files(__package__).joinpath("data")
    return [
        (p.name, p.read_bytes())
        for p in sorted(base.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".json")
    ]


def _disease(raw: dict[str, Any]) -> Disease:
    deadline = str(raw["deadline"])
    if deadline not in DEADLINES:
        raise ValueError(f"disease {raw.get('key')}: deadline {deadline!r} is not one of {DEADLINES}")
    group = str(raw["group"])
    if group not in ("A", "B", "C"):
        raise ValueError(f"disease {raw.get('key')}: group {group!r} is not A, B or C")
    return Disease(
        key=str(raw["key"]),
        group=group,
        icd10=tuple(str(c).upper() for c in raw.get("icd10", ())),
        name_vi=str(raw["name_vi"]),
        name_en=str(raw["name_en"]),
        deadline=deadline,  # type: ignore[arg-type]
        episode_days=int(raw.get("episode_days", 30)),
        source=str(raw.get("source", "")),
        verified=bool(raw.get("verified", False)),
        note=str(raw.get("note", "")),
    )


def _build(raw: dict[str, Any], built: dict[str, NotifiableList]) -> NotifiableList:
    diseases: dict[str, Disease] = {}
    parent = raw.get("inherits")
    if parent:
        if parent not in built:
            raise ValueError(f"list {raw['id']} inherits {parent!r}, which is not loaded before it")
        diseases = dict(built[parent].diseases)
    for key in raw.get("remove", ()):
        diseases.pop(str(key), None)
    for key, change in (raw.get("overrides") or {}).items():
        if key not in diseases:
            raise ValueError(f"list {raw['id']} overrides unknown disease {key!r}")
        old = diseases[key]
        merged = {
            "key": key, "group": old.group, "icd10": list(old.icd10), "name_vi": old.name_vi,
            "name_en": old.name_en, "deadline": old.deadline, "episode_days": old.episode_days,
            "source": old.source, "verified": old.verified, "note": old.note, **change,
        }  # fmt: skip
        diseases[key] = _disease(merged)
    for item in [*raw.get("diseases", ()), *raw.get("add", ())]:
        d = _disease(item)
        diseases[d.key] = d
    valid_to = raw.get("valid_to")
    return NotifiableList(
        id=str(raw["id"]),
        title_vi=str(raw.get("title_vi", "")),
        title_en=str(raw.get("title_en", "")),
        instrument=str(raw.get("instrument", "")),
        valid_from=date.fromisoformat(str(raw["valid_from"])),
        valid_to=date.fromisoformat(str(valid_to)) if valid_to else None,
        source=str(raw.get("source", "")),
        verified=bool(raw.get("verified", False)),
        diseases=diseases,
    )


@cache
def _loaded() -> tuple[tuple[NotifiableList, ...], dict[str, LabTest]]:
    raw_lists: list[dict[str, Any]] = []
    labs: dict[str, LabTest] = {}
    for name, data in _documents():
        doc = orjson.loads(data)
        if name == "labs.json":
            for t in doc.get("tests", ()):
                labs[str(t["loinc"])] = LabTest(
                    str(t["loinc"]),
                    str(t["disease"]),
                    str(t.get("display", "")),
                    bool(t.get("confirms", True)),
                )
        elif name.startswith("notifiable-"):
            raw_lists.append(doc)
    built: dict[str, NotifiableList] = {}
    for raw in sorted(raw_lists, key=lambda r: str(r["valid_from"])):
        built[str(raw["id"])] = _build(raw, built)
    ordered = tuple(sorted(built.values(), key=lambda x: x.valid_from))
    if not ordered:
        raise ValueError("no notifiable-disease list is configured")
    return ordered, labs


def reload() -> None:
    """Forget the cached lists (after ``SENHEALTH_SURVEILLANCE_LISTS_DIR`` changed)."""
    _loaded.cache_clear()


def all_lists() -> tuple[NotifiableList, ...]:
    """Every configured list, oldest first."""
    return _loaded()[0]


def list_by_id(list_id: str) -> NotifiableList | None:
    """The configured list ``list_id`` (``tt54-2015``, ``vn-2026``), None when unknown."""
    return next((x for x in _loaded()[0] if x.id == list_id), None)


def lab_tests() -> dict[str, LabTest]:
    """The laboratory tests whose positive result is evidence of a notifiable disease, by LOINC code."""
    return _loaded()[1]


def list_on(day: date) -> NotifiableList:
    """The list in force on ``day`` (before the first: the first; after a gap: the last one started)."""
    every = all_lists()
    current = every[0]
    for candidate in every:
        if candidate.valid_from <= day:
            current = candidate
        if candidate.in_force(day):
            return candidate
    return current


def disease_for_code(code: str, day: date) -> Disease | None:
    """The notifiable disease of ICD-10 ``code`` under the list in force on ``day`` (None: not notifiable)."""
    return list_on(day).for_code(code)


def any_list_code(code: str) -> bool:
    """Whether ``code`` is notifiable under some configured list (the write hook's cheap filter)."""
    return any(lst.for_code(code) is not None for lst in all_lists())


def deadline_after(deadline: Deadline, start: datetime) -> datetime:
    """When a case known at ``start`` must be reported: 24 or 48 hours later; ``weekly``: by the end of
    the Monday after the ISO week of ``start`` (``start``'s time zone)."""
    if deadline == "24h":
        return start + timedelta(hours=24)
    if deadline == "48h":
        return start + timedelta(hours=48)
    monday = start.date() - timedelta(days=start.weekday())
    due = monday + timedelta(days=8)  # Tuesday 00:00 of the next week: the end of its Monday
    return datetime(due.year, due.month, due.day, tzinfo=start.tzinfo)
