"""String index values: the text as given (for ``:exact``) and its normalised form.

Spec: https://hl7.org/fhir/R4/search.html#string

The normalised form (:func:`senhealth.core.text.normalize`: lower case, Vietnamese and other diacritics
folded, ``đ`` -> ``d``, whitespace collapsed) serves the default starts-with match and ``:contains``.
``HumanName`` expands to text, family, each given, prefix and suffix, and, when it has no ``text``, the
assembled full name in both orders ("Nguyễn Thị Đào" / "Thị Đào Nguyễn"), so that a whole-name search
matches Vietnamese (family first) and Western (family last) writing alike. ``Address`` expands to text,
each line, city, district, state, postalCode and country.

Values are immutable: one instance serves a repeated string (an LRU cache; names and places repeat, and
folding diacritics costs more than the lookup).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from senhealth.core.text import normalize
from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "StringValue"]


@dataclass(frozen=True, slots=True)
class StringValue:
    value: str  # as given, for :exact
    normalized: str  # senhealth.core.text.normalize(value)


@lru_cache(maxsize=16384)
def _value(text: str) -> StringValue | None:
    norm = normalize(text)
    return StringValue(text, norm) if norm else None


def _add(text: Any, out: list[Any]) -> None:
    if isinstance(text, str):
        found = _value(text)
        if found is not None:
            out.append(found)


def primitive(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    _add(value, out)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def human_name(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    text = value.get("text")
    family = value.get("family")
    given = _strings(value.get("given"))
    _add(text, out)
    _add(family, out)
    for g in given:
        _add(g, out)
    for part in ("prefix", "suffix"):
        for p in _strings(value.get(part)):
            _add(p, out)
    if not text and isinstance(family, str) and family and given:
        _add(" ".join((family, *given)), out)
        _add(" ".join((*given, family)), out)


_ADDRESS_PARTS = ("city", "district", "state", "postalCode", "country")


def address(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    _add(value.get("text"), out)
    for line in _strings(value.get("line")):
        _add(line, out)
    for part in _ADDRESS_PARTS:
        _add(value.get(part), out)


SINKS: dict[str, Sink] = {
    "HumanName": human_name,
    "Address": address,
    **{t: primitive for t in ("string", "markdown", "code", "id", "uri", "url", "canonical", "xhtml")},
}
