"""The FHIR core's UCUM table (senhealth.fhir.ucum): the search index's canonical forms are pinned, and
the places where the FHIRPath and search readings of the table differ are spelled out.

The pins were taken from the search module's canonical() before the FHIRPath and search tables were
merged into one; the store holds index rows with these codes, so they must never change (a change needs
a reindex of the quantity tables).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from senhealth.fhir import ucum

# unit -> (str(factor), str(offset), canonical code), or None when the unit has no canonical form
PINNED: list[tuple[str, tuple[str, str, str] | None]] = [
    ('mg/dL', ('1E+1', '0', 'g.m-3')),
    ('g/dL', ('1E+4', '0', 'g.m-3')),
    ('g/L', ('1E+3', '0', 'g.m-3')),
    ('mg/L', ('1', '0', 'g.m-3')),
    ('ug/L', ('0.001', '0', 'g.m-3')),
    ('ug/dL', ('0.01', '0', 'g.m-3')),
    ('ng/mL', ('0.001', '0', 'g.m-3')),
    ('pg/mL', ('0.000001', '0', 'g.m-3')),
    ('ng/L', ('0.000001', '0', 'g.m-3')),
    ('mmol/L', ('1', '0', 'm-3.mol')),
    ('umol/L', ('0.001', '0', 'm-3.mol')),
    ('nmol/L', ('0.000001', '0', 'm-3.mol')),
    ('pmol/L', ('1E-9', '0', 'm-3.mol')),
    ('mol/L', ('1E+3', '0', 'm-3.mol')),
    ('meq/L', ('1', '0', 'm-3.mol')),
    ('mEq/L', None),
    ('mosm/kg', None),
    ('U/L', ('1E+3', '0', 'U.m-3')),
    ('U/mL', ('1E+6', '0', 'U.m-3')),
    ('[IU]/L', ('1E+3', '0', '[IU].m-3')),
    ('m[IU]/L', ('1', '0', '[IU].m-3')),
    ('[iU]/mL', ('1E+6', '0', '[IU].m-3')),
    ('u[IU]/mL', ('1', '0', '[IU].m-3')),
    ('10*3/uL', ('1.000E+12', '0', 'm-3')),
    ('10*9/L', ('1.000000000E+12', '0', 'm-3')),
    ('10*12/L', ('1.000000000000E+15', '0', 'm-3')),
    ('10*6/uL', ('1.000000E+15', '0', 'm-3')),
    ('/uL', ('1E+9', '0', 'm-3')),
    ('fL', ('1E-18', '0', 'm3')),
    ('pg', ('1E-12', '0', 'g')),
    ('%', ('0.01', '0', '1')),
    ('mm[Hg]', ('0.001', '0', 'm[Hg]')),
    ('cm[H2O]', ('0.01', '0', 'm[H2O]')),
    ('kPa', None),
    ('/min', ('0.01666666666666666666666666667', '0', 's-1')),
    ('{beats}/min', ('0.01666666666666666666666666667', '0', 's-1')),
    ('{breaths}/min', ('0.01666666666666666666666666667', '0', 's-1')),
    ('Cel', ('1', '273.15', 'K')),
    ('[degF]', ('0.5555555555555555555555555556', '255.3722222222222222222222222', 'K')),
    ('K', ('1', '0', 'K')),
    ('kg', ('1E+3', '0', 'g')),
    ('g', ('1', '0', 'g')),
    ('mg', ('0.001', '0', 'g')),
    ('ug', ('0.000001', '0', 'g')),
    ('[lb_av]', ('453.59237', '0', 'g')),
    ('[oz_av]', ('28.349523125', '0', 'g')),
    ('cm', ('0.01', '0', 'm')),
    ('m', ('1', '0', 'm')),
    ('mm', ('0.001', '0', 'm')),
    ('[in_i]', ('0.0254', '0', 'm')),
    ('[ft_i]', ('0.3048', '0', 'm')),
    ('kg/m2', ('1E+3', '0', 'g.m-2')),
    ('m2', ('1', '0', 'm2')),
    ('mL', ('0.000001', '0', 'm3')),
    ('L', ('0.001', '0', 'm3')),
    ('dL', ('0.0001', '0', 'm3')),
    ('mL/min', ('1.666666666666666666666666667E-8', '0', 'm3.s-1')),
    ('mL/min/{1.73_m2}', ('1.666666666666666666666666667E-8', '0', 'm3.s-1')),
    ('L/min', ('0.00001666666666666666666666666667', '0', 'm3.s-1')),
    ('mL/h', ('2.777777777777777777777777778E-10', '0', 'm3.s-1')),
    ('mg/kg/d', ('1.157407407407407407407407407E-11', '0', 's-1')),
    ('mg/d', ('1.157407407407407407407407407E-8', '0', 'g.s-1')),
    ('ug/kg/min', ('1.666666666666666666666666667E-11', '0', 's-1')),
    ('mg/kg', ('0.000001', '0', '1')),
    ('mL/kg', ('1E-9', '0', 'g-1.m3')),
    ('mmol/mol', ('0.001', '0', '1')),
    ('mg/g', ('0.001', '0', '1')),
    ('/h', ('0.0002777777777777777777777777778', '0', 's-1')),
    ('mm/h', ('2.777777777777777777777777778E-7', '0', 'm.s-1')),
    ('h', ('3600', '0', 's')),
    ('min', ('60', '0', 's')),
    ('s', ('1', '0', 's')),
    ('d', ('86400', '0', 's')),
    ('wk', ('604800', '0', 's')),
    ('mo', ('2629800', '0', 's')),
    ('a', ('31557600', '0', 's')),
    ('ms', ('0.001', '0', 's')),
    ('{score}', ('1', '0', '1')),
    ('1', ('1', '0', '1')),
    ('[ppm]', ('0.000001', '0', '1')),
    ('kcal', None),
    ('mmol/(24.h)', None),
    ('mm[Hg]/s', ('0.001', '0', 'm[Hg].s-1')),
    ('', None),
]  # fmt: skip


@pytest.mark.parametrize(("unit", "expected"), PINNED, ids=[u or "<empty>" for u, _ in PINNED])
def test_canonical_forms_are_pinned(unit: str, expected: tuple[str, str, str] | None) -> None:
    got = ucum.canonical(unit)
    if expected is None:
        assert got is None
        return
    assert got is not None
    factor, offset, code = got
    # str() pins the exact Decimal, exponent included (1E+1, not 10), as it was written to the store.
    assert (str(factor), str(offset), code) == expected


def test_pressure_is_pascal_in_fhirpath_and_mercury_in_the_index() -> None:
    assert ucum.conversion_factor("mm[Hg]", "Pa") == Decimal("133.322")
    assert ucum.conversion_factor("cm[H2O]", "kPa") == Decimal("0.0980665")
    assert ucum.canonical("mm[Hg]") == (Decimal("0.001"), Decimal(0), "m[Hg]")
    assert ucum.canonical("Pa") is None and ucum.canonical("kPa") is None


def test_enzyme_and_arbitrary_units() -> None:
    # FHIRPath: U is umol/min; [iU] compares only with the same reduction.
    assert ucum.conversion_factor("U", "umol/min") == 1
    assert ucum.comparable("U/L", "ukat/L")
    assert ucum.conversion_factor("[IU]/L", "[iU]/L") == 1
    assert not ucum.comparable("[iU]/L", "[iU]/mL")
    assert not ucum.comparable("[IU]", "m[IU]")
    # Search: U and [IU] are base units of their own, scaled like any other.
    assert ucum.canonical("U/L") == (Decimal(1000), Decimal(0), "U.m-3")
    assert ucum.canonical("umol/min") == (Decimal(1) / Decimal(60) * Decimal("1E-6"), Decimal(0), "mol.s-1")
    assert ucum.canonical("m[IU]/L") == (Decimal(1), Decimal(0), "[IU].m-3")


def test_temperature() -> None:
    assert not ucum.comparable("Cel", "K") and not ucum.comparable("[degF]", "Cel")
    assert ucum.conversion_factor("Cel/h", "Cel.h-1") == 1
    f, off, code = ucum.canonical("[degF]") or (Decimal(0), Decimal(0), "")
    assert code == "K" and (Decimal("98.6") * f + off).quantize(Decimal("0.01")) == Decimal("310.15")
    assert ucum.canonical("Cel{body}") is None  # only a whole unit Cel converts
    assert ucum.canonical("Cel/h") is None


def test_units_only_fhirpath_knows() -> None:
    for unit in ("Hz", "N", "J", "kcal", "kat", "mosm/kg", "[gr]", "am", "year", "days", "(mg/dL)"):
        assert ucum.parse_unit(unit) is not None, unit
        assert ucum.canonical(unit) is None, unit
    assert ucum.conversion_factor("kcal", "kJ") == Decimal("4.184")
    assert ucum.conversion_factor("year", "month") == 12
    assert ucum.conversion_factor("a", "year") is None  # the UCUM year is not the calendar year


def test_grammar_differences() -> None:
    # The empty code is the unit 1 in FHIRPath and has no canonical form in the index.
    assert ucum.parse_unit("") == ucum.parse_unit("1")
    assert ucum.canonical("") is None
    # The index counts an empty term as 1 and removes annotations anywhere; FHIRPath does not.
    assert ucum.canonical("mg//dL") == ucum.canonical("mg/dL")
    assert ucum.parse_unit("mg//dL") is None
    assert ucum.canonical("m{x}g") == ucum.canonical("mg")
    assert ucum.parse_unit("m{x}g") is None
    # A leading '/': FHIRPath divides by one component; the index reads /a.b as (1/a).b.
    assert ucum.parse_unit("/min.kg") is None
    assert ucum.canonical("/min.kg") == (Decimal(1) / Decimal(60) * Decimal("1E+3"), Decimal(0), "g.s-1")
    # Parentheses: FHIRPath only.
    assert ucum.conversion_factor("mg/(24.h)", "mg/d") == 1
    assert ucum.canonical("mmol/(24.h)") is None
    # The code 1 is a number to the index, never an atom with an exponent.
    assert ucum.parse_unit("1-1") == ucum.parse_unit("1")
    assert ucum.canonical("1-1") is None


def test_digits_that_are_not_decimal_digits_are_unknown() -> None:
    assert ucum.parse_unit("²") is None
    assert ucum.canonical("²") is None
    assert ucum.canonical("10*3_0") is None
    assert ucum.canonical("m2\n") is None
