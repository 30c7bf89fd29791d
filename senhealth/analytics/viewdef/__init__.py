"""SQL-on-FHIR v2 ViewDefinitions, evaluated in memory.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html

``run_view(view, resources)`` yields the view's rows as dicts; ``validate_view(view)`` lists the
problems of a view without running it; ``column_names(view)`` gives its output columns in order;
``compile_view(view)`` validates and compiles once, for running resource by resource (``.rows()``)
with the columns' declared types (``.columns``).
"""

from .errors import ViewDefinitionError
from .evaluator import (
    COLUMN_TYPES,
    SPEC_URL,
    CompiledView,
    ViewColumn,
    column_names,
    compile_view,
    run_view,
    validate_view,
)

__all__ = [
    "COLUMN_TYPES",
    "SPEC_URL",
    "CompiledView",
    "ViewColumn",
    "ViewDefinitionError",
    "column_names",
    "compile_view",
    "run_view",
    "validate_view",
]
