"""The public API: compile/evaluate, caching, result conversion, variables, environment, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath import (
    FHIRPathEvaluationError,
    FHIRPathSemanticError,
    FHIRPathSyntaxError,
    FPDate,
    Quantity,
    item_type,
)

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "name": [
        {"use": "official", "family": "Nguyen", "given": ["Van", "An"]},
        {
            "use": "nickname",
            "given": [None, "Bo"],
            "_given": [{"extension": [{"url": "http://x", "valueString": "y"}]}],
        },
    ],
    "birthDate": "1974-12-25",
    "_birthDate": {
        "id": "bd",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00",
            }
        ],
    },
    "contact": [{"name": {"family": "Tran"}, "telecom": [{"system": "phone", "value": "123"}]}],
}
OBSERVATION: dict[str, Any] = json.loads(
    '{"resourceType": "Observation", "id": "o1", "status": "final",'
    ' "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}, {"system": "http://snomed.info/sct", "code": "27113001"}]},'
    ' "subject": {"reference": "Patient/p1"},'
    ' "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}'
)


def test_evaluate_paths() -> None:
    assert fhirpath.evaluate(PATIENT, "Patient.name.given") == ["Van", "An", "Bo"]
    assert fhirpath.evaluate(PATIENT, "name.where(use = 'official').family") == ["Nguyen"]
    assert fhirpath.evaluate(PATIENT, "Patient.contact.name.family") == ["Tran"]
    assert fhirpath.evaluate(PATIENT, "Practitioner.name") == []


def test_results_are_json_values() -> None:
    # a FHIR date comes back as its JSON string, but compares as a Date inside the expression
    assert fhirpath.evaluate(PATIENT, "birthDate") == ["1974-12-25"]
    assert fhirpath.evaluate(PATIENT, "birthDate < @2000-01-01") == [True]
    assert fhirpath.evaluate(PATIENT, "birthDate > @1974-12") == []  # precisions differ
    # decimals from floats become Decimal via their repr
    assert fhirpath.evaluate(OBSERVATION, "Observation.value.value") == [Decimal("72.5")]
    assert fhirpath.evaluate(OBSERVATION, "(Observation.value as Quantity).value") == [Decimal("72.5")]
    # complex types come back as dicts
    assert fhirpath.evaluate(OBSERVATION, "Observation.value") == [OBSERVATION["valueQuantity"]]
    # FHIRPath-only values are small objects whose str() is the literal
    [d] = fhirpath.evaluate(PATIENT, "birthDate.toDate() + 1 year")
    assert isinstance(d, FPDate) and str(d) == "@1975-12-25"
    [q] = fhirpath.evaluate(OBSERVATION, "Observation.value.toQuantity('g')")
    assert isinstance(q, Quantity) and str(q) == "72500.0 'g'"
    assert fhirpath.evaluate({}, "1 + 1") == [2]
    assert fhirpath.evaluate({}, "1 / 4") == [Decimal("0.25")]


def test_primitive_extensions_and_value_less_primitives() -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    assert fhirpath.evaluate(PATIENT, f"birthDate.extension('{url}').value") == ["1974-12-25T14:35:45-05:00"]
    assert fhirpath.evaluate(PATIENT, "birthDate.id") == ["bd"]
    # the given without a value counts inside the expression but is not returned
    assert fhirpath.evaluate(PATIENT, "name[1].given.count()") == [2]
    assert fhirpath.evaluate(PATIENT, "name[1].given.select($this.hasValue())") == [False, True]
    assert fhirpath.evaluate(PATIENT, "name[1].given") == ["Bo"]


def test_evaluate_items_keep_types() -> None:
    expr = fhirpath.compile("Patient.name.use | Patient.birthDate | 1 | 'a'")
    assert [item_type(x) for x in expr.evaluate_items(PATIENT)] == [
        "FHIR.code",
        "FHIR.code",
        "FHIR.date",
        "System.Integer",
        "System.String",
    ]


def test_compile_cache() -> None:
    a = fhirpath.compile("Patient.name.given")
    b = fhirpath.compile("Patient.name.given")
    assert a is b
    assert fhirpath.compile("Patient.name.given", base_type="Patient") is not a
    assert a(PATIENT) == b(PATIENT)


def test_variables() -> None:
    assert fhirpath.evaluate(PATIENT, "%x + 1", {"x": 41}) == [42]
    assert fhirpath.evaluate(PATIENT, "%names.count()", {"names": ["a", "b"]}) == [2]
    assert fhirpath.evaluate(PATIENT, "%other.name.family", {"other": PATIENT}) == ["Nguyen"]
    assert fhirpath.evaluate(PATIENT, "%ucum & ' ' & %loinc") == [
        "http://unitsofmeasure.org http://loinc.org"
    ]
    assert fhirpath.evaluate(PATIENT, "%`vs-administrative-gender`") == [
        "http://hl7.org/fhir/ValueSet/administrative-gender"
    ]
    assert fhirpath.evaluate(PATIENT, "%`ext-patient-birthTime`") == [
        "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    ]
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "%nope")


def test_define_variable_scope() -> None:
    assert fhirpath.evaluate(PATIENT, "defineVariable('n', name.given).select(%n.count())") == [4]
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "defineVariable('n', 1).name | %n")
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "defineVariable('n', 1).defineVariable('n', 2)")


def test_evaluation_on_an_element_with_environment() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": PATIENT}]}
    name = PATIENT["name"][0]
    inv = fhirpath.compile(
        "family.exists() and %resource.id = 'p1' and %rootResource.type = 'collection'", base_type="HumanName"
    )
    assert inv(name, resource=PATIENT, root_resource=bundle) == [True]
    # %context is the input node; $this too
    assert fhirpath.compile("%context.family = $this.family", base_type="HumanName")(name) == [True]
    # a backbone element path as the type
    contact = PATIENT["contact"][0]
    expr = fhirpath.compile("telecom.where(system = 'phone').value", base_type="Patient.contact")
    assert expr(contact) == ["123"]
    # node_type given per call
    assert fhirpath.compile("given.first()")(name, node_type="HumanName") == ["Van"]


def test_semantic_errors_at_compile_time() -> None:
    with pytest.raises(FHIRPathSemanticError) as info:
        fhirpath.compile("Observation.valueQuantity.value")
    assert "valueQuantity" in str(info.value) and "column 13" in str(info.value)
    with pytest.raises(FHIRPathSemanticError):
        fhirpath.compile("name.given1", base_type="Patient")
    with pytest.raises(FHIRPathSemanticError):
        fhirpath.compile("name.where(nope = 1)", base_type="Patient")
    with pytest.raises(FHIRPathSemanticError):
        fhirpath.compile("Patient.name.frobnicate()")
    with pytest.raises(FHIRPathSemanticError):
        fhirpath.compile("value.ofType(Nonsense)")
    # without a known type the name is just absent
    assert fhirpath.compile("name.given1")(PATIENT) == []
    # another resource type is not an error unless strict
    assert fhirpath.compile("Encounter.status", base_type="Patient")(PATIENT) == []
    with pytest.raises(FHIRPathSemanticError):
        fhirpath.compile("Encounter.status", base_type="Patient", strict=True)
    # 'is' with a type this FHIR version lacks is false, not an error (R4B invariants name such types)
    assert fhirpath.evaluate(PATIENT, "$this is Citation") == [False]


def test_syntax_error_from_compile() -> None:
    with pytest.raises(FHIRPathSyntaxError) as info:
        fhirpath.compile("Patient.name.where(")
    assert info.value.position == 19
    assert info.value.expression == "Patient.name.where("


def test_execution_errors() -> None:
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "name.single()")
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "name.given + 1")
    with pytest.raises(FHIRPathEvaluationError):
        fhirpath.evaluate(PATIENT, "birthDate < 'x' or 1 < 'x'")


def test_untyped_input() -> None:
    # no resourceType: navigation falls back to the JSON, choice keys included
    data = {"valueString": "hello", "items": [{"n": 1.5}, {"n": 2}]}
    assert fhirpath.evaluate(data, "value") == ["hello"]
    assert fhirpath.evaluate(data, "items.n") == [Decimal("1.5"), 2]
    assert fhirpath.evaluate(data, "items.n.aggregate($this + $total, 0)") == [Decimal("3.5")]


def test_compiled_expression_is_reusable_and_thread_independent() -> None:
    expr = fhirpath.compile("name.given.where(hasValue()).select($this & '-' & $index.toString())")
    assert expr(PATIENT) == ["Van-0", "An-1", "Bo-2"]
    assert expr(PATIENT) == ["Van-0", "An-1", "Bo-2"]
    assert expr({"resourceType": "Patient"}) == []


def test_compiled_expression_does_not_parse_again(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Patient.name.where(use = 'official').given.first()"
    expr = fhirpath.compile(text)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr("senhealth.fhir.fhirpath.parser.Parser", fail)
    monkeypatch.setattr("senhealth.fhir.fhirpath.lexer.tokenize", fail)
    assert expr(PATIENT) == ["Van"]
    assert fhirpath.compile(text) is expr
    assert fhirpath.evaluate(PATIENT, text) == ["Van"]


def test_non_string_expression() -> None:
    with pytest.raises(TypeError):
        fhirpath.compile(42)  # type: ignore[arg-type]


def test_invariant_on_a_primitive_with_only_extensions() -> None:
    patient = {"resourceType": "Patient", "_birthDate": {"extension": [{"url": "x", "valueCode": "unknown"}]}}
    ele1 = fhirpath.compile("hasValue() or (children().count() > id.count())", base_type="date")
    assert ele1(fhirpath.Node(None, "date", "date", patient, "birthDate")) == [True]
    assert ele1("2020-01-01") == [True]
    assert fhirpath.evaluate(patient, "birthDate.children().count()") == [1]
    assert fhirpath.evaluate(patient, "birthDate.exists() and birthDate.hasValue().not()") == [True]
    assert fhirpath.evaluate(patient, "birthDate") == []


def test_abstract_and_union_base_types() -> None:
    assert fhirpath.compile("name.family", base_type="Resource")(PATIENT) == ["Nguyen"]
    assert fhirpath.compile("Patient.name.family | Encounter.id", base_type="DomainResource")(PATIENT) == [
        "Nguyen"
    ]
    # the Encounter branch is dropped at compile time for a Patient
    assert fhirpath.compile("Patient.id | Encounter.id", base_type="Patient")(PATIENT) == ["p1"]
    # a resource is typed by its resourceType whatever base_type says
    assert fhirpath.compile("name.family", base_type="DomainResource")(PATIENT) == ["Nguyen"]


def test_fhirpath_values_serialise_as_literals() -> None:
    import orjson

    values = fhirpath.evaluate(PATIENT, "birthDate.toDate() | @T10:30 | 5 'mg' | @2019-01-02T10:00:00Z")
    assert orjson.loads(orjson.dumps(values, default=str)) == [
        "@1974-12-25",
        "@T10:30",
        "5 'mg'",
        "@2019-01-02T10:00:00Z",
    ]
    assert repr(values[0]) == "FPDate(year=1974, month=12, day=25)"
    assert values[0] == FPDate(1974, 12, 25) and len({values[0], FPDate(1974, 12, 25)}) == 1
