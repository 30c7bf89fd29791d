"""SQL-on-FHIR v2 ViewDefinitions, evaluated in memory.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html

``run_view(view, resources)`` yields the view's rows as dicts; ``validate_view(view)`` lists the
problems of a view without running it; ``column_names(view)`` gives its output columns in order.
"""

from .errors import ViewDefinitionError
from .evaluator import COLUMN_TYPES, SPEC_URL, column_names, run_view, validate_view

__all__ = ["COLUMN_TYPES", "SPEC_URL", "ViewDefinitionError", "column_names", "run_view", "validate_view"]
