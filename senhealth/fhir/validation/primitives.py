"""Checks of primitive values: JSON type, the spec's regular expression, and what a regex cannot say.

Spec: https://hl7.org/fhir/R4/datatypes.html#primitive and https://hl7.org/fhir/R4/json.html#primitive

- the JSON type comes first: ``boolean`` is a JSON boolean, ``integer``/``positiveInt``/``unsignedInt``
  a JSON number without fraction, ``decimal`` a JSON number (never a string), everything else a JSON
  string;
- then the regex of the type's ``value`` element (``structuredefinition-regex`` extension), anchored
  at both ends. The spec's regexes are XML Schema regexes where ``\\s`` means ``[ \\t\\n\\r]``; they are
  rewritten so Python's Unicode-aware ``\\s`` does not reject a non-breaking space in a ``uri``;
- then the rules beyond the regex: a real calendar day (``2023-02-30`` and ``2023-02-29`` are not),
  32-bit integers, a non-empty and not whitespace-only string (https://hl7.org/fhir/R4/json.html:
  a value is either absent or has non-whitespace content), finite decimals, strings under 1 MiB,
  well-formed base64 and a ``<div>`` root in the XHTML namespace for ``xhtml``.

A check returns ``None`` when the value is fine, else ``(issue type, message)``; the issue type is
``structure`` when the JSON shape is wrong (an object, an array or ``null`` where a primitive should
be) and ``value`` otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from senhealth.fhir.model import get_model
from senhealth.fhir.validation.outcome import STRUCTURE, VALUE

__all__ = ["MAX_STRING", "PrimitiveCheck", "describe", "is_text", "primitive_check", "remembered"]

PrimitiveCheck = Callable[[Any], tuple[str, str] | None]

_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
_MAX_STRING = 1024 * 1024
_KNOWN_MAX = 8192  # remembered valid values per primitive type
_REPEATING = frozenset({"code", "uri", "url", "canonical"})
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_XHTML_NS = 'xmlns="http://www.w3.org/1999/xhtml"'
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}").fullmatch
_WS = re.compile(r"[ \t\n\r]+")


def describe(value: Any) -> str:
    """How a JSON value reads in a message: its JSON type, and the value when short."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean " + ("true" if value else "false")
    if type(value) is list:
        return "an array"
    if type(value) is dict:
        return "an object"
    if type(value) in (int, float, Decimal):
        return f"number {value}"
    text = repr(value)
    return "string " + (text if len(text) <= 80 else text[:77] + "...'")


def _shape(value: Any, expected: str) -> tuple[str, str]:
    code = STRUCTURE if value is None or type(value) in (list, dict) else VALUE
    if type(value) is list:
        return code, f"Expected a single value ({expected}) but found an array"
    return code, f"Expected {expected} but found {describe(value)}"


def _xsd(regex: str) -> str:
    """Rewrite XML Schema ``\\s`` / ``\\S`` so they mean exactly ``[ \\t\\n\\r]`` and its complement."""
    return regex.replace(r"[^\s]", r"[^ \t\n\r]").replace(r"\S", r"[^ \t\n\r]").replace(r"\s", r"[ \t\n\r]")


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _bad_day(v: str) -> bool:
    """True for a day that does not exist (the regex already bounded month 01-12 and day 01-31)."""
    if len(v) < 10:
        return False
    day = int(v[8:10])
    if day <= 28:
        return False
    month = int(v[5:7])
    return day > _DAYS[month] or (month == 2 and day == 29 and not _leap(int(v[0:4])))


def _string_like(type_name: str, regex: str | None, calendar: bool) -> PrimitiveCheck:
    match = re.compile(_xsd(regex)).fullmatch if regex else None
    expected = f"a JSON string ({type_name})"
    # Values already found valid, for the types whose values repeat (codes, code systems, URLs): a set
    # lookup instead of the regex. Bounded: once full it only serves the values it has.
    known: set[str] = set()
    cap = _KNOWN_MAX if type_name in _REPEATING else 0

    def check(v: Any) -> tuple[str, str] | None:
        if type(v) is not str:
            return _shape(v, expected)
        if v in known:
            return None
        if not v or (match is not None and match(v) is None):
            if not v or v.isspace():
                return VALUE, f"A {type_name} value must not be empty or whitespace only"
            return VALUE, f"Not a valid {type_name}: {describe(v)}"
        if calendar and _bad_day(v):
            return VALUE, f"Not a valid {type_name}: {describe(v)} is not a calendar date"
        if len(known) < cap and len(v) <= 256:
            known.add(v)
        return None

    if cap:
        _REMEMBERED[check] = known
    return check


