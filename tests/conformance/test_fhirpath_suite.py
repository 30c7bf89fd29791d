"""The official FHIRPath test suite for FHIR R4 (``tests-fhir-r4.xml``, 935 cases), run as pytest cases.

Source: HL7 fhir-test-cases (``r4/fhirpath``), read from ``../shared/conformance/fhirpath`` (inputs as
JSON). How a case is judged:

- ``invalid="syntax"``: compiling must raise :class:`FHIRPathSyntaxError`;
  ``invalid="semantic"``/``"execution"``: compiling or evaluating must raise a :class:`FHIRPathError`
  (the engine finds some semantic faults at compile time and some at run time; an expression the
  lexer already rejects, such as a time literal with a zone, counts as invalid too);
- ``mode="strict"``: compiled with ``strict=True``; every case is compiled with ``base_type`` set to
  the input's ``resourceType``, as search extraction and validation do;
- ``predicate="true"``: the result is reduced to whether it is non-empty;
- outputs are compared in order (unless ``ordered="false"``) and by type: ``boolean``, ``integer``,
  ``decimal`` (by value), ``string``, ``code``, ``id``, ``date``/``dateTime``/``time`` (the FHIRPath
  literal), ``Quantity``; an output without a type is compared by its literal form.

Failing cases are listed with a reason in ``fhirpath_known_failures.json`` and marked
``xfail(strict=True)``, so fixing one is noticed. ``test_pass_rate`` prints the pass count and asserts
at least 95 %.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath import FHIRPathError, FHIRPathSyntaxError, item_type
from senhealth.fhir.fhirpath.quantity import Quantity, format_decimal
from senhealth.fhir.fhirpath.temporal import FPDate, FPDateTime, FPTime
from senhealth.fhir.fhirpath.values import system_value

SUITE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "fhirpath"
SUITE_FILE = SUITE_DIR / "tests-fhir-r4.xml"
KNOWN_FAILURES_FILE = Path(__file__).with_name("fhirpath_known_failures.json")
REQUIRED_RATE = 0.95

if not SUITE_FILE.exists():
    pytest.skip(
        f"FHIRPath suite not found at {SUITE_FILE} (the shared/ folder is absent)", allow_module_level=True
    )

pytestmark = pytest.mark.conformance


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    name: str
    expression: str
    inputfile: str | None
    invalid: str | None
    strict: bool
    predicate: bool
    ordered: bool
    outputs: list[tuple[str | None, str]] = field(default_factory=list)


def _load_cases() -> list[Case]:
    root = ET.parse(SUITE_FILE).getroot()
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for group in root.iter("group"):
        for t in group.iter("test"):
            e = t.find("expression")
            assert e is not None and e.text is not None
            name = t.get("name", "?")
            seen[name] = seen.get(name, 0) + 1
            case_id = name if seen[name] == 1 else f"{name}#{seen[name]}"
            cases.append(
                Case(
                    id=case_id,
                    group=group.get("name", ""),
                    name=name,
                    expression=e.text,
                    inputfile=t.get("inputfile"),
                    invalid=e.get("invalid"),
                    strict=(t.get("mode") or e.get("mode")) == "strict",
                    predicate=t.get("predicate") == "true",
                    ordered=t.get("ordered") != "false",
                    outputs=[(o.get("type"), o.text or "") for o in t.findall("output")],
                )
            )
    return cases


CASES = _load_cases()
KNOWN_FAILURES: dict[str, str] = (
    json.loads(KNOWN_FAILURES_FILE.read_text()) if KNOWN_FAILURES_FILE.exists() else {}
)


@cache
def _input(inputfile: str) -> Any:
    path = SUITE_DIR / "input" / (inputfile.rsplit(".", 1)[0] + ".json")
    return orjson.loads(path.read_bytes())


def _literal(v: Any) -> str:
    if v.__class__ is bool:
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format_decimal(v)
    return str(v)


def _matches(item: Any, expected_type: str | None, text: str) -> bool:
    v = system_value(item)
    t = item_type(item)
    if expected_type is None:
        return _literal(v) == text
    if expected_type == "boolean":
        return v.__class__ is bool and _literal(v) == text
    if expected_type == "integer":
        return v.__class__ is int and str(v) == text
    if expected_type == "decimal":
        try:
            return isinstance(v, Decimal | int) and v.__class__ is not bool and Decimal(v) == Decimal(text)
        except InvalidOperation:
            return False
    if expected_type in ("code", "id"):
        return t == f"FHIR.{expected_type}" and v == text
    if expected_type == "string":
        return isinstance(v, str) and t != "FHIR.code" and v == text
    if expected_type == "date":
        return isinstance(v, FPDate) and str(v) == text
    if expected_type == "dateTime":
        return isinstance(v, FPDateTime) and str(v) == text
    if expected_type == "time":
        return isinstance(v, FPTime) and str(v) == text
    if expected_type == "Quantity":
        return isinstance(v, Quantity) and str(v) == text
    return False


def run_case(case: Case) -> str | None:
    """None when the engine does what the case expects, otherwise what went wrong."""
    resource = _input(case.inputfile) if case.inputfile else None
    base_type = resource.get("resourceType") if isinstance(resource, dict) else None
    try:
        expr = fhirpath.compile(case.expression, base_type=base_type, strict=case.strict)
    except FHIRPathSyntaxError as e:
        return None if case.invalid else f"syntax error: {e}"
    except FHIRPathError as e:
        return None if case.invalid in ("semantic", "execution") else f"compile error: {e}"
    try:
        items = expr.evaluate_items(resource)
    except FHIRPathError as e:
        return None if case.invalid in ("semantic", "execution") else f"evaluation error: {e}"
    if case.invalid:
        return f"expected a {case.invalid} error, got {[_literal(system_value(x)) for x in items]}"
    if case.predicate:
        items = [bool(items)]
    got = [(item_type(x), _literal(system_value(x))) for x in items]
    if len(items) != len(case.outputs):
        return f"expected {case.outputs}, got {got}"
    if case.ordered:
        ok = all(_matches(x, t, s) for x, (t, s) in zip(items, case.outputs))
    else:
        remaining = list(items)
        ok = True
        for t, s in case.outputs:
            hit = next((x for x in remaining if _matches(x, t, s)), None)
            if hit is None:
                ok = False
                break
            remaining.remove(hit)
    return None if ok else f"expected {case.outputs}, got {got}"


def _param(case: Case) -> Any:
    marks = []
    if case.id in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[case.id], strict=True))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_fhirpath_case(case: Case) -> None:
    failure = run_case(case)
    assert failure is None, f"{case.expression!r}: {failure}"


def test_pass_rate(capsys: pytest.CaptureFixture[str]) -> None:
    failures = {c.id: f for c in CASES if (f := run_case(c)) is not None}
    passed = len(CASES) - len(failures)
    with capsys.disabled():
        print(f"\nFHIRPath R4 suite: {passed}/{len(CASES)} passed ({passed / len(CASES):.1%})")
    assert len(CASES) == 935
    assert passed >= REQUIRED_RATE * len(CASES)
    assert set(failures) == set(KNOWN_FAILURES), "known failures list is out of date"
