"""The packaged Vietnamese ICD-10 list (Decision 4469/QĐ-BYT): look-ups, source quirks, freshness."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from senhealth.fhir.terminology import icd10_vn

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / ".." / "shared" / "data" / "icd10-vn" / "icd10-qd4469-2020.csv"


def test_counts() -> None:
    codes = list(icd10_vn.codes())
    assert len(codes) == 12_137  # 12,219 rows less 82 repeated headings
    assert len({c.code for c in codes}) == len(codes)
    assert [c.number for c in icd10_vn.chapters()][:3] == ["I", "II", "III"]
    assert len(icd10_vn.chapters()) == 22 and icd10_vn.chapters()[-1].range == "U00-U99"
    assert sum(c.is_category for c in codes) == 2_050


def test_lookup_forms() -> None:
    entry = icd10_vn.get("A97.0")
    assert entry.name_vi == "Sốt xuất huyết không có dấu hiệu cảnh báo"
    assert entry.name_en == "Dengue without warning signs"
    assert entry.chapter.number == "I" and entry.category == "A97" and entry.group == "A90-A99"
    assert entry.code_nodot == "A970" and not entry.is_category
    for form in ("A970", "a97.0", " A97.0 "):
        assert icd10_vn.lookup(form) == entry
    assert icd10_vn.lookup("A91") is None
    assert icd10_vn.lookup("ZZZ") is None
    with pytest.raises(KeyError):
        icd10_vn.get("A91")


def test_dengue_and_hand_foot_and_mouth() -> None:
    for code in ("A90", "A97.0", "A97.1", "A97.2", "A97.9"):
        assert icd10_vn.lookup(code) is not None, code
    assert icd10_vn.display("B08.4") == "Viêm họng có phỏng nước do virus đường ruột với phát ban"
    assert icd10_vn.display("B08.4", "en") == "Enteroviral vesicular stomatitis with exanthem"


def test_source_quirks_are_kept() -> None:
    assert icd10_vn.get("I10").name_vi == "Bệnh lý tăng huyết áp"
    assert icd10_vn.get("I10").name_en == "Other rheumatic heart diseases"  # wrong in the source, kept
    assert icd10_vn.get("I10").group_en == "Hypertensive diseases"
    assert icd10_vn.get("A17†").mark == "†" and icd10_vn.get("A17").mark == "†"
    assert icd10_vn.get("G01").mark == "*"
    assert icd10_vn.get("A00").mark == ""
    marked = sum(1 for c in icd10_vn.codes() if c.mark)
    assert marked == 858


def test_normalise() -> None:
    assert icd10_vn.normalise("e119") == "E11.9"
    assert icd10_vn.normalise("A17†") == "A17"
    assert icd10_vn.normalise("J45.90") == "J45.90"


@pytest.mark.skipif(not SOURCE.exists(), reason="the shared ICD-10 CSV is not here")
def test_packaged_file_is_fresh() -> None:
    spec = importlib.util.spec_from_file_location(
        "package_icd10_vn", ROOT / "scripts" / "package_icd10_vn.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = (ROOT / "senhealth" / "fhir" / "terminology" / "data" / icd10_vn.DATA_FILE).read_bytes()
    assert module.serialise(module.derive(SOURCE)) == shipped
