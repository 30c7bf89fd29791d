"""The ``filter`` of ``$expand``: text typed by a user, matched without Vietnamese diacritics.

Spec: https://hl7.org/fhir/R4/valueset-operation-expand.html (``filter``: "a text filter that is
applied to restrict the codes that are returned ... the server can document the way this parameter
works"). Sen Health's way: the filter and each code's displays (every language) and code are
normalised by :func:`senhealth.core.text.normalize` (lower case, diacritics folded, ``đ`` → ``d``),
split into words, and a code matches when every word of the filter begins a word of one display or
begins the code. ``"sot xuat huyet"`` finds "Sốt xuất huyết Dengue"; ``"a97"`` finds ``A97.0``;
``"tang huyet"`` finds "Bệnh lý tăng huyết áp"; word order does not matter.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from senhealth.core.text import normalize
from senhealth.fhir.terminology.valueset_expand import Expansion, Item

__all__ = ["filter_items", "matcher"]

_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def matcher(text: str) -> Callable[[Item], bool] | None:
    """A test of items against the filter ``text``; None when the filter has no word (matches all)."""
    wanted = _words(text)
    if not wanted:
        return None
    code_prefix = normalize(text).replace(" ", "")

    def test(item: Item) -> bool:
        if item.code.lower().startswith(code_prefix):
            return True
        haystacks = [item.display, *(v for _, v in item.designations)]
        for hay in haystacks:
            words = _words(hay)
            if all(any(w.startswith(t) for w in words) for t in wanted):
                return True
        return False

    return test


def _index(expansion: Expansion) -> tuple[list[str], list[list[str]]]:
    """The codes in lower case, and the displays by slot (the display, then each other language): slot
    ``k`` holds, for item ``i``, its ``k``-th display as ``" word word ..."`` (normalised words, a space
    before each, so that ``" " + prefix in text`` is a word-prefix test done in C), ``""`` if none.
    Made once per expansion: the service caches expansions, so the whole ICD-10 is normalised once,
    not at every keystroke of an autocomplete box."""
    if expansion.words is None:
        codes: list[str] = []
        slots: list[list[str]] = []
        for i, item in enumerate(expansion.items):
            codes.append(item.code.lower())
            displays = [d for d in dict.fromkeys((item.display, *(v for _, v in item.designations))) if d]
            for k, d in enumerate(displays):
                if k == len(slots):
                    slots.append([""] * len(expansion.items))
                slots[k][i] = " " + " ".join(_words(d))
        expansion.words = (codes, slots)
    return expansion.words


def filter_items(expansion: Expansion, text: str) -> list[Item]:
    """The items of ``expansion`` that match the filter ``text`` (all of them for an empty filter), in
    the expansion's order: a code beginning with the text, or a display holding every word of it as
    the beginning of one of its words."""
    wanted = [" " + w for w in _words(text)]
    if not wanted:
        return list(expansion.items)
    codes, slots = _index(expansion)
    prefix = normalize(text).replace(" ", "")
    matched = {i for i, code in enumerate(codes) if code.startswith(prefix)}
    for slot in slots:
        first, *rest = wanted
        hits = [i for i, d in enumerate(slot) if first in d]
        for t in rest:
            hits = [i for i in hits if t in slot[i]]
        matched.update(hits)
    return [expansion.items[i] for i in sorted(matched)]
