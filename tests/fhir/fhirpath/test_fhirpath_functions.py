"""A sample of the function library and operators, beyond what the official suite covers."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath.functions import FUNCTIONS

Q = {
    "resourceType": "Questionnaire",
    "item": [
        {"linkId": "1", "item": [{"linkId": "1.1"}, {"linkId": "1.2", "item": [{"linkId": "1.2.1"}]}]},
        {"linkId": "2"},
    ],
}


def ev(expression: str, resource: dict[str, Any] | None = None) -> list[Any]:
    return fhirpath.evaluate(resource or {}, expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'a,b,,c'.split(',').count()", [4]),
        ("('a' | 'b').join('-')", ["a-b"]),
        ("'  x '.trim()", ["x"]),
        ("'abcabc'.lastIndexOf('b')", [4]),
        ("'abc'.replaceMatches('(b)', '[$1]')", ["a[b]c"]),
        ("'abc'.matchesFull('a.c')", [True]),
        ("'<a>'.escape('html')", ["&lt;a&gt;"]),
        ("'aGk='.decode('base64')", ["hi"]),
        ("'hi'.encode('hex')", ["6869"]),
        ("'Tiếng Việt'.upper()", ["TIẾNG VIỆT"]),
        ("'Tiếng Việt'.length()", [10]),
        ("(1 | 2 | 3).aggregate($this + $total, 0)", [6]),
        ("(3 | 1 | 2).sort()", [1, 2, 3]),
        ("('b' | 'a' | 'c').sort(-$this)", ["c", "b", "a"]),
        ("(1 | 2 | 3 | 4).where($this mod 2 = 0).select($this * 10)", [20, 40]),
        ("(1 | 2).combine(2 | 3)", [1, 2, 2, 3]),
        ("(1 | 2 | 3).intersect(2 | 3 | 4)", [2, 3]),
        ("(1 | 2 | 3).exclude(2)", [1, 3]),
        ("2.power(10)", [1024]),
        ("2.sqrt().round(4)", [Decimal("1.4142")]),
        ("10.log(10)", [Decimal(1)]),
        ("(-7) div 2", [-3]),
        ("(-7) mod 2", [-1]),
        ("7.5 div 2", [Decimal(3)]),
        ("1.587.lowBoundary(2)", [Decimal("1.58")]),
        ("(-1.587).lowBoundary(2)", [Decimal("-1.59")]),
        ("iif({}, 1, 2)", [2]),
        ("{}.exists()", [False]),
        ("(true | false).anyTrue()", [True]),
        ("(true | false).allFalse()", [False]),
        ("'1.5'.toDecimal() + 1", [Decimal("2.5")]),
        ("'yes'.toBoolean()", [True]),
        ("@2019-01-02.toString()", ["2019-01-02"]),
        ("1.type().name", ["Integer"]),
        ("'x'.type().namespace", ["System"]),
        ("true implies {}", []),
        ("false implies {}", [True]),
        ("{} or true", [True]),
    ],
)
def test_expressions(expression: str, expected: list[Any]) -> None:
    assert ev(expression) == expected


def test_repeat_descendants_children() -> None:
    assert ev("Questionnaire.repeat(item).linkId", Q) == ["1", "2", "1.1", "1.2", "1.2.1"]
    assert ev("Questionnaire.descendants().linkId.count()", Q) == [5]
    assert ev("Questionnaire.item.first().children().linkId", Q) == ["1.1", "1.2"]
    assert ev("Questionnaire.item.first().children().count()", Q) == [3]
    assert ev("Questionnaire.descendants().ofType(BackboneElement).count()", Q) == [5]


def test_type_reflection_on_fhir_items() -> None:
    patient = {"resourceType": "Patient", "active": True, "gender": "male"}
    assert ev("Patient.type().name", patient) == ["Patient"]
    assert ev("Patient.type().baseType", patient) == ["FHIR.DomainResource"]
    assert ev("Patient.gender.type().name", patient) == ["code"]
    assert ev("Patient.gender.is(string) and Patient.gender.as(string).empty()", patient) == [True]
    assert ev("Patient.is(DomainResource) and Patient.ofType(Resource).exists()", patient) == [True]


def test_trace_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="senhealth.fhir.fhirpath.trace"):
        assert ev("(1 | 2).trace('numbers').count()") == [2]
    assert "numbers: [1, 2]" in caplog.text


def test_every_spec_function_is_registered() -> None:
    names = [
        "empty",
        "exists",
        "all",
        "allTrue",
        "anyTrue",
        "allFalse",
        "anyFalse",
        "subsetOf",
        "supersetOf",
        "count",
        "distinct",
        "isDistinct",
        "where",
        "select",
        "repeat",
        "ofType",
        "single",
        "first",
        "last",
        "tail",
        "skip",
        "take",
        "intersect",
        "exclude",
        "union",
        "combine",
        "iif",
        "toBoolean",
        "convertsToBoolean",
        "toInteger",
        "convertsToInteger",
        "toDecimal",
        "convertsToDecimal",
        "toString",
        "convertsToString",
        "toDate",
        "convertsToDate",
        "toDateTime",
        "convertsToDateTime",
        "toTime",
        "convertsToTime",
        "toQuantity",
        "convertsToQuantity",
        "indexOf",
        "lastIndexOf",
        "substring",
        "startsWith",
        "endsWith",
        "contains",
        "upper",
        "lower",
        "replace",
        "matches",
        "matchesFull",
        "replaceMatches",
        "length",
        "toChars",
        "trim",
        "split",
        "join",
        "encode",
        "decode",
        "escape",
        "unescape",
        "abs",
        "ceiling",
        "exp",
        "floor",
        "ln",
        "log",
        "power",
        "round",
        "sqrt",
        "truncate",
        "children",
        "descendants",
        "trace",
        "now",
        "timeOfDay",
        "today",
        "aggregate",
        "defineVariable",
        "sort",
        "not",
        "is",
        "as",
        "type",
        "lowBoundary",
        "highBoundary",
        "precision",
        "comparable",
        "extension",
        "hasValue",
        "getValue",
        "resolve",
        "memberOf",
        "conformsTo",
        "htmlChecks",
        "getResourceKey",
        "getReferenceKey",
    ]
    assert sorted(set(names) - set(FUNCTIONS)) == []
