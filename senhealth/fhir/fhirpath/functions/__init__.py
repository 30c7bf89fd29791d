"""The FHIRPath function library, one module per section of the specification.

Spec: http://hl7.org/fhirpath/N1/ section 5 "Functions" and https://hl7.org/fhir/R4/fhirpath.html.
Importing this package registers every function in :data:`FUNCTIONS`.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register their functions)
    boundaries,
    conversion,
    dates,
    existence,
    fhir,
    filtering,
    numeric,
    reflection,
    strings,
    subsetting,
    tree,
    utility,
)
from .registry import FUNCTIONS, FunctionDef, function

__all__ = ["FUNCTIONS", "FunctionDef", "function"]
