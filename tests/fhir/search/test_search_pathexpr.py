"""The FHIRPath subset parser used by the fast path."""

from __future__ import annotations

import pytest

from senhealth.fhir.search.pathexpr import (
    And,
    Child,
    Compare,
    Exists,
    First,
    Index,
    Literal,
    OfType,
    Path,
    Union,
    Unsupported,
    WhereEquals,
    WhereResolveIs,
    parse,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Patient.name.given", Path("this", (Child("Patient"), Child("name"), Child("given")))),
        (
            "Patient.name | Person.name",
            Union(
                (
                    Path("this", (Child("Patient"), Child("name"))),
                    Path("this", (Child("Person"), Child("name"))),
                )
            ),
        ),
        (
            "(Observation.value.ofType(CodeableConcept)).text",
            Path("this", (Child("Observation"), Child("value"), OfType("CodeableConcept"), Child("text"))),
        ),
        (
            "Observation.value as Quantity",
            Path("this", (Child("Observation"), Child("value"), OfType("Quantity"))),
        ),
        (
            "Observation.subject.where(resolve() is Patient)",
            Path("this", (Child("Observation"), Child("subject"), WhereResolveIs("Patient"))),
        ),
        (
            "Patient.telecom.where(system='phone')",
            Path("this", (Child("Patient"), Child("telecom"), WhereEquals(("system",), "phone"))),
        ),
        (
            "Bundle.entry[0].resource",
            Path("this", (Child("Bundle"), Child("entry"), Index(0), Child("resource"))),
        ),
        ("Patient.name.first()", Path("this", (Child("Patient"), Child("name"), First()))),
        ("%resource.referenceSeq.chromosome", Path("resource", (Child("referenceSeq"), Child("chromosome")))),
        ("name | alias", Union((Path("this", (Child("name"),)), Path("this", (Child("alias"),))))),
        (
            "Patient.deceased.exists() and Patient.deceased != false",
            And(
                Path("this", (Child("Patient"), Child("deceased"), Exists())),
                Compare(Path("this", (Child("Patient"), Child("deceased"))), "!=", Literal(False)),
            ),
        ),
        ("Patient.`name`", Path("this", (Child("Patient"), Child("name")))),
    ],
)
def test_parse(expression: str, expected: object) -> None:
    assert parse(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.name.where(given.startsWith('A'))",
        "Observation.value.ofType(Quantity).value > 5",
        "Patient.name.select(family)",
        "%context.id",
        "resolve()",
        "Observation.subject is Reference",
        "Patient.name.",
        "Patient.name[x]",
        "Patient.name)",
        "Patient.name.where(given = 'a' and family = 'b')",
    ],
)
def test_outside_the_subset_is_unsupported(expression: str) -> None:
    with pytest.raises(Unsupported):
        parse(expression)
