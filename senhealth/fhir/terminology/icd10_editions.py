"""Editions of the Ministry of Health's ICD-10 list as code systems with their hierarchy, chosen by date.

Spec: https://hl7.org/fhir/R4/codesystem.html (``CodeSystem.version``, ``hierarchyMeaning``),
https://terminology.hl7.org/CodeSystem-icd10.html (ICD-10 in FHIR) and the ``date`` parameter of
https://hl7.org/fhir/R4/valueset-operation-expand.html ("the date for which the expansion should be
generated": which edition is in force).

The Ministry publishes ICD-10 by decision: Decision 4469/QĐ-BYT (2020) is packaged
(:mod:`.icd10_vn`); Circular 06/2026 replaces it from 1 July 2026 with the same spreadsheet layout.
Each edition is a gzipped JSON document in ``data/`` (``icd10-vn-*.json.gz``) made from the CSV by
:func:`derive_document`; :func:`load_icd10_edition` packages and registers a new one::

    from datetime import date
    from senhealth.fhir.terminology.icd10_editions import load_icd10_edition
    load_icd10_edition("tt06-2026.csv", edition="TT 06/2026/TT-BYT", valid_from=date(2026, 7, 1))

Every edition is one :class:`~senhealth.fhir.terminology.codesystem.CodeSystem` with the URL
:data:`SYSTEM` and its own version (``4469/2020``, ``06/2026``), built with the hierarchy chapter
(``I`` … ``XXII``) > group (``A90-A99``) > sub-groups, where the list has them (``C00-C75`` >
``C00-C14``) > category (``A97``) > sub-category (``A97.0``) > 5th character (``M01.00``). Chapters
and blocks are abstract concepts (``notSelectable``): they exist for ``is-a`` and subsumption.
Displays are Vietnamese; English names are ``en`` designations.

:func:`edition_on` picks the edition in force on a date. Decision 4469 is in force until 30 June 2026;
an edition loaded later is in force from its ``valid_from`` until the next one starts. When only one
edition is loaded it answers for every date, and :func:`version_label` says so in
``CodeSystem.version``.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from senhealth.fhir.terminology import icd10_vn
from senhealth.fhir.terminology.codesystem import CodeSystem, Concept, PropertyDef

__all__ = [
    "SYSTEM",
    "Edition",
    "code_system",
    "derive_document",
    "edition_on",
    "editions",
    "forget_edition",
    "load_icd10_edition",
    "serialise",
    "version_label",
]

SYSTEM = icd10_vn.SYSTEM
_MARKS = "†*"
_PREFIX = "icd10-vn-"
#: what is known of the packaged edition (its document predates the ``version`` / ``valid_from`` keys)
_BUILTIN = {
    icd10_vn.DATA_FILE: ("4469/2020", date(2020, 10, 28), date(2026, 6, 30)),
}
_PROPERTIES = (
    PropertyDef("kind", "code", "chapter | block | category | subcategory"),
    PropertyDef("mark", "code", "† (aetiology) or * (manifestation), as the Ministry's list marks the code"),
    PropertyDef("range", "string", "the code range of a chapter or block"),
    PropertyDef(
        "parent", "code", "the concept one level up", "http://hl7.org/fhir/concept-properties#parent"
    ),
    PropertyDef(
        "notSelectable",
        "boolean",
        "chapters and blocks group codes: not for recording",
        "http://hl7.org/fhir/concept-properties#notSelectable",
    ),
)


@dataclass(frozen=True, slots=True)
class Edition:
    """One edition of the Ministry's list: its version, title, validity and where its document is."""

    version: str
    title: str
    valid_from: date
    valid_to: date | None
    file: str  # a name in the package's data folder, or an absolute path
    document: dict[str, Any] = field(repr=False, compare=False, hash=False, default_factory=dict)


_LOCK = threading.Lock()
_extra: dict[str, Edition] = {}  # version -> edition registered in this process


# --- deriving a document from the Ministry's CSV ---------------------------------------------------


def derive_document(source: Path, edition: str, source_note: str) -> dict[str, Any]:
    """Read a CSV of the Ministry's layout (see ``../shared/data/icd10-vn/``) into the packaged document.

    The normalisation of ``scripts/package_icd10_vn.py``: marks split off the codes, codes listed twice
    become one entry (names of the first row, mark of the second), blocks and chapters stored once.
    """
    chapters: dict[str, list[str]] = {}
    blocks: dict[str, list[str]] = {}
    codes: dict[str, list[str]] = {}
    order: list[str] = []
    with source.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            chapters.setdefault(row["chapter"], [row["chapter_range"], row["chapter_vi"], row["chapter_en"]])
            for level in ("group", "subgroup1", "subgroup2"):
                if row[level]:
                    blocks.setdefault(row[level], [row[f"{level}_vi"], row[f"{level}_en"]])
            raw = row["code"].strip()
            code = raw.rstrip(_MARKS)
            mark = raw[len(code) :]
            if code in codes:
                if mark and not codes[code][7]:
                    codes[code][7] = mark
                continue
            codes[code] = [
                row["chapter"],
                row["group"],
                row["subgroup1"],
                row["subgroup2"],
                row["category"].strip().rstrip(_MARKS),
                row["name_vi"].strip(),
                row["name_en"].strip(),
                mark,
            ]
            order.append(code)
    return {
        "edition": edition,
        "source": source_note,
        "fields": ["chapter", "group", "subgroup1", "subgroup2", "category", "name_vi", "name_en", "mark"],
        "chapters": chapters,
        "blocks": blocks,
        "codes": [[code, *codes[code]] for code in order],
    }


