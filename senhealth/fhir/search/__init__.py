"""FHIR search for Sen Health: index extraction now; request parsing and SQL come next.

Spec: https://hl7.org/fhir/R4/search.html

Extraction (``extract(resource) -> SearchIndex``) is described in ``docs/search.md``: one module per
parameter type under :mod:`senhealth.fhir.search.params`, the fast-path compiler in
:mod:`senhealth.fhir.search.compiler`, the FHIRPath-engine fallback in :mod:`senhealth.fhir.search.fallback`.
"""

from __future__ import annotations

from senhealth.fhir.search.context import DEFAULT_TZ, ExtractContext, TypeResolver
from senhealth.fhir.search.extract import (
    CompileReport,
    Extractor,
    compile_report,
    extract,
    extract_to_json,
    extractor_for,
)
from senhealth.fhir.search.index import PARAM_TYPES, SearchIndex
from senhealth.fhir.search.params import (
    CompositeValue,
    DateValue,
    IndexValue,
    NearValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

__all__ = [
    "DEFAULT_TZ",
    "PARAM_TYPES",
    "CompileReport",
    "CompositeValue",
    "DateValue",
    "ExtractContext",
    "Extractor",
    "IndexValue",
    "NearValue",
    "NumberValue",
    "QuantityValue",
    "ReferenceValue",
    "SearchIndex",
    "StringValue",
    "TokenValue",
    "TypeResolver",
    "UriValue",
    "compile_report",
    "extract",
    "extract_to_json",
    "extractor_for",
]
