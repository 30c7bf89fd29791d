"""The code systems and value sets of FHIR R4 itself, for the terminology operations.

Spec: https://hl7.org/fhir/R4/terminologies-systems.html and
https://hl7.org/fhir/R4/terminologies-valuesets.html.

``data/r4-terminology.json.gz`` (derived by ``scripts/package_fhir_terminology.py`` from the R4
definitions, CC0) holds the 639 CodeSystems of ``valuesets.json`` and ``v3-codesystems.json`` (codes,
displays, parents, abstract and inactive flags) and the 889 ValueSets with their ``compose``. The
validator keeps using the pre-expanded bindings of :mod:`senhealth.fhir.model.valuesets` (the fast
path); the terminology service expands these definitions itself, and a test checks that both agree on
every bound value set.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from typing import Any

import orjson

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept

__all__ = ["code_systems", "value_sets"]


@cache
def _document() -> dict[str, Any]:
    raw = resources.files(__package__).joinpath("data", "r4-terminology.json.gz").read_bytes()
    doc: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return doc


def _code_system(row: dict[str, Any]) -> CodeSystem:
    concepts: dict[str, Concept] = {}
    for code, display, parents, flags in row["concepts"]:
        concepts[code] = Concept(
            code, display, tuple(parents), {}, abstract=bool(flags & 1), inactive=bool(flags & 2)
        )
    return CodeSystem(
        url=row["url"],
        version=row.get("version"),
        name=row.get("name", ""),
        title=row.get("title", ""),
        language="en",
        content=row.get("content", "complete"),
        case_sensitive=row.get("caseSensitive", True) is not False,
        hierarchy_meaning=row.get("hierarchyMeaning") or "is-a",
        publisher="HL7 International",
        resource_id=row.get("id") or None,
        value_set=row.get("valueSet"),
        concepts=concepts,
    )


@cache
def code_systems() -> dict[str, CodeSystem]:
    """The R4 code systems by canonical URL."""
    return {row["url"]: _code_system(row) for row in _document()["codeSystems"]}


@cache
def value_sets() -> dict[str, dict[str, Any]]:
    """The R4 value sets by canonical URL, as ValueSet resources (``compose``, or an ``expansion``)."""
    out: dict[str, dict[str, Any]] = {}
    for row in _document()["valueSets"]:
        vs: dict[str, Any] = {"resourceType": "ValueSet"}
        for key in ("id", "url", "version", "name", "title"):
            if row.get(key):
                vs[key] = row[key]
        vs["status"] = "active"
        if "compose" in row:
            vs["compose"] = row["compose"]
        else:
            vs["expansion"] = {
                "timestamp": "2019-11-01T09:29:23+11:00",
                "contains": [{"system": s, "code": c, "display": d} for s, c, d in row.get("contains", [])],
            }
        out[row["url"]] = vs
    return out
