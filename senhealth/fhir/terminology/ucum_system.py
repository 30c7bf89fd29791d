"""UCUM as a code system: every valid UCUM expression is a code.

Spec: https://hl7.org/fhir/R4/ucum.html ("UCUM is a grammar-based code system: the codes are
expressions; the display of a code is the code itself") and https://ucum.org/ucum.

UCUM cannot be enumerated, so it validates and looks up instead: a code is valid when
:func:`senhealth.fhir.ucum.parse_unit` reads it (the FHIRPath reading: atoms, prefixes, ``.`` and ``/``,
exponents, ``10*n``, annotations) and it is not one of FHIRPath's calendar keywords (``year`` is not
UCUM; ``a`` is). ``$lookup`` answers the code as its display and, as properties, its reduction to base
units (``canonical``: ``mg/dL`` → ``g.m-3``, the form the search index stores) and the factor to it.
Value sets may list UCUM codes explicitly; a whole-system include or a filter is refused (not
enumerable).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept, PropertyDef
from senhealth.fhir.ucum import CALENDAR_KEYWORDS, UCUM_SYSTEM, canonical, parse_unit

__all__ = ["UCUM_SYSTEM", "UcumCodeSystem", "code_system"]


class UcumCodeSystem(CodeSystem):
    """UCUM: :meth:`find` parses the expression; nothing to enumerate."""

    def find(self, code: str) -> Concept | None:
        if not code or code in CALENDAR_KEYWORDS or code.strip() != code:
            return None
        unit = parse_unit(code)
        if unit is None:
            return None
        props: dict[str, object] = {}
        index = canonical(code)
        if index is not None:
            props["canonical"] = index[2]
            props["factor"] = str(index[0].normalize())
        return Concept(code, code, designations={}, properties=props)

    def iter_concepts(self) -> Iterator[Concept]:
        return iter(())


@cache
def code_system() -> CodeSystem:
    """The UCUM code system (grammar-based)."""
    return UcumCodeSystem(
        url=UCUM_SYSTEM,
        version="2.1",
        name="UCUM",
        title="Unified Code for Units of Measure",
        language="en",
        content="not-present",
        case_sensitive=True,
        hierarchy_meaning=None,
        publisher="Regenstrief Institute, Inc.",
        description="UCUM expressions, validated by Sen Health's parser (senhealth.fhir.ucum)",
        copyright="UCUM is copyright © Regenstrief Institute, Inc., free to use (https://ucum.org/license)",
        resource_id="ucum",
        property_defs=(
            PropertyDef("canonical", "string", "the base units the search index stores (g.m-3 for mg/dL)"),
            PropertyDef("factor", "decimal", "value in the code x factor = value in the canonical units"),
        ),
        enumerable=False,
    )