def _text_check(type_name: str) -> PrimitiveCheck:
    expected = f"a JSON string ({type_name})"

    def check(v: Any) -> tuple[str, str] | None:
        if type(v) is not str:
            return _shape(v, expected)
        if not v or v.isspace():
            return VALUE, f"A {type_name} value must not be empty or whitespace only"
        if len(v) > _MAX_STRING:
            return VALUE, f"A {type_name} value must not exceed 1 MiB"
        return None

    _TEXT.add(check)
    return check


# What the field closures (:mod:`.cardinality`) may test inline before calling a check, to spare the call
# when the answer is "valid": the values a check remembers, and which checks are the plain text check.
_REMEMBERED: dict[PrimitiveCheck, set[str]] = {}
_TEXT: set[PrimitiveCheck] = set()


def remembered(check: PrimitiveCheck) -> set[str] | None:
    """The set of values ``check`` remembers as valid (a string in it is valid), if it keeps one."""
    return _REMEMBERED.get(check)


def is_text(check: PrimitiveCheck) -> bool:
    """Whether ``check`` is that of ``string`` / ``markdown``: a string is valid when it is not empty, not
    whitespace only and at most :data:`MAX_STRING` characters."""
    return check in _TEXT


MAX_STRING = _MAX_STRING


def _base64_check(v: Any) -> tuple[str, str] | None:
    if type(v) is not str:
        return _shape(v, "a JSON string (base64Binary)")
    compact = _WS.sub("", v)
    if not compact or len(compact) % 4 or _BASE64(compact) is None:
        return VALUE, "Not a valid base64Binary value"
    return None


def _xhtml_check(v: Any) -> tuple[str, str] | None:
    if type(v) is not str:
        return _shape(v, "a JSON string (xhtml)")
    head = v.lstrip()[:200]
    if not head.startswith("<div") or _XHTML_NS not in v[: v.find(">") + 1]:
        return VALUE, 'Narrative div must be a <div> element with xmlns="http://www.w3.org/1999/xhtml"'
    return None


def _boolean_check(v: Any) -> tuple[str, str] | None:
    return None if type(v) is bool else _shape(v, "a JSON boolean")


def _decimal_check(v: Any) -> tuple[str, str] | None:
    t = type(v)
    if t is int or ((t is float or t is Decimal) and math.isfinite(v)):
        return None  # Decimal: JSON parsed with parse_float=Decimal
    if t is str:
        return VALUE, f"A decimal must be a JSON number, not {describe(v)}"
    return _shape(v, "a JSON number (decimal)")


def _integer_check(type_name: str, low: int) -> PrimitiveCheck:
    expected = f"a JSON integer ({type_name})"

    def check(v: Any) -> tuple[str, str] | None:
        if type(v) is not int:
            if type(v) is float and v.is_integer():
                return VALUE, f"A {type_name} value must be written without a fraction or exponent: {v!r}"
            if type(v) is str:
                return VALUE, f"A {type_name} value must be a JSON number, not {describe(v)}"
            return _shape(v, expected)
        if v < low or v > _INT_MAX:
            return VALUE, f"{type_name} value {v} is outside the range {low}..{_INT_MAX}"
        return None

    return check


@cache
def primitive_check(type_name: str) -> PrimitiveCheck:
    """The compiled check for values of the primitive type ``type_name``."""
    model = get_model()
    if type_name == "boolean":
        return _boolean_check
    if type_name == "decimal":
        return _decimal_check
    if type_name == "integer":
        return _integer_check("integer", _INT_MIN)
    if type_name == "positiveInt":
        return _integer_check("positiveInt", 1)
    if type_name == "unsignedInt":
        return _integer_check("unsignedInt", 0)
    if type_name in ("string", "markdown"):
        return _text_check(type_name)
    if type_name == "base64Binary":
        return _base64_check
    if type_name == "xhtml":
        return _xhtml_check
    regex = model.regex.get(type_name)
    if regex is None and model.json_kind.get(type_name) != "string":
        raise ValueError(f"not a primitive type: {type_name}")
    return _string_like(type_name, regex, type_name in ("date", "dateTime", "instant"))
