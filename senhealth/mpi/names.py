"""Vietnamese personal names for matching: normalisation, name order, spelling variants, comparison keys.

A Vietnamese name is family–middle–given ("Nguyễn Thị Thu Hà"); in FHIR it is a HumanName with
``family`` "Nguyễn" and ``given`` ["Thị", "Thu", "Hà"] (https://hl7.org/fhir/R4/datatypes.html#HumanName),
or only ``text``. :func:`split_name` turns either into (family, middle, given), handling the family name
repeated in ``given``, a missing ``family``, and Western order ("An Nguyen" → family Nguyen).

Two keys per name part:

- the **tone key** keeps every letter and mark but records each syllable's tone after it rather than on
  a vowel, so that old and new tone placement (Thuỷ/Thủy, Hoà/Hòa, Khoẻ/Khỏe) give the same key:
  "Thủy" → ``thuyr`` (Telex letters for the tones: s acute, f grave, r hook, x tilde, j dot below);
- the **fold key** drops all marks (``đ`` → ``d``, via :func:`senhealth.core.text.normalize`) and then
  folds the spelling variants of ``data/name_variants.json`` (final ``y``/``i`` after a consonant:
  Lý/Lí, Sỹ/Sĩ, Quý/Quí; never after ``u``: Huy ≠ Hui). Matching compares fold keys, so a record
  typed without diacritics still matches.

Regional family-name pairs (Hoàng/Huỳnh, Vũ/Võ) are not folded: one person keeps one spelling.
Unicode normalisation: https://unicode.org/reports/tr15/ (NFC, NFD).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import orjson

from senhealth.core.text import normalize

__all__ = ["NameKeys", "fold_key", "name_keys", "split_name", "tone_key"]

_TONES = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}


@cache
def _variants() -> dict[str, Any]:
    raw: dict[str, Any] = orjson.loads(
        resources.files(__package__).joinpath("data", "name_variants.json").read_bytes()
    )
    return raw


@cache
def _y_onsets() -> frozenset[str]:
    return frozenset(_variants()["y_i_onsets"])


@cache
def _family_names() -> frozenset[str]:
    return frozenset(_variants()["common_family_names"])


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _syllable_tone_key(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable)
    tone = ""
    kept = []
    for ch in decomposed:
        if ch in _TONES:
            tone = _TONES[ch]
        else:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)) + tone


@lru_cache(maxsize=65536)
def tone_key(text: str) -> str:
    """Lower case, NFC, spaces collapsed, each syllable's tone written after it: "Hoà Bình" → "hoaf binhf"."""
    return " ".join(_syllable_tone_key(s) for s in _clean(text).split())


def _fold_syllable(syllable: str) -> str:
    if len(syllable) >= 2 and syllable.endswith("y"):
        onset = syllable[:-1]
        if onset in _y_onsets():
            return onset + "i"
    return syllable


@lru_cache(maxsize=65536)
def fold_key(text: str) -> str:
    """No marks, lower case, spelling variants folded: "Nguyễn Văn Sỹ" → "nguyen van si"."""
    return " ".join(_fold_syllable(s) for s in normalize(text).split())


def _words(value: str | None) -> list[str]:
    return unicodedata.normalize("NFC", value or "").split()


def split_name(
    *, family: str | None = None, given: Sequence[str] = (), text: str | None = None
) -> tuple[str, tuple[str, ...], str]:
    """(family, middle names, given name) from a HumanName's parts, or from its ``text`` alone.

    Words keep their case and diacritics (NFC). With parts: the family name repeated as the first given
    word is dropped, and ``given`` "Thị Lan" (one string) is split into words. With text only: written
    family first, unless the last word is a common family name and the first is not (Western order).
    """
    fam = _words(family)
    rest = [w for g in given for w in _words(g)]
    if fam or rest:
        if fam and rest[: len(fam)] == fam and len(rest) > len(fam):
            rest = rest[len(fam) :]
        if not fam and len(rest) > 1:
            fam, rest = rest[:1], rest[1:]
    else:
        words = _words(text)
        if not words:
            return "", (), ""
        if (
            len(words) > 1
            and normalize(words[-1]) in _family_names()
            and normalize(words[0]) not in _family_names()
        ):
            words = [words[-1], *words[:-1]]
        fam, rest = words[:1], words[1:]
    if not rest:
        return " ".join(fam), (), ""
    return " ".join(fam), tuple(rest[:-1]), rest[-1]


@dataclass(frozen=True, slots=True)
class NameKeys:
    """Comparison keys of one person's name (fold keys; ``full_tone`` keeps diacritics)."""

    family: str
    middle: str
    given: str
    full: str
    full_tone: str


def name_keys(name: Mapping[str, Any] | str) -> NameKeys:
    """Keys of a FHIR HumanName (a dict with ``family`` / ``given`` / ``text``) or of a written name."""
    if isinstance(name, str):
        family, middle, given = split_name(text=name)
    else:
        family, middle, given = split_name(
            family=name.get("family"), given=name.get("given") or (), text=name.get("text")
        )
    words = " ".join(w for w in (family, *middle, given) if w)
    return NameKeys(
        family=fold_key(family),
        middle=fold_key(" ".join(middle)),
        given=fold_key(given),
        full=fold_key(words),
        full_tone=tone_key(words),
    )
