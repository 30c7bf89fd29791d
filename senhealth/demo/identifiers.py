"""Vietnamese identifiers for synthetic people and facilities: CCCD, BHYT card, facility code, phone.

- Personal ID (CCCD, số định danh cá nhân), 12 digits (Decree 137/2015/NĐ-CP Art. 7, Circular
  07/2016/TT-BCA): digits 1–3 the province where the birth was registered (old 63-province table,
  :data:`senhealth.demo.geography.OLD_PROVINCES`); digit 4 century and sex (1900s male 0 / female 1,
  2000s 2 / 3, 2100s 4 / 5); digits 5–6 the last two digits of the birth year; digits 7–12 a serial.
  No check digit. The generator's serial is an affine bijection of the citizen's index, so numbers are
  unique within a run of up to a million citizens without keeping any state.
- Health-insurance card (thẻ BHYT), 15 characters (Decision 1351/QĐ-BHXH 2015): 2 letters of the
  beneficiary category, 1 digit of the benefit level (1–5), 2 digits of the province of the issuing
  insurance office, 10 digits of the social-insurance number (mã số BHXH). :data:`BHYT_CATEGORIES` keeps
  the common categories with their benefit level (same decision; the shares drawn are approximate).
- Facility code (mã cơ sở KCB, ``MA_CSKCB``), 5 characters: the 2-digit province code and a 3-digit
  sequence, as the insurance portal's codes are laid out.
- Mobile numbers: 10 digits with a current mobile prefix; random, so one may belong to a real
  subscriber: never dial them.

FHIR Identifier: https://hl7.org/fhir/R4/datatypes.html#Identifier
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

__all__ = [
    "BHYT_CATEGORIES",
    "BHYT_SYSTEM",
    "CCCD_SYSTEM",
    "FACILITY_SYSTEM",
    "LICENCE_SYSTEM",
    "BhytCategory",
    "CccdParts",
    "bhyt_number",
    "cccd",
    "facility_code",
    "mobile_number",
    "parse_cccd",
    "serial",
]

CCCD_SYSTEM = "https://senhealth.vn/fhir/sid/cccd"
BHYT_SYSTEM = "https://senhealth.vn/fhir/sid/bhyt"
FACILITY_SYSTEM = "https://senhealth.vn/fhir/sid/facility"
LICENCE_SYSTEM = "https://senhealth.vn/fhir/sid/practising-licence"

_CENTURY_DIGIT = {(19, "male"): 0, (19, "female"): 1, (20, "male"): 2, (20, "female"): 3, (21, "male"): 4}
_CENTURY_DIGIT[(21, "female")] = 5


@dataclass(frozen=True, slots=True)
class BhytCategory:
    code: str
    level: int
    label: str


BHYT_CATEGORIES: dict[str, BhytCategory] = {
    c.code: c
    for c in (
        BhytCategory("DN", 4, "Người lao động trong doanh nghiệp"),
        BhytCategory("HC", 4, "Cán bộ, công chức, viên chức"),
        BhytCategory("HX", 4, "Người lao động hợp tác xã"),
        BhytCategory("GD", 4, "Người tham gia theo hộ gia đình"),
        BhytCategory("HS", 4, "Học sinh"),
        BhytCategory("SV", 4, "Sinh viên"),
        BhytCategory("NO", 4, "Người lao động nghỉ việc hưởng chế độ ốm đau"),
        BhytCategory("TE", 1, "Trẻ em dưới 6 tuổi"),
        BhytCategory("CC", 1, "Người có công với cách mạng"),
        BhytCategory("HN", 2, "Người thuộc hộ gia đình nghèo"),
        BhytCategory("DT", 2, "Người dân tộc thiểu số vùng khó khăn"),
        BhytCategory("BT", 2, "Người hưởng trợ cấp bảo trợ xã hội"),
        BhytCategory("HT", 3, "Người hưởng lương hưu"),
        BhytCategory("CN", 3, "Người thuộc hộ gia đình cận nghèo"),
        BhytCategory("TC", 3, "Thân nhân người có công"),
    )
}
"""Common beneficiary categories of the health-insurance card with their benefit level."""


def serial(index: int, seed: int, modulus: int, salt: int) -> int:
    """An affine bijection of ``index`` modulo ``modulus`` (a power of ten): unique for index < modulus."""
    multiplier = (7_919 * 10_007 + 2 * salt + 20 * (seed % 99_991)) % modulus
    multiplier += 0 if multiplier % 2 else 1
    while multiplier % 5 == 0:
        multiplier += 2
    offset = (seed * 2_654_435_761 + salt * 40_503) % modulus
    return (multiplier * index + offset) % modulus


def cccd(birth_registration: str, sex: str, birth_date: date, serial_number: int) -> str:
    """A 12-digit personal ID: province (3 digits), century-and-sex, birth year (2), serial (6)."""
    digit = _CENTURY_DIGIT[(birth_date.year // 100, sex)]
    return f"{birth_registration}{digit}{birth_date.year % 100:02d}{serial_number % 1_000_000:06d}"


@dataclass(frozen=True, slots=True)
class CccdParts:
    province: str
    sex: str
    century: int  # 19 for the 1900s
    year: int  # the full birth year
    serial: str


def parse_cccd(value: str) -> CccdParts | None:
    """The parts of a 12-digit personal ID, or None when it is not 12 digits with a known century digit."""
    if len(value) != 12 or not value.isdigit() or int(value[3]) > 5:
        return None
    digit = int(value[3])
    century = 19 + digit // 2
    return CccdParts(
        province=value[:3],
        sex="female" if digit % 2 else "male",
        century=century,
        year=century * 100 + int(value[4:6]),
        serial=value[6:],
    )


def bhyt_number(category: str, province: str, social_insurance_number: int) -> str:
    """A 15-character insurance card number, e.g. ``GD4240012345678``."""
    level = BHYT_CATEGORIES[category].level
    return f"{category}{level}{province}{social_insurance_number % 10**10:010d}"


def facility_code(province: str, sequence: int) -> str:
    """A 5-character facility code: the 2-digit province code and a 3-digit sequence."""
    if not 0 < sequence < 1000:
        raise ValueError(f"facility sequence out of range: {sequence}")
    return f"{province}{sequence:03d}"


_MOBILE_PREFIXES = (
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "070",
    "076",
    "077",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
    "085",
    "086",
    "088",
    "089",
    "090",
    "091",
    "093",
    "094",
    "096",
    "097",
    "098",
)


def mobile_number(rng: random.Random) -> str:
    """A random 10-digit mobile number in the national format (``09xxxxxxxx``)."""
    return f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"
