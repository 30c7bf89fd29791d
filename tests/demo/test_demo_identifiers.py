"""Personal IDs, insurance cards and facility codes follow the Vietnamese formats and agree with the person."""

from __future__ import annotations

from datetime import date

import pytest
from province_summary import ProvinceSummary, age_on

from senhealth.demo.context import DEFAULT_AS_OF
from senhealth.demo.geography import MERGED_FROM, OLD_PROVINCES
from senhealth.demo.identifiers import (
    BHYT_CATEGORIES,
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    FACILITY_SYSTEM,
    bhyt_number,
    cccd,
    facility_code,
    parse_cccd,
    serial,
)

CENTURY_SEX = {(19, "male"): "0", (19, "female"): "1", (20, "male"): "2", (20, "female"): "3"}


def _identifier(patient: dict[str, object], system: str) -> str | None:
    for ident in patient["identifier"]:  # type: ignore[attr-defined]
        if ident["system"] == system:
            return str(ident["value"])
    return None


def test_cccd_layout() -> None:
    assert cccd("027", "female", date(1990, 3, 15), 12345) == "027190012345"
    assert cccd("001", "male", date(2004, 1, 1), 7) == "001204000007"
    parts = parse_cccd("079303123456")
    assert parts is not None
    assert (parts.province, parts.sex, parts.year) == ("079", "female", 2003)
    assert parse_cccd("12345") is None and parse_cccd("00119001234X") is None


def test_serial_is_a_bijection() -> None:
    values = {serial(i, 42, 10**6, salt=1) for i in range(20_000)}
    assert len(values) == 20_000


def test_every_cccd_agrees_with_the_person(province: ProvinceSummary) -> None:
    seen: set[str] = set()
    for patient in province.patients:
        value = _identifier(patient, CCCD_SYSTEM)
        assert value is not None and len(value) == 12 and value.isdigit(), value
        born = date.fromisoformat(patient["birthDate"])
        assert value[3] == CENTURY_SEX[(born.year // 100, patient["gender"])], (value, patient["birthDate"])
        assert value[4:6] == f"{born.year % 100:02d}"
        assert value[:3] in OLD_PROVINCES
        seen.add(value)
    assert len(seen) == len(province.patients), "personal IDs are unique within a run"
    local = sum(_identifier(p, CCCD_SYSTEM)[:3] in MERGED_FROM["24"] for p in province.patients)  # type: ignore[index]
    assert 0.85 < local / len(province.patients) < 0.95, "most births were registered in the province"


def test_every_insurance_card_is_well_formed(province: ProvinceSummary) -> None:
    cards = 0
    for patient in province.patients:
        value = _identifier(patient, BHYT_SYSTEM)
        if value is None:
            continue
        cards += 1
        assert len(value) == 15, value
        category = BHYT_CATEGORIES.get(value[:2])
        assert category is not None, value
        assert value[2] == str(category.level)
        assert value[3:5] == "24" and value[5:].isdigit()
        age = age_on(patient["birthDate"], DEFAULT_AS_OF)
        assert (value[:2] == "TE") == (age < 6), (value, age)
    assert 0.88 < cards / len(province.patients) < 0.97, "about 93 % are insured"


def test_bhyt_number_layout() -> None:
    assert bhyt_number("GD", "01", 123456789) == "GD4010123456789"
    with pytest.raises(KeyError):
        bhyt_number("XX", "01", 1)


def test_facility_codes(province: ProvinceSummary) -> None:
    codes = [
        ident["value"]
        for entry in province.network["entry"]
        if entry["resource"]["resourceType"] == "Organization"
        for ident in entry["resource"].get("identifier", [])
        if ident["system"] == FACILITY_SYSTEM
    ]
    assert len(codes) == 1 + 5 + 99  # provincial, regional, one station per commune of Bắc Ninh
    assert all(len(c) == 5 and c.isdigit() and c.startswith("24") for c in codes)
    assert len(set(codes)) == len(codes)
    assert facility_code("24", 1) == "24001"
    with pytest.raises(ValueError):
        facility_code("24", 1000)
