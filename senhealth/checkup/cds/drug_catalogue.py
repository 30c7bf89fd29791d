"""The curated drug list and its interactions (``data/drugs.json``, ``data/interactions.json``), and
the drug a MedicationRequest orders.

ATC: https://www.whocc.no/atc_ddd_index/ (level 4 is the first five characters: ``C09AA`` ACE inhibitors,
plain). A MedicationRequest's drug is read from ``medicationCodeableConcept`` (or the contained
Medication its ``medicationReference`` points at): an ATC coding (``http://www.whocc.no/atc``) first,
then the platform's drug code (``https://senhealth.vn/fhir/CodeSystem/dmdc-drug``, the code the claim
import writes) looked up in the list, then the name (coding display or text, accents and case folded)
against the list's Vietnamese and English names and aliases. A drug found by none of these is not checked.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final

__all__ = [
    "ATC_SYSTEM",
    "DMDC_SYSTEM",
    "Catalogue",
    "Drug",
    "DrugEntry",
    "Interaction",
    "catalogue",
    "identify",
]

ATC_SYSTEM: Final = "http://www.whocc.no/atc"
DMDC_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/dmdc-drug"
_ATC: Final = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")


@dataclass(frozen=True, slots=True)
class DrugEntry:
    id: str
    name_vi: str
    name_en: str
    atc: tuple[str, ...]
    dmdc: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    severity: str
    effect_vi: str
    effect_en: str
    advice_vi: str
    advice_en: str
    source: Mapping[str, Any]
    note: str | None

    @staticmethod
    def _side(prefixes: tuple[str, ...], codes: tuple[str, ...]) -> bool:
        return any(code.startswith(p) for p in prefixes for code in codes)

    def matches(self, x: tuple[str, ...], y: tuple[str, ...]) -> bool:
        return (self._side(self.a, x) and self._side(self.b, y)) or (
            self._side(self.a, y) and self._side(self.b, x)
        )


@dataclass(frozen=True, slots=True)
class Drug:
    """A drug as ordered: its ATC codes, the name to show, the catalogue entry when it is one."""

    atc: tuple[str, ...]
    name_vi: str
    name_en: str
    entry_id: str | None

    @property
    def key(self) -> str:
        return self.entry_id or self.atc[0]

    @property
    def level4(self) -> frozenset[str]:
        return frozenset(code[:5] for code in self.atc)


def fold(text: str) -> str:
    """Lower case, accents and đ folded, runs of non-letters to one space."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


@dataclass(frozen=True, slots=True)
class Catalogue:
    drugs: tuple[DrugEntry, ...]
    interactions: tuple[Interaction, ...]
    sources: Mapping[str, Mapping[str, Any]]
    duplicate_exceptions: tuple[tuple[frozenset[str], str, str], ...]

    def by_atc(self, code: str) -> DrugEntry | None:
        return next((d for d in self.drugs if code in d.atc), None)

    def by_dmdc(self, code: str) -> DrugEntry | None:
        return next((d for d in self.drugs if code in d.dmdc), None)

    def by_name(self, text: str) -> DrugEntry | None:
        words = f" {fold(text)} "
        best: tuple[int, DrugEntry] | None = None
        for d in self.drugs:
            for name in (d.name_vi, d.name_en, d.id, *d.aliases):
                n = fold(name)
                if n and f" {n} " in words and (best is None or len(n) > best[0]):
                    best = (len(n), d)
        return best[1] if best else None


def _load(name: str) -> Any:
    return json.loads(files("senhealth.checkup.cds").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def catalogue() -> Catalogue:
    """The curated list, loaded once (and checked: every ATC code well-formed, every source known)."""
    drugs_doc, inter_doc = _load("drugs.json"), _load("interactions.json")
    drugs = tuple(
        DrugEntry(d["id"], d["name_vi"], d["name_en"], tuple(d["atc"]), tuple(d["dmdc"]), tuple(d["aliases"]))
        for d in drugs_doc["drugs"]
    )
    for d in drugs:
        for code in d.atc:
            if not _ATC.match(code):
                raise ValueError(f"drugs.json: {d.id}: {code!r} is not an ATC level-5 code")
    sources: dict[str, Mapping[str, Any]] = inter_doc["sources"]
    interactions = []
    for i in inter_doc["interactions"]:
        if i["source"] not in sources:
            raise ValueError(f"interactions.json: {i['id']}: unknown source {i['source']!r}")
        interactions.append(
            Interaction(
                i["id"],
                tuple(i["a"]),
                tuple(i["b"]),
                i["severity"],
                i["effect_vi"],
                i["effect_en"],
                i["advice_vi"],
                i["advice_en"],
                sources[i["source"]],
                i.get("note"),
            )
        )
    exceptions = tuple(
        (frozenset(e["atc"]), e["reason_vi"], e["reason_en"]) for e in inter_doc["duplicate_exceptions"]
    )
    return Catalogue(drugs, tuple(interactions), sources, exceptions)


def _concept(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    concept = request.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    ref = (request.get("medicationReference") or {}).get("reference")
    if isinstance(ref, str) and ref.startswith("#"):
        for res in request.get("contained") or []:
            if isinstance(res, dict) and res.get("resourceType") == "Medication" and res.get("id") == ref[1:]:
                code = res.get("code")
                return code if isinstance(code, dict) else None
    return None


def identify(request: Mapping[str, Any]) -> Drug | None:
    """The drug a MedicationRequest orders (see the module docstring), or ``None``."""
    concept = _concept(request)
    if concept is None:
        return None
    cat = catalogue()
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    names = [str(c["display"]) for c in codings if c.get("display")]
    if concept.get("text"):
        names.insert(0, str(concept["text"]))
    atc = tuple(str(c["code"]).upper() for c in codings if c.get("system") == ATC_SYSTEM and c.get("code"))
    entry = next((e for e in (cat.by_atc(code) for code in atc) if e is not None), None)
    if entry is None and not atc:
        for c in codings:
            if c.get("system") == DMDC_SYSTEM and c.get("code"):
                entry = cat.by_dmdc(str(c["code"]))
                if entry:
                    break
    if entry is None and not atc:
        entry = next((e for e in (cat.by_name(n) for n in names) if e is not None), None)
    if entry is not None:
        return Drug(tuple(dict.fromkeys((*atc, *entry.atc))), entry.name_vi, entry.name_en, entry.id)
    if atc:
        shown = names[0] if names else atc[0]
        return Drug(atc, shown, shown, None)
    return None
