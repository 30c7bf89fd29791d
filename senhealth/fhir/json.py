"""FHIR JSON parsing and serialising that keeps the exact text of decimals.

Spec: https://hl7.org/fhir/R4/json.html (JSON representation) and
https://hl7.org/fhir/R4/datatypes.html#decimal ("the precision of the decimal value has significance:
0.010 is regarded as different to 0.01, and the original precision should be preserved").

:func:`parse` reads a body with orjson (fast). A JSON number goes through a binary float there, which
changes the text of some numbers: ``1.50`` would come back as ``1.5``, ``1e2`` as ``100.0``,
``0.1234567890123456789`` would lose digits, and an integer beyond 64 bits would become a float. When
the raw bytes hold such a number, the body is parsed again with ``json.loads(parse_float=Decimal)``:
every non-integer number is then a plain :class:`~decimal.Decimal` (the validator and the search
extractor test ``type(v) is Decimal``, so no subclass), which keeps the number's digits and exponent,
and integers are exact Python ints (beyond 64 bits, a ``Decimal``). The check is one regular expression over the
bytes (run backwards, from where numbers end); it is conservative (a string that merely looks like such a
number also triggers the slower, still exact, path).

:func:`dumps` writes Decimals with their exact text (``orjson.Fragment(str(d))``), so
``dumps(parse(b'{"v":1.50}')) == b'{"v":1.50}'``. A number in exponent notation keeps its digits and
exponent (its precision) and is written with a lower-case ``e`` and no ``+``: ``1e2`` and ``1.5e-7``
come back as written, ``1E+2`` comes back as ``1e2``.

Duplicate object keys are not rejected: RFC 8259 §4 leaves them to the parser, and both parsers keep the
last value (as PostgreSQL's ``jsonb`` does). Rejecting them would cost a Python-level hook per object on
every write; the validator sees the parsed result.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Final

import orjson

__all__ = [
    "ENVELOPE_HEADROOM",
    "MAX_DEPTH",
    "JSONDecodeError",
    "NestedTooDeeply",
    "dumps",
    "dumps_checked",
    "dumps_checked_bytes",
    "dumps_text",
    "needs_exact",
    "parse",
]

JSONDecodeError = json.JSONDecodeError  # orjson.JSONDecodeError is a subclass of it

# A JSON number (after ':', '[' or ',' and optional whitespace, before ',', '}' or ']') whose text a
# float would not give back:
# - a fraction ending in zero, other than a lone ".0" (1.50, 1.00, 0.10; "1.0" round-trips);
# - an exponent (1e2, 1.5E-7): orjson writes them back in its own shortest form;
# - 16 or more digits (beyond a double's 15-17 significant digits; ints beyond 64 bits);
# - four or more zeros after the point (0.000001: a float is written back as 1e-6).
_RISKY = re.compile(
    rb"[:\[,]\s*-?(?:"
    rb"\d+\.(?:\d*[1-9]0+|00+)"
    rb"|\d+\.0000\d*"
    rb"|\d+(?:\.\d+)?[eE][+-]?\d+"
    rb"|(?=[\d.]{17})\d+(?:\.\d+)?"
    rb")\s*[,}\]]"
)


# The same test, read backwards: :data:`_RISKY` over the reversed bytes (each alternative reversed). A
# forward search starts at every ':' and ',' of the body, digits of times in strings included (most of
# them), and costs more than orjson's whole parse; backwards, a match starts where a number ends, at a
# ',', '}' or ']' followed by a digit or a space, which literal scans find at memchr speed (3 µs instead
# of 11 for a 1 kB resource). Both give the same answer for every input (checked on random bodies).
_RISKY_REVERSED = re.compile(
    rb"[,}\]]\s*(?:"
    rb"(?:0+[1-9]\d*|00+)\.\d+"
    rb"|\d*0000\.\d+"
    rb"|\d+[+-]?[eE](?:\d+\.)?\d+"
    rb"|(?=[\d.]{17})(?:\d+\.)?\d+"
    rb")-?\s*[:\[,]"
)
_NUMBER_ENDS = tuple(re.compile(re.escape(end) + rb"[\d\s]") for end in (b",", b"}", b"]"))


def needs_exact(raw: bytes) -> bool:
    """Whether ``raw`` holds a number that a float would change (see the module docstring): whether
    :data:`_RISKY` matches, found backwards."""
    backwards = raw[::-1]
    risky = _RISKY_REVERSED.match
    for end in _NUMBER_ENDS:
        found = end.search(backwards)
        while found is not None:
            at = found.start()
            if risky(backwards, at) is not None:
                return True
            found = end.search(backwards, at + 1)
    return False


def _parse_int(text: str) -> int | Decimal:
    # Beyond 64 bits orjson cannot write an int back: keep such a number as a Decimal.
    return int(text) if len(text) < 19 else Decimal(text)


def parse(raw: bytes | str) -> Any:
    """Parse FHIR JSON, keeping every decimal's exact text (as :class:`Decimal` where a float would not).

    Raises :class:`JSONDecodeError` (a ``ValueError``) for malformed JSON.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if needs_exact(data):
        return json.loads(data, parse_float=Decimal, parse_int=_parse_int)
    return orjson.loads(data)


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise TypeError(f"not a JSON number: {value}")
    text = str(value)
    if "E" in text:  # Python writes 1E+2; JSON bodies usually 1e2: same digits, same exponent
        text = text.replace("E+", "e").replace("E", "e")
    return text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(_decimal_text(value))
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def dumps(resource: Any, *, sort_keys: bool = False) -> bytes:
    """Serialise to compact JSON bytes; Decimals keep their exact text (``1.50``, ``1E+2``)."""
    return orjson.dumps(resource, default=_default, option=orjson.OPT_SORT_KEYS if sort_keys else 0)