def serialise(document: dict[str, Any]) -> bytes:
    """Reproducible bytes: compact JSON with sorted keys, gzip level 9 with a zero timestamp."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def _slug(version: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")


def load_icd10_edition(
    csv_path: str | Path,
    *,
    edition: str,
    valid_from: date,
    version: str | None = None,
    out_dir: str | Path | None = None,
) -> Edition:
    """Package a new edition of the Ministry's list and register it in this process.

    ``csv_path``: the edition as CSV, in the layout of Decision 4469's (``chapter, chapter_range, ...,
    code, code_nodot, name_en, name_vi, note``); ``edition``: its title (``"TT 06/2026/TT-BYT"``);
    ``valid_from``: the day it comes into force; ``version``: ``CodeSystem.version`` (default: the
    title's number and year, e.g. ``06/2026``); ``out_dir``: where to write ``icd10-vn-<version>.json.gz``
    (default: the package's data folder, so that the next start loads it too). Raises ValueError for a
    file that is not of that layout.
    """
    path = Path(csv_path)
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    missing = {"chapter", "group", "category", "code", "name_vi", "name_en"} - set(header)
    if missing:
        raise ValueError(f"{path}: not the Ministry's ICD-10 layout (missing {', '.join(sorted(missing))})")
    if version is None:
        found = re.search(r"(\d+)/.*?(\d{4})", edition)
        version = f"{found.group(1)}/{found.group(2)}" if found else valid_from.isoformat()
    document = derive_document(path, edition, f"{edition}, Ministry of Health of Viet Nam ({path.name})")
    if not document["codes"]:
        raise ValueError(f"{path}: no codes")
    document["version"] = version
    document["valid_from"] = valid_from.isoformat()
    target_dir = (
        Path(out_dir) if out_dir is not None else Path(str(resources.files(__package__).joinpath("data")))
    )
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{_PREFIX}{_slug(version)}.json.gz"
    target.write_bytes(serialise(document))
    made = Edition(version, edition, valid_from, None, str(target), document)
    with _LOCK:
        _extra[version] = made
    _invalidate()
    return made


def forget_edition(version: str) -> bool:
    """Unregister an edition :func:`load_icd10_edition` registered in this process (its file stays);
    True when there was one."""
    with _LOCK:
        gone = _extra.pop(version, None) is not None
    _invalidate()
    return gone


def _invalidate() -> None:
    """Forget everything computed from the set of editions (code systems, maps, expansions)."""
    from senhealth.fhir.terminology import icd10_who, service

    editions.cache_clear()
    code_system.cache_clear()
    icd10_who.who_code_system.cache_clear()
    icd10_who.concept_map.cache_clear()
    service.clear_caches()


# --- the editions known ---------------------------------------------------------------------------


def _read(file: str) -> dict[str, Any]:
    if Path(file).is_absolute():
        raw = Path(file).read_bytes()
    else:
        raw = resources.files(__package__).joinpath("data", file).read_bytes()
    doc: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return doc


@cache
def editions() -> tuple[Edition, ...]:
    """Every edition, by the day it comes into force; ``valid_to`` closes each at the next one's start."""
    found: dict[str, Edition] = {}
    folder = resources.files(__package__).joinpath("data")
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        name = item.name
        if not (name.startswith(_PREFIX) and name.endswith(".json.gz")) or "differences" in name:
            continue
        if name in _BUILTIN:
            version, start, end = _BUILTIN[name]
            found[version] = Edition(version, icd10_vn.EDITION, start, end, name)
            continue
        doc = _read(name)
        if "version" in doc and "valid_from" in doc:
            found[doc["version"]] = Edition(
                doc["version"], doc["edition"], date.fromisoformat(doc["valid_from"]), None, name, doc
            )
    with _LOCK:
        found.update(_extra)
    ordered = sorted(found.values(), key=lambda e: e.valid_from)
    out: list[Edition] = []
    for i, e in enumerate(ordered):
        nxt = ordered[i + 1].valid_from - timedelta(days=1) if i + 1 < len(ordered) else None
        stop: date | None = (
            nxt if e.valid_to is None else (e.valid_to if nxt is None else min(nxt, e.valid_to))
        )
        out.append(Edition(e.version, e.title, e.valid_from, stop, e.file, e.document))
    return tuple(out)


def edition_on(when: date | None = None, version: str | None = None) -> Edition | None:
    """The edition with ``version`` (None if unknown), else the one in force on ``when`` (default:
    today); with no edition in force that day, the latest one that started before it (or the first)."""
    all_ = editions()
    if version is not None:
        return next((e for e in all_ if e.version == version), None)
    when = when or date.today()
    for e in all_:
        if e.valid_from <= when and (e.valid_to is None or when <= e.valid_to):
            return e
    started = [e for e in all_ if e.valid_from <= when]
    return started[-1] if started else (all_[0] if all_ else None)


def version_label(edition: Edition, when: date | None = None) -> str:
    """``CodeSystem.version`` for answers about ``when``: the edition's version, with a note when it is
    the only edition loaded and ``when`` is outside its validity."""
    if len(editions()) == 1:
        outside = when is not None and (
            when < edition.valid_from or (edition.valid_to is not None and when > edition.valid_to)
        )
        if outside:
            end = edition.valid_to.isoformat() if edition.valid_to else "-"
            return f"{edition.version} (the only edition loaded; in force {edition.valid_from.isoformat()} to {end})"
    return edition.version


# --- an edition as a code system -------------------------------------------------------------------


@cache
def code_system(version: str) -> CodeSystem:
    """The edition ``version`` as a code system with its hierarchy (KeyError when not loaded)."""
    edition = next((e for e in editions() if e.version == version), None)
    if edition is None:
        raise KeyError(version)
    doc = edition.document or _read(edition.file)
    chapters: dict[str, list[str]] = doc["chapters"]
    blocks: dict[str, list[str]] = doc["blocks"]
    concepts: dict[str, Concept] = {}
    listed = {row[0] for row in doc["codes"]}

    def add(code: str, vi: str, en: str, parent: str | None, kind: str, **props: Any) -> None:
        if code in concepts:
            return
        designations = {"vi": vi}
        if en:
            designations["en"] = en
        concepts[code] = Concept(
            code,
            vi or en,
            (parent,) if parent else (),
            designations,
            abstract=kind in ("chapter", "block"),
            properties={"kind": kind, **{k: v for k, v in props.items() if v}},
        )

    for code, chapter, group, sub1, sub2, category, name_vi, name_en, mark in doc["codes"]:
        rng, ch_vi, ch_en = chapters[chapter]
        add(chapter, ch_vi, ch_en, None, "chapter", range=rng)
        parent = chapter
        for block in (group, sub1, sub2):
            if block:
                b_vi, b_en = blocks.get(block, ["", ""])
                add(block, b_vi, b_en, parent, "block", range=block)
                parent = block
        if len(code) == 3:
            up = parent
            kind = "category"
        elif len(code) > 5 and code[:5] in listed:
            up, kind = code[:5], "subcategory"
        else:
            up = code[:3] if code[:3] in listed else category
            kind = "subcategory"
        add(code, name_vi, name_en, up, kind, mark=mark)
    start = edition.valid_from
    return Icd10CodeSystem(
        url=SYSTEM,
        version=edition.version,
        name="ICD10VN",
        title=f"ICD-10 của Bộ Y tế ({edition.title}) / ICD-10, Ministry of Health of Viet Nam ({edition.title})",
        language="vi",
        content="complete",
        case_sensitive=False,
        hierarchy_meaning="is-a",
        publisher="Bộ Y tế / Ministry of Health of Viet Nam",
        description=(
            "Bảng phân loại quốc tế mã hóa bệnh tật, nguyên nhân tử vong ICD-10 / The international"
            f" classification of diseases ICD-10 as the Ministry publishes it ({doc.get('source', '')})"
        ),
        copyright="A Vietnamese legal text: public (Law on Intellectual Property, Art. 15)",
        resource_id="icd10-vn",
        valid_from=start,
        valid_to=edition.valid_to,
        value_set="https://senhealth.vn/fhir/ValueSet/icd10-vn",
        property_defs=_PROPERTIES,
        concepts=concepts,
    )


class Icd10CodeSystem(CodeSystem):
    """ICD-10: codes are found as written, or upper-cased, dotted and without a dagger/asterisk mark
    (``a970``, ``A17†`` find ``A97.0``, ``A17``)."""

    def find(self, code: str) -> Concept | None:
        found = self.concepts.get(code) or self.concepts.get(code.strip().upper())
        if found is None and "-" not in code:
            found = self.concepts.get(icd10_vn.normalise(code))
        return found


def normalise(code: str) -> str:
    """An ICD-10 code as the list writes it: upper case, dotted, without a dagger/asterisk mark."""
    return icd10_vn.normalise(code)
