"""Personal ID, insurance card, passport and old ID parsing (senhealth.mpi.identifiers)."""

from __future__ import annotations

from datetime import date

import pytest

from senhealth.mpi.identifiers import (
    bhyt_categories,
    cccd_conflicts,
    cccd_provinces,
    is_cmnd,
    is_passport,
    normalize_phone,
    parse_bhyt,
    parse_cccd,
)


@pytest.mark.parametrize(
    ("value", "province", "sex", "year"),
    [
        ("001190012345", "001", "female", 1990),
        ("079085000001", "079", "male", 1985),
        ("027 205 123456", "027", "male", 2005),
        ("096312000000", "096", "female", 2012),
        ("001400000001", "001", "male", 2100),
    ],
)
def test_parse_cccd(value: str, province: str, sex: str, year: int) -> None:
    parsed = parse_cccd(value)
    assert parsed is not None
    assert (parsed.province, parsed.sex, parsed.birth_year) == (province, sex, year)
    assert len(parsed.value) == 12


@pytest.mark.parametrize(
    "value",
    ["", "00119001234", "0011900123456", "00119001234a", "003190012345", "001690012345", "100190012345"],
)
def test_invalid_cccd(value: str) -> None:
    assert parse_cccd(value) is None


@pytest.mark.parametrize(
    ("gender", "birth", "n_reasons"),
    [
        ("female", date(1990, 5, 1), 0),
        ("female", 1990, 0),
        (None, None, 0),
        ("unknown", 1990, 0),
        ("male", 1990, 1),
        ("female", 1991, 1),
        ("male", date(1991, 1, 1), 2),
    ],
)
def test_cccd_against_patient(gender: str | None, birth: date | int | None, n_reasons: int) -> None:
    assert len(cccd_conflicts("001190012345", gender, birth)) == n_reasons


def test_cccd_province_table() -> None:
    provinces = cccd_provinces()
    assert len(provinces) == 63
    assert provinces["001"] == "Hà Nội" and provinces["096"] == "Cà Mau" and provinces["079"] == "Hồ Chí Minh"


@pytest.mark.parametrize(
    ("value", "category", "level", "province", "number"),
    [
        ("GD4010123456789", "GD", 4, "01", "0123456789"),
        ("TE1 24 2400012345", "TE", 1, "24", "2400012345"),
        ("ht3790000000001", "HT", 3, "79", "0000000001"),
        ("QN5010000000001", "QN", 5, "01", "0000000001"),
    ],
)
def test_parse_bhyt(value: str, category: str, level: int, province: str, number: str) -> None:
    card = parse_bhyt(value)
    assert card is not None
    assert (card.category, card.level, card.province, card.social_insurance_number) == (
        category,
        level,
        province,
        number,
    )


@pytest.mark.parametrize(
    "value", ["", "GD401012345678", "ZZ4010123456789", "GD6010123456789", "GD40101234567X9"]
)
def test_invalid_bhyt(value: str) -> None:
    assert parse_bhyt(value) is None


def test_bhyt_categories_table() -> None:
    categories = bhyt_categories()
    assert 40 <= len(categories) <= 50
    assert {"DN", "HT", "HS", "GD", "TE", "QN"} <= set(categories)
    assert all(1 <= c.level <= 5 for c in categories.values())


@pytest.mark.parametrize(
    ("value", "cmnd", "passport", "vn_passport"),
    [
        ("012345678", True, True, False),
        ("C1234567", False, True, True),
        ("B12345678", False, True, True),
        ("X12", False, False, False),
    ],
)
def test_cmnd_and_passport(value: str, cmnd: bool, passport: bool, vn_passport: bool) -> None:
    assert is_cmnd(value) is cmnd
    assert is_passport(value) is passport
    assert is_passport(value, vietnamese=True) is vn_passport


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0912345678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("912345678", "0912345678"),
        ("12345", None),
        ("", None),
    ],
)
def test_normalize_phone(value: str, expected: str | None) -> None:
    assert normalize_phone(value) == expected
