"""Text normalisation for search and matching: lower case, diacritics folded, whitespace collapsed.

Spec: https://hl7.org/fhir/R4/search.html#string ("case- and accent-insensitive" string matching is left to
the server; this is how Sen Health does it).

``normalize("  Nguyễn Thị  Đào ")`` is ``"nguyen thi dao"``. Vietnamese letters carry up to two marks (a
vowel quality mark and a tone mark: ``ệ`` = e + circumflex + dot below); both are removed, and ``đ`` / ``Đ``,
which are separate letters rather than ``d`` plus a mark, are folded to ``d`` explicitly. Other scripts are
folded the same way (Unicode canonical decomposition, combining marks dropped), so ``Müller`` matches
``muller``.

Written by hand because it is a dozen lines: a translation table built once at import covers every
precomposed Latin letter (Vietnamese included) in one ``str.translate`` pass; text still holding
non-ASCII characters after that goes through NFD decomposition. Results are cached, since the same names,
cities and code displays recur across resources.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["fold_diacritics", "normalize"]


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc", "Me")


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Latin-1 Supplement, Latin Extended-A/B, IPA, combining marks, Latin Extended Additional (Vietnamese).
    for cp in (*range(0x00C0, 0x0250), *range(0x0300, 0x0370), *range(0x1E00, 0x1F00)):
        ch = chr(cp)
        if _is_mark(ch):
            table[cp] = None
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not _is_mark(c))
        if base != ch:
            table[cp] = base
    for ch, repl in (("đ", "d"), ("Đ", "D"), ("ð", "d"), ("Ð", "D"), ("ø", "o"), ("Ø", "O"), ("ß", "ss")):
        table[ord(ch)] = repl
    # Non-breaking and other exotic spaces become plain spaces, so that split() collapses them.
    for cp in (0x00A0, 0x2007, 0x202F, 0xFEFF):
        table[cp] = " "
    return table


_TABLE = _build_table()


def fold_diacritics(text: str) -> str:
    """Remove diacritics (and fold ``đ`` to ``d``) without changing case or spacing."""
    folded = text.translate(_TABLE)
    if folded.isascii():
        return folded
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not _is_mark(c))


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """The search form of a string: lower case, diacritics folded, whitespace collapsed and trimmed."""
    if text.isascii():
        return " ".join(text.lower().split())
    return " ".join(fold_diacritics(text.lower()).split())
