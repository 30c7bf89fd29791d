"""Quick timing of compiled FHIRPath evaluation (not a test): ``python tests/fhir/fhirpath/fhirpath_timing.py``.

Prints microseconds per evaluation for search-parameter-like expressions on the official example
resources (read from ``../shared``, so run it from a checkout that has it).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import orjson

from senhealth.fhir import fhirpath

INPUT = Path(__file__).resolve().parents[3] / ".." / "shared" / "conformance" / "fhirpath" / "input"

CASES = [
    ("patient-example", "Patient.name.given"),
    ("patient-example", "Patient.birthDate"),
    ("patient-example", "Patient.telecom.where(system='phone').value"),
    ("patient-example", "Patient.name.where(use='official').family"),
    ("observation-example", "Observation.code.coding.where(system='http://loinc.org').code"),
    ("observation-example", "(Observation.value as Quantity)"),
    ("observation-example", "Observation.value.ofType(Quantity).value"),
    ("observation-example", "Observation.subject.where(resolve() is Patient)"),
    ("patient-example", "Patient.birthDate < @2000-01-01"),
    ("patient-example", "name.exists() and gender.exists()"),
]


def main() -> int:
    if not INPUT.exists():
        print(f"no example resources at {INPUT}")
        return 1
    for name, expression in CASES:
        resource = orjson.loads((INPUT / f"{name}.json").read_bytes())
        expr = fhirpath.compile(expression, base_type=resource["resourceType"])
        n = 5000
        t = min(timeit.repeat(lambda e=expr, r=resource: e(r), number=n, repeat=7))  # type: ignore[misc]
        print(f"{t / n * 1e6:8.2f} us  {expression}  -> {expr(resource)!r:.60}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
