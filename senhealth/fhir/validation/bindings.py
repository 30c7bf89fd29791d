"""Terminology bindings: is the code of a coded element in the value set it is bound to?

Spec: https://hl7.org/fhir/R4/terminologies.html#strength and
https://hl7.org/fhir/R4/terminologies.html#binding

- ``required``: the code SHALL come from the value set: an **error** otherwise. For a ``code`` (or a
  ``string``/``uri`` bound like one) the value must be in the expansion. For a ``Coding`` the
  (system, code) pair must be. For a ``CodeableConcept`` at least one coding must be; other codings
  (translations) may sit beside it; a CodeableConcept with no coding at all (text only) does not
  satisfy a required binding.
- ``extensible``: a code from the value set SHALL be used when one applies; only a human can tell, so a
  CodeableConcept or Coding whose codes are all outside it is a **warning** (text-only is fine).
- ``preferred``: the same as an **information** issue. ``example``: nothing.

Only the value sets that can be expanded are judged, and only when the expansion is complete: first
those :func:`senhealth.fhir.model.valuesets.value_set_codes` holds (R4's bound value sets, drawn from FHIR
and HL7 code systems), then those the terminology service packages
(:func:`senhealth.fhir.terminology.registry.membership`: Sen Health's own value sets over ICD-10, the
provinces and communes, the ethnic groups, LOINC, and any other R4 value set). A value set that filters
SNOMED CT, LOINC beyond Sen Health's fragment or BCP-47, or draws on a code system that is not shipped,
cannot say a code is outside it (marked incomplete). Value sets stored in the FHIR store are not
consulted here (validation is synchronous and runs inside the write).
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.model import Binding
from senhealth.fhir.model.valuesets import ValueSetCodes, value_set_codes
from senhealth.fhir.terminology.registry import membership
from senhealth.fhir.validation.context import Ctx, ItemCheck
from senhealth.fhir.validation.outcome import CODE_INVALID, ERROR, INFORMATION, WARNING

__all__ = ["binding_check"]

_SEVERITY = {"required": ERROR, "extensible": WARNING, "preferred": INFORMATION}
_CODE_TYPES = frozenset({"code", "string", "uri"})
_CODING_TYPES = frozenset({"Coding", "Quantity", "SimpleQuantity", "Age", "Count", "Distance", "Duration"})


def _code_check(vs: ValueSetCodes, severity: str) -> ItemCheck:
    codes = vs.all_codes
    where = f"the value set {vs.url}"

    def check(value: Any, path: str, ctx: Ctx) -> None:
        if type(value) is str and value not in codes:
            ctx.issues.append((severity, CODE_INVALID, path, f"The code {value!r} is not in {where}"))

    return check


def _coding_check(vs: ValueSetCodes, severity: str) -> ItemCheck:
    by_system = vs.by_system
    complete = vs.complete
    where = f"the value set {vs.url}"

    def check(node: Any, path: str, ctx: Ctx) -> None:
        code = node.get("code")
        if type(code) is not str:
            return
        system = node.get("system")
        codes = by_system.get(system) if type(system) is str else None
        if codes is not None and code in codes:
            return
        if complete:
            ctx.issues.append(
                (severity, CODE_INVALID, path + ".code", f"The code {system}#{code} is not in {where}")
            )

    return check


def _concept_check(vs: ValueSetCodes, severity: str, required: bool) -> ItemCheck:
    by_system = vs.by_system
    complete = vs.complete
    where = f"the value set {vs.url}"

    def check(node: Any, path: str, ctx: Ctx) -> None:
        codings = node.get("coding")
        if type(codings) is not list:
            if required and "coding" not in node:
                ctx.issues.append(
                    (severity, CODE_INVALID, path, f"No coding given, and a code from {where} is required")
                )
            return
        judge = False
        first_bad = ""
        for i, c in enumerate(codings):
            if type(c) is not dict:
                continue
            code, system = c.get("code"), c.get("system")
            if type(code) is not str:
                continue
            codes = by_system.get(system) if type(system) is str else None
            if codes is not None:
                if code in codes:
                    return
                if not first_bad:
                    first_bad = f"{path}.coding[{i}].code"
            judge = True
        if not judge or not complete:
            return  # no coded coding, or an expansion that cannot speak for every code
        ctx.issues.append(
            (
                severity,
                CODE_INVALID,
                first_bad or path,
                f"None of the codings is in {where} ({'required' if required else 'bound'} binding)",
            )
        )

    return check


def _packaged(url: str) -> ValueSetCodes | None:
    """A value set the terminology service packages, in the shape the checks read."""
    found = membership(url)
    if found is None:
        return None
    return ValueSetCodes(
        url=found.url,
        by_system=dict(found.by_system),
        all_codes=frozenset(c for codes in found.by_system.values() for c in codes),
        complete=found.complete,
    )


def binding_check(binding: Binding | None, type_name: str) -> ItemCheck | None:
    """The check of a value of ``type_name`` bound by ``binding``; None when nothing can be judged."""
    if binding is None:
        return None
    severity = _SEVERITY.get(binding.strength)
    if severity is None:
        return None
    vs = value_set_codes(binding.value_set) or _packaged(binding.value_set)
    if vs is None:
        return None
    if type_name in _CODE_TYPES:
        if not vs.complete:
            return None
        return _code_check(vs, severity)
    if type_name in _CODING_TYPES:
        return _coding_check(vs, severity)
    if type_name == "CodeableConcept":
        return _concept_check(vs, severity, binding.strength == "required")
    return None
