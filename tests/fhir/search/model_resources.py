"""Builds hand-made resources from the R4 model that populate the element behind every search parameter.

For each resource type and a variant number, every parameter expression (and composite component) is
walked step by step and the JSON it selects is created with a plausible value of the element's type;
choice elements take their ``variant``-th type, so a few variants cover every choice branch.
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import search_params_for
from senhealth.fhir.search.pathexpr import (
    Child,
    Node,
    OfType,
    Path,
    Union,
    WhereEquals,
    WhereResolveIs,
    parse,
)

UCUM = "http://unitsofmeasure.org"
TARGETS = ("Patient", "Practitioner", "Location", "Group", "Organization", "RelatedPerson")

PRIMITIVES: dict[str, Any] = {
    "boolean": True,
    "integer": 3,
    "positiveInt": 2,
    "unsignedInt": 0,
    "decimal": 1.5,
    "string": "Nguyễn Thị Đào",
    "markdown": "Ghi chú **đậm**",
    "code": "c1",
    "id": "id1",
    "uri": "http://x.org/a",
    "url": "http://x.org/u",
    "canonical": "http://x.org/fhir/ValueSet/v1|2.0",
    "oid": "urn:oid:1.2.3",
    "uuid": "urn:uuid:0f3c3a8e-1111-4a2b-9c9d-000000000001",
    "date": "2020-02",
    "dateTime": "2020-01-02T03:04:05+07:00",
    "instant": "2020-01-02T03:04:05.123Z",
    "time": "10:00:00",
    "base64Binary": "AA==",
}


def complex_value(type_name: str, variant: int) -> Any:
    quantity = {"value": 5.5, "unit": "mg", "system": UCUM, "code": "mg"}
    period = {"start": "2020-01-01", "end": "2020-03"} if variant % 2 else {"start": "2019-05-06T07:08:09Z"}
    values: dict[str, Any] = {
        "Coding": {"system": "http://loinc.org", "code": "1234-5", "display": "Đường huyết"},
        "CodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "123", "display": "Sốt"}],
            "text": "Sốt xuất huyết",
        },
        "Identifier": {
            "system": "urn:vn:cccd",
            "value": "001190012345",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]},
        },
        "Reference": {"reference": f"{TARGETS[variant % len(TARGETS)]}/r{variant}"},
        "Quantity": quantity,
        "Age": {**quantity, "code": "a", "unit": "years"},
        "Duration": {**quantity, "code": "min"},
        "Distance": {**quantity, "code": "km"},
        "Count": {"value": 2},
        "SimpleQuantity": quantity,
        "Money": {"value": 150000, "currency": "VND"},
        "Range": {
            "low": {"value": 1, "system": UCUM, "code": "a"},
            "high": {"value": 5, "system": UCUM, "code": "a"},
        },
        "Ratio": {"numerator": quantity, "denominator": {"value": 1}},
        "Period": period,
        "Timing": {"event": ["2020-05-01", "2020-04-01T10:00:00+07:00"], "repeat": {"boundsPeriod": period}},
        "HumanName": {"family": "Trần", "given": ["Văn", "Ân"], "prefix": ["Ông"]},
        "Address": {"line": ["12 Lê Lợi"], "city": "Huế", "district": "Phú Hội", "country": "VN"},
        "ContactPoint": {"system": "phone", "value": "0912345678", "use": "mobile"},
        "Attachment": {"url": "http://x.org/file.pdf", "title": "Kết quả"},
        "SampledData": {"origin": {"value": 0}, "period": 1, "dimensions": 1, "data": "1 2"},
        "Signature": {
            "type": [{"code": "1.2"}],
            "when": "2020-01-01T00:00:00Z",
            "who": {"reference": "Practitioner/1"},
        },
        "Resource": {"resourceType": "Composition", "id": "c1"},
        "Location.position": {"latitude": 16.4637, "longitude": 107.5909},
    }
    return values.get(type_name)


class Builder:
    def __init__(self, resource_type: str, variant: int) -> None:
        self.model = get_model()
        self.resource_type = resource_type
        self.variant = variant
        self.resource: dict[str, Any] = {"resourceType": resource_type, "id": f"v{variant}"}

    def value(self, type_path: str) -> Any:
        if type_path in PRIMITIVES:
            return PRIMITIVES[type_path]
        return complex_value(type_path, self.variant)

    def walk(self, node: dict[str, Any], type_path: str, steps: tuple[Any, ...], fresh: bool = False) -> None:
        """Create what ``steps`` select under ``node``; ``fresh``: new array items (for where() terms)."""
        if not steps:
            return
        step = steps[0]
        if isinstance(step, WhereEquals):
            if len(step.fields) == 1:
                node[step.fields[0]] = step.value
            self.walk(node, type_path, steps[1:], fresh)
            return
        if isinstance(step, WhereResolveIs):
            if (self.variant // 2) % 2 == 0:
                node["reference"] = f"{step.type_name}/t{self.variant}"
            self.walk(node, type_path, steps[1:], fresh)
            return
        if not isinstance(step, Child) or step.name[:1].isupper():  # other steps, leading type filter
            self.walk(node, type_path, steps[1:], fresh)
            return
        elem = self.model.child(type_path, step.name)
        if elem is None:
            return
        rest = steps[1:]
        if elem.choice:
            types = list(elem.types)
            if rest and isinstance(rest[0], OfType):
                wanted = rest[0].type_name.lower()
                types = [t for t in types if t.lower() == wanted] or types
                rest = rest[1:]
            chosen = types[self.variant % len(types)]
            key, child_tp = step.name + chosen[0].upper() + chosen[1:], chosen
        else:
            key, child_tp = step.name, elem.type_path or "BackboneElement"
        if child_tp == "Resource" and rest and isinstance(rest[0], OfType):
            child_tp = rest[0].type_name
        existing = node.get(key)
        current = existing[0] if isinstance(existing, list) and existing else existing
        if fresh and elem.is_array and rest:
            current = None
        if not rest or child_tp in PRIMITIVES:
            if current is None:
                current = self.value(child_tp)
                if current is None:
                    current = {}
        elif current is None or not isinstance(current, dict):
            current = self.value(child_tp) if child_tp not in PRIMITIVES else None
            current = dict(current) if isinstance(current, dict) else {}
            if child_tp == "Resource" or self.model.is_resource(child_tp):
                current.setdefault("resourceType", child_tp if child_tp != "Resource" else "Composition")
        if current is None:
            return
        if elem.is_array:
            items = existing if isinstance(existing, list) else []
            if current is not (items[0] if items else None):
                items.append(current)
            node[key] = items
        else:
            node[key] = current
        if isinstance(current, dict) and rest:
            self.walk(current, child_tp, rest, fresh)

    def add(self, node: Node, base: str) -> None:
        terms = node.terms if isinstance(node, Union) else (node,)
        for term in terms:
            if isinstance(term, Path):
                fresh = any(isinstance(s, WhereEquals | WhereResolveIs) for s in term.steps)
                self.walk(self.resource, base, term.steps, fresh)


def build(resource_type: str, variant: int) -> dict[str, Any]:
    b = Builder(resource_type, variant)
    for p in search_params_for(resource_type).values():
        if not p.expression:
            continue
        node = parse(p.expression)
        b.add(node, resource_type)
        bases = [t for t in (node.terms if isinstance(node, Union) else (node,)) if isinstance(t, Path)]
        for _, comp_expr in p.components:  # composites: each component under each base element
            comp = parse(comp_expr)
            for term in comp.terms if isinstance(comp, Union) else (comp,):
                if not isinstance(term, Path):
                    continue
                for base in bases:
                    steps = term.steps if term.root == "resource" else base.steps + term.steps
                    b.walk(b.resource, resource_type, steps)
    return b.resource
