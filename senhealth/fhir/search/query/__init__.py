"""FHIR search queries: parsed search values, SQL predicates per parameter type, paging cursors.

Spec: https://hl7.org/fhir/R4/search.html

The public entry points are :func:`senhealth.fhir.search.request.parse_search` (the pure parser) and
:func:`senhealth.fhir.search.execute.search` (runs a parsed search on a connection); the modules here are
their building blocks, described in ``docs/search.md`` ("Queries").
"""
