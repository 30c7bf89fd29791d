"""The packaged code systems: counts, hierarchy, subsumption, editions by date, and the loaders."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from senhealth.fhir.terminology import (
    administrative_units,
    ethnic_groups,
    icd10_editions,
    loinc,
    r4,
    registry,
    ucum_system,
)
from senhealth.fhir.terminology.codesystem import FilterError, from_resource

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / ".." / "shared" / "data" / "icd10-vn" / "icd10-qd4469-2020.csv"
ICD = icd10_editions.SYSTEM


def test_counts_loaded() -> None:
    icd = registry.code_system(ICD)
    assert icd is not None
    kinds = [c.properties["kind"] for c in icd.iter_concepts()]
    assert (kinds.count("chapter"), kinds.count("block")) == (22, 274)
    assert kinds.count("category") + kinds.count("subcategory") == 12_137
    assert len(administrative_units.provinces()) == 34
    assert len(administrative_units.communes()) == 3_321
    assert len(ethnic_groups.code_system()) == 54
    assert len(loinc.code_system()) == 59
    assert len(r4.code_systems()) == 639 and len(r4.value_sets()) == 889


def test_icd10_hierarchy_and_subsumption() -> None:
    icd = registry.code_system(ICD)
    assert icd is not None
    assert icd.ancestors("A97.1") == ["A97", "A90-A99", "I"]
    assert icd.ancestors("C00.0") == ["C00", "C00-C14", "C00-C75", "C00-C97", "II"]  # the sub-groups
    assert icd.ancestors("M01.00") == ["M01.0", "M01", "M00-M03", "M00-M25", "XIII"]
    assert icd.find("I") is not None and icd.find("I").abstract  # chapters and blocks are groupings
    assert icd.find("a970").code == "A97.0" and icd.find("A17†").code == "A17"
    assert icd.subsumes("I", "A97.1") == "subsumes"
    assert icd.subsumes("A97.1", "A90-A99") == "subsumed-by"
    assert icd.subsumes("A97.1", "a97.1") == "equivalent"
    assert icd.subsumes("A90", "B08.4") == "not-subsumed"
    assert "A97.1" in icd.descendants("I") and "B08.4" in icd.descendants("I")
    assert "I10" not in icd.descendants("I") and "I10" in icd.descendants("IX")
    assert icd.find("I10").display == "Bệnh lý tăng huyết áp"
    assert icd.find("I10").designations["en"] == "Other rheumatic heart diseases"  # the source's quirk
    with pytest.raises(KeyError):
        icd.subsumes("A91", "A90")


def test_icd10_filters() -> None:
    icd = registry.code_system(ICD)
    assert icd is not None
    dengue = icd.select([icd.filter("concept", "is-a", "A97")])
    assert [c.code for c in dengue] == ["A97", "A97.0", "A97.1", "A97.2", "A97.9"]
    below = [c.code for c in icd.select([icd.filter("concept", "descendent-of", "A97")])]
    assert below == ["A97.0", "A97.1", "A97.2", "A97.9"]
    assert {c.code for c in icd.select([icd.filter("concept", "generalizes", "A97.1")])} == {
        "A97.1",
        "A97",
        "A90-A99",
        "I",
    }
    dagger = icd.select([icd.filter("mark", "=", "†")])
    asterisk = icd.select([icd.filter("mark", "=", "*")])
    assert all(c.properties["mark"] == "†" for c in dagger) and "A17" in {c.code for c in dagger}
    assert len(dagger) + len(asterisk) == 858
    assert len(icd.select([icd.filter("kind", "=", "chapter")])) == 22
    not_i = icd.select([icd.filter("kind", "=", "chapter"), icd.filter("concept", "is-not-a", "I")])
    assert len(not_i) == 21
    regex = icd.select([icd.filter("code", "regex", r"B08\.[0-9]")])
    assert "B08.4" in {c.code for c in regex}
    assert len(icd.select([icd.filter("mark", "exists", "true")])) == 858
    assert {c.code for c in icd.select([icd.filter("code", "in", "A90,B08.4,ZZZ")])} == {"A90", "B08.4"}
    for bad in (("concept", "is-a", "ZZZ"), ("colour", "=", "x"), ("code", "regex", "("), ("code", "~", "x")):
        with pytest.raises(FilterError):
            icd.filter(*bad)


def test_communes_belong_to_provinces() -> None:
    communes = administrative_units.communes()
    bac_ninh = communes.select([communes.filter("province", "=", "24")])
    assert len(bac_ninh) == 99  # the demo province: the former Bắc Giang and Bắc Ninh
    provinces = administrative_units.provinces()
    assert {c.properties["province"] for c in communes.iter_concepts()} == set(provinces.concepts)
    assert provinces.find("24").display == "Bắc Ninh"
    assert provinces.valid_from == date(2025, 7, 1)
    assert communes.find("00070").display == "Phường Hoàn Kiếm"
    assert communes.find("00070").properties["validFrom"] == date(2025, 7, 1)


def test_ethnic_groups_and_loinc() -> None:
    groups = ethnic_groups.code_system()
    assert [groups.find(c).display for c in ("01", "04", "05", "06", "54")] == [
        "Kinh",
        "Hoa",
        "Khơ-me",
        "Mường",
        "Rơ-măm",
    ]
    assert groups.find("08").designations["en"] == "Hmong"
    fragment = loinc.code_system()
    assert fragment.content == "fragment"
    for code in ("8867-4", "9279-1", "8310-5", "8302-2", "29463-7", "39156-5", "85354-9", "8480-6"):
        assert fragment.find(code) is not None, code
    for code in ("8462-4", "2708-6", "59408-5", "8287-5", "9843-4", "4548-4", "2093-3", "75377-2"):
        assert fragment.find(code) is not None, code
    assert all(loinc.check_digit_ok(c.code) for c in fragment.iter_concepts())
    assert not loinc.check_digit_ok("8867-5") and not loinc.check_digit_ok("abc")


def test_the_demo_writes_only_loaded_loinc_codes() -> None:
    """Every LOINC code Sen Health's synthetic data writes is in the fragment."""
    from senhealth.demo.observations import LOINC_CODES

    for code, *_ in LOINC_CODES.values():
        assert loinc.code_system().find(code) is not None, code


