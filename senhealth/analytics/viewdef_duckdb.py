"""SQL-on-FHIR v2 views run by DuckDB over NDJSON or Parquet files of resources.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html; DuckDB's
``read_ndjson_objects`` / ``read_parquet`` (https://duckdb.org/docs/stable/data/json/loading_json,
https://duckdb.org/docs/stable/data/parquet/overview).

The view is compiled once to one SQL query (:mod:`senhealth.analytics.viewdef_sql`, DuckDB dialect)
over the source: NDJSON files (one resource a line, as Bulk Data ``$export`` writes them; ``.gz``
read transparently) or Parquet files in the layout of :mod:`senhealth.analytics.parquet_resources`
(``resource_type``, ``id``, ``resource`` JSON text). DuckDB reads the files in parallel and never
holds more than its working set in memory, so a laptop runs a view over a province's export.

- :func:`run_view_duckdb` -> ``list[dict]`` (rows as :func:`senhealth.analytics.viewdef.run_view`
  gives them: decimals as ``Decimal``, complex values as dicts, ``collection`` columns as lists);
- :func:`iter_view_duckdb` streams the same rows in batches;
- :func:`view_arrow_duckdb` -> a ``pyarrow.Table`` (typed columns; JSON columns as JSON text);
- :func:`view_relation_duckdb` -> the lazy DuckDB relation, to join, aggregate or ``COPY`` further.

A valid view the compiler cannot express raises :class:`Unsupported`; with ``fallback=True`` it is
run by the reference evaluator over the same files instead. Run-time errors of the view (a column
without ``collection: true`` giving several values, a ``where`` that is not boolean) raise
:class:`ViewDefinitionError` as ``run_view`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import duckdb
import pyarrow as pa

from senhealth.analytics.parquet_resources import Source, read_resources, source_files
from senhealth.analytics.viewdef import ViewDefinitionError, run_view
from senhealth.analytics.viewdef_sql import CompiledView, Unsupported, compile_view
from senhealth.analytics.viewdef_sql.dialects import ERROR_MARK

__all__ = [
    "Unsupported",
    "iter_view_duckdb",
    "run_view_duckdb",
    "source_relation_sql",
    "view_arrow_duckdb",
    "view_relation_duckdb",
    "view_sql_duckdb",
]


def _str_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


def source_relation_sql(source: Source) -> str:
    """A DuckDB table expression with columns ``resource_type`` and ``resource`` (JSON) over ``source``."""
    fmt, files = source_files(source)
    if fmt == "parquet":
        return (
            "(SELECT resource_type, CAST(resource AS JSON) AS resource "
            f"FROM read_parquet({_str_list(files)}))"
        )
    return (
        "(SELECT json_extract_string(json, '$.resourceType') AS resource_type, json AS resource "
        f"FROM read_ndjson_objects({_str_list(files)}, format = 'newline_delimited'))"
    )


def view_sql_duckdb(view: Mapping[str, Any], source: Source) -> str:
    """The SQL DuckDB runs for ``view`` over ``source`` (for inspection or an external DuckDB)."""
    return compile_view(view, "duckdb").query(source_relation_sql(source))


def view_relation_duckdb(
    view: Mapping[str, Any], source: Source, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[CompiledView, duckdb.DuckDBPyRelation]:
    """The compiled view and its lazy DuckDB relation over ``source`` (on ``con`` or a new in-memory
    connection)."""
    compiled = compile_view(view, "duckdb")
    con = con if con is not None else duckdb.connect()
    return compiled, con.sql(compiled.query(source_relation_sql(source)))


def _view_error(e: duckdb.Error) -> ViewDefinitionError | None:
    text = str(e)
    if ERROR_MARK not in text:
        return None
    detail = text.split(ERROR_MARK, 1)[1].splitlines()[0]
    where, _, message = detail.partition(": ")
    return ViewDefinitionError(message, where)


def iter_view_duckdb(
    view: Mapping[str, Any],
    source: Source,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    batch_size: int = 10_000,
    fallback: bool = False,
) -> Iterator[dict[str, Any]]:
    """The rows of ``view`` over ``source``, fetched ``batch_size`` at a time."""
    try:
        compiled = compile_view(view, "duckdb")
    except Unsupported:
        if not fallback:
            raise
        yield from run_view(view, read_resources(source, str(view.get("resource"))))
        return
    query = compiled.query(source_relation_sql(source))
    cur = con.cursor() if con is not None else duckdb.connect()
    try:
        result = cur.execute(query)
        while batch := result.fetchmany(batch_size):
            for values in batch:
                yield compiled.decode(values)
    except duckdb.Error as e:
        err = _view_error(e)
        if err is not None:
            raise err from None
        raise
    finally:
        cur.close()


def run_view_duckdb(
    view: Mapping[str, Any],
    source: Source,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    fallback: bool = False,
) -> list[dict[str, Any]]:
    """Every row of ``view`` over ``source`` (NDJSON or Parquet files, or a directory of them)."""
    return list(iter_view_duckdb(view, source, con=con, fallback=fallback))


def view_arrow_duckdb(
    view: Mapping[str, Any], source: Source, *, con: duckdb.DuckDBPyConnection | None = None
) -> pa.Table:
    """The rows of ``view`` over ``source`` as an Arrow table (decimals as float64, JSON columns as
    JSON text); write it with ``pyarrow.parquet.write_table``."""
    compiled = compile_view(view, "duckdb")
    cur = con.cursor() if con is not None else duckdb.connect()
    try:
        table: pa.Table = cur.sql(compiled.query(source_relation_sql(source))).to_arrow_table()
    except duckdb.Error as e:
        err = _view_error(e)
        if err is not None:
            raise err from None
        raise
    finally:
        cur.close()
    return table
