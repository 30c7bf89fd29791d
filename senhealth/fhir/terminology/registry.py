"""The packaged code systems, value sets and concept maps, by canonical URL (and version), in memory.

Spec: https://hl7.org/fhir/R4/references.html#canonical (``url|version``),
https://hl7.org/fhir/R4/codesystem.html#implicit (implicit value sets) and
https://hl7.org/fhir/R4/terminology-service.html.

What ships with Sen Health (counts in ``docs/terminology.md``):

=============================================  ===================================================
code system (canonical URL)                    module
=============================================  ===================================================
``https://senhealth.vn/fhir/CodeSystem/icd10-vn``  :mod:`.icd10_editions` (one version per edition)
``http://hl7.org/fhir/sid/icd-10``             :mod:`.icd10_who` (WHO codes, the Ministry's tree)
``.../CodeSystem/province-2025``, ``commune-2025``  :mod:`.administrative_units`
``.../CodeSystem/ethnic-group``                :mod:`.ethnic_groups`
``http://loinc.org`` (a fragment)              :mod:`.loinc`
``http://unitsofmeasure.org``                  :mod:`.ucum_system`
the 639 R4 code systems                        :mod:`.r4`
=============================================  ===================================================

Value sets: the 889 of R4, Sen Health's own (:data:`SENHEALTH_VALUE_SETS`: every ICD-10 code, the
provinces, communes, ethnic groups, vital signs, common labs, dengue), and implicit ones: for any code
system, ``<system>?fhir_vs`` (all its codes) and ``<system>?fhir_vs=isa/<code>`` (the code and its
descendants), the convention R4 defines for SNOMED CT applied to every code system with a hierarchy.
Concept maps: ICD-10 of the Ministry to WHO's (:mod:`.icd10_who`).

Resources stored by users in the FHIR store are found by :mod:`.service`; this module is synchronous
and never touches the database, so that the validator (:mod:`senhealth.fhir.validation.bindings`) and
FHIRPath's ``memberOf`` can use it: :func:`membership`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import unquote

from senhealth.fhir.terminology import (
    administrative_units,
    ethnic_groups,
    icd10_editions,
    icd10_who,
    loinc,
    r4,
    ucum_system,
)
from senhealth.fhir.terminology.codesystem import CodeSystem
from senhealth.fhir.terminology.valueset_expand import ExpandError, expand

__all__ = [
    "SENHEALTH_VALUE_SETS",
    "Membership",
    "PackagedResolver",
    "code_system",
    "code_system_by_id",
    "concept_map",
    "concept_map_by_id",
    "implicit_value_set",
    "membership",
    "value_set",
    "value_set_by_id",
]

_VS = "https://senhealth.vn/fhir/ValueSet/"


def _vs(vid: str, title: str, compose: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": vid,
        "url": _VS + vid,
        "version": "1",
        "name": "".join(p.capitalize() for p in vid.split("-")),
        "title": title,
        "status": "active",
        "publisher": "Sen Health",
        "compose": compose,
    }
    if description:
        out["description"] = description
    return out


SENHEALTH_VALUE_SETS: dict[str, dict[str, Any]] = {
    vs["url"]: vs
    for vs in (
        _vs(
            "icd10-vn",
            "Mọi mã ICD-10 của Bộ Y tế / Every code of the Ministry's ICD-10",
            {"include": [{"system": icd10_editions.SYSTEM}]},
            "The edition in force on the expansion's date (parameter date), chapters and blocks included",
        ),
        _vs("icd-10-who", "ICD-10 (WHO)", {"include": [{"system": icd10_who.WHO_SYSTEM}]}),
        _vs(
            "province-2025",
            "Tỉnh, thành phố (2025) / Provinces (2025)",
            {"include": [{"system": administrative_units.PROVINCE_SYSTEM}]},
        ),
        _vs(
            "commune-2025",
            "Xã, phường, đặc khu (2025) / Communes (2025)",
            {"include": [{"system": administrative_units.COMMUNE_SYSTEM}]},
        ),
        _vs(
            "ethnic-group",
            "Dân tộc / Ethnic groups of Viet Nam",
            {"include": [{"system": ethnic_groups.SYSTEM}]},
        ),
        _vs(
            "vital-signs",
            "Dấu hiệu sinh tồn / Vital signs (LOINC)",
            {
                "include": [
                    {
                        "system": loinc.SYSTEM,
                        "filter": [{"property": "category", "op": "=", "value": "vital-signs"}],
                    }
                ]
            },
        ),
        _vs(
            "common-labs",
            "Xét nghiệm thường gặp / Common laboratory tests (LOINC)",
            {
                "include": [
                    {
                        "system": loinc.SYSTEM,
                        "filter": [{"property": "category", "op": "=", "value": "laboratory"}],
                    }
                ]
            },
        ),
        _vs(
            "dengue",
            "Sốt xuất huyết Dengue / Dengue (ICD-10)",
            {
                "include": [
                    {"system": icd10_editions.SYSTEM, "concept": [{"code": "A90"}]},
                    {
                        "system": icd10_editions.SYSTEM,
                        "filter": [{"property": "concept", "op": "is-a", "value": "A97"}],
                    },
                ]
            },
            "A90 (the 2019 list's dengue fever) and A97 with its sub-categories (WHO's 2019 dengue codes)",
        ),
    )
}


# --- code systems --------------------------------------------------------------------------------


@cache
def _fixed() -> dict[str, CodeSystem]:
    """The packaged code systems that have one version (all but ICD-10)."""
    out: dict[str, CodeSystem] = dict(r4.code_systems())
    for cs in (
        administrative_units.provinces(),
        administrative_units.communes(),
        ethnic_groups.code_system(),
        loinc.code_system(),
        ucum_system.code_system(),
    ):
        out[cs.url] = cs
    return out


_FIXED_URLS = frozenset(
    {
        administrative_units.PROVINCE_SYSTEM,
        administrative_units.COMMUNE_SYSTEM,
        ethnic_groups.SYSTEM,
        loinc.SYSTEM,
        ucum_system.UCUM_SYSTEM,
    }
)


def is_packaged_code_system(url: str) -> bool:
    """Whether Sen Health ships this code system (without loading it)."""
    return (
        url in (icd10_editions.SYSTEM, icd10_who.WHO_SYSTEM) or url in _FIXED_URLS or url in r4.code_systems()
    )


def code_system(url: str, version: str | None = None, when: date | None = None) -> CodeSystem | None:
    """The packaged code system ``url`` at ``version`` (None: the one in force on ``when``, default
    today); None when not packaged or no such version."""
    if url == icd10_editions.SYSTEM:
        if version is not None:
            edition = icd10_editions.edition_on(version=version.split(" ", 1)[0])
        else:
            edition = icd10_editions.edition_on(when)
        return icd10_editions.code_system(edition.version) if edition is not None else None
    if url == icd10_who.WHO_SYSTEM:
        if version not in (None, "2019"):
            return None
        edition = icd10_editions.edition_on(when)
        return icd10_who.who_code_system(edition.version if edition else None)
    cs = _fixed().get(url)
    if cs is None or (version is not None and cs.version is not None and version != cs.version):
        return None
    return cs


def code_system_by_id(res_id: str, when: date | None = None) -> CodeSystem | None:
    """A packaged code system by the id it answers to (``icd10-vn``, ``ethnic-group``, ``loinc``...)."""
    if res_id == "icd10-vn":
        return code_system(icd10_editions.SYSTEM, when=when)
    if res_id == "icd-10":
        return code_system(icd10_who.WHO_SYSTEM, when=when)
    for cs in _fixed().values():
        if cs.resource_id == res_id:
            return cs
    return None


# --- value sets ----------------------------------------------------------------------------------


def implicit_value_set(url: str) -> tuple[str, dict[str, Any]] | None:
    """``(code system URL, ValueSet)`` for ``<system>?fhir_vs`` or ``<system>?fhir_vs=isa/<code>``;
    None for any other URL."""
    base, sep, query = url.partition("?")
    if not sep or not base:
        return None
    if query == "fhir_vs":
        include: dict[str, Any] = {"system": base}
        title = f"All codes of {base}"
    elif query.startswith("fhir_vs=isa/") and len(query) > len("fhir_vs=isa/"):
        code = unquote(query[len("fhir_vs=isa/") :])
        include = {"system": base, "filter": [{"property": "concept", "op": "is-a", "value": code}]}
        title = f"{code} and its descendants in {base}"
    else:
        return None
    return base, {
        "resourceType": "ValueSet",
        "url": url,
        "name": "Implicit",
        "title": title,
        "status": "active",
        "compose": {"include": [include]},
    }


def value_set(url: str, version: str | None = None) -> dict[str, Any] | None:
    """A packaged (or implicit, over a packaged code system) ValueSet resource, or None."""
    found = SENHEALTH_VALUE_SETS.get(url) or r4.value_sets().get(url)
    if found is not None:
        if version is not None and found.get("version") not in (None, version):
            return None
        return found
    implicit = implicit_value_set(url)
    if implicit is not None and is_packaged_code_system(implicit[0]):
        return implicit[1]
    return None


def value_set_by_id(res_id: str) -> dict[str, Any] | None:
    for vs in SENHEALTH_VALUE_SETS.values():
        if vs["id"] == res_id:
            return vs
    for vs in r4.value_sets().values():
        if vs.get("id") == res_id:
            return vs
    return None


# --- concept maps --------------------------------------------------------------------------------


def concept_map(url: str, version: str | None = None) -> dict[str, Any] | None:
    if url == icd10_who.CONCEPT_MAP_URL:
        return icd10_who.concept_map()
    return None


def concept_map_by_id(res_id: str) -> dict[str, Any] | None:
    return icd10_who.concept_map() if res_id == "icd10-vn-to-who" else None


# --- the packaged resolver, and value set membership for the validator ----------------------------


@dataclass(frozen=True, slots=True)
class PackagedResolver:
    """Resolves code systems and value sets from what is packaged, on ``when`` (editions)."""

    when: date | None = None

    def code_system(self, url: str, version: str | None) -> CodeSystem | None:
        return code_system(url, version, self.when)

    def value_set(self, url: str, version: str | None) -> dict[str, Any] | None:
        return value_set(url, version)


@dataclass(frozen=True, slots=True)
class Membership:
    """The codes of a value set by system, for quick membership tests."""

    url: str
    by_system: dict[str, frozenset[str]]
    complete: bool

    def contains(self, code: str, system: str | None = None) -> bool:
        if system is None:
            return any(code in codes for codes in self.by_system.values())
        codes = self.by_system.get(system)
        return codes is not None and code in codes


_MEMBERSHIP: dict[str, Membership | None] = {}
_LOCK = threading.Lock()


def membership(url: str) -> Membership | None:
    """The members of a packaged value set (``url``, a ``|version`` ignored) expanded today; None when
    the value set is not packaged or cannot be expanded. Cached per process."""
    url = url.split("|", 1)[0]
    with _LOCK:
        if url in _MEMBERSHIP:
            return _MEMBERSHIP[url]
    vs = value_set(url)
    result: Membership | None = None
    if vs is not None:
        try:
            expansion = expand(vs, PackagedResolver())
        except ExpandError:
            result = None
        else:
            by_system: dict[str, set[str]] = {}
            for item in expansion.items:
                by_system.setdefault(item.system, set()).add(item.code)
            complete = not expansion.warnings and all(
                (cs := code_system(s)) is not None and cs.content == "complete" for s in by_system
            )
            result = Membership(url, {s: frozenset(c) for s, c in by_system.items()}, complete)
    with _LOCK:
        _MEMBERSHIP[url] = result
    return result


def clear_caches() -> None:
    """Forget computed memberships (after an edition is loaded)."""
    with _LOCK:
        _MEMBERSHIP.clear()
