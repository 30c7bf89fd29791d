"""SDC extraction of a check-up QuestionnaireResponse into Observations and Conditions.

Spec: SDC form data extraction https://hl7.org/fhir/uv/sdc/extraction.html: observation-based
extraction (an item carrying ``observationExtract`` becomes an Observation coded ``item.code``, its
answer the value, its category from ``observation-extract-category``) and definition-based extraction
(``item.definition`` names the element the answer fills). Observation https://hl7.org/fhir/R4/observation.html
(vital signs profile https://hl7.org/fhir/R4/observation-vitalsigns.html), Condition
https://hl7.org/fhir/R4/condition.html, QuestionnaireResponse https://hl7.org/fhir/R4/questionnaireresponse.html.

The forms' conventions (docs/checkup-forms.md):

- a ``group`` with ``observationExtract`` becomes one Observation coded as the group, its children's
  answers its ``component``\\ s (the blood-pressure panel 85354-9 with 8480-6 / 8462-4); both children
  must be answered;
- BMI 39156-5 is computed here from body height and weight whenever both are answered (a value the
  client calculated is not trusted), rounded to one decimal;
- a ``boolean`` item with the project's ``conditionExtract`` answered ``true`` becomes a Condition
  (clinical status active, verification confirmed, category problem-list-item, code ``item.code``);
  ``false`` or no answer makes none. R4 Condition has no ``derivedFrom``: the response is named in
  ``Condition.evidence.detail``;
- every Observation carries ``derivedFrom`` the response, ``subject``, ``encounter``,
  ``effectiveDateTime`` (the response's ``authored``) and ``performer`` (its ``author``, when given).

Every answer is checked against its item (type, unit, ``minValue``/``maxValue``, answer options);
the first fault raises :class:`ExtractionError` naming the item's ``linkId`` and the FHIRPath of the
answer. Extracted resources get stable ids (a UUID of the response id and the linkId), so extracting
the same response again rewrites the same resources instead of adding new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from senhealth.checkup.forms import vocabulary as v

__all__ = ["ExtractionError", "extract", "extracted_id"]

_NAMESPACE: Final = uuid.UUID("6d1f0f5e-4b0e-4c55-9a3f-2c8b1e7a5d01")
_VALUE_KEYS: Final = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal", "valueInteger", "valueQuantity"),
    "integer": ("valueInteger", "valueQuantity"),
    "quantity": ("valueQuantity",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "string": ("valueString",),
    "text": ("valueString",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
}


class ExtractionError(ValueError):
    """A response that cannot be extracted: ``link_id`` names the item, ``expression`` the FHIRPath."""

    def __init__(self, message: str, *, link_id: str | None, expression: str) -> None:
        super().__init__(message)
        self.message = message
        self.link_id = link_id
        self.expression = expression


def extracted_id(response_id: str, key: str) -> str:
    """The stable id of what extraction makes of item ``key`` of response ``response_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"{response_id}/{key}"))


def _ext(item: dict[str, Any], url: str) -> Any:
    for ext in item.get("extension") or []:
        if ext.get("url") == url:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def _reference(value: str | dict[str, Any], rtype: str, name: str) -> dict[str, Any]:
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str) or (not ref.startswith(f"{rtype}/") and not ref.startswith("urn:uuid:")):
        raise ExtractionError(f"{name} must reference a {rtype}", link_id=None, expression=name)
    return {"reference": ref}


@dataclass(slots=True)
class _Answer:
    item: dict[str, Any]  # the Questionnaire item
    value: Any  # the checked answer value: Decimal, bool, Coding dict, str
    path: str  # FHIRPath of the response item


