"""Vietnamese person identifiers: personal ID (CCCD), old ID card (CMND), insurance card (BHYT), passport.

Pure functions: parse, validate, normalise, and check a personal ID against what a Patient says.

- Personal ID (CCCD, số định danh cá nhân), 12 digits (Decree 137/2015/NĐ-CP Art. 7, Circular
  07/2016/TT-BCA): digits 1–3 the province where the birth was registered (old 63-province table,
  ``data/cccd_provinces.json``), digit 4 century and sex (1900s male 0 / female 1, 2000s 2 / 3,
  2100s 4 / 5), digits 5–6 the last two digits of the birth year, digits 7–12 a serial. No check digit,
  so a typo is only caught when it breaks the structure or contradicts sex or birth year. Numbers can
  be cancelled and re-issued: a match on it is strong evidence, never a UNIQUE constraint.
- Old identity card (CMND, chứng minh nhân dân), 9 digits, no structure worth checking.
- Health-insurance card (thẻ BHYT), 15 characters (Decision 1351/QĐ-BHXH): 2 letters of the
  beneficiary category (``data/bhyt_categories.json``), 1 digit of the benefit level 1–5, 2 digits of the
  province of the issuing insurance office, 10 digits of the social-insurance number (mã số BHXH), which
  is the person's for life: matching compares that part, not the whole card.
- Passport: 1–2 letters and 7–8 digits for Vietnamese passports (``C1234567``); foreign passports are
  accepted as any 5–20 letters and digits.

Identifier systems are the ones the demo generator writes (https://senhealth.vn/fhir/sid/...).
FHIR Identifier: https://hl7.org/fhir/R4/datatypes.html#Identifier
Patient.gender (administrative gender): https://hl7.org/fhir/R4/valueset-administrative-gender.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import orjson

__all__ = [
    "BHYT_SYSTEM",
    "CCCD_SYSTEM",
    "CMND_SYSTEM",
    "PASSPORT_SYSTEM",
    "BhytCard",
    "BhytCategory",
    "Cccd",
    "bhyt_categories",
    "cccd_conflicts",
    "cccd_provinces",
    "clean_identifier",
    "is_cmnd",
    "is_passport",
    "normalize_phone",
    "parse_bhyt",
    "parse_cccd",
]

CCCD_SYSTEM = "https://senhealth.vn/fhir/sid/cccd"
BHYT_SYSTEM = "https://senhealth.vn/fhir/sid/bhyt"
CMND_SYSTEM = "https://senhealth.vn/fhir/sid/cmnd"
PASSPORT_SYSTEM = "https://senhealth.vn/fhir/sid/passport"

_SEPARATORS = re.compile(r"[\s.\-/]+")
_VN_PASSPORT = re.compile(r"^[A-Z]{1,2}\d{7,8}$")
_ANY_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")


@cache
def _data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(resources.files(__package__).joinpath("data", name).read_bytes())
    return loaded


def cccd_provinces() -> dict[str, str]:
    """3-digit personal-ID province code → old province name (63 entries)."""
    provinces: dict[str, str] = _data("cccd_provinces.json")["provinces"]
    return provinces


@dataclass(frozen=True, slots=True)
class BhytCategory:
    code: str
    level: int  # the typical benefit level; the card's own digit wins
    label: str
    payer: str  # "employer" | "social-insurance" | "state-budget" | "state-support" | "household"


@cache
def bhyt_categories() -> dict[str, BhytCategory]:
    """Beneficiary category code → category, from ``data/bhyt_categories.json``."""
    raw = _data("bhyt_categories.json")["categories"]
    return {code: BhytCategory(code, v["level"], v["label"], v["payer"]) for code, v in raw.items()}


def clean_identifier(value: str) -> str:
    """Upper case, spaces, dots, dashes and slashes removed: ``"001 190-012345"`` → ``"001190012345"``."""
    return _SEPARATORS.sub("", value).upper()


@dataclass(frozen=True, slots=True)
class Cccd:
    value: str
    province: str  # 3-digit code of the old province where the birth was registered
    sex: str  # "male" | "female"
    birth_year: int
    serial: str


def parse_cccd(value: str) -> Cccd | None:
    """The parts of a 12-digit personal ID; None unless 12 digits, a known province, a century digit 0–5."""
    v = clean_identifier(value)
    if len(v) != 12 or not v.isdigit() or v[3] > "5" or v[:3] not in cccd_provinces():
        return None
    digit = int(v[3])
    century = 1900 + 100 * (digit // 2)
    return Cccd(v, v[:3], "female" if digit % 2 else "male", century + int(v[4:6]), v[6:])


def cccd_conflicts(value: str, gender: str | None, birth: date | int | None) -> list[str]:
    """Why a personal ID cannot be this person's: empty when it fits (unknown sex or birth year fit).

    ``gender`` is a FHIR administrative gender (only ``male`` / ``female`` are checked); ``birth`` a date
    or a year.
    """
    parsed = parse_cccd(value)
    if parsed is None:
        return ["personal ID is not 12 digits with a known province and century-sex digit"]
    reasons = []
    if gender in ("male", "female") and gender != parsed.sex:
        reasons.append(f"personal ID says {parsed.sex}, record says {gender}")
    year = birth.year if isinstance(birth, date) else birth
    if year is not None and year != parsed.birth_year:
        reasons.append(f"personal ID says born {parsed.birth_year}, record says {year}")
    return reasons


def is_cmnd(value: str) -> bool:
    """An old 9-digit identity card number (CMND)."""
    v = clean_identifier(value)
    return len(v) == 9 and v.isdigit()


def is_passport(value: str, *, vietnamese: bool = False) -> bool:
    """A passport number: Vietnamese (``C1234567``) when ``vietnamese``, else any 5–20 letters/digits."""
    v = clean_identifier(value)
    return bool((_VN_PASSPORT if vietnamese else _ANY_PASSPORT).match(v))


@dataclass(frozen=True, slots=True)
class BhytCard:
    value: str
    category: str
    level: int
    province: str  # 2 digits, the issuing insurance office's province
    social_insurance_number: str  # 10 digits, lifelong: the part to match on


def parse_bhyt(value: str) -> BhytCard | None:
    """The parts of a 15-character insurance card number; None unless category, level 1–5 and digits fit."""
    v = clean_identifier(value)
    if len(v) != 15 or v[:2] not in bhyt_categories() or v[2] not in "12345" or not v[3:].isdigit():
        return None
    return BhytCard(v, v[:2], int(v[2]), v[3:5], v[5:])


def normalize_phone(value: str) -> str | None:
    """A Vietnamese phone number as 10 national digits (``0912345678``); None when it is not one.

    Accepts ``+84 912 345 678``, ``84912345678``, ``0912.345.678``.
    """
    digits = "".join(c for c in value if c.isdigit())
    if digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    elif len(digits) == 9 and not digits.startswith("0"):
        digits = "0" + digits
    if len(digits) != 10 or not digits.startswith("0"):
        return None
    return digits
