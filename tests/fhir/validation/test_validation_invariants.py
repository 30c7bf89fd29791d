"""Invariants: the native rules mean what their FHIRPath expressions say, guards are sound."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_validation_valid import VALID
from validation_cases import CASES

from senhealth.fhir import fhirpath
from senhealth.fhir.model import ElementInfo, get_model, load_data
from senhealth.fhir.validation.context import Ctx
from senhealth.fhir.validation.invariant_rules import SKIPPED
from senhealth.fhir.validation.invariants import NATIVE_RULES, guard_names

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "synthea"


def test_every_native_rule_matches_a_model_constraint() -> None:
    constraints = {(row[0], row[2]) for row in load_data("r4-structures.json.gz")["constraints"]}
    missing = [key for key in NATIVE_RULES if key not in constraints]
    assert not missing


def test_skipped_keys_are_enforced_structurally() -> None:
    assert {"ele-1", "ext-1", "ref-1", "dom-2", "dom-4", "dom-5"} == SKIPPED


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("name.exists() or telecom.exists()", {"name", "telecom"}),
        ("code.empty() or system.exists()", {"code", "system"}),
        ("(numerator.empty() xor denominator.exists())", {"numerator", "denominator"}),
        ("coding.where(system = 'x').exists()", {"coding", "system"}),
        ("text.`div`.exists()", {"text"}),
        ("system.empty() or system = %ucum", {"system"}),
        ("answer is Boolean", {"answer"}),
    ],
)
def test_guard_names(expression: str, names: set[str]) -> None:
    assert guard_names(expression) == frozenset(names)


@pytest.mark.parametrize(
    "expression",
    [
        "hasValue() or (children().count() > id.count())",
        "where(use = 'home').empty()",
        "%resource.type = 'batch'",
        "Appointment.status = 'noshow'",
        "$this = '*'",
        "iif(max != '*', min <= max.toInteger())",
    ],
)
def test_no_guard_for_expressions_reading_the_whole_context(expression: str) -> None:
    assert guard_names(expression) is None


# -- the native rules agree with the FHIRPath engine -------------------------------------------------


def _element(type_path: str, key: str) -> tuple[ElementInfo, str] | None:
    model = get_model()
    el = model.child(type_path, key)
    if el is not None and not el.choice:
        return el, el.types[0] if el.types else "BackboneElement"
    for kid in model.children(type_path).values():
        if kid.choice:
            for json_name, t in kid.json_names():
                if json_name == key:
                    return kid, t
    return None


def _nodes(node: dict[str, Any], type_path: str) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """(type path, node, constraints) for every object in a resource, not entering nested resources."""
    model = get_model()
    info = model.types.get(type_path)
    own = info.root.constraints if info is not None else ()
    yield type_path, node, own
    for key, value in node.items():
        found = _element(type_path, key)
        if found is None:
            continue
        el, t = found
        if t == "Resource" or model.is_resource(t):
            continue
        child_tp = t if el.choice or el.type_path is None else el.type_path
        for item in value if isinstance(value, list) else [value]:
            if model.is_primitive(t):
                yield t, item, el.constraints
            elif isinstance(item, dict):
                yield child_tp, item, el.constraints
                yield from _nodes(item, child_tp)


def _resources() -> list[dict[str, Any]]:
    out = [r for _n, r in VALID] + [c[1] for c in CASES]
    for path in sorted(SYNTHEA.glob("*.json"))[:4] if SYNTHEA.is_dir() else []:
        out.extend(e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"])
    return [
        r for r in out if isinstance(r.get("resourceType"), str) and r["resourceType"] in get_model().types
    ]


def test_native_rules_agree_with_fhirpath() -> None:
    checked = 0
    disagreements: list[tuple[str, str, Any, bool, list[Any]]] = []
    for resource in _resources():
        for type_path, node, constraints in _nodes(resource, resource["resourceType"]):
            for c in constraints:
                rule = NATIVE_RULES.get((c.key, c.expression))
                if rule is None or c.key in ("txt-1", "txt-2"):
                    continue  # htmlChecks() is not a FHIRPath function
                ctx = Ctx()
                ctx.resource = ctx.root = resource
                native = rule(node, ctx) is True
                try:
                    expected = fhirpath.compile(c.expression, base_type=type_path)(
                        node, resource=resource, root_resource=resource
                    )
                except fhirpath.FHIRPathError:
                    continue
                if expected not in ([True], [False]):
                    continue  # unknown (e.g. dates of different precision): the native rule passes
                checked += 1
                if native != expected[0]:
                    disagreements.append((c.key, type_path, node, native, expected))
    assert checked > 1000
    assert not disagreements, disagreements[:5]
