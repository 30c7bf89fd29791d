"""Quantity extraction with UCUM canonicalisation, and number / uri / special (near)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from search_support import values

from senhealth.fhir.search.params import NearValue, NumberValue, QuantityValue, UriValue
from senhealth.fhir.ucum import canonical

UCUM = "http://unitsofmeasure.org"


def Q(low: str | None, high: str | None, system: str | None, code: str | None, unit: str | None,
      c_low: str | None = None, c_high: str | None = None, c_code: str | None = None) -> QuantityValue:  # fmt: skip
    def d(x: str | None) -> Decimal | None:
        return None if x is None else Decimal(x)

    return QuantityValue(d(low), d(high), system, code, unit, d(c_low), d(c_high), c_code)


def obs(**value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", **value}


@pytest.mark.parametrize(
    ("resource", "code", "expected"),
    [
        (
            obs(valueQuantity={"value": 120, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}),
            "value-quantity",
            [Q("120", "120", UCUM, "mg/dL", "mg/dL", "1200", "1200", "g.m-3")],
        ),
        (
            obs(valueQuantity={"value": 5.6, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}),
            "value-quantity",
            [Q("5.6", "5.6", UCUM, "mmol/L", "mmol/L", "5.6", "5.6", "m-3.mol")],
        ),
        (
            obs(valueQuantity={"value": 160.5, "unit": "cm", "system": UCUM, "code": "cm"}),
            "value-quantity",
            [Q("160.5", "160.5", UCUM, "cm", "cm", "1.605", "1.605", "m")],
        ),
        (
            obs(valueQuantity={"value": 37.5, "unit": "°C", "system": UCUM, "code": "Cel"}),
            "value-quantity",
            [Q("37.5", "37.5", UCUM, "Cel", "°C", "310.65", "310.65", "K")],
        ),
        (
            obs(valueQuantity={"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"}),
            "value-quantity",
            [Q("72", "72", UCUM, "/min", "beats/minute", "1.2", "1.2", "s-1")],
        ),
        # comparator opens one end
        (
            obs(valueQuantity={"value": 0.5, "comparator": "<", "system": UCUM, "code": "%"}),
            "value-quantity",
            [Q(None, "0.5", UCUM, "%", None, None, "0.005", "1")],
        ),
        # no system: a code UCUM knows is still canonicalised; a local system is not
        (
            obs(valueQuantity={"value": 2, "code": "kg"}),
            "value-quantity",
            [Q("2", "2", None, "kg", None, "2000", "2000", "g")],
        ),
        (
            obs(valueQuantity={"value": 2, "system": "urn:local", "code": "kg"}),
            "value-quantity",
            [Q("2", "2", "urn:local", "kg", None)],
        ),
        (
            obs(valueQuantity={"value": 3, "unit": "viên"}),
            "value-quantity",
            [Q("3", "3", None, None, "viên")],
        ),
        (obs(valueQuantity={"unit": "mg"}), "value-quantity", []),
        # SampledData is not indexed
        (
            obs(valueSampledData={"origin": {"value": 0}, "period": 1, "dimensions": 1, "data": "1 2"}),
            "value-quantity",
            [],
        ),
        # component values: component-value-quantity and combo-value-quantity
        (
            obs(
                component=[
                    {"code": {"text": "x"}, "valueQuantity": {"value": 80, "system": UCUM, "code": "mm[Hg]"}}
                ]
            ),
            "component-value-quantity",
            [Q("80", "80", UCUM, "mm[Hg]", None, "0.080", "0.080", "m[Hg]")],
        ),
        # Age and Range (Condition.onset.ofType(Age) | Condition.onset.ofType(Range))
        (
            {
                "resourceType": "Condition",
                "onsetAge": {"value": 45, "unit": "years", "system": UCUM, "code": "a"},
            },
            "onset-age",
            [Q("45", "45", UCUM, "a", "years", "1420092000", "1420092000", "s")],
        ),
        (
            {
                "resourceType": "Condition",
                "onsetRange": {
                    "low": {"value": 40, "system": UCUM, "code": "a"},
                    "high": {"value": 50, "system": UCUM, "code": "a"},
                },
            },
            "onset-age",
            [Q("40", "50", UCUM, "a", None, "1262304000", "1577880000", "s")],
        ),
        # Money
        (
            {"resourceType": "Invoice", "totalGross": {"value": 150000, "currency": "VND"}},
            "totalgross",
            [Q("150000", "150000", "urn:iso:std:iso:4217", "VND", "VND")],
        ),
    ],
)
def test_quantity(resource: dict[str, Any], code: str, expected: list[QuantityValue]) -> None:
    assert values(resource, code) == expected


def test_float_values_keep_their_written_digits() -> None:
    (q,) = values(obs(valueQuantity={"value": 0.1, "system": UCUM, "code": "g"}), "value-quantity")
    assert isinstance(q, QuantityValue) and q.value == Decimal("0.1") and q.canonical_low == Decimal("0.1")


@pytest.mark.parametrize(
    ("unit", "factor", "code"),
    [
        ("mg/dL", "10", "g.m-3"),
        ("g/dL", "10000", "g.m-3"),
        ("g/L", "1000", "g.m-3"),
        ("kg", "1000", "g"),
        ("mg", "0.001", "g"),
        ("[lb_av]", "453.59237", "g"),
        ("mL", "0.000001", "m3"),
        ("L", "0.001", "m3"),
        ("mm[Hg]", "0.001", "m[Hg]"),
        ("cm", "0.01", "m"),
        ("[in_i]", "0.0254", "m"),
        ("min", "60", "s"),
        ("h", "3600", "s"),
        ("d", "86400", "s"),
        ("%", "0.01", "1"),
        ("{score}", "1", "1"),
        ("kg/m2", "1000", "g.m-2"),
        ("10*3/uL", "1E+12", "m-3"),
        ("mL/min/{1.73_m2}", "1E-6", None),  # repeating decimal checked below
        ("mg/kg/d", None, "s-1"),
    ],
)
def test_ucum_table(unit: str, factor: str | None, code: str | None) -> None:
    conv = canonical(unit)
    assert conv is not None
    if factor is not None and code is not None:
        assert conv[0] == Decimal(factor)
    if code is not None:
        assert conv[2] == code
    assert conv[1] == 0


def test_ucum_unknown_and_affine() -> None:
    assert canonical("(score)") is None
    assert canonical("tablets") is None
    assert canonical("") is None
    f, off, code = canonical("[degF]") or (Decimal(0), Decimal(0), "")
    assert code == "K" and (Decimal(212) * f + off).quantize(Decimal("0.01")) == Decimal("373.15")
    per_min = canonical("/min")
    assert per_min is not None and Decimal(120) * per_min[0] == Decimal(2)


@pytest.mark.parametrize(
    ("resource", "code", "expected"),
    [
        ({"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.25}]}, "probability",
         [NumberValue(Decimal("0.25"), Decimal("0.25"))]),
        ({"resourceType": "RiskAssessment", "prediction": [{"probabilityRange": {"low": {"value": 10}, "high": {"value": 20}}}]},
         "probability", [NumberValue(Decimal(10), Decimal(20))]),
        ({"resourceType": "MolecularSequence", "variant": [{"start": 100, "end": 101}]}, "variant-start",
         [NumberValue(Decimal(100), Decimal(100))]),
        ({"resourceType": "Patient", "meta": {"profile": ["http://fhir.vn/StructureDefinition/vn-patient"]}}, "_profile",
         [UriValue("http://fhir.vn/StructureDefinition/vn-patient")]),
        ({"resourceType": "ValueSet", "url": "http://fhir.vn/ValueSet/dan-toc"}, "url", [UriValue("http://fhir.vn/ValueSet/dan-toc")]),
        ({"resourceType": "Location", "position": {"latitude": 16.4637, "longitude": 107.5909}}, "near",
         [NearValue(16.4637, 107.5909)]),
        ({"resourceType": "Location", "position": {"latitude": 95, "longitude": 0}}, "near", []),
    ],
)  # fmt: skip
def test_number_uri_special(resource: dict[str, Any], code: str, expected: list[object]) -> None:
    assert values(resource, code) == expected