def _definitions(items: list[dict[str, Any]], out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for item in items:
        out[item["linkId"]] = item
        _definitions(item.get("item") or [], out)
    return out


def _number(item: dict[str, Any], key: str, raw: Any, path: str) -> Decimal:
    link = item["linkId"]
    if key == "valueQuantity":
        if not isinstance(raw, dict) or "value" not in raw:
            raise ExtractionError(f"{link}: a quantity needs a value", link_id=link, expression=path)
        unit = _ext(item, v.QUESTIONNAIRE_UNIT) or {}
        code = raw.get("code") or raw.get("unit")
        if unit and code != unit.get("code"):
            raise ExtractionError(
                f"{link}: unit {code!r} given, the form asks for {unit.get('code')!r}",
                link_id=link,
                expression=path,
            )
        raw = raw["value"]
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise ExtractionError(f"{link}: the answer must be a number", link_id=link, expression=path)
    if key == "valueInteger" and item["type"] == "integer" and not isinstance(raw, int):
        raise ExtractionError(f"{link}: the answer must be a whole number", link_id=link, expression=path)
    number = Decimal(str(raw))
    low, high = _ext(item, v.MIN_VALUE), _ext(item, v.MAX_VALUE)
    if (low is not None and number < Decimal(str(low))) or (high is not None and number > Decimal(str(high))):
        raise ExtractionError(
            f"{link}: {number} is outside the accepted range {low}–{high}", link_id=link, expression=path
        )
    return number


def _check(item: dict[str, Any], answer: Any, path: str) -> Any:
    link, kind = item["linkId"], item["type"]
    if not isinstance(answer, dict):
        raise ExtractionError(f"{link}: an answer must be an object", link_id=link, expression=path)
    keys = [k for k in answer if k.startswith("value")]
    allowed = _VALUE_KEYS.get(kind, ())
    if len(keys) != 1 or keys[0] not in allowed:
        raise ExtractionError(
            f"{link}: a {kind} item is answered with {' or '.join(allowed) or 'nothing'}",
            link_id=link,
            expression=path,
        )
    key, raw = keys[0], answer[keys[0]]
    if key in ("valueDecimal", "valueInteger", "valueQuantity"):
        return _number(item, key, raw, path)
    if key == "valueBoolean" and not isinstance(raw, bool):
        raise ExtractionError(f"{link}: the answer must be true or false", link_id=link, expression=path)
    if key == "valueCoding":
        options = [o.get("valueCoding") or {} for o in item.get("answerOption") or []]
        if not isinstance(raw, dict):
            raise ExtractionError(f"{link}: the answer must be a Coding", link_id=link, expression=path)
        match = next(
            (o for o in options if o.get("system") == raw.get("system") and o.get("code") == raw.get("code")),
            None,
        )
        if options and match is None:
            raise ExtractionError(
                f"{link}: {raw.get('system')}|{raw.get('code')} is not one of the item's answers",
                link_id=link,
                expression=path,
            )
        return {k: x for k, x in (match or raw).items() if k in ("system", "code", "display")}
    if key in ("valueString", "valueDate", "valueDateTime") and not isinstance(raw, str):
        raise ExtractionError(f"{link}: the answer must be text", link_id=link, expression=path)
    return raw


def _answers(
    items: Any, defs: dict[str, dict[str, Any]], path: str, out: dict[str, _Answer]
) -> dict[str, _Answer]:
    if items is None:
        return out
    if not isinstance(items, list):
        raise ExtractionError("item must be an array", link_id=None, expression=f"{path}.item")
    for i, entry in enumerate(items):
        here = f"{path}.item[{i}]"
        link = entry.get("linkId") if isinstance(entry, dict) else None
        if not isinstance(link, str) or link not in defs:
            raise ExtractionError(
                f"{link!r} is not an item of the questionnaire", link_id=link, expression=f"{here}.linkId"
            )
        item = defs[link]
        answers = entry.get("answer") or []
        if answers and item["type"] in ("group", "display"):
            raise ExtractionError(
                f"{link}: a {item['type']} item has no answer", link_id=link, expression=here
            )
        if len(answers) > 1 and not item.get("repeats"):
            raise ExtractionError(f"{link}: only one answer is allowed", link_id=link, expression=here)
        if answers:
            if link in out:
                raise ExtractionError(f"{link}: answered twice", link_id=link, expression=here)
            out[link] = _Answer(item, _check(item, answers[0], f"{here}.answer[0]"), f"{here}.answer[0]")
        _answers(entry.get("item"), defs, here, out)
    return out


def _concept(item: dict[str, Any]) -> dict[str, Any]:
    codings = [{k: c[k] for k in ("system", "code", "display") if k in c} for c in item.get("code") or []]
    return {"coding": codings, "text": item.get("text", "")}


def _number_value(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


def _quantity(item: dict[str, Any], number: Decimal) -> dict[str, Any]:
    unit = _ext(item, v.QUESTIONNAIRE_UNIT) or {}
    code = unit.get("code", "1")
    return {"value": _number_value(number), "unit": unit.get("display", code), "system": v.UCUM, "code": code}


def _value(item: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, Decimal):
        return {"valueQuantity": _quantity(item, value)}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, dict):
        return {"valueCodeableConcept": {"coding": [value], "text": value.get("display", value.get("code"))}}
    return {"valueString": str(value)}


def _category(item: dict[str, Any]) -> list[dict[str, Any]]:
    concept = _ext(item, v.OBSERVATION_EXTRACT_CATEGORY)
    if isinstance(concept, dict):
        return [concept]
    return [{"coding": [{"system": v.OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}]


def _children(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for child in item.get("item") or []:
        yield child
        yield from _children(child)


def extract(
    questionnaire: dict[str, Any],
    response: dict[str, Any],
    *,
    patient: str | dict[str, Any],
    encounter: str | dict[str, Any],
    response_ref: str | None = None,
) -> list[dict[str, Any]]:
    """The Observations and Conditions that ``response`` (answering ``questionnaire``) records.

    ``patient`` and ``encounter`` are references (``Patient/1`` or a Reference); ``response_ref`` is what
    ``derivedFrom`` names (default ``QuestionnaireResponse/<response.id>``; the response needs an id).
    Raises :class:`ExtractionError` for the first answer that does not fit its item.
    """
    subject = _reference(patient, "Patient", "QuestionnaireResponse.subject")
    visit = _reference(encounter, "Encounter", "QuestionnaireResponse.encounter")
    response_id = response.get("id")
    if not isinstance(response_id, str) or not response_id:
        raise ExtractionError(
            "the response needs an id to be extracted", link_id=None, expression="QuestionnaireResponse.id"
        )
    authored = response.get("authored")
    if not isinstance(authored, str) or not authored:
        raise ExtractionError(
            "the response needs 'authored' (the check-up time)",
            link_id=None,
            expression="QuestionnaireResponse.authored",
        )
    source = {"reference": response_ref or f"QuestionnaireResponse/{response_id}"}
    defs = _definitions(questionnaire.get("item") or [], {})
    answers = _answers(response.get("item"), defs, "QuestionnaireResponse", {})
    author = response.get("author")

    def observation(key: str, item: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resourceType": "Observation",
            "id": extracted_id(response_id, key),
            "status": "final",
            "category": _category(item),
            "code": _concept(item),
            "subject": subject,
            "encounter": visit,
            "effectiveDateTime": authored,
        }
        if isinstance(author, dict) and author.get("reference"):
            out["performer"] = [{"reference": author["reference"]}]
        out["derivedFrom"] = [source]
        return out

    out: list[dict[str, Any]] = []
    by_code: dict[str, _Answer] = {}
    for link, item in defs.items():
        extracts = _ext(item, v.OBSERVATION_EXTRACT) is True
        if item["type"] == "group" and extracts:
            parts = [c for c in _children(item) if c["type"] not in ("group", "display")]
            given = [answers[c["linkId"]] for c in parts if c["linkId"] in answers]
            if not given:
                continue
            missing = [c["linkId"] for c in parts if c["linkId"] not in answers]
            if missing:
                first = given[0]
                raise ExtractionError(
                    f"{missing[0]}: {link} needs every part answered",
                    link_id=missing[0],
                    expression=first.path,
                )
            obs = observation(link, item)
            obs["component"] = [{"code": _concept(a.item), **_value(a.item, a.value)} for a in given]
            out.append(obs)
            continue
        answer = answers.get(link)
        if answer is None:
            continue
        for coding in item.get("code") or []:
            if coding.get("system") == v.LOINC:
                by_code[coding["code"]] = answer
        if extracts and not _is_bmi(item):
            obs = observation(link, item)
            obs.update(_value(item, answer.value))
            out.append(obs)
        elif _ext(item, v.CONDITION_EXTRACT) is True and answer.value is True:
            out.append(_condition(item, extracted_id(response_id, link), subject, visit, authored, source))
    bmi = _bmi(by_code, defs)
    if bmi is not None:
        item, value = bmi
        obs = observation(item["linkId"], item)
        obs["valueQuantity"] = _quantity(item, value)
        out.append(obs)
    return out


def _is_bmi(item: dict[str, Any]) -> bool:
    return any(c.get("system") == v.LOINC and c.get("code") == v.BMI for c in item.get("code") or [])


def _bmi(
    by_code: dict[str, _Answer], defs: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], Decimal] | None:
    height, weight = by_code.get(v.BODY_HEIGHT), by_code.get(v.BODY_WEIGHT)
    if height is None or weight is None:
        return None
    item = next((i for i in defs.values() if _is_bmi(i)), None)
    if item is None:
        item = {
            "linkId": "bmi",
            "text": "Chỉ số khối cơ thể (BMI)",
            "code": [{"system": v.LOINC, "code": v.BMI, "display": v.BMI_DISPLAY}],
            "extension": [
                {"url": v.QUESTIONNAIRE_UNIT, "valueCoding": {"system": v.UCUM, "code": "kg/m2"}},
                {
                    "url": v.OBSERVATION_EXTRACT_CATEGORY,
                    "valueCodeableConcept": {
                        "coding": [{"system": v.OBSERVATION_CATEGORY, "code": "vital-signs"}]
                    },
                },
            ],
        }
    metres = height.value / Decimal(100)
    value = (weight.value / (metres * metres)).quantize(Decimal("0.1"))
    return item, value


def _condition(
    item: dict[str, Any],
    res_id: str,
    subject: dict[str, Any],
    encounter: dict[str, Any],
    authored: str,
    source: dict[str, Any],
) -> dict[str, Any]:
    codings = [c for c in item.get("code") or [] if c.get("system") == v.ICD10]
    if not codings:
        raise ExtractionError(
            f"{item['linkId']}: the item names no ICD-10 code",
            link_id=item["linkId"],
            expression="Questionnaire",
        )
    code = {k: codings[0][k] for k in ("system", "code", "display") if k in codings[0]}
    return {
        "resourceType": "Condition",
        "id": res_id,
        "clinicalStatus": {
            "coding": [{"system": v.CONDITION_CLINICAL, "code": "active", "display": "Active"}]
        },
        "verificationStatus": {
            "coding": [{"system": v.CONDITION_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": v.CONDITION_CATEGORY,
                        "code": "problem-list-item",
                        "display": "Problem List Item",
                    }
                ]
            }
        ],
        "code": {"coding": [code], "text": code.get("display", code["code"])},
        "subject": subject,
        "encounter": encounter,
        "recordedDate": authored,
        "evidence": [{"detail": [source]}],
    }
