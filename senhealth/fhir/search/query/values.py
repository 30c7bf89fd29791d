"""Search values: what one comma-separated alternative of a search parameter means, per parameter type.

Spec: https://hl7.org/fhir/R4/search.html, sections "Escaping Search Parameters" (§3.1.1.5.7), "Prefixes"
(§3.1.1.4.4 ``eq ne gt lt ge le sa eb ap``), and one section per type: number, date, string, token,
reference, composite, quantity, uri, special.

Every value is normalised here exactly as the index side normalises stored values (``docs/search.md``):
strings with :func:`senhealth.core.text.normalize`, dates with
:func:`senhealth.fhir.search.params.date.date_range` in the server zone (+07:00), units with
:func:`senhealth.fhir.ucum.canonical`, references with
:func:`senhealth.fhir.search.params.reference.parse_reference`. Numbers keep their implicit precision:
``100`` is the half-open range [99.5, 100.5), ``1e2`` is [50, 150), ``100.0`` is [99.95, 100.05).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import TypeAlias

from senhealth.core.text import normalize
from senhealth.fhir.search.context import DEFAULT_TZ
from senhealth.fhir.search.params.date import date_range
from senhealth.fhir.search.params.reference import parse_reference
from senhealth.fhir.search.query.errors import SearchError

__all__ = [
    "DEFAULT_NEAR_KM",
    "MAX_EXPONENT",
    "PREFIXES",
    "CodeSetQuery",
    "CompositeQuery",
    "DateQuery",
    "NearQuery",
    "NumberQuery",
    "QuantityQuery",
    "ReferenceQuery",
    "StringQuery",
    "TokenQuery",
    "UriQuery",
    "ValueQuery",
    "ValueSetQuery",
    "parse_value",
    "split_escaped",
    "unescape",
]

#: The comparison prefixes of ordered types (number, date, quantity), §3.1.1.4.4.
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

#: ``near`` without a distance searches this radius (the spec leaves it to the server).
DEFAULT_NEAR_KM = 5

#: A number (number, quantity, composite parts) may have no digit beyond ``10^MAX_EXPONENT`` nor below
#: ``10^-MAX_EXPONENT``: ``1e1000`` and ``1e-1000`` are searchable, ``1e1001`` and ``1e-1001`` are not.
#: PostgreSQL's numeric holds 131,072 digits before the point and 16,383 after; this bound keeps every
#: value the predicates derive (the precision range, ``ap``'s 10 %, UCUM's canonical factors) far inside.
MAX_EXPONENT = 1000


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """``[system]|[code]``, ``code``, ``|code`` or ``system|``; ``:of-type`` and ``:text`` forms too.

    ``system_given`` is true when the value had a ``|``: then ``system`` must equal the stored system
    (``None``: the stored value must have no system). ``code`` ``None`` means any code of that system.
    """

    code: str | None
    system: str | None = None
    system_given: bool = False
    type_system: str | None = None  # :of-type  type-system|type-code|value
    type_code: str | None = None
    text: str | None = None  # :text, normalised


@dataclass(frozen=True, slots=True)
class ValueSetQuery:
    """``:in`` / ``:not-in``: a value set's canonical URL (or ``ValueSet/[id]``), expanded before the SQL
    is built (:mod:`senhealth.fhir.search.terminology`)."""

    url: str


@dataclass(frozen=True, slots=True)
class CodeSetQuery:
    """A set of ``(system, code)``: what ``:below`` / ``:above`` / ``:in`` / ``:not-in`` resolve to."""

    codes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StringQuery:
    value: str  # as given (for :exact)
    normalized: str


@dataclass(frozen=True, slots=True)
class DateQuery:
    """A date search value: the inclusive UTC range its precision covers."""

    prefix: str
    low: datetime
    high: datetime
    text: str


@dataclass(frozen=True, slots=True)
class NumberQuery:
    """A number: the exact ``value`` and its implicit-precision range ``[low, high)``."""

    prefix: str
    value: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class QuantityQuery:
    """``[prefix]number|system|code``; ``system``/``code`` ``None`` when not given."""

    prefix: str
    value: Decimal
    low: Decimal
    high: Decimal
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceQuery:
    """A local reference (``target_type`` / ``target_id``; a type of ``None`` means any target type) or a
    URL (absolute, canonical, ``urn:``), optionally versioned."""

    target_type: str | None = None
    target_id: str | None = None
    version: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class UriQuery:
    value: str


@dataclass(frozen=True, slots=True)
class CompositeQuery:
    parts: tuple[ValueQuery, ...]  # one per component, in the parameter's component order


@dataclass(frozen=True, slots=True)
class NearQuery:
    latitude: float
    longitude: float
    distance_m: float


ValueQuery: TypeAlias = (
    TokenQuery
    | StringQuery
    | DateQuery
    | NumberQuery
    | QuantityQuery
    | ReferenceQuery
    | UriQuery
    | CompositeQuery
    | NearQuery
    | ValueSetQuery
    | CodeSetQuery
)

_ESCAPED = re.compile(r"\\([,$|\\])")
_PREFIX = re.compile(r"([a-z]{2})(?=[-+.\d])")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_OFFSET_SPACE = re.compile(r"(T[\d:.]+) (\d{2}:\d{2})$")  # '+' decoded as a space by a careless client
_DISTANCE_M = {"km": 1000.0, "m": 1.0, "[mi_i]": 1609.344, "mi": 1609.344, "[mi_us]": 1609.347}


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` except where escaped by ``\\``; escapes are kept for the next level (§3.1.1.5.7)."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


def unescape(text: str) -> str:
    """Resolve the spec's escapes ``\\,`` ``\\$`` ``\\|`` ``\\\\``; other backslashes stay."""
    return _ESCAPED.sub(r"\1", text) if "\\" in text else text


