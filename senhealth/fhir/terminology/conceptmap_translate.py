"""``ConceptMap/$translate``: the codes a concept map gives for a code (or, reversed, the sources).

Spec: https://hl7.org/fhir/R4/conceptmap-operation-translate.html
(OperationDefinition http://hl7.org/fhir/OperationDefinition/ConceptMap-translate) and
https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html.

In: the map by ``url`` (packaged: ``https://senhealth.vn/fhir/ConceptMap/icd10-vn-to-who``, or stored),
``ConceptMap/[id]``, or ``conceptMap`` (POST); the code as ``code`` + ``system`` (+ ``version``),
``coding`` or ``codeableConcept``; ``targetsystem`` (only targets in that system); ``reverse`` (the
code is a target: answer the sources). Without a map, ``system`` and ``targetsystem`` choose the
packaged map between them (ICD-10 of the Ministry and WHO's, either way).

Out: ``result`` (true when at least one match has a code that is not ``unmatched`` / ``disjoint``),
``message``, and ``match`` (``equivalence``, ``concept`` as a Coding, ``source`` the map's URL).
Errors: no code (400), an unknown map (404 naming ``url``), no map for the systems (404 naming
``targetsystem``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.terminology import icd10_editions, icd10_who
from senhealth.fhir.terminology.inputs import (
    CodingIn,
    codeable_concept,
    coding,
    flag,
    resource_param,
    terminology,
    text,
)

__all__ = ["Match", "run_translate", "translate"]

_NEGATIVE = frozenset({"unmatched", "disjoint"})


@dataclass(frozen=True, slots=True)
class Match:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    comment: str | None = None


#: (id(map), url, version) -> (source index, reverse index); the packaged map is built once
_INDEX: OrderedDict[
    tuple[Any, ...], tuple[dict[tuple[str, str], list[Match]], dict[tuple[str, str], list[Match]]]
] = OrderedDict()
_LOCK = threading.Lock()


def _index(
    cmap: dict[str, Any],
) -> tuple[dict[tuple[str, str], list[Match]], dict[tuple[str, str], list[Match]]]:
    key = (id(cmap), cmap.get("url"), cmap.get("version"), (cmap.get("meta") or {}).get("versionId"))
    with _LOCK:
        hit = _INDEX.get(key)
    if hit is not None:
        return hit
    forward: dict[tuple[str, str], list[Match]] = {}
    backward: dict[tuple[str, str], list[Match]] = {}
    for group in cmap.get("group") or ():
        if not isinstance(group, dict):
            continue
        source, target = group.get("source"), group.get("target")
        for el in group.get("element") or ():
            if not isinstance(el, dict) or not isinstance(el.get("code"), str):
                continue
            for t in el.get("target") or ():
                if not isinstance(t, dict):
                    continue
                eq = str(t.get("equivalence") or "equivalent")
                forward.setdefault((str(source), el["code"]), []).append(
                    Match(eq, target, t.get("code"), t.get("display"), t.get("comment"))
                )
                if isinstance(t.get("code"), str) and eq not in _NEGATIVE:
                    backward.setdefault((str(target), t["code"]), []).append(
                        Match(_reverse(eq), source, el["code"], el.get("display"), t.get("comment"))
                    )
    made = (forward, backward)
    with _LOCK:
        _INDEX[key] = made
        while len(_INDEX) > 16:
            _INDEX.popitem(last=False)
    return made


def _reverse(equivalence: str) -> str:
    return {
        "wider": "narrower",
        "narrower": "wider",
        "subsumes": "specializes",
        "specializes": "subsumes",
    }.get(equivalence, equivalence)


def translate(
    cmap: dict[str, Any], system: str, code: str, *, reverse: bool = False, target_system: str | None = None
) -> list[Match]:
    """The matches of ``system#code`` in ``cmap`` (as a target when ``reverse``)."""
    forward, backward = _index(cmap)
    found = (backward if reverse else forward).get((system, code), [])
    if target_system is not None:
        found = [m for m in found if m.system == target_system]
    return found


def _default_map(system: str | None, target: str | None, reverse: bool) -> tuple[dict[str, Any], bool] | None:
    """The packaged map between ``system`` and ``target`` (and whether to read it in reverse)."""
    vn, who = icd10_editions.SYSTEM, icd10_who.WHO_SYSTEM
    if (system, target) in ((vn, who), (vn, None)) and not reverse:
        return icd10_who.concept_map(), False
    if (system, target) in ((who, vn), (who, None)):
        return icd10_who.concept_map(), True
    if reverse and system == who:
        return icd10_who.concept_map(), True
    return None


def _given(call: OperationCall) -> list[CodingIn]:
    concept = codeable_concept(call)
    if concept:
        return concept
    given = coding(call, "coding")
    if given is not None:
        return [given]
    code = text(call, "code")
    if code is None:
        raise OperationError(
            400, "Give the code: parameter 'code', 'coding' or 'codeableConcept'", "required", "code"
        )
    return [CodingIn(text(call, "system"), code, text(call, "version"))]


async def run_translate(call: OperationCall) -> OperationResult:
    """``$translate`` (type or instance level)."""
    service = terminology(call)
    reverse = flag(call, "reverse") or False
    target_system = text(call, "targetsystem")
    codings = _given(call)
    cmap: dict[str, Any] | None = None
    if call.level == "instance":
        assert call.resource_id is not None
        cmap = await service.concept_map_by_id(call.resource_id)
        if cmap is None:
            raise OperationError(404, f"ConceptMap/{call.resource_id} is not known", "not-found")
    else:
        cmap = resource_param(call, "conceptMap", "ConceptMap")
        url = text(call, "url")
        if cmap is None and url is not None:
            ref, _, version = url.partition("|")
            cmap = await service.concept_map(ref, text(call, "conceptMapVersion") or version or None)
            if cmap is None:
                raise OperationError(
                    404, f"The concept map {url} is not known to this server", "not-found", "url"
                )
    if cmap is None:
        chosen = _default_map(codings[0].system, target_system, reverse)
        if chosen is None:
            raise OperationError(
                404,
                f"No concept map from {codings[0].system or '(no system)'} to {target_system or '(any system)'}"
                " is known: give 'url'",
                "not-found",
                "targetsystem",
            )
        cmap, reverse = chosen
    matches: list[Match] = []
    for given in codings:
        if not given.code or not given.system:
            raise OperationError(400, "The code to translate needs a system", "required", "system")
        code = given.code
        if given.system in (icd10_editions.SYSTEM, icd10_who.WHO_SYSTEM):
            code = icd10_editions.normalise(code)
        matches.extend(
            translate(
                cmap,
                given.system,
                code,
                reverse=reverse,
                target_system=target_system if not reverse else None,
            )
        )
    good = [m for m in matches if m.code and m.equivalence not in _NEGATIVE]
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": bool(good)}]
    if not good:
        params.append(
            {
                "name": "message",
                "valueString": "No match: " + "; ".join(filter(None, (m.comment for m in matches)))
                if matches
                else "The code is not in the concept map",
            }
        )
    for m in matches:
        parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": m.equivalence}]
        if m.code:
            concept: dict[str, Any] = {"system": m.system, "code": m.code}
            if m.display:
                concept["display"] = m.display
            parts.append({"name": "concept", "valueCoding": concept})
        if cmap.get("url"):
            parts.append({"name": "source", "valueUri": cmap["url"]})
        params.append({"name": "match", "part": parts})
    return OperationResult({"resourceType": "Parameters", "parameter": params})
