"""Expansions of the value sets bound to R4 elements, for binding validation.

Spec: https://hl7.org/fhir/R4/terminologies.html#strength

Derived by ``scripts/derive_fhir_model.py`` from ``valuesets.json`` and ``v3-codesystems.json`` of the
R4 definitions: every bound value set whose content is defined by FHIR or HL7 v3 code systems. Value
sets drawn from external terminologies (UCUM, MIME types, ISO 4217, SNOMED CT, LOINC) are absent:
:func:`value_set_codes` returns ``None`` for them and callers must not judge codes they cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from senhealth.fhir.model import load_data

__all__ = ["ValueSetCodes", "value_set_codes"]


@dataclass(frozen=True, slots=True)
class ValueSetCodes:
    url: str
    by_system: dict[str, frozenset[str]]
    all_codes: frozenset[str]
    complete: bool  # False when part of the value set could not be expanded

    def contains(self, code: str, system: str | None = None) -> bool:
        if system is None:
            return code in self.all_codes
        codes = self.by_system.get(system)
        return codes is not None and code in codes


@cache
def _value_sets() -> dict[str, ValueSetCodes]:
    raw = load_data("r4-valuesets.json.gz")["valueSets"]
    out: dict[str, ValueSetCodes] = {}
    for url, v in raw.items():
        by_system = {s: frozenset(c) for s, c in v["c"].items()}
        out[url] = ValueSetCodes(
            url=url,
            by_system=by_system,
            all_codes=frozenset(c for cs in by_system.values() for c in cs),
            complete=bool(v["x"]),
        )
    return out


def value_set_codes(url: str) -> ValueSetCodes | None:
    """The expansion of a value set (canonical URL, version suffix ignored), or None if unknown."""
    return _value_sets().get(url.split("|", 1)[0])
