"""``CodeSystem/$lookup``: the details of a code: its display, designations and properties.

Spec: https://hl7.org/fhir/R4/codesystem-operation-lookup.html
(OperationDefinition http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup).

In: ``code`` + ``system`` (+ ``version``), or ``coding``; at the instance level the code system is
``CodeSystem/[id]``; ``date`` picks the edition (ICD-10); ``displayLanguage`` (``vi`` / ``en``, or the
request's Accept-Language) chooses the display; ``property`` (repeating) limits the properties returned.
Out: ``name``, ``version``, ``display``, ``designation`` (``language``, ``value``) and ``property``
(``code``, ``value[x]``): ``parent`` and ``child`` codes, ``notSelectable``, ``inactive`` and the code
system's own (ICD-10: ``kind``, ``mark``; communes: ``province``; UCUM: ``canonical``).

Errors: no system → 400 naming ``system``; an unknown code system → 404 naming ``system`` (or
``coding``); an unknown version → 404 naming ``version``; no code → 400; an unknown code → 404 naming
``code``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.terminology import icd10_editions
from senhealth.fhir.terminology.codesystem import CodeSystem, Concept
from senhealth.fhir.terminology.inputs import coding, display_language, on_date, terminology, text

__all__ = ["lookup_parameters", "resolve_code_system", "run_lookup"]

#: properties returned when the caller names none
_DEFAULT_LIMIT: Final = 50


async def resolve_code_system(
    call: OperationCall,
    system: str | None,
    version: str | None,
    when: date | None,
    system_param: str = "system",
) -> CodeSystem:
    """The code system an operation is about: ``CodeSystem/[id]`` at the instance level, else
    ``system`` (+ ``version``); 400 / 404 naming the parameter."""
    service = terminology(call, when)
    if call.level == "instance" and call.resource_type == "CodeSystem":
        assert call.resource_id is not None
        cs = await service.code_system_by_id(call.resource_id)
        if cs is None:
            raise OperationError(404, f"CodeSystem/{call.resource_id} is not known", "not-found")
        if system is not None and system != cs.url:
            raise OperationError(
                400,
                f"{system_param} {system} is not the url of CodeSystem/{call.resource_id}",
                expression=system_param,
            )
        return cs
    if system is None:
        raise OperationError(
            400, f"Give the code system: parameter {system_param!r}", "required", system_param
        )
    cs = await service.code_system(system, version)
    if cs is None:
        if version is not None and await service.code_system(system) is not None:
            raise OperationError(
                404, f"The code system {system} has no version {version!r}", "not-found", "version"
            )
        raise OperationError(
            404, f"The code system {system} is not known to this server", "not-found", system_param
        )
    return cs


def _value(v: Any) -> tuple[str, Any]:
    if isinstance(v, bool):
        return "valueBoolean", v
    if isinstance(v, int):
        return "valueInteger", v
    if isinstance(v, date):
        return "valueDateTime", v.isoformat()
    if isinstance(v, dict):
        return "valueCoding", v
    text_value = str(v)
    return ("valueString", text_value) if (" " in text_value or not text_value) else ("valueCode", text_value)


def _properties(cs: CodeSystem, concept: Concept, wanted: set[str] | None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for p in concept.parents:
        out.append(("parent", p))
    for child in cs.children(concept.code)[:_DEFAULT_LIMIT] if wanted is None else cs.children(concept.code):
        out.append(("child", child))
    if concept.abstract:
        out.append(("notSelectable", True))
    out.append(("inactive", concept.inactive))
    for key, value in concept.properties.items():
        if key in ("parent", "child"):
            continue
        for v in value if isinstance(value, list) else [value]:
            out.append((key, v))
    if wanted is not None and "*" not in wanted:
        out = [(k, v) for k, v in out if k in wanted]
    return out


def lookup_parameters(
    cs: CodeSystem,
    concept: Concept,
    language: str | None,
    wanted: set[str] | None,
    version_note: str | None = None,
) -> dict[str, Any]:
    """The ``Parameters`` answer of ``$lookup`` for one concept."""
    params: list[dict[str, Any]] = [{"name": "name", "valueString": cs.title or cs.name or cs.url}]
    if cs.version or version_note:
        params.append({"name": "version", "valueString": version_note or cs.version})
    params.append({"name": "display", "valueString": concept.display_in(language, cs.language)})
    if concept.definition and (wanted is None or "definition" in wanted):
        params.append({"name": "definition", "valueString": concept.definition})
    for lang, value in concept.designations.items():
        if value:
            params.append(
                {
                    "name": "designation",
                    "part": [
                        {"name": "language", "valueCode": lang},
                        {"name": "value", "valueString": value},
                    ],
                }
            )
    for key, value in _properties(cs, concept, wanted):
        kind, v = _value(value)
        params.append(
            {"name": "property", "part": [{"name": "code", "valueCode": key}, {"name": "value", kind: v}]}
        )
    return {"resourceType": "Parameters", "parameter": params}


async def run_lookup(call: OperationCall) -> OperationResult:
    """``$lookup`` (type or instance level)."""
    given = coding(call, "coding")
    code = text(call, "code") or (given.code if given else None)
    system = text(call, "system") or (given.system if given else None)
    version = text(call, "version") or (given.version if given else None)
    when = on_date(call)
    cs = await resolve_code_system(
        call, system, version, when, "system" if text(call, "system") or not given else "coding"
    )
    if code is None:
        raise OperationError(400, "Give the code: parameter 'code' or 'coding'", "required", "code")
    concept = cs.find(code)
    if concept is None:
        raise OperationError(
            404,
            f"The code {code!r} is not in {cs.url}" + (f" ({cs.version})" if cs.version else ""),
            "not-found",
            "code",
        )
    raw = [v for v in call.params.get("property", []) if isinstance(v, str)]
    wanted = {p.strip() for v in raw for p in v.split(",") if p.strip()} or None
    note = None
    if cs.url == icd10_editions.SYSTEM and cs.version:
        edition = icd10_editions.edition_on(version=cs.version)
        note = icd10_editions.version_label(edition, when) if edition is not None else None
    return OperationResult(lookup_parameters(cs, concept, display_language(call), wanted, note))
