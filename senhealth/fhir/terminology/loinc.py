"""A curated fragment of LOINC: vital signs, the common laboratory tests, and the codes Sen Health writes.

Spec: https://hl7.org/fhir/R4/loinc.html (LOINC in FHIR: system ``http://loinc.org``),
https://hl7.org/fhir/R4/observation-vitalsigns.html (the vital-signs codes) and
https://loinc.org/kb/users-guide/calculating-mod-10-check-digits/ (the check digit).

LOINC has about 100,000 codes; Sen Health ships the 59 its users meet first (``data/loinc-subset.json``,
with LOINC's long common names, Sen Health's Vietnamese names and a ``category`` property:
``vital-signs``, ``laboratory``, ``document``). The code system is a ``fragment``: a code that is not
here is *unknown*, not wrong, unless its check digit is wrong (:func:`check_digit_ok`), which no LOINC
code has. LOINC is free to use with attribution (see ``data/README.md``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept, PropertyDef

__all__ = ["SYSTEM", "check_digit_ok", "code_system"]

SYSTEM = "http://loinc.org"
_SHAPE = re.compile(r"(\d{1,7})-(\d)")


def check_digit_ok(code: str) -> bool:
    """Whether ``code`` has LOINC's shape (``NNNNN-C``) and a right mod-10 check digit."""
    m = _SHAPE.fullmatch(code)
    if m is None:
        return False
    digits = m.group(1)[::-1]
    odd = digits[0::2][::-1]
    even = digits[1::2][::-1]
    total = sum(int(c) for c in even + str(int(odd) * 2))
    return (10 - total % 10) % 10 == int(m.group(2))


@cache
def _document() -> dict[str, object]:
    raw: dict[str, object] = json.loads(
        resources.files(__package__).joinpath("data", "loinc-subset.json").read_text("utf-8")
    )
    return raw


@cache
def code_system() -> CodeSystem:
    """The LOINC fragment."""
    raw = _document()
    rows = raw["codes"]
    assert isinstance(rows, list)
    concepts: dict[str, Concept] = {}
    for code, name, vi, category, unit in rows:
        props: dict[str, object] = {"category": category}
        if unit:
            props["unit"] = unit
        concepts[code] = Concept(code, name, designations={"en": name, "vi": vi}, properties=props)
    return CodeSystem(
        url=SYSTEM,
        name="LOINC",
        title="LOINC (Sen Health's fragment)",
        language="en",
        content="fragment",
        case_sensitive=False,
        hierarchy_meaning=None,
        publisher="Regenstrief Institute, Inc.",
        description=str(raw["source"]),
        copyright=str(raw["licence"]),
        resource_id="loinc",
        property_defs=(
            PropertyDef("category", "code", "vital-signs | laboratory | document (Sen Health's grouping)"),
            PropertyDef("unit", "string", "the UCUM unit results are usually reported in"),
        ),
        concepts=concepts,
    )