def test_ucum_is_a_grammar() -> None:
    ucum = ucum_system.code_system()
    assert not ucum.enumerable and list(ucum.iter_concepts()) == []
    for code in ("mg/dL", "mm[Hg]", "kg/m2", "/min", "10*3/uL", "mL/min/{1.73_m2}", "Cel", "%"):
        assert ucum.find(code) is not None, code
    for code in ("foo", "year", "", " mg"):
        assert ucum.find(code) is None, code
    assert ucum.find("mg/dL").properties["canonical"] == "g.m-3"


def test_stored_code_system_from_resource() -> None:
    cs = from_resource(
        {
            "resourceType": "CodeSystem",
            "url": "https://example.org/cs",
            "version": "2",
            "content": "complete",
            "caseSensitive": False,
            "concept": [
                {"code": "a", "display": "Alpha", "concept": [{"code": "a1", "display": "Alpha one"}]},
                {"code": "b", "display": "Beta", "property": [{"code": "parent", "valueCode": "a"}]},
                {"code": "x", "property": [{"code": "status", "valueCode": "retired"}]},
            ],
        }
    )
    assert cs.find("A1").code == "a1" and cs.subsumes("a", "b") == "subsumes"
    assert cs.find("x").inactive and cs.version == "2"
    with pytest.raises(ValueError):
        from_resource({"resourceType": "CodeSystem"})


def test_editions_by_date() -> None:
    edition = icd10_editions.edition_on(date(2024, 1, 1))
    assert edition is not None and edition.version == "4469/2020"
    assert edition.valid_to == date(2026, 6, 30)
    later = icd10_editions.edition_on(date(2027, 1, 1))
    assert later is not None and later.version == "4469/2020"  # the only edition: it answers for every date
    assert icd10_editions.version_label(later, date(2027, 1, 1)).startswith(
        "4469/2020 (the only edition loaded"
    )
    assert icd10_editions.version_label(edition, date(2024, 1, 1)) == "4469/2020"


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with SOURCE.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.skipif(not SOURCE.exists(), reason="the shared ICD-10 CSV is not here")
def test_load_next_edition_and_choose_by_date(tmp_path: Path) -> None:
    with SOURCE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows = [r for r in rows if r["chapter"] == "I"]
    extra = dict(rows[-1])
    extra.update(
        code="A97.8", code_nodot="A978", name_vi="Sốt xuất huyết Dengue khác (thử)", name_en="Other dengue"
    )
    extra.update(category="A97", group="A90-A99")
    rows.append(extra)
    source = tmp_path / "tt06-2026.csv"
    _write_csv(source, rows)
    try:
        made = icd10_editions.load_icd10_edition(
            source, edition="TT 06/2026/TT-BYT", valid_from=date(2026, 7, 1), out_dir=tmp_path
        )
        assert made.version == "06/2026" and (tmp_path / "icd10-vn-06-2026.json.gz").exists()
        assert [e.version for e in icd10_editions.editions()] == ["4469/2020", "06/2026"]
        assert icd10_editions.edition_on(date(2026, 6, 30)).version == "4469/2020"
        assert icd10_editions.edition_on(date(2026, 7, 1)).version == "06/2026"
        new = registry.code_system(ICD, when=date(2026, 7, 1))
        old = registry.code_system(ICD, when=date(2026, 6, 30))
        assert new is not None and old is not None
        assert new.find("A97.8") is not None and old.find("A97.8") is None
        assert new.find("B08.4") is not None and new.find("I10") is None  # only chapter I in this test file
        assert registry.code_system(ICD, "06/2026") is new
        assert (
            icd10_editions.version_label(icd10_editions.edition_on(date(2030, 1, 1)), date(2030, 1, 1))
            == "06/2026"
        )
    finally:
        icd10_editions.forget_edition("06/2026")
    assert [e.version for e in icd10_editions.editions()] == ["4469/2020"]


def test_load_edition_refuses_another_layout(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="layout"):
        icd10_editions.load_icd10_edition(
            bad, edition="X 1/2030", valid_from=date(2030, 1, 1), out_dir=tmp_path
        )
