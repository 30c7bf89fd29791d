"""The packaged check-up Questionnaires: one per age group and sex, the right sections and items, valid
FHIR R4, Vietnamese texts with English translations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from senhealth.checkup.forms import age_group, all_forms, find_form, form_for
from senhealth.fhir.validation import is_valid, validate

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item") or [])


def _links(form: dict[str, Any]) -> set[str]:
    return {i["linkId"] for i in _items(form["item"])}


def _codes(form: dict[str, Any]) -> set[str]:
    return {c["code"] for i in _items(form["item"]) for c in i.get("code") or []}


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (0, "child"),
        (5, "child"),
        (6, "school"),
        (17, "school"),
        (18, "adult"),
        (59, "adult"),
        (60, "elderly"),
        (101, "elderly"),
    ],
)
def test_age_groups_have_the_stated_boundaries(age: int, group: str) -> None:
    assert age_group(age) == group
    assert form_for(age, "male")["url"].endswith(f"checkup-{group}-male")


@pytest.mark.parametrize("bad", [-1, 131, 4.5, True])
def test_bad_ages_and_sexes_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="age"):
        form_for(bad, "female")
    with pytest.raises(ValueError, match="sex"):
        form_for(30, "unknown")


@pytest.mark.parametrize(
    ("age", "sections"),
    [
        (3, ["age", "history", "vitals", "development", "conclusion"]),
        (12, ["age", "history", "vitals", "screening", "conclusion"]),
        (40, ["age", "history", "vitals", "labs", "screening", "conclusion"]),
        (70, ["age", "history", "vitals", "labs", "screening", "conclusion"]),
    ],
)
def test_each_form_has_the_sections_of_its_age_group(age: int, sections: list[str]) -> None:
    for sex in ("female", "male"):
        assert [i["linkId"] for i in form_for(age, sex)["item"]] == sections


def test_adult_form_holds_history_vitals_labs_findrisc_and_conclusion() -> None:
    form = form_for(45, "male")
    links = _links(form)
    for link in (
        "known-hypertension", "known-diabetes", "smoking", "alcohol", "physical-activity", "vegetables-fruit",
        "family-diabetes", "bp", "bp-systolic", "bp-diastolic", "pulse", "height", "weight", "bmi", "waist",
        "cholesterol", "glucose", "hba1c", "bp-medication", "high-glucose-history", "health-class", "advice",
    ):  # fmt: skip
        assert link in links, link
    assert {
        "85354-9",
        "8480-6",
        "8462-4",
        "29463-7",
        "8302-2",
        "39156-5",
        "8280-0",
        "2093-3",
        "1558-6",
        "4548-4",
        "72166-2",
        "I10",
        "E14",
    } <= _codes(form)
    # women's cancer-screening prompts are in the women's forms only
    assert not links & {"cervical-screening", "breast-screening", "women-screening-prompt"}
    assert {"cervical-screening", "breast-screening", "women-screening-prompt"} <= _links(
        form_for(45, "female")
    )


def test_screening_prompts_are_enabled_by_the_age_item() -> None:
    items = {i["linkId"]: i for i in _items(form_for(30, "female")["item"])}
    cervical = items["cervical-screening"]
    assert cervical["enableBehavior"] == "all"
    assert {(w["question"], w["operator"], w["answerInteger"]) for w in cervical["enableWhen"]} == {
        ("age", ">=", 25),
        ("age", "<=", 65),
    }
    assert items["age"]["type"] == "integer" and items["age"]["required"] is True
    elderly = _links(form_for(75, "female"))
    assert "breast-screening" in elderly and "cervical-screening" not in elderly
    assert {"falls", "memory"} <= elderly


def test_child_and_school_forms_fit_their_ages() -> None:
    child = _links(form_for(2, "female"))
    assert {"head-circumference", "birth-weight", "immunisation-up-to-date", "milestones"} <= child
    assert not child & {"cholesterol", "glucose", "smoking", "bp", "health-class"}
    school = _links(form_for(12, "male"))
    assert {"vision", "scoliosis", "dental-caries", "bp", "bmi", "smoking"} <= school
    assert not school & {"cholesterol", "head-circumference"}
    smoking = next(i for i in _items(form_for(12, "male")["item"]) if i["linkId"] == "smoking")
    assert smoking["enableWhen"] == [{"question": "age", "operator": ">=", "answerInteger": 10}]


def test_every_form_is_valid_r4_with_unique_link_ids_and_translations() -> None:
    forms = list(all_forms())
    assert len(forms) == 8 and len({(f["url"], f["version"]) for f in forms}) == 8
    for form in forms:
        outcome = validate(form)
        assert is_valid(outcome), (form["url"], outcome["issue"][:3])
        links = [i["linkId"] for i in _items(form["item"])]
        assert len(links) == len(set(links)), form["url"]
        assert form["language"] == "vi"
        for item in _items(form["item"]):
            assert item["text"], item["linkId"]
            (ext,) = item["_text"]["extension"]
            assert ext["url"] == TRANSLATION
            parts = {p["url"]: p for p in ext["extension"]}
            assert parts["lang"]["valueCode"] == "en" and parts["content"]["valueString"]
            for when in item.get("enableWhen") or []:
                assert when["question"] in links
        # no assembly or sex markers left in the assembled form
        text = str(form)
        assert "subQuestionnaire" not in text and "questionnaire-sex" not in text


def test_find_form_by_canonical_and_fresh_copies() -> None:
    form = form_for(30, "male")
    assert find_form(f"{form['url']}|{form['version']}") == form
    assert find_form(form["url"]) == form
    assert find_form(f"{form['url']}|1999") is None
    form["item"].clear()
    assert form_for(30, "male")["item"], "form_for hands out copies"
