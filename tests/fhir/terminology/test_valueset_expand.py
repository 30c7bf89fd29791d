"""ValueSet expansion (compose: include/exclude, concepts, filters, imports), text matching without
diacritics, membership for the validator and FHIRPath's memberOf, and the required ethnicity binding."""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.fhirpath import evaluate
from senhealth.fhir.fhirpath.hooks import reset_hooks
from senhealth.fhir.terminology import icd10_editions, registry
from senhealth.fhir.terminology.codesystem import CodeSystem, from_resource
from senhealth.fhir.terminology.member_of import install_member_of, member_of
from senhealth.fhir.terminology.profiles import (
    ETHNICITY_EXTENSION,
    VN_PATIENT_PROFILE,
    register_terminology_profiles,
)
from senhealth.fhir.terminology.text_match import filter_items, matcher
from senhealth.fhir.terminology.valueset_expand import ExpandError, TooCostly, expand
from senhealth.fhir.validation import is_valid, validate

ICD = icd10_editions.SYSTEM
ETHNIC = "https://senhealth.vn/fhir/CodeSystem/ethnic-group"


class Extra(registry.PackagedResolver):
    """The packaged resolver plus a few value sets and a code system of the test's own."""

    def __init__(
        self, value_sets: dict[str, dict[str, Any]], code_systems: dict[str, CodeSystem] | None = None
    ) -> None:
        super().__init__()
        object.__setattr__(self, "_vs", value_sets)
        object.__setattr__(self, "_cs", code_systems or {})

    def value_set(self, url: str, version: str | None) -> dict[str, Any] | None:
        return self._vs.get(url) or super().value_set(url, version)  # type: ignore[attr-defined,no-any-return]

    def code_system(self, url: str, version: str | None) -> CodeSystem | None:
        return self._cs.get(url) or super().code_system(url, version)  # type: ignore[attr-defined,no-any-return]