def _prefixed(raw: str, expr: str) -> tuple[str, str]:
    m = _PREFIX.match(raw)
    if m is None:
        return "eq", raw
    if m.group(1) not in PREFIXES:
        raise SearchError(f"unknown prefix {m.group(1)!r} in {raw!r}: use one of {', '.join(PREFIXES)}", expr)
    return m.group(1), raw[2:]


def _decimal(text: str, expr: str) -> Decimal:
    if _NUMBER.fullmatch(text) is None:
        raise SearchError(f"{_shown(text)!r} is not a number", expr)
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise SearchError(f"{_shown(text)!r} is not a number", expr) from exc
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: the regex admits no NaN or Infinity
    if value.adjusted() > MAX_EXPONENT or exponent < -MAX_EXPONENT:
        raise SearchError(
            f"number {_shown(text)} is out of range: a search number has no digit beyond 1e{MAX_EXPONENT}"
            f" or below 1e-{MAX_EXPONENT}",
            expr,
        )
    return value


def _shown(text: str, limit: int = 40) -> str:
    """``text`` cut for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def precision_range(value: Decimal) -> tuple[Decimal, Decimal]:
    """The half-open range ``[low, high)`` a number covers at its significant digits (§3.1.1.4.1)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    with localcontext() as ctx:
        ctx.prec = 80
        half = Decimal(5).scaleb(exponent - 1)
        return value - half, value + half


def _number(raw: str, expr: str) -> NumberQuery:
    prefix, text = _prefixed(raw, expr)
    d = _decimal(text, expr)
    low, high = precision_range(d)
    return NumberQuery(prefix, d, low, high)


def _date(raw: str, expr: str) -> DateQuery:
    prefix, text = _prefixed(raw, expr)
    text = _OFFSET_SPACE.sub(r"\1+\2", text)
    found = date_range(text, DEFAULT_TZ)
    if found is None:
        raise SearchError(f"{text!r} is not a FHIR date, dateTime or instant", expr)
    return DateQuery(prefix, found[0], found[1], text)


def _quantity(raw: str, expr: str) -> QuantityQuery:
    parts = split_escaped(raw, "|")
    if len(parts) not in (1, 3):
        raise SearchError(f"{raw!r}: a quantity is [prefix]number, or [prefix]number|system|code", expr)
    num = _number(unescape(parts[0]), expr)
    system = unescape(parts[1]) if len(parts) == 3 and parts[1] else None
    code = unescape(parts[2]) if len(parts) == 3 and parts[2] else None
    return QuantityQuery(num.prefix, num.value, num.low, num.high, system, code)


