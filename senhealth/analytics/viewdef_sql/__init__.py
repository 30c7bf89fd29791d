"""SQL-on-FHIR v2 ViewDefinitions translated to SQL for DuckDB and Spark SQL.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html

``compile_view(view, "duckdb" | "spark")`` validates the view (as the reference evaluator
:func:`senhealth.analytics.viewdef.run_view` does) and returns a :class:`CompiledView` whose
``query(source)`` is one SELECT over a relation with the columns ``resource_type`` and ``resource``
(JSON in DuckDB, VARIANT in Spark). What the compiler cannot express raises :class:`Unsupported`
naming the construct. The runners are :mod:`senhealth.analytics.viewdef_duckdb` and
:mod:`senhealth.analytics.viewdef_spark`; the design is in ``docs/analytics-engines.md``.
"""

from .dialects import DuckDB, Spark
from .errors import Unsupported
from .views import DEFAULT_MAX_DEPTH, CompiledView, OutputColumn, compile_view

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "CompiledView",
    "DuckDB",
    "OutputColumn",
    "Spark",
    "Unsupported",
    "compile_view",
]
