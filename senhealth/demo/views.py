"""Example SQL-on-FHIR views over the demo province (https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html).

``OBSERVATION_VALUES_VIEW`` is the view the engine comparison runs in PostgreSQL, DuckDB and Spark
(``tests/analytics/test_viewdef_demo_engines.py``, ``python -m bench.viewdef_engines``) and a starting point
for the province's own views (``senhealth views run``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["OBSERVATION_VALUES_VIEW"]

#: Observations with their codings and, for panels such as blood pressure, their components.
OBSERVATION_VALUES_VIEW: Final[dict[str, Any]] = {
    "resourceType": "ViewDefinition",
    "name": "observation_values",
    "status": "active",
    "resource": "Observation",
    "where": [{"path": "subject.exists()"}],
    "select": [
        {"column": [
            {"name": "id", "path": "getResourceKey()", "type": "id"},
            {"name": "patient", "path": "subject.getReferenceKey(Patient)", "type": "string"},
            {"name": "status", "path": "status", "type": "code"},
            {"name": "effective", "path": "effective.ofType(dateTime)", "type": "dateTime"},
            {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
            {"name": "unit", "path": "value.ofType(Quantity).unit", "type": "string"},
            {"name": "unit_system", "path": "value.ofType(Quantity).system", "type": "uri"},
            {"name": "unit_code", "path": "value.ofType(Quantity).code", "type": "code"},
        ]},
        {"forEach": "code.coding", "column": [
            {"name": "system", "path": "system", "type": "uri"},
            {"name": "code", "path": "code", "type": "code"},
            {"name": "display", "path": "display", "type": "string"},
        ]},
        {"forEachOrNull": "component", "column": [
            {"name": "component_code", "path": "code.coding.where(system = 'http://loinc.org').code.first()", "type": "code"},
            {"name": "component_value", "path": "value.ofType(Quantity).value", "type": "decimal"},
        ]},
    ],
}  # fmt: skip
