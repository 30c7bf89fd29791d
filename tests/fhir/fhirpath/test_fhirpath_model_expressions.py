"""Every expression the R4 model ships (search parameters, invariants) compiles against its type."""

from __future__ import annotations

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import all_search_params

# Defective in the definitions: ChargeItemDefinition has no 'name' element in R4.
DEFECTIVE_INVARIANTS = {"cid-0"}


def test_search_parameter_expressions_compile() -> None:
    failures = []
    count = 0
    for p in all_search_params():
        if not p.expression:
            continue
        for base in p.base:
            count += 1
            try:
                fhirpath.compile(
                    p.expression, base_type=None if base in ("Resource", "DomainResource") else base
                )
            except fhirpath.FHIRPathError as e:
                failures.append(f"{base}.{p.code}: {e}")
    assert count > 1000
    assert failures == []


def test_invariants_compile() -> None:
    model = get_model()
    failures = []
    elements = [e for t in model.types.values() for e in (t.root, *t.elements.values())]
    for element in elements:
        base = None if element.choice else element.type_path
        for c in element.constraints:
            if c.key in DEFECTIVE_INVARIANTS:
                continue
            try:
                fhirpath.compile(c.expression, base_type=base)
            except fhirpath.FHIRPathError as e:
                failures.append(f"{c.key} on {element.path}: {e}")
    assert failures == []


def test_defective_invariant_is_reported() -> None:
    with pytest.raises(fhirpath.FHIRPathSemanticError):
        fhirpath.compile("name.matches('[A-Z]')", base_type="ChargeItemDefinition")
