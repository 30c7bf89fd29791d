"""Retention rules: how long each medical record is kept, and from when it may be destroyed.

Spec / sources (kept as data in :data:`RULES`, each rule naming its source): Circular 33/2025/TT-BYT
as summarised in ``vietnam.md`` §2, where it is marked *unverified*: inpatient and outpatient records
10 years; psychiatric, occupational and traffic accident, transplant and cosmetic surgery records 20
years; records of deaths 30 years; medical-incident files permanently; health-check certificates 2
years; the electronic health book 10 years after death (not a document type here). Retention is
counted from the end of the year in which the episode of care ended: an episode ending on 3 Jun 2015
with 10 years is kept to 31 Dec 2025 and may be destroyed from 1 Jan 2026 (:func:`purgeable_from`).
The audit log is kept at least as long as the records (it is append-only and never purged here).

How a document is classified (:func:`classify`): every rule that matches applies and the **longest**
wins (permanent beats any number of years):

- the document type's own ``retention_years`` (:data:`senhealth.emr.documents.types.DOCUMENT_TYPES`;
  ``None`` there means permanent), or a document type a rule names (health-check certificates);
- a retention tag on the Composition (``meta.tag`` with system :data:`RETENTION_TAG_SYSTEM` and a rule's
  code: ``medical-incident``, ``psychiatric``, ``traffic-accident``...): how staff mark what the data
  cannot show (an incident file, an occupational accident);
- the diagnoses in the document (ICD-10 code prefixes: F psychiatric, V01-V99 transport accidents, Y96
  work-related, Z94 / T86 transplant, Z41.1 cosmetic surgery);
- the encounter's discharge disposition ``exp`` (expired: the patient died) or a Patient deceased during
  the episode: records of a death.

A document no rule covers is not classified (``None``): the purge refuses it (nothing is destroyed
without a rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

from senhealth.emr.documents.types import DOCUMENT_TYPES

__all__ = [
    "PERMANENT",
    "RETENTION_TAG_SYSTEM",
    "RULES",
    "Classification",
    "DocumentFacts",
    "RetentionRule",
    "classify",
    "purgeable_from",
    "rule",
]

RETENTION_TAG_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/retention-category"
PERMANENT: Final = None
_SOURCE: Final = "Circular 33/2025/TT-BYT (vietnam.md §2; unverified)"


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """One retention rule (see the module docstring); ``years`` None: kept permanently."""

    key: str
    years: int | None
    title_vi: str
    title_en: str
    source: str = _SOURCE
    verified: bool = False
    document_types: frozenset[str] = frozenset()
    icd10_prefixes: tuple[str, ...] = ()
    discharge_dispositions: frozenset[str] = frozenset()
    death: bool = False  # matches a patient who died during the episode


def _r(key: str, years: int | None, vi: str, en: str, **kw: object) -> RetentionRule:
    return RetentionRule(key, years, vi, en, **kw)  # type: ignore[arg-type]


#: The rules, by key (the key is also the code of the retention tag that selects the rule).
RULES: Final[Mapping[str, RetentionRule]] = MappingProxyType(
    {
        r.key: r
        for r in (
            _r("medical-record", 10, "Hồ sơ bệnh án nội trú, ngoại trú", "Inpatient and outpatient records"),
            _r("health-check-certificate", 2, "Giấy khám sức khỏe", "Health-check certificates",
               document_types=frozenset({"health-check-certificate"})),
            _r("psychiatric", 20, "Hồ sơ bệnh án tâm thần", "Psychiatric records", icd10_prefixes=("F",)),
            _r("occupational-accident", 20, "Hồ sơ tai nạn lao động", "Occupational accident records",
               icd10_prefixes=("Y96",)),
            _r("traffic-accident", 20, "Hồ sơ tai nạn giao thông", "Traffic accident records",
               icd10_prefixes=("V",)),
            _r("transplant", 20, "Hồ sơ ghép tạng", "Transplant records", icd10_prefixes=("Z94", "T86")),
            _r("cosmetic-surgery", 20, "Hồ sơ phẫu thuật thẩm mỹ", "Cosmetic surgery records",
               icd10_prefixes=("Z41.1",)),
            _r("death", 30, "Hồ sơ người bệnh tử vong", "Records of deaths",
               discharge_dispositions=frozenset({"exp"}), death=True),
            _r("medical-incident", PERMANENT, "Hồ sơ sự cố y khoa", "Medical-incident files"),
        )
    }
)  # fmt: skip


def rule(key: str) -> RetentionRule:
    """The rule ``key`` (``KeyError`` naming the known ones)."""
    found = RULES.get(key)
    if found is None:
        raise KeyError(f"unknown retention rule {key!r}; known: {', '.join(RULES)}")
    return found


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What classification looks at, gathered from the document (:mod:`.scan`)."""

    doc_type: str  # the document type key ("" unknown)
    tags: frozenset[str] = frozenset()  # retention tag codes on the Composition
    icd10: tuple[str, ...] = ()  # ICD-10 codes of the diagnoses in the document
    discharge_disposition: str | None = None
    died_during_episode: bool = False


@dataclass(frozen=True, slots=True)
class Classification:
    """The retention that applies: the winning rule, its years (None: permanent), every rule matched."""

    rule: RetentionRule
    years: int | None
    matched: tuple[str, ...]

    @property
    def permanent(self) -> bool:
        return self.years is None


def _icd_matches(codes: Iterable[str], prefixes: Iterable[str]) -> bool:
    folded = [c.upper().replace(" ", "") for c in codes]
    return any(code.startswith(p) for code in folded for p in prefixes)


def _longer(a: int | None, b: int | None) -> bool:
    """Whether ``a`` years is a longer retention than ``b`` (None: permanent)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def classify(facts: DocumentFacts) -> Classification | None:
    """The retention of a document (see the module docstring); None when no rule covers it."""
    matched: list[tuple[RetentionRule, int | None]] = []
    dtype = DOCUMENT_TYPES.get(facts.doc_type)
    if dtype is not None:
        base = RULES["medical-record"]
        matched.append((base, dtype.retention_years))
    for r in RULES.values():
        hit = (
            r.key in facts.tags
            or facts.doc_type in r.document_types
            or (r.icd10_prefixes and _icd_matches(facts.icd10, r.icd10_prefixes))
            or (
                facts.discharge_disposition is not None
                and facts.discharge_disposition in r.discharge_dispositions
            )
            or (r.death and facts.died_during_episode)
        )
        if hit and all(m[0].key != r.key for m in matched):
            matched.append((r, r.years))
    if not matched:
        return None
    best = matched[0]
    for candidate in matched[1:]:
        if _longer(candidate[1], best[1]):
            best = candidate
    return Classification(best[0], best[1], tuple(m[0].key for m in matched))


def purgeable_from(episode_end: date, years: int | None) -> date | None:
    """The first day a record may be destroyed: 1 January after ``years`` full years counted from the
    end of the year ``episode_end`` falls in; None when kept permanently."""
    if years is None:
        return None
    return date(episode_end.year + years + 1, 1, 1)
