"""FHIRPath's ``memberOf(valueset)`` answered by the terminology service's packaged value sets.

Spec: https://hl7.org/fhir/R4/fhirpath.html#functions (``memberOf``: "when invoked on a code-valued
element, returns true if the code is a member of the given value set") and
:mod:`senhealth.fhir.fhirpath.hooks` (the hook it plugs into).

:func:`member_of` takes a code (string), a Coding or a CodeableConcept (dicts) and a value set URL;
it returns None (FHIRPath: empty) for a value set this server does not hold in memory (FHIRPath is
synchronous: value sets stored in the FHIR store are not consulted). R4's bound value sets come from
:mod:`senhealth.fhir.model.valuesets`, the others from :func:`.registry.membership`.
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.fhirpath.hooks import Hooks, set_hooks
from senhealth.fhir.model.valuesets import value_set_codes
from senhealth.fhir.terminology.registry import membership

__all__ = ["install_member_of", "member_of"]


def _contains(url: str, code: str, system: str | None) -> bool | None:
    codes = value_set_codes(url)
    if codes is not None:
        return codes.contains(code, system)
    found = membership(url)
    return found.contains(code, system) if found is not None else None


def member_of(value: Any, valueset: str) -> bool | None:
    """Whether ``value`` (code, Coding or CodeableConcept) is in the value set; None when unknown."""
    if isinstance(value, str):
        return _contains(valueset, value, None)
    if not isinstance(value, dict):
        return None
    codings = value.get("coding") if "coding" in value or "text" in value else [value]
    if not isinstance(codings, list):
        return None
    answer: bool | None = False
    for c in codings:
        if not isinstance(c, dict) or not isinstance(c.get("code"), str):
            continue
        system = c.get("system") if isinstance(c.get("system"), str) else None
        found = _contains(valueset, c["code"], system)
        if found is None:
            return None
        if found:
            return True
    return answer


def install_member_of() -> Hooks:
    """Make :func:`member_of` FHIRPath's ``memberOf`` for the process; returns the hooks before."""
    return set_hooks(member_of=member_of)
