"""``$validate-code`` on CodeSystem and on ValueSet: is this code valid (and its display right)?

Spec: https://hl7.org/fhir/R4/codesystem-operation-validate-code.html and
https://hl7.org/fhir/R4/valueset-operation-validate-code.html
(OperationDefinitions CodeSystem-validate-code and ValueSet-validate-code).

In: the code as ``code`` (+ ``system``, ``version`` / ``systemVersion``), ``coding`` or
``codeableConcept`` (valid when one of its codings is); the code system (``url``, ``CodeSystem/[id]``)
or the value set (``url``, ``ValueSet/[id]``, ``valueSet``); ``display`` (checked against every display
of the code, without case or diacritics); ``abstract=false`` (an abstract concept, an ICD-10 chapter or
block, is then not valid); ``date`` (the ICD-10 edition); ``displayLanguage``. Out: ``result``,
``message`` when not valid (or valid but inactive), ``display`` (the code's display).

A code system that is a fragment (Sen Health's LOINC) answers ``false`` with "not in the fragment"
for a code it does not hold, and says when a LOINC code's check digit is wrong. A value set that
includes a whole grammar-based code system (UCUM) is checked without expanding it.

Errors (4xx OperationOutcome): the code system or value set unknown (404 naming ``url`` / ``system``),
no code given (400).
"""

from __future__ import annotations

from typing import Any

from senhealth.core.text import normalize
from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.terminology import loinc
from senhealth.fhir.terminology.codesystem import CodeSystem, Concept
from senhealth.fhir.terminology.codesystem_lookup import resolve_code_system
from senhealth.fhir.terminology.expand_operation import expansion_error, find_value_set
from senhealth.fhir.terminology.inputs import (
    CodingIn,
    codeable_concept,
    coding,
    display_language,
    flag,
    on_date,
    terminology,
    text,
)
from senhealth.fhir.terminology.service import Terminology
from senhealth.fhir.terminology.valueset_expand import ExpandError

__all__ = ["run_validate_code"]


def _answer(result: bool, message: str | None = None, display: str | None = None) -> OperationResult:
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result}]
    if message:
        params.append({"name": "message", "valueString": message})
    if display:
        params.append({"name": "display", "valueString": display})
    return OperationResult({"resourceType": "Parameters", "parameter": params})


def _codings(call: OperationCall, system_param: str) -> list[CodingIn]:
    concept = codeable_concept(call)
    if concept is not None:
        if not concept:
            raise OperationError(
                400, "The codeableConcept has no coding to validate", "required", "codeableConcept"
            )
        return concept
    given = coding(call, "coding")
    if given is not None:
        return [given]
    code = text(call, "code")
    if code is None:
        raise OperationError(
            400, "Give the code: parameter 'code', 'coding' or 'codeableConcept'", "required", "code"
        )
    version = text(call, "version") or text(call, "systemVersion")
    return [CodingIn(text(call, system_param), code, version, text(call, "display"))]


def _display_ok(concept: Concept, display: str | None) -> bool:
    if not display:
        return True
    wanted = normalize(display)
    return any(normalize(d) == wanted for d in (concept.display, *concept.designations.values()) if d)


def _check_concept(
    cs: CodeSystem, given: CodingIn, display: str | None, abstract_ok: bool, language: str | None
) -> tuple[bool, str | None, str | None]:
    code = given.code or ""
    concept = cs.find(code)
    if concept is None:
        if cs.content == "fragment":
            if cs.url == loinc.SYSTEM and not loinc.check_digit_ok(code):
                return False, f"{code!r} is not a LOINC code (its check digit is wrong)", None
            return False, f"The code {code!r} is not in this server's fragment of {cs.url}", None
        return (
            False,
            f"The code {code!r} is not in {cs.url}" + (f" ({cs.version})" if cs.version else ""),
            None,
        )
    shown = concept.display_in(language, cs.language)
    if concept.abstract and not abstract_ok:
        return False, f"The code {code!r} is abstract (a grouping, not for use)", shown
    if not _display_ok(concept, display):
        return (
            False,
            f"The display {display!r} is not a display of {cs.url}#{concept.code} ({concept.display!r})",
            shown,
        )
    if concept.inactive:
        return True, f"The code {code!r} is inactive", shown
    return True, None, shown


async def _code_system(call: OperationCall) -> OperationResult:
    when = on_date(call)
    codings = _codings(call, "system")
    abstract_ok = flag(call, "abstract") is not False
    language = display_language(call)
    url = text(call, "url")
    messages: list[str] = []
    for given in codings:
        system = url or given.system
        if url and given.system and given.system != url:
            messages.append(f"{given.system}#{given.code} is not from {url}")
            continue
        cs = await resolve_code_system(
            call, system, given.version, when, "url" if url or not given.system else "system"
        )
        ok, message, shown = _check_concept(
            cs, given, given.display or text(call, "display"), abstract_ok, language
        )
        if ok:
            return _answer(True, message, shown)
        messages.append(message or "not valid")
        if len(codings) == 1:
            return _answer(False, message, shown)
    return _answer(False, "; ".join(messages))


def _whole_system_includes(vs: dict[str, Any]) -> set[str]:
    """Systems a value set includes whole (no concepts, filters or value sets): checked by look-up."""
    compose = vs.get("compose")
    out: set[str] = set()
    if not isinstance(compose, dict):
        return out
    for inc in compose.get("include") or ():
        whole = isinstance(inc, dict) and not any(inc.get(k) for k in ("concept", "filter", "valueSet"))
        if whole and isinstance(inc.get("system"), str):
            out.add(inc["system"])
    return out


async def _value_set(call: OperationCall) -> OperationResult:
    when = on_date(call)
    service: Terminology = terminology(call, when)
    vs, key = await find_value_set(call, service)
    codings = _codings(call, "system")
    abstract_ok = flag(call, "abstract") is not False
    language = display_language(call)
    url = vs.get("url") or "(the value set)"
    members: dict[tuple[str, str], Any] | None = None
    try:
        expansion = await service.expand(vs, key)
        members = {i.key: i for i in expansion.items}
    except ExpandError as exc:
        if exc.code not in ("too-costly",) or not _whole_system_includes(vs):
            raise expansion_error(exc, "url") from None
    messages: list[str] = []
    for given in codings:
        if not given.code:
            continue
        if not given.system:
            messages.append(f"The code {given.code!r} has no system")
            continue
        cs = await service.code_system(given.system, given.version)
        concept = cs.find(given.code) if cs is not None else None
        code = concept.code if concept is not None else given.code
        inside = (
            (given.system, code) in members
            if members is not None
            else given.system in _whole_system_includes(vs) and concept is not None
        )
        if not inside:
            messages.append(f"{given.system}#{given.code} is not in the value set {url}")
            continue
        if cs is None:  # listed in the value set, from a code system this server does not hold
            item = members.get((given.system, code)) if members is not None else None
            return _answer(True, None, getattr(item, "display", None) or None)
        ok, message, shown = _check_concept(
            cs, given, given.display or text(call, "display"), abstract_ok, language
        )
        if ok:
            return _answer(True, message, shown)
        messages.append(message or "not valid")
    return _answer(False, "; ".join(messages) or "No coding to validate")


async def run_validate_code(call: OperationCall) -> OperationResult:
    """``$validate-code`` on ``CodeSystem`` or ``ValueSet`` (type or instance level)."""
    if call.resource_type == "CodeSystem":
        return await _code_system(call)
    return await _value_set(call)
