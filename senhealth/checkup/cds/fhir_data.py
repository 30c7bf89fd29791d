"""Reading the prefetched FHIR data: search Bundles, the latest Observation's values, ICD-10 codes, ages.

Spec: https://hl7.org/fhir/R4/observation.html, https://hl7.org/fhir/R4/condition.html,
https://hl7.org/fhir/R4/datatypes.html#date (partial dates: ``1960`` and ``1960-05`` count from the
first day they could mean). Units: total cholesterol arrives in mmol/L (LOINC 14647-2, or 2093-3 with
``mmol/L``) or in mg/dL (2093-3, as the demo province writes it): mg/dL is divided by 38.67; any other
unit leaves the value unknown rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

__all__ = [
    "ICD10_SYSTEMS",
    "age_on",
    "cholesterol_mmol",
    "component_value",
    "has_code",
    "icd10_codes",
    "icd10_in",
    "instant",
    "quantity",
    "resources",
]

ICD10_SYSTEMS: Final = frozenset(
    {"https://senhealth.vn/fhir/CodeSystem/icd10-vn", "http://hl7.org/fhir/sid/icd-10"}
)
LOINC: Final = "http://loinc.org"
#: mg/dL of cholesterol per mmol/L (molar mass 386.65 g/mol).
CHOLESTEROL_MG_PER_MMOL: Final = 38.67


def resources(value: Any, res_type: str) -> Iterator[dict[str, Any]]:
    """The resources of ``res_type`` in a prefetch value: a searchset Bundle's matches, or one resource."""
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or []:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == res_type:
                mode = (entry.get("search") or {}).get("mode", "match")
                if mode == "match":
                    yield res
    elif value.get("resourceType") == res_type:
        yield value


def _parse_date(text: str) -> datetime | None:
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def instant(resource: Mapping[str, Any], *names: str) -> datetime | None:
    """The first date found among ``names`` (``effectiveDateTime``, ``period.end``...)."""
    for name in names:
        value: Any = resource
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            when = _parse_date(value)
            if when is not None:
                return when
    return None


def age_on(birth_date: str | None, today: date) -> int | None:
    """Whole years from a FHIR (partial) birth date to ``today``."""
    born = _parse_date(birth_date) if isinstance(birth_date, str) else None
    if born is None:
        return None
    b = born.date()
    years = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    return years if years >= 0 else None


def _codes(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("code")
    ]


def has_code(resource: Mapping[str, Any], system: str, code: str, element: str = "code") -> bool:
    return (system, code) in _codes(resource.get(element))


def quantity(value: Any) -> tuple[float, str] | None:
    """``(value, unit code)`` of a Quantity (UCUM ``code``, else ``unit``)."""
    if not isinstance(value, dict) or isinstance(value.get("value"), bool):
        return None
    number = value.get("value")
    if not isinstance(number, (int, float)):
        return None
    return float(number), str(value.get("code") or value.get("unit") or "")


def component_value(observation: Mapping[str, Any], loinc: str) -> float | None:
    for component in observation.get("component") or []:
        if isinstance(component, dict) and (LOINC, loinc) in _codes(component.get("code")):
            q = quantity(component.get("valueQuantity"))
            if q is not None:
                return q[0]
    return None


def cholesterol_mmol(observation: Mapping[str, Any]) -> float | None:
    """Total cholesterol in mmol/L (see the module docstring), or ``None``."""
    q = quantity(observation.get("valueQuantity"))
    if q is None:
        return None
    value, unit = q
    unit = unit.replace(" ", "").lower()
    if unit in ("mmol/l", "mmol/liter"):
        return value
    if unit == "mg/dl":
        return value / CHOLESTEROL_MG_PER_MMOL
    return None


def icd10_codes(condition: Mapping[str, Any]) -> list[str]:
    """The ICD-10 codes of a Condition (the Ministry's edition or WHO's), upper case, dots kept."""
    return [code.upper() for system, code in _codes(condition.get("code")) if system in ICD10_SYSTEMS]


def icd10_in(codes: list[str], first: str, last: str) -> bool:
    """Whether a code's three-character category lies in ``first``..``last`` (``I10``..``I15``)."""
    return any(first <= code[:3] <= last for code in codes)
