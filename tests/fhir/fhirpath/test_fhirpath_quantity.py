"""Quantities and the UCUM table: conversion, equality, equivalence, arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath.quantity import Quantity, from_fhir
from senhealth.fhir.ucum import comparable, conversion_factor, parse_unit


def ev(expression: str, resource: dict[str, object] | None = None) -> list[object]:
    return fhirpath.evaluate(resource or {}, expression)


@pytest.mark.parametrize(
    ("a", "b", "factor"),
    [
        ("g", "mg", Decimal(1000)),
        ("kg", "[lb_av]", Decimal("1000") / Decimal("453.59237")),
        ("[in_i]", "cm", Decimal("2.54")),
        ("[ft_i]", "m", Decimal("0.3048")),
        ("mm[Hg]", "Pa", Decimal("133.322")),
        ("L", "mL", Decimal(1000)),
        ("dL", "L", Decimal("0.1")),
        ("h", "min", Decimal(60)),
        ("wk", "d", Decimal(7)),
        ("week", "d", Decimal(7)),
        ("mg/dL", "g/L", Decimal("0.01")),
        ("%", "1", Decimal("0.01")),
        ("/min", "Hz", Decimal(1) / Decimal(60)),
        ("ug", "mg", Decimal("0.001")),
    ],
)
def test_conversion_factors(a: str, b: str, factor: Decimal) -> None:
    f = conversion_factor(a, b)
    assert f is not None and abs(f - factor) < Decimal("1e-20")


def test_incommensurable_units() -> None:
    assert conversion_factor("g", "m") is None
    assert conversion_factor("a", "year") is None  # UCUM year is not the calendar year
    assert conversion_factor("mo", "month") is None
    assert conversion_factor("Cel", "K") is None  # not a proportional scale
    assert conversion_factor("[degF]", "[degF]") == 1
    assert conversion_factor("lbs", "[lb_av]") is None  # not UCUM
    assert parse_unit("mL{total}") == parse_unit("mL")
    assert comparable("cm", "[in_i]") and not comparable("cm", "s")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("4.0000 'g' = 4000.0 'mg'", [True]),
        ("4 'g' ~ 4040 'mg'", [True]),
        ("7 days = 1 week", [True]),
        ("7 days = 1 'wk'", [True]),
        ("1 year = 12 months", [True]),
        ("1 year = 1 'a'", []),
        ("1 'cm' < 1 '[in_i]'", [True]),
        ("1 'cm' = 1 's'", []),
        ("2.0 'cm' * 2.0 'm' = 0.040 'm2'", [True]),
        ("4.0 'g' / 2.0 'm' = 2 'g/m'", [True]),
        ("1.0 'm' / 1.0 'm' = 1 '1'", [True]),
        ("3 'mg' + 2 'g' = 2003 'mg'", [True]),
        ("(-5.5 'mg').abs() = 5.5 'mg'", [True]),
        ("'5 mg'.toQuantity()", []),
        ("'5 \\'mg\\''.toQuantity().toString()", ["5 'mg'"]),
        ("1 week.toString()", ["1 week"]),
        ("1000 'mg'.toQuantity('g') = 1 'g'", [True]),
    ],
)
def test_quantity_expressions(expression: str, expected: list[object]) -> None:
    assert ev(expression) == expected


def test_fhir_quantity_compares_as_quantity() -> None:
    obs = {
        "resourceType": "Observation",
        "valueQuantity": {
            "value": 185,
            "unit": "lbs",
            "system": "http://unitsofmeasure.org",
            "code": "[lb_av]",
        },
    }
    assert ev("Observation.value = 185 '[lb_av]'", obs) == [True]
    assert ev("Observation.value > 80 'kg'", obs) == [True]
    assert ev("Observation.value * 2 = 370 '[lb_av]'", obs) == [True]
    assert from_fhir({"value": 1.5, "code": "mg"}) == Quantity(Decimal("1.5"), "mg")
    assert from_fhir({"value": 3, "system": "urn:iso:std:iso:4217", "code": "VND"}) == Quantity(
        Decimal(3), "urn:iso:std:iso:4217|VND"
    )
    assert from_fhir({"unit": "mg"}) is None