def _token(raw: str, modifier: str | None, expr: str) -> TokenQuery | ValueSetQuery:
    if modifier in ("in", "not-in"):
        url = unescape(raw).strip()
        if not url:
            raise SearchError(f":{modifier} takes the URL of a value set", expr)
        return ValueSetQuery(url)
    if modifier == "text":
        text = normalize(unescape(raw))
        if not text:
            raise SearchError(f"{raw!r}: :text needs some text", expr)
        return TokenQuery(None, text=text)
    parts = split_escaped(raw, "|")
    if modifier == "of-type":
        if len(parts) != 3 or not all(parts):
            raise SearchError(f"{raw!r}: :of-type takes type-system|type-code|value", expr)
        return TokenQuery(unescape(parts[2]), type_system=unescape(parts[0]), type_code=unescape(parts[1]))
    if len(parts) == 1:
        if modifier in ("below", "above"):
            raise SearchError(
                f"{raw!r}: :{modifier} takes system|code (the code system's hierarchy is used)", expr
            )
        return TokenQuery(unescape(parts[0]))
    if len(parts) != 2:
        raise SearchError(f"{raw!r}: a token is [system]|[code] (escape a '|' in a code as '\\|')", expr)
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise SearchError(f"{raw!r}: give a system, a code or both", expr)
    if modifier in ("below", "above") and not (system and code):
        raise SearchError(
            f"{raw!r}: :{modifier} takes system|code (the code system's hierarchy is used)", expr
        )
    return TokenQuery(code or None, system or None, True)


def _reference(
    raw: str, modifier: str | None, targets: tuple[str, ...], base_urls: tuple[str, ...], expr: str
) -> ReferenceQuery:
    text = unescape(raw)
    if "/" not in text and ":" not in text and "|" not in text and not text.startswith("#"):
        return ReferenceQuery(modifier, text)  # a bare id: of the modifier's type, else of any target type
    rtype, rid, version, url, base = parse_reference(text)
    if url is None or (base is not None and base.rstrip("/") in base_urls):
        if rtype is None:  # pragma: no cover - parse_reference types every relative reference it accepts
            raise SearchError(f"{text!r} is not a reference", expr)
        if modifier is not None and modifier != rtype:
            raise SearchError(f"{text!r} does not point at a {modifier}", expr)
        if targets and rtype not in targets:
            raise SearchError(f"{text!r}: this parameter references {', '.join(targets)}", expr)
        return ReferenceQuery(rtype, rid, version)
    if "://" not in text and not text.startswith(("urn:", "#")) and "|" not in text:
        raise SearchError(f"{text!r} is not a reference: write Type/id, an id, or an absolute URL", expr)
    return ReferenceQuery(None, None, version, url)


def _near(raw: str, expr: str) -> NearQuery:
    parts = [unescape(p) for p in split_escaped(raw, "|")]
    if not 2 <= len(parts) <= 4:
        raise SearchError(f"{raw!r}: near is latitude|longitude|[distance]|[units]", expr)
    try:
        lat, lon = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else float(DEFAULT_NEAR_KM)
    except ValueError as exc:
        raise SearchError(f"{raw!r}: latitude, longitude and distance must be numbers", expr) from exc
    unit = parts[3] if len(parts) > 3 and parts[3] else "km"
    factor = _DISTANCE_M.get(unit)
    if factor is None:
        raise SearchError(f"{unit!r}: near distances are in km, m or [mi_i]", expr)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not 0 <= distance < 1e6:
        raise SearchError(f"{raw!r}: coordinates or distance out of range", expr)
    return NearQuery(lat, lon, distance * factor)


def parse_value(
    param_type: str,
    raw: str,
    modifier: str | None,
    *,
    expr: str,
    targets: tuple[str, ...] = (),
    components: tuple[str, ...] = (),
    base_urls: tuple[str, ...] = (),
) -> ValueQuery:
    """Parse one alternative (already split on unescaped commas) of a parameter of ``param_type``.

    ``modifier`` is the validated modifier (a resource type for a typed reference); ``expr`` names the
    parameter in errors; ``components`` are the component types of a composite parameter.
    """
    if param_type == "token":
        return _token(raw, modifier, expr)
    if param_type == "string":
        text = unescape(raw)
        return StringQuery(text, normalize(text))
    if param_type == "date":
        return _date(unescape(raw), expr)
    if param_type == "number":
        return _number(unescape(raw), expr)
    if param_type == "quantity":
        return _quantity(raw, expr)
    if param_type == "reference":
        if modifier == "identifier":
            token = _token(raw, None, expr)
            assert isinstance(token, TokenQuery)
            return token
        return _reference(raw, modifier, targets, base_urls, expr)
    if param_type == "uri":
        return UriQuery(unescape(raw))
    if param_type == "composite":
        parts = split_escaped(raw, "$")
        if len(parts) != len(components):
            raise SearchError(
                f"{raw!r}: this composite has {len(components)} components separated by '$'", expr
            )
        return CompositeQuery(
            tuple(parse_value(t, p, None, expr=expr) for t, p in zip(components, parts, strict=True))
        )
    if param_type == "special":
        return _near(raw, expr)
    raise SearchError(f"parameters of type {param_type} cannot be searched", expr, code="not-supported")
