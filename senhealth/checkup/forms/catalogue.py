"""The packaged check-up Questionnaires: load, assemble (SDC modular forms), pick per age and sex.

Spec: FHIR R4 Questionnaire https://hl7.org/fhir/R4/questionnaire.html; SDC modular forms
https://hl7.org/fhir/uv/sdc/modular.html (an item of type ``display`` carrying the ``subQuestionnaire``
extension is replaced by the root items of the Questionnaire it names, as ``$assemble`` does);
translations https://hl7.org/fhir/R4/languages.html (the ``translation`` extension on ``_text``).

The content is data: ``data/forms/<group>.json`` (one per age group: ``child`` < 6, ``school`` 6–17,
``adult`` 18–59, ``elderly`` ≥ 60) names its sections, ``data/sections/<name>.json`` holds them. Each
group has one form per sex (items marked with :data:`~.vocabulary.QUESTIONNAIRE_SEX` kept only in that
sex's form), canonical ``https://senhealth.vn/fhir/Questionnaire/checkup-<group>-<sex>``. Age ranges
inside a group (cervical and breast screening) are ``enableWhen`` on the form's ``age`` item.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import orjson

from senhealth.checkup.forms.vocabulary import QUESTIONNAIRE_BASE, QUESTIONNAIRE_SEX, SUB_QUESTIONNAIRE

__all__ = [
    "AGE_GROUPS",
    "SEXES",
    "AgeGroup",
    "Sex",
    "age_group",
    "all_forms",
    "find_form",
    "form_for",
    "sections",
]

AgeGroup = Literal["child", "school", "adult", "elderly"]
Sex = Literal["female", "male"]
AGE_GROUPS: Final[tuple[AgeGroup, ...]] = ("child", "school", "adult", "elderly")
SEXES: Final[tuple[Sex, ...]] = ("female", "male")


def age_group(age: int) -> AgeGroup:
    """The form's age group for ``age`` in completed years (``ValueError`` outside 0–130)."""
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130:
        raise ValueError(f"age: a whole number of years 0–130, got {age!r}")
    if age < 6:
        return "child"
    if age < 18:
        return "school"
    if age < 60:
        return "adult"
    return "elderly"


def _load(folder: str, name: str) -> dict[str, Any]:
    data = resources.files("senhealth.checkup.forms").joinpath("data", folder, f"{name}.json").read_bytes()
    loaded: dict[str, Any] = orjson.loads(data)
    return loaded


@cache
def sections() -> dict[str, dict[str, Any]]:
    """Every packaged section Questionnaire by its canonical URL (``url|version`` and plain ``url``)."""
    out: dict[str, dict[str, Any]] = {}
    folder = resources.files("senhealth.checkup.forms").joinpath("data", "sections")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            section = _load("sections", entry.name.removesuffix(".json"))
            out[f"{section['url']}|{section['version']}"] = section
            out[section["url"]] = section
    return out


def _assemble(items: list[dict[str, Any]], sex: Sex, where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        extensions = item.get("extension") or []
        only = next((e.get("valueCode") for e in extensions if e.get("url") == QUESTIONNAIRE_SEX), None)
        if only is not None and only != sex:
            continue
        sub = next((e.get("valueCanonical") for e in extensions if e.get("url") == SUB_QUESTIONNAIRE), None)
        if sub is not None:
            section = sections().get(sub)
            if section is None:
                raise LookupError(f"{where}: the section {sub} is not packaged")
            out.extend(_assemble(copy.deepcopy(section["item"]), sex, sub))
            continue
        item = dict(item)
        item["extension"] = [e for e in extensions if e.get("url") != QUESTIONNAIRE_SEX]
        if not item["extension"]:
            del item["extension"]
        if "item" in item:
            item["item"] = _assemble(item["item"], sex, where)
        out.append(item)
    return out


@cache
def _form(group: AgeGroup, sex: Sex) -> dict[str, Any]:
    template = _load("forms", group)
    name = f"checkup-{group}-{sex}"
    form = dict(template)
    form["id"] = f"{name}-{template['version']}"
    form["url"] = QUESTIONNAIRE_BASE + name
    form["name"] = f"{template['name']}{sex.capitalize()}"
    suffix = ("nữ", "female") if sex == "female" else ("nam", "male")
    form["title"] = f"{template['title']}, {suffix[0]}"
    title_en = copy.deepcopy(template.get("_title"))
    if title_en:
        for ext in title_en["extension"]:
            for part in ext["extension"]:
                if part["url"] == "content":
                    part["valueString"] = f"{part['valueString']}, {suffix[1]}"
        form["_title"] = title_en
    form["item"] = _assemble(template["item"], sex, template["url"])
    return form


def form_for(age: int, sex: str) -> dict[str, Any]:
    """The check-up Questionnaire for a person of ``age`` (completed years) and ``sex``
    (``female``/``male``): a fresh copy, safe to change."""
    if sex not in SEXES:
        raise ValueError(f"sex: 'female' or 'male', got {sex!r}")
    return copy.deepcopy(_form(age_group(age), sex))


def all_forms() -> Iterator[dict[str, Any]]:
    """Every packaged form (one per age group and sex), fresh copies."""
    for group in AGE_GROUPS:
        for sex in SEXES:
            yield copy.deepcopy(_form(group, sex))


def find_form(canonical: str) -> dict[str, Any] | None:
    """The packaged form named by ``canonical`` (``url`` or ``url|version``), or ``None``."""
    url, _, version = canonical.partition("|")
    for group in AGE_GROUPS:
        for sex in SEXES:
            form = _form(group, sex)
            if form["url"] == url and (not version or form["version"] == version):
                return copy.deepcopy(form)
    return None