def dumps_text(resource: Any) -> str:
    """:func:`dumps` as a ``str`` (for a database parameter or a COPY row)."""
    return orjson.dumps(resource, default=_default).decode()


#: Levels of nesting kept free when a resource is stored, for the envelopes it is later answered in
#: (``Bundle.entry[].resource``, ``Parameters.parameter[].resource``, a Bundle in a Bundle...).
ENVELOPE_HEADROOM: Final = 16
#: orjson writes at most 255 levels of nesting; a stored resource may use what the headroom leaves.
MAX_DEPTH: Final = 255 - ENVELOPE_HEADROOM
assert ENVELOPE_HEADROOM == 16  # dumps_checked_bytes writes the 16 levels out


class NestedTooDeeply(ValueError):
    """A resource nested deeper than :data:`MAX_DEPTH` JSON levels (it could not be answered)."""


def dumps_checked(resource: Any) -> tuple[str, bool]:
    """:func:`dumps_text`, and whether a Decimal was written in exponent notation (``1e2``), which
    PostgreSQL's ``jsonb`` would rewrite (as ``100``).

    Raises :class:`NestedTooDeeply` beyond :data:`MAX_DEPTH` levels: the resource is written inside
    :data:`ENVELOPE_HEADROOM` list levels (sliced off again), so orjson's own depth limit checks the
    depth at C speed, with room left for the Bundles it will be answered in.
    """
    data, exponent = dumps_checked_bytes(resource)
    return data.decode(), exponent


def dumps_checked_bytes(resource: Any) -> tuple[bytes, bool]:
    """:func:`dumps_checked` as UTF-8 bytes (what orjson writes: no decoding, for a COPY stream)."""
    exponent = False

    def default(value: Any) -> Any:
        nonlocal exponent
        if isinstance(value, Decimal):
            text = _decimal_text(value)
            if "e" in text:
                exponent = True
            return orjson.Fragment(text)
        raise TypeError(f"cannot serialise {type(value).__name__} as JSON")

    # ENVELOPE_HEADROOM (16) levels, written out: one expression instead of a loop
    wrapped = [[[[[[[[[[[[[[[[resource]]]]]]]]]]]]]]]]
    try:
        data = orjson.dumps(wrapped, default=default)
    except orjson.JSONEncodeError as e:
        if "ecursion" in str(e):
            raise NestedTooDeeply(
                f"the resource is nested too deeply: at most {MAX_DEPTH} levels of JSON objects and arrays"
            ) from None
        raise
    return data[ENVELOPE_HEADROOM:-ENVELOPE_HEADROOM], exponent
