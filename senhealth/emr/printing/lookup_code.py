"""Look-up codes of printed copies: what a reader types (or the QR code carries) to reach the
verification page of one printed copy.

Crockford's base32 (https://www.crockford.com/base32.html): digits and upper-case letters without I, L,
O and U, so that a code read off paper is hard to mistype; input is normalised the way that page
describes (case-insensitive, ``I``/``L`` read as ``1``, ``O`` as ``0``, hyphens and spaces ignored).
Twelve characters carry 60 random bits (``secrets``): a public page keyed by them cannot be enumerated.
Shown in groups of four: ``7KQ2-M9XD-4TAR``.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

__all__ = ["ALPHABET", "LENGTH", "display_code", "new_code", "normalise_code"]

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH: Final = 12
_READ_AS: Final = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALID: Final = re.compile(rf"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    """A fresh random code (12 characters, no separators)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_code(text: str) -> str | None:
    """The code in ``text`` as stored, or ``None`` when it cannot be one."""
    cleaned = re.sub(r"[\s-]+", "", text or "").upper().translate(_READ_AS)
    return cleaned if _VALID.match(cleaned) else None


def display_code(code: str) -> str:
    """``7KQ2M9XD4TAR`` → ``7KQ2-M9XD-4TAR``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
