"""Lexer: FHIRPath text to tokens.

Spec: http://hl7.org/fhirpath/N1/ section 3 (literals: 3.1 Boolean, String, Integer, Decimal, Date,
DateTime, Time, Quantity), the comment rules of section 3.3 and the lexer rules of Appendix A (grammar):
identifiers, delimited identifiers in back-ticks, ``$this``/``$index``/``$total``, ``%`` external
constants, single-quoted strings with escapes ``\\' \\" \\` \\\\ \\/ \\f \\n \\r \\t \\uXXXX``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .errors import FHIRPathSyntaxError

# Token kinds.
NUMBER: Final = "NUMBER"
STRING: Final = "STRING"
DATE: Final = "DATE"
DATETIME: Final = "DATETIME"
TIME: Final = "TIME"
IDENT: Final = "IDENT"  # plain identifier or keyword
DIDENT: Final = "DIDENT"  # `delimited` identifier: never a keyword
SPECIAL: Final = "SPECIAL"  # $this $index $total
EXTERNAL: Final = "EXTERNAL"  # %name, %`name`, %'name'
OP: Final = "OP"
EOF: Final = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str  # the identifier name, operator, literal source or decoded string
    pos: int


_DATE = r"\d{4}(?:-\d{2}(?:-\d{2})?)?"
_TIME = r"\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_TZ = r"(?:Z|[+-]\d{2}:\d{2})"
_DATETIME_RE = re.compile(rf"@({_DATE})T(?:({_TIME})({_TZ})?)?")
_DATE_RE = re.compile(rf"@({_DATE})")
_TIME_RE = re.compile(rf"@T({_TIME})({_TZ})?")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS2: Final = ("<=", ">=", "!=", "!~")
_OPS1: Final = frozenset("+-*/&|=~<>()[]{},.")

_ESCAPES: Final = {
    "'": "'",
    '"': '"',
    "`": "`",
    "\\": "\\",
    "/": "/",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _read_quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """Decode a quoted string or delimited identifier starting at ``start`` (the opening quote).

    Returns the decoded text and the offset just past the closing quote.
    """
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= n:
                break
            e = text[i + 1]
            if e == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise FHIRPathSyntaxError("invalid \\u escape", i)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    what = "string" if quote == "'" else "delimited identifier"
    raise FHIRPathSyntaxError(f"unterminated {what}", start)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; the list always ends with an EOF token."""
    tokens: list[Token] = []
    append = tokens.append
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\f":
            i += 1
            continue
        if c == "/" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "/":
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
                continue
            if nxt == "*":
                j = text.find("*/", i + 2)
                if j < 0:
                    raise FHIRPathSyntaxError("unterminated comment", i)
                i = j + 2
                continue
        if c.isdigit():
            m = _NUMBER_RE.match(text, i)
            assert m is not None
            append(Token(NUMBER, m.group(), i))
            i = m.end()
            continue
        if c.isalpha() or c == "_":
            m = _IDENT_RE.match(text, i)
            assert m is not None
            append(Token(IDENT, m.group(), i))
            i = m.end()
            continue
        if c == "'":
            s, j = _read_quoted(text, i, "'")
            append(Token(STRING, s, i))
            i = j
            continue
        if c == "`":
            s, j = _read_quoted(text, i, "`")
            append(Token(DIDENT, s, i))
            i = j
            continue
        if c == "@":
            i = _lex_temporal(text, i, append)
            continue
        if c == "$":
            m = _IDENT_RE.match(text, i + 1)
            if m is None or m.group() not in ("this", "index", "total"):
                raise FHIRPathSyntaxError("expected $this, $index or $total", i)
            append(Token(SPECIAL, m.group(), i))
            i = m.end()
            continue
        if c == "%":
            if i + 1 < n and text[i + 1] in "`'":
                s, j = _read_quoted(text, i + 1, text[i + 1])
            else:
                m = _IDENT_RE.match(text, i + 1)
                if m is None:
                    raise FHIRPathSyntaxError("expected a name after %", i)
                s, j = m.group(), m.end()
            append(Token(EXTERNAL, s, i))
            i = j
            continue
        two = text[i : i + 2]
        if two in _OPS2:
            append(Token(OP, two, i))
            i += 2
            continue
        if c in _OPS1:
            append(Token(OP, c, i))
            i += 1
            continue
        raise FHIRPathSyntaxError(f"unexpected character {c!r}", i)
    append(Token(EOF, "", n))
    return tokens


def _lex_temporal(text: str, i: int, add: Callable[[Token], None]) -> int:
    if text.startswith("@T", i):
        m = _TIME_RE.match(text, i)
        if m is None:
            raise FHIRPathSyntaxError("invalid time literal", i)
        if m.group(2):
            raise FHIRPathSyntaxError("a time literal cannot have a time zone", i)
        add(Token(TIME, m.group(1), i))
        return m.end()
    m = _DATETIME_RE.match(text, i)
    if m is not None:
        add(Token(DATETIME, m.group()[1:], i))
        return m.end()
    m = _DATE_RE.match(text, i)
    if m is None:
        raise FHIRPathSyntaxError("invalid date literal", i)
    add(Token(DATE, m.group(1), i))
    return m.end()
