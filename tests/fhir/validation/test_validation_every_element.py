"""The validator never raises, whatever element of whatever type holds whatever JSON.

For every resource type, resources are built from the R4 model with every element present (choice
elements take each of their types in turn), then the same resources with every value swapped for a
value of the wrong JSON kind. ``validate`` must answer each with an OperationOutcome; the well-typed ones
must have no structural error, the mistyped ones must have errors. (A crash found this way: the
invariant guard of ``RiskAssessment.prediction`` assumed every node was an object.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from senhealth.fhir.model import ElementInfo, get_model
from senhealth.fhir.validation import validate

MODEL = get_model()
PRIMITIVE_VALUES: dict[str, Any] = {
    "boolean": True,
    "integer": 7,
    "positiveInt": 2,
    "unsignedInt": 0,
    "decimal": Decimal("1.50"),
    "code": "c",
    "id": "a1",
    "string": "Trần Văn Bình",
    "markdown": "**ghi chú**",
    "uri": "http://example.org/a",
    "url": "http://example.org/u",
    "canonical": "http://example.org/fhir/ValueSet/x",
    "oid": "urn:oid:1.2.3",
    "uuid": "urn:uuid:5b0c7a8e-0a3c-4c53-9a55-0d2f0a0f4e11",
    "date": "2024-02-29",
    "dateTime": "2024-02-29T08:30:00+07:00",
    "instant": "2024-02-29T08:30:00.000Z",
    "time": "08:30:00",
    "base64Binary": "U2Vu",
    "xhtml": '<div xmlns="http://www.w3.org/1999/xhtml">Sen</div>',
}
WRONG = (1.25, "x", {"a": 1}, [1], True)
MAX_DEPTH = 3


def build(type_path: str, variant: int, depth: int = 0) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for el in MODEL.children(type_path).values():
        if el.name in ("id", "extension", "modifierExtension", "contained") or el.max == 0:
            continue
        value = element_value(el, variant, depth)
        if value is None:
            continue
        name, _ = list(el.json_names())[variant % len(el.types)] if el.choice else (el.name, None)
        node[name] = [value] if el.is_array else value
    return node


def element_value(el: ElementInfo, variant: int, depth: int) -> Any:
    type_name = el.types[variant % len(el.types)] if el.types else "BackboneElement"
    if type_name in PRIMITIVE_VALUES:
        return PRIMITIVE_VALUES[type_name]
    if type_name in ("Resource", "DomainResource"):
        return {"resourceType": "Basic", "code": {"text": "x"}} if depth < MAX_DEPTH else None
    if depth >= MAX_DEPTH:
        return None
    path = el.type_path or type_name
    if type_name == "Reference":
        return {"display": "Sen"}
    if type_name == "Extension":
        return {"url": "http://example.org/ext", "valueString": "x"}
    if type_name == "Narrative":
        return {"status": "generated", "div": PRIMITIVE_VALUES["xhtml"]}
    value = build(path, variant, depth + 1)
    return value or None


def mistype(node: Any, k: int) -> Any:
    """Every leaf replaced by a value of another JSON kind (chosen by position)."""
    if isinstance(node, dict):
        return {
            key: (v if key == "resourceType" else mistype(v, k + i))
            for i, (key, v) in enumerate(node.items())
        }
    if isinstance(node, list):
        return [mistype(v, k + i) for i, v in enumerate(node)]
    wrong = WRONG[k % len(WRONG)]
    return wrong if type(wrong) is not type(node) else WRONG[(k + 1) % len(WRONG)]


@pytest.mark.parametrize("resource_type", MODEL.resource_types())
def test_every_element_never_raises(resource_type: str) -> None:
    for variant in range(3):
        resource = {"resourceType": resource_type, **build(resource_type, variant)}
        outcome = validate(resource)
        assert outcome["resourceType"] == "OperationOutcome"
        structural = [
            i for i in outcome["issue"] if i["severity"] == "error" and i["code"] in ("structure", "value")
        ]
        assert structural == [], (variant, structural[:3])
        broken = validate({"resourceType": resource_type, **mistype(build(resource_type, variant), variant)})
        assert any(i["severity"] == "error" for i in broken["issue"])
