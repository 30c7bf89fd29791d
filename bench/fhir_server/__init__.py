"""Benchmarks of the FHIR server over HTTP: ``python -m bench.fhir_server`` (not part of ``make test``).

Three measurements, each on a database of its own on the local PostgreSQL and a real server process
(uvicorn running ``senhealth.api:create_app``, several worker processes), loopback traffic only:

- :mod:`bench.fhir_server.http_ingest`: the Synthea transaction bundles POSTed to ``/fhir``
  (resources/s), and the bulk path of ``senhealth load`` on the same files for comparison;
- :mod:`bench.fhir_server.reads`: read by id at 32 concurrent connections (requests/s, p50, p99),
  driven by ``wrk`` when installed, else by the Python client of :mod:`bench.fhir_server.client`;
- :mod:`bench.fhir_server.searchmix`: six search shapes at 200,000 resources (default) or more
  (``--resources 2000000``) of the synthetic province, p50 / p95 at concurrency 1 and 8.

Results go to ``bench/results/server.md``; how to run and read them: ``docs/benchmarks.md``.
"""
