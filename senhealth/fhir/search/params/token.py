"""Token index values: a (system, code) pair plus the text that the ``:text`` modifier searches.

Spec: https://hl7.org/fhir/R4/search.html#token

=================  ======================  ==================  =====================================
FHIR type          system                  code                text (normalised)
=================  ======================  ==================  =====================================
Coding             Coding.system           Coding.code         Coding.display
CodeableConcept    each coding             each coding         each display; ``text`` on its own row
                                                               unless a display already says it
Identifier         Identifier.system       Identifier.value    Identifier.type.text; type_system /
                                                               type_code from Identifier.type for
                                                               ``:of-type`` (one row per type coding)
ContactPoint       ContactPoint.use        ContactPoint.value  (the spec lets servers use ``use``)
boolean            None                    ``true``/``false``
code, string, id,  None                    the value as given
uri, ...
=================  ======================  ==================  =====================================

Codes keep their case: token matching is exact unless a code system says otherwise.

Values are immutable, so the normalisers share one instance for a repeated (system, code, display) or
code (an LRU cache): codes repeat across resources, and building a value and folding its display cost
more than the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from senhealth.core.text import normalize
from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "TokenValue"]


@dataclass(frozen=True, slots=True)
class TokenValue:
    system: str | None
    code: str | None
    text: str | None = None  # normalised (senhealth.core.text.normalize) display / text, for :text
    type_system: str | None = None  # Identifier.type coding, for :of-type
    type_code: str | None = None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


@lru_cache(maxsize=16384)
def _coded(system: str | None, code: str | None, display: str | None) -> TokenValue:
    """The value of a coding: its display normalised."""
    return TokenValue(system, code, normalize(display) if display else None)


@lru_cache(maxsize=16384)
def _plain(code: str) -> TokenValue:
    return TokenValue(None, code)


@lru_cache(maxsize=4096)
def _normalized(text: str) -> str:
    return normalize(text)


def coding(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    system = _str(value.get("system"))
    code = _str(value.get("code"))
    display = _str(value.get("display"))
    if code is None and display is None:
        return
    out.append(_coded(system, code, display))


def codeable_concept(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    text = _str(value.get("text"))
    norm_text = _normalized(text) if text else None
    codings = value.get("coding")
    if codings:
        for c in codings:
            if c.__class__ is not dict:
                continue
            system = _str(c.get("system"))
            code = _str(c.get("code"))
            display = _str(c.get("display"))
            if code is None and display is None:
                continue
            token = _coded(system, code, display)
            if token.text is not None and token.text == norm_text:
                norm_text = None  # already searchable through this coding's row
            out.append(token)
    if norm_text:
        out.append(TokenValue(None, None, norm_text))


def identifier(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    system = _str(value.get("system"))
    ident = _str(value.get("value"))
    id_type = value.get("type")
    text: str | None = None
    typed = False
    if id_type.__class__ is dict:
        raw_text = _str(id_type.get("text"))
        text = normalize(raw_text) if raw_text else None
        for c in id_type.get("coding") or ():
            if c.__class__ is dict and (_str(c.get("code")) or _str(c.get("system"))):
                typed = True
                out.append(TokenValue(system, ident, text, _str(c.get("system")), _str(c.get("code"))))
    if not typed and (system or ident or text):
        out.append(TokenValue(system, ident, text))


def contact_point(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    v = _str(value.get("value"))
    if v is not None:
        out.append(TokenValue(_str(value.get("use")), v))


def boolean(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value is True:
        out.append(_TRUE)
    elif value is False:
        out.append(_FALSE)


def primitive(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if isinstance(value, str):
        if value:
            out.append(_plain(value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(TokenValue(None, str(value)))


def _id(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    """:func:`primitive` for ``id`` values: each resource's own is unique, so none is kept."""
    if isinstance(value, str):
        if value:
            out.append(TokenValue(None, value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(TokenValue(None, str(value)))


_TRUE = TokenValue(None, "true")
_FALSE = TokenValue(None, "false")

#: FHIR type -> normaliser. Types absent here (Quantity, Reference, ...) give no token values.
SINKS: dict[str, Sink] = {
    "Coding": coding,
    "CodeableConcept": codeable_concept,
    "Identifier": identifier,
    "ContactPoint": contact_point,
    "boolean": boolean,
    "id": _id,
    **{
        t: primitive
        for t in (
            "code",
            "string",
            "uri",
            "url",
            "canonical",
            "oid",
            "uuid",
            "markdown",
            "integer",
            "positiveInt",
            "unsignedInt",
        )
    },
}
