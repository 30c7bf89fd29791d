"""The check-up form on the page: a Questionnaire turned into form fields, and the posted fields turned
into a QuestionnaireResponse (no database, no web request: pure functions).

Spec: https://hl7.org/fhir/R4/questionnaire.html, https://hl7.org/fhir/R4/questionnaireresponse.html.
Every field's name is ``q:<linkId>``. Numbers are ``<input type=number>`` with the item's unit beside
them; booleans and choices are ``<select>`` (with an empty first option: unanswered is not "no");
``enableWhen`` on the ``age`` item (the only one the forms use) is evaluated here, other conditions show
the item always. Items the server computes (BMI, from height and weight) are not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Field", "FieldError", "Section", "form_sections", "response_items"]

_UNIT: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
_MIN: Final = "http://hl7.org/fhir/StructureDefinition/minValue"
_MAX: Final = "http://hl7.org/fhir/StructureDefinition/maxValue"
_TRANSLATION: Final = "http://hl7.org/fhir/StructureDefinition/translation"
COMPUTED: Final = frozenset({"bmi"})  # computed by the extraction from height and weight
NUMBER_TYPES: Final = frozenset({"integer", "decimal"})


class FieldError(ValueError):
    """A posted value that does not fit its item (``link_id`` names it)."""

    def __init__(self, link_id: str, text: str) -> None:
        super().__init__(f"{link_id}: {text}")
        self.link_id = link_id
        self.text = text


@dataclass(slots=True)
class Field:
    link_id: str
    type: str
    text: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    value: str = ""
    readonly: bool = False
    display_only: bool = False

    @property
    def name(self) -> str:
        return "q:" + self.link_id

    @property
    def step(self) -> str:
        return "1" if self.type == "integer" else "0.1"


@dataclass(slots=True)
class Section:
    link_id: str
    text: str
    fields: list[Field] = field(default_factory=list)


def _translated(item: dict[str, Any], key: str, lang: str) -> str:
    base = str(item.get(key) or "")
    if lang == "vi":
        return base
    for ext in (item.get("_" + key) or {}).get("extension") or []:
        if ext.get("url") != _TRANSLATION:
            continue
        parts = {e.get("url"): e for e in ext.get("extension") or []}
        if (parts.get("lang") or {}).get("valueCode") == lang:
            return str((parts.get("content") or {}).get("valueString") or base)
    return base


def _ext(item: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in item.get("extension") or [] if e.get("url") == url), None)


def _bound(item: dict[str, Any], url: str) -> float | None:
    found = _ext(item, url)
    if found is None:
        return None
    for key in ("valueInteger", "valueDecimal"):
        if key in found:
            return float(found[key])
    return None


def _enabled(item: dict[str, Any], age: int) -> bool:
    conditions = item.get("enableWhen") or []
    results = []
    for cond in conditions:
        if cond.get("question") != "age" or "answerInteger" not in cond:
            results.append(True)
            continue
        target, op = int(cond["answerInteger"]), cond.get("operator")
        ok = {
            ">=": age >= target, "<=": age <= target, ">": age > target, "<": age < target,
            "=": age == target, "!=": age != target,
        }.get(str(op), True)  # fmt: skip
        results.append(ok)
    if not results:
        return True
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def _field(item: dict[str, Any], lang: str, age: int, values: dict[str, str]) -> Field:
    unit = _ext(item, _UNIT)
    options = []
    for option in item.get("answerOption") or []:
        coding = option.get("valueCoding") or {}
        options.append(
            (str(coding.get("code")), _translated(coding, "display", lang) or str(coding.get("code")))
        )
    out = Field(
        link_id=str(item["linkId"]),
        type=str(item["type"]),
        text=_translated(item, "text", lang),
        unit=str(((unit or {}).get("valueCoding") or {}).get("code") or ""),
        minimum=_bound(item, _MIN),
        maximum=_bound(item, _MAX),
        options=options,
        value=values.get(str(item["linkId"]), ""),
        display_only=item["type"] == "display",
    )
    if out.link_id == "age":
        out.value, out.readonly = str(age), True
    return out


def form_sections(
    questionnaire: dict[str, Any], *, lang: str, age: int, values: dict[str, str] | None = None
) -> list[Section]:
    """The form's sections and fields (top-level questions gather in a first, untitled section)."""
    given = values or {}
    sections: list[Section] = []
    loose = Section("", "")
    for item in questionnaire.get("item") or []:
        if not _enabled(item, age):
            continue
        if item.get("type") == "group":
            section = Section(str(item["linkId"]), _translated(item, "text", lang))
            for child in _flatten(item.get("item") or []):
                if child["linkId"] not in COMPUTED and _enabled(child, age):
                    section.fields.append(_field(child, lang, age, given))
            sections.append(section)
        else:
            loose.fields.append(_field(item, lang, age, given))
    return ([loose] if loose.fields else []) + sections


def _flatten(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item.get("type") == "group":
            out.extend(_flatten(item.get("item") or []))  # a panel (blood pressure): its parts
        else:
            out.append(item)
    return out


def _answer(item: dict[str, Any], raw: str) -> dict[str, Any]:
    kind, link_id = item["type"], str(item["linkId"])
    if kind == "integer":
        try:
            return {"valueInteger": int(raw)}
        except ValueError:
            raise FieldError(link_id, "not a whole number") from None
    if kind == "decimal":
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            raise FieldError(link_id, "not a number") from None
        return {"valueDecimal": number}
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise FieldError(link_id, "answer yes or no")
        return {"valueBoolean": raw == "true"}
    if kind == "choice":
        for option in item.get("answerOption") or []:
            coding = option.get("valueCoding") or {}
            if coding.get("code") == raw:
                return {"valueCoding": {k: coding[k] for k in ("system", "code", "display") if k in coding}}
        raise FieldError(link_id, "not one of the answers offered")
    return {"valueString": raw}


def response_items(
    questionnaire: dict[str, Any], posted: dict[str, str], *, age: int
) -> list[dict[str, Any]]:
    """The QuestionnaireResponse's items from the posted ``q:<linkId>`` fields (unanswered items left
    out, groups kept in the questionnaire's shape). Raises :class:`FieldError` for a value of the wrong
    kind; ranges and units are the extraction's checks."""

    def build(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in items:
            link_id = str(item["linkId"])
            if item.get("type") == "group":
                children = build(item.get("item") or [])
                if children:
                    out.append({"linkId": link_id, "item": children})
                continue
            if item.get("type") == "display" or link_id in COMPUTED:
                continue
            raw = str(age) if link_id == "age" else posted.get(link_id, "").strip()
            if not raw or not _enabled(item, age):
                continue
            out.append({"linkId": link_id, "answer": [_answer(item, raw)]})
        return out

    return build(questionnaire.get("item") or [])
