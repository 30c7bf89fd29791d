"""Composite extraction: component values combined per base element, never across elements."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from search_support import values

from senhealth.fhir.search.params import CompositeValue as C
from senhealth.fhir.search.params import DateValue, QuantityValue, StringValue, TokenValue
from senhealth.fhir.search.params import NumberValue as N

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def mmhg(v: int) -> dict[str, Any]:
    return {"value": v, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}


def q(v: int) -> QuantityValue:
    return QuantityValue(
        Decimal(v), Decimal(v), UCUM, "mm[Hg]", "mm[Hg]", Decimal(v) / 1000, Decimal(v) / 1000, "m[Hg]"
    )


BP: dict[str, Any] = {
    "resourceType": "Observation",
    "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
    "component": [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": mmhg(120)},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": mmhg(80)},
    ],
}
SYS, DIA = TokenValue(LOINC, "8480-6"), TokenValue(LOINC, "8462-4")


def test_components_pair_only_within_their_own_element() -> None:
    assert values(BP, "component-code-value-quantity") == [C((SYS, q(120))), C((DIA, q(80)))]
    assert values(BP, "combo-code-value-quantity") == [C((SYS, q(120))), C((DIA, q(80)))]
    assert values(BP, "code-value-quantity") == []  # the panel itself has no value


def test_code_value_quantity_takes_every_coding_and_the_text() -> None:
    glucose = {
        "resourceType": "Observation",
        "code": {
            "coding": [{"system": LOINC, "code": "2339-0"}, {"system": "urn:local", "code": "GLU"}],
            "text": "Đường huyết",
        },
        "valueQuantity": {"value": 5, "system": UCUM, "code": "mmol/L"},
    }
    qv = QuantityValue(Decimal(5), Decimal(5), UCUM, "mmol/L", None, Decimal(5), Decimal(5), "m-3.mol")
    tokens = [
        TokenValue(LOINC, "2339-0"),
        TokenValue("urn:local", "GLU"),
        TokenValue(None, None, "duong huyet"),
    ]
    assert values(glucose, "code-value-quantity") == [C((t, qv)) for t in tokens]
    assert values(glucose, "combo-code-value-quantity") == [C((t, qv)) for t in tokens]


def test_code_value_date_string_and_concept() -> None:
    code = {"coding": [{"system": LOINC, "code": "X"}]}
    token = TokenValue(LOINC, "X")
    # value.ofType(DateTime) | value.ofType(Period): DateTime means the FHIR dateTime choice
    dated = {"resourceType": "Observation", "code": code, "valueDateTime": "2021-06-01T00:00:00Z"}
    (c,) = values(dated, "code-value-date")
    assert isinstance(c, C) and c.parts[0] == token and isinstance(c.parts[1], DateValue)
    texted = {"resourceType": "Observation", "code": code, "valueString": "Âm tính"}
    assert values(texted, "code-value-string") == [C((token, StringValue("Âm tính", "am tinh")))]
    coded = {
        "resourceType": "Observation",
        "code": code,
        "valueCodeableConcept": {"coding": [{"code": "neg"}]},
    }
    assert values(coded, "code-value-concept") == [C((token, TokenValue(None, "neg")))]


def test_percent_resource_components() -> None:
    seq = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {
            "chromosome": {"coding": [{"system": "http://hl7.org/fhir/chromosome-human", "code": "1"}]}
        },
        "variant": [{"start": 10, "end": 11}, {"start": 20, "end": 22}],
    }
    chrom = TokenValue("http://hl7.org/fhir/chromosome-human", "1")
    assert values(seq, "chromosome-variant-coordinate") == [
        C((chrom, N(Decimal(10), Decimal(10)), N(Decimal(11), Decimal(11)))),
        C((chrom, N(Decimal(20), Decimal(20)), N(Decimal(22), Decimal(22)))),
    ]


def test_use_context_and_group_characteristic() -> None:
    vs = {
        "resourceType": "ValueSet",
        "useContext": [
            {
                "code": {"system": "urn:uc", "code": "focus"},
                "valueCodeableConcept": {"coding": [{"code": "dengue"}]},
            },
            {
                "code": {"system": "urn:uc", "code": "age"},
                "valueRange": {"low": {"value": 5}, "high": {"value": 15}},
            },
        ],
    }
    assert values(vs, "context-type-value") == [
        C((TokenValue("urn:uc", "focus"), TokenValue(None, "dengue")))
    ]
    assert values(vs, "context-type-quantity") == [
        C((TokenValue("urn:uc", "age"), QuantityValue(Decimal(5), Decimal(15), None, None, None)))
    ]
    group = {
        "resourceType": "Group",
        "characteristic": [
            {"code": {"coding": [{"code": "smoker"}]}, "valueBoolean": True, "exclude": False},
            {"code": {"coding": [{"code": "weight"}]}, "valueQuantity": {"value": 70}, "exclude": False},
        ],
    }
    # a boolean value is a token; a Quantity value is not, so that characteristic has no composite
    assert values(group, "characteristic-value") == [
        C((TokenValue(None, "smoker"), TokenValue(None, "true")))
    ]


def test_missing_component_gives_no_composite() -> None:
    assert values({"resourceType": "Observation", "valueQuantity": {"value": 1}}, "code-value-quantity") == []