def vs(
    *include: dict[str, Any], exclude: tuple[dict[str, Any], ...] = (), url: str = "urn:test:vs"
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": list(include)}
    if exclude:
        compose["exclude"] = list(exclude)
    return {"resourceType": "ValueSet", "url": url, "compose": compose}


def codes(value_set: dict[str, Any], resolver: Any = None, **options: Any) -> list[str]:
    return [i.code for i in expand(value_set, resolver or registry.PackagedResolver(), **options).items]


def test_chapter_i_is_a_with_vietnamese_displays() -> None:
    implicit = registry.value_set(f"{ICD}?fhir_vs=isa/I")
    assert implicit is not None
    items = expand(implicit, registry.PackagedResolver()).items
    assert len(items) == 941 and items[0].code == "I" and items[0].abstract
    by_code = {i.code: i for i in items}
    assert by_code["A97.1"].display == "Sốt xuất huyết có dấu hiệu cảnh báo"
    assert dict(by_code["A97.1"].designations)["en"] == "Dengue with warning signs"
    assert "I10" not in by_code and by_code["A97.1"].version == "4469/2020"
    assert len(codes(registry.value_set(f"{ICD}?fhir_vs") or {})) == 12_433


def test_include_exclude_concepts_and_filters() -> None:
    dengue_but_severe = vs(
        {"system": ICD, "filter": [{"property": "concept", "op": "is-a", "value": "A97"}]},
        {"system": ICD, "concept": [{"code": "A90"}, {"code": "B08.4", "display": "Tay chân miệng"}]},
        exclude=({"system": ICD, "concept": [{"code": "A97.2"}]},),
    )
    got = expand(dengue_but_severe, registry.PackagedResolver())
    assert [i.code for i in got.items] == ["A97", "A97.0", "A97.1", "A97.9", "A90", "B08.4"]
    assert got.items[-1].display == "Tay chân miệng"  # the include's own display wins
    assert got.used_systems == {ICD: "4469/2020"}
    # two filters in one include are AND-ed; a listed code the code system lacks is dropped, with a warning
    both = vs(
        {
            "system": ICD,
            "filter": [
                {"property": "concept", "op": "is-a", "value": "I"},
                {"property": "mark", "op": "=", "value": "†"},
            ],
        }
    )
    assert codes(both) and all(
        registry.code_system(ICD).find(c).properties["mark"] == "†" for c in codes(both)
    )  # type: ignore[union-attr]
    missing = expand(
        vs({"system": ICD, "concept": [{"code": "A91"}, {"code": "A90"}]}), registry.PackagedResolver()
    )
    assert [i.code for i in missing.items] == ["A90"] and "A91" in missing.warnings[0]
    # an unknown code system with listed codes keeps them (SNOMED CT in R4 value sets)
    assert codes(
        vs({"system": "http://snomed.info/sct", "concept": [{"code": "38362002", "display": "Dengue"}]})
    ) == ["38362002"]


def test_value_set_imports_cycles_and_errors() -> None:
    dengue = "https://senhealth.vn/fhir/ValueSet/dengue"
    only_dengue_in_i = vs(
        {
            "system": ICD,
            "filter": [{"property": "concept", "op": "is-a", "value": "A90-A99"}],
            "valueSet": [dengue],
        }
    )
    assert codes(only_dengue_in_i) == ["A90", "A97", "A97.0", "A97.1", "A97.2", "A97.9"]
    union = vs({"valueSet": [dengue]}, {"system": ETHNIC, "concept": [{"code": "01"}]})
    assert codes(union)[-1] == "01" and len(codes(union)) == 7
    cyclic = {
        "urn:a": vs({"valueSet": ["urn:b"]}, url="urn:a"),
        "urn:b": vs({"valueSet": ["urn:a"]}, url="urn:b"),
    }
    with pytest.raises(ExpandError, match="imports itself"):
        expand(cyclic["urn:a"], Extra(cyclic))
    with pytest.raises(ExpandError) as unknown:
        expand(vs({"system": "https://example.org/nothing"}), registry.PackagedResolver())
    assert (
        unknown.value.code == "not-found" and unknown.value.expression == "ValueSet.compose.include[0].system"
    )
    with pytest.raises(ExpandError) as ucum:
        expand(vs({"system": "http://unitsofmeasure.org"}), registry.PackagedResolver())
    assert ucum.value.code == "too-costly"
    with pytest.raises(ExpandError) as bad_filter:
        expand(
            vs({"system": ICD, "filter": [{"property": "concept", "op": "is-a", "value": "ZZZ"}]}),
            registry.PackagedResolver(),
        )
    assert bad_filter.value.expression == "ValueSet.compose.include[0].filter[0]"
    with pytest.raises(TooCostly):
        expand(registry.value_set(f"{ICD}?fhir_vs") or {}, registry.PackagedResolver(), limit=10_000)


def test_stored_code_system_through_a_resolver_and_active_only() -> None:
    cs = from_resource(
        {
            "resourceType": "CodeSystem",
            "url": "https://example.org/triage",
            "content": "complete",
            "concept": [
                {"code": "red", "display": "Đỏ", "concept": [{"code": "red-1", "display": "Đỏ 1"}]},
                {"code": "old", "display": "Cũ", "property": [{"code": "inactive", "valueBoolean": True}]},
            ],
        }
    )
    resolver = Extra({}, {cs.url: cs})
    assert codes(vs({"system": cs.url}), resolver) == ["red", "red-1", "old"]
    assert codes(vs({"system": cs.url}), resolver, active_only=True) == ["red", "red-1"]
    assert codes(registry.implicit_value_set(f"{cs.url}?fhir_vs=isa/red")[1], resolver) == ["red", "red-1"]  # type: ignore[index]


def test_text_matching_without_diacritics() -> None:
    expansion = expand(registry.value_set(f"{ICD}?fhir_vs") or {}, registry.PackagedResolver())
    items = expansion.items
    test = matcher("sot xuat huyet")
    assert test is not None
    found = {i.code for i in items if test(i)}
    assert {i.code for i in filter_items(expansion, "sot xuat huyet")} == found  # the indexed form agrees
    assert {i.code for i in filter_items(expansion, "Sốt  XUẤT huyết")} == found
    assert len(filter_items(expansion, "")) == len(items)
    assert {"A97", "A97.0", "A97.1", "A97.2", "A97.9"} <= found and "A90" not in found  # A90: "Sốt Dengue"
    assert all(
        "sốt xuất huyết" in i.display.lower() for i in items if i.code in found and i.code.startswith("A97")
    )
    assert {i.code for i in items if (m := matcher("huyết sốt")) and m(i)} == found  # order does not matter
    assert {i.code for i in items if (m := matcher("dengue warning")) and m(i)} == {
        "A97.0",
        "A97.1",
    }  # English
    assert {i.code for i in items if (m := matcher("a97")) and m(i)} >= {
        "A97",
        "A97.0",
        "A97.9",
    }  # a code prefix
    assert matcher("  ") is None


def test_membership_and_member_of() -> None:
    ethnic = registry.membership("https://senhealth.vn/fhir/ValueSet/ethnic-group")
    assert ethnic is not None and ethnic.complete and ethnic.contains("54", ETHNIC)
    assert not ethnic.contains("55", ETHNIC) and not ethnic.contains("05", "https://example.org")
    assert registry.membership("https://example.org/none") is None
    dengue = "https://senhealth.vn/fhir/ValueSet/dengue"
    assert member_of({"system": ICD, "code": "A97.1"}, dengue) is True
    assert (
        member_of({"coding": [{"system": ICD, "code": "I10"}, {"system": ICD, "code": "A90"}]}, dengue)
        is True
    )
    assert member_of({"coding": [{"system": ICD, "code": "I10"}]}, dengue) is False
    assert member_of("female", "http://hl7.org/fhir/ValueSet/administrative-gender") is True
    assert member_of("A90", "https://example.org/unknown") is None
    previous = install_member_of()
    try:
        condition = {"resourceType": "Condition", "code": {"coding": [{"system": ICD, "code": "A97.2"}]}}
        assert evaluate(condition, f"Condition.code.memberOf('{dengue}')") == [True]
        ethnic_vs = "https://senhealth.vn/fhir/ValueSet/ethnic-group"
        assert evaluate(condition, f"Condition.code.memberOf('{ethnic_vs}')") == [False]
    finally:
        reset_hooks(previous)


def _patient(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "meta": {"profile": [VN_PATIENT_PROFILE]},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Nguyễn Văn A</div>',
        },
        "extension": [{"url": ETHNICITY_EXTENSION, "valueCoding": {"system": ETHNIC, "code": code}}],
    }


def test_required_binding_to_a_loaded_code_system() -> None:
    register_terminology_profiles()
    assert is_valid(validate(_patient("05")))
    outcome = validate(_patient("99"))
    assert not is_valid(outcome)
    (issue,) = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == ["Patient.extension[0].valueCoding.code"]
    assert "ethnic-group" in issue["diagnostics"]
    # without the profile claimed, $validate with profile= gives the same answer
    plain = _patient("99")
    del plain["meta"]
    assert is_valid(validate(plain)) and not is_valid(validate(plain, profile=VN_PATIENT_PROFILE))
