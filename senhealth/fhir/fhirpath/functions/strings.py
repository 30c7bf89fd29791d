"""String manipulation functions.

Spec: http://hl7.org/fhirpath/N1/ section 5.6 "String Manipulation": ``indexOf substring startsWith
endsWith contains upper lower replace matches replaceMatches length toChars``; from FHIRPath 2.1:
``lastIndexOf matchesFull trim split join encode decode escape unescape``. Each needs a single String
input (a non-string input is an error; an empty input or argument gives empty). Regular expressions
use Python's ``re`` with DOTALL (the spec's single-line mode).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from functools import lru_cache
from typing import Any

from ..context import Context
from ..errors import FHIRPathEvaluationError
from ..operators import singleton
from ..values import Collection, system_value, type_of
from .registry import function


def _input(focus: Collection, name: str) -> str | None:
    v = singleton(focus, f"input of {name}()")
    if v is None:
        return None
    if v.__class__ is not str:
        raise FHIRPathEvaluationError(f"{name}() needs a String input, not {'.'.join(type_of(v))}")
    return str(v)


def _arg(arg: Collection, name: str) -> str | None:
    v = singleton(arg, f"argument of {name}()")
    if v is None:
        return None
    if v.__class__ is not str:
        raise FHIRPathEvaluationError(f"the argument of {name}() must be a String")
    return str(v)


def _int_arg(arg: Collection, name: str) -> int | None:
    v = singleton(arg, f"argument of {name}()")
    if v is None:
        return None
    if v.__class__ is not int:
        raise FHIRPathEvaluationError(f"the argument of {name}() must be an Integer")
    return int(v)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as e:
        raise FHIRPathEvaluationError(f"invalid regular expression {pattern!r}: {e}") from None


@function("indexOf", 1)
def index_of(ctx: Context, focus: Collection, sub: Collection) -> Collection:
    s, t = _input(focus, "indexOf"), _arg(sub, "indexOf")
    return [] if s is None or t is None else [s.find(t)]


@function("lastIndexOf", 1)
def last_index_of(ctx: Context, focus: Collection, sub: Collection) -> Collection:
    s, t = _input(focus, "lastIndexOf"), _arg(sub, "lastIndexOf")
    return [] if s is None or t is None else [s.rfind(t)]


@function("substring", 1, 2)
def substring(
    ctx: Context, focus: Collection, start: Collection, length: Collection | None = None
) -> Collection:
    s = _input(focus, "substring")
    i = _int_arg(start, "substring")
    if s is None or i is None or i < 0 or i >= len(s):
        return []
    if length is None:
        return [s[i:]]
    n = _int_arg(length, "substring")
    if n is None:
        return [s[i:]]
    return [s[i : i + max(n, 0)]]


def _test(name: str, test: Any) -> None:
    def impl(ctx: Context, focus: Collection, arg: Collection) -> Collection:
        s, t = _input(focus, name), _arg(arg, name)
        return [] if s is None or t is None else [test(s, t)]

    function(name, 1)(impl)


_test("startsWith", str.startswith)
_test("endsWith", str.endswith)
_test("contains", lambda s, t: t in s)
_test("matches", lambda s, t: _regex(t).search(s) is not None)
_test("matchesFull", lambda s, t: _regex(t).fullmatch(s) is not None)


@function("upper")
def upper(ctx: Context, focus: Collection) -> Collection:
    s = _input(focus, "upper")
    return [] if s is None else [s.upper()]


@function("lower")
def lower(ctx: Context, focus: Collection) -> Collection:
    s = _input(focus, "lower")
    return [] if s is None else [s.lower()]


@function("replace", 2)
def replace(ctx: Context, focus: Collection, pattern: Collection, substitution: Collection) -> Collection:
    s, p, r = _input(focus, "replace"), _arg(pattern, "replace"), _arg(substitution, "replace")
    if s is None or p is None or r is None:
        return []
    if p == "":
        return [r + r.join(s) + r]
    return [s.replace(p, r)]


@function("replaceMatches", 2)
def replace_matches(
    ctx: Context, focus: Collection, regex: Collection, substitution: Collection
) -> Collection:
    s, p, r = (
        _input(focus, "replaceMatches"),
        _arg(regex, "replaceMatches"),
        _arg(substitution, "replaceMatches"),
    )
    if s is None or p is None or r is None:
        return []
    if p == "":
        return [s]
    # FHIRPath substitutions refer to groups as $1; Python as \1.
    repl = re.sub(r"\$(\d+)", r"\\\1", r.replace("\\", "\\\\"))
    return [_regex(p).sub(repl, s)]


@function("length")
def length(ctx: Context, focus: Collection) -> Collection:
    s = _input(focus, "length")
    return [] if s is None else [len(s)]


@function("toChars")
def to_chars(ctx: Context, focus: Collection) -> Collection:
    s = _input(focus, "toChars")
    return [] if s is None else list(s)


@function("trim")
def trim(ctx: Context, focus: Collection) -> Collection:
    s = _input(focus, "trim")
    return [] if s is None else [s.strip()]


@function("split", 1)
def split(ctx: Context, focus: Collection, sep: Collection) -> Collection:
    s, t = _input(focus, "split"), _arg(sep, "split")
    if s is None or t is None:
        return []
    return list(s.split(t)) if t else list(s)


@function("join", 0, 1)
def join(ctx: Context, focus: Collection, sep: Collection | None = None) -> Collection:
    t = _arg(sep, "join") if sep is not None else ""
    parts: list[str] = []
    for x in focus:
        v = system_value(x)
        if v.__class__ is not str:
            raise FHIRPathEvaluationError("join() needs String items")
        parts.append(v)
    return [(t or "").join(parts)] if focus else []


def _b64_decode(s: str, alt: bytes | None) -> str:
    raw = base64.b64decode(s + "=" * (-len(s) % 4), altchars=alt, validate=False)
    return raw.decode("utf-8")


_ENCODERS: dict[str, Any] = {
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "urlbase64": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "hex": lambda s: s.encode().hex(),
}
_DECODERS: dict[str, Any] = {
    "base64": lambda s: _b64_decode(s, None),
    "urlbase64": lambda s: _b64_decode(s, b"-_"),
    "hex": lambda s: bytes.fromhex(s).decode("utf-8"),
}


def _codec(table: dict[str, Any], name: str, focus: Collection, fmt: Collection) -> Collection:
    s, f = _input(focus, name), _arg(fmt, name)
    if s is None or f is None:
        return []
    conv = table.get(f)
    if conv is None:
        raise FHIRPathEvaluationError(f"{name}() does not know the format {f!r}")
    try:
        return [conv(s)]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return []


@function("encode", 1)
def encode(ctx: Context, focus: Collection, fmt: Collection) -> Collection:
    return _codec(_ENCODERS, "encode", focus, fmt)


@function("decode", 1)
def decode(ctx: Context, focus: Collection, fmt: Collection) -> Collection:
    return _codec(_DECODERS, "decode", focus, fmt)


def _json_escape(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


_JSON_ESCAPE_RE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(s: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        return chr(int(e[1:], 16)) if e[0] == "u" else _JSON_ESCAPES[e]

    return _JSON_ESCAPE_RE.sub(one, s)


_ESCAPERS: dict[str, Any] = {
    "html": lambda s: html.escape(s, quote=True).replace("&#x27;", "&#39;"),
    "json": _json_escape,
}
_UNESCAPERS: dict[str, Any] = {"html": html.unescape, "json": _json_unescape}


@function("escape", 1)
def escape(ctx: Context, focus: Collection, fmt: Collection) -> Collection:
    return _codec(_ESCAPERS, "escape", focus, fmt)


@function("unescape", 1)
def unescape(ctx: Context, focus: Collection, fmt: Collection) -> Collection:
    return _codec(_UNESCAPERS, "unescape", focus, fmt)
