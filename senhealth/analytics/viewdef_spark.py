"""SQL-on-FHIR v2 views run on Apache Spark, for national-scale exports.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html; Spark SQL's
``VARIANT`` type and ``parse_json`` (Spark 4.0+, https://spark.apache.org/docs/latest/sql-ref-datatypes.html).

Two engines, one result:

- ``engine="sql"``: the view compiled to Spark SQL (:mod:`senhealth.analytics.viewdef_sql`, Spark
  dialect): each resource parsed once to a ``VARIANT``, columns read with ``variant_get``,
  ``forEach`` as higher-order ``transform`` over arrays, rows produced by ``explode``. Runs entirely in
  the JVM (no Python on the executors), scales with the cluster. Views it cannot express raise
  :class:`Unsupported`.
- ``engine="python"``: the reference evaluator (:func:`senhealth.analytics.viewdef.run_view`) inside
  Spark's Python workers, one ``mapPartitions`` over the NDJSON lines: every valid view, rows identical
  to ``run_view`` by construction, slower (Python per resource) and it needs ``senhealth`` installed
  on the executors.
- ``engine="auto"`` (the default): ``sql`` when the view compiles, else ``python``.

:func:`run_view_spark` collects the rows to the driver as ``run_view`` gives them (for tests and
moderate results); :func:`view_dataframe` returns the lazy DataFrame (typed columns) to write at
scale, e.g. ``view_dataframe(view, "s3a://bucket/export/").write.parquet(...)``.

Sources: NDJSON files (one resource a line, ``.gz`` too), Parquet files in the layout of
:mod:`senhealth.analytics.parquet_resources`, a directory of either, or a DataFrame with a
``resource`` column (JSON text or VARIANT) and optionally ``resource_type``.

pyspark is an optional dependency (``pip install senhealth[spark]``, Java 17+); it is imported only
when a function here is called.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from senhealth.analytics.parquet_resources import Source, source_files
from senhealth.analytics.viewdef import ViewDefinitionError, validate_view
from senhealth.analytics.viewdef_sql import CompiledView, Unsupported, compile_view
from senhealth.analytics.viewdef_sql.dialects import ERROR_MARK
from senhealth.analytics.viewdef_sql.values import FHIR_KIND

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = [
    "Unsupported",
    "collect_rows",
    "get_spark",
    "json_rows",
    "resources_dataframe",
    "run_view_spark",
    "run_views_spark",
    "view_dataframe",
    "view_error",
]

ENGINES = ("auto", "sql", "python")


def get_spark(master: str = "local[2]", **conf: str) -> SparkSession:
    """The active SparkSession, or a new local one (``master``; the UI off, few shuffle partitions).

    On a cluster, ``spark-submit`` (or the notebook) has made the session already and it is used as it
    is. ``conf`` adds Spark settings to a new session.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers import senhealth too
    builder = (
        SparkSession.builder.appName("senhealth-views")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _text_dataframe(source: Source | DataFrame, spark: SparkSession) -> DataFrame:
    """``resource_type`` and ``resource`` (JSON text) of ``source``."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    if isinstance(source, DataFrame):
        df = source
        if "resource" not in df.columns:
            raise ValueError("a DataFrame source needs a 'resource' column (JSON text or VARIANT)")
        if df.schema["resource"].dataType.typeName() == "variant":
            df = df.withColumn("resource", F.expr("to_json(resource)"))
        if "resource_type" not in df.columns:
            df = df.withColumn("resource_type", F.get_json_object("resource", "$.resourceType"))
        return df.select("resource_type", "resource")
    fmt, files = source_files(source)
    if fmt == "parquet":
        return spark.read.parquet(*files).select("resource_type", "resource")
    lines = spark.read.text(files).where("trim(value) <> ''")
    return lines.select(
        F.get_json_object("value", "$.resourceType").alias("resource_type"), F.col("value").alias("resource")
    )


def resources_dataframe(source: Source | DataFrame, spark: SparkSession | None = None) -> DataFrame:
    """``source`` as the relation compiled views read: ``resource_type`` (string), ``resource`` (VARIANT)."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    spark = spark if spark is not None else get_spark()
    if (
        isinstance(source, DataFrame)
        and "resource" in source.columns
        and source.schema["resource"].dataType.typeName() == "variant"
    ):
        df = source
        if "resource_type" not in df.columns:
            df = df.withColumn("resource_type", F.expr("variant_get(resource, '$.resourceType', 'string')"))
        return df.select("resource_type", "resource")
    if not isinstance(source, DataFrame):
        fmt, files = source_files(source)
        if fmt == "ndjson":
            lines = spark.read.text(files).where("trim(value) <> ''")
            parsed = lines.select(F.expr("parse_json(value)").alias("resource"))
            return parsed.select(
                F.expr("variant_get(resource, '$.resourceType', 'string')").alias("resource_type"), "resource"
            )
    text = _text_dataframe(source, spark)
    return text.select("resource_type", F.expr("parse_json(resource)").alias("resource"))


def _sql_dataframe(compiled: CompiledView, resources: DataFrame) -> DataFrame:
    filtered = resources.where(compiled.condition)
    if compiled.rows is None:
        return filtered.selectExpr(*compiled.select_items)
    exploded = filtered.selectExpr(*compiled.inner_items, f"{compiled.explode} AS _row")
    return exploded.selectExpr(*compiled.select_items)


def view_dataframe(
    view: Mapping[str, Any],
    source: Source | DataFrame,
    spark: SparkSession | None = None,
    *,
    engine: str = "auto",
) -> DataFrame:
    """The lazy DataFrame of ``view`` over ``source``: one column per view column.

    ``engine="sql"`` gives typed columns (strings, booleans, bigints, doubles, arrays; complex values
    as VARIANT); ``"python"`` gives the declared types, complex values as JSON text.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    spark = spark if spark is not None else get_spark()
    if engine != "python":
        try:
            compiled = compile_view(view, "spark")
        except Unsupported:
            if engine == "sql":
                raise
        else:
            return _sql_dataframe(compiled, resources_dataframe(source, spark))
    _check(view)
    columns = _columns(view)
    from pyspark.sql.types import StructField, StructType

    schema = StructType([StructField(n, _spark_type(t, c)) for n, t, c in columns])
    rdd = _python_rows(view, source, spark).map(
        lambda row: tuple(_to_spark(row[n], t, c) for n, t, c in columns)
    )
    return spark.createDataFrame(rdd, schema)


def run_view_spark(
    view: Mapping[str, Any],
    source: Source | DataFrame,
    spark: SparkSession | None = None,
    *,
    engine: str = "auto",
) -> list[dict[str, Any]]:
    """Every row of ``view`` over ``source``, collected, as :func:`run_view` gives them."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    spark = spark if spark is not None else get_spark()
    if engine != "python":
        try:
            compiled = compile_view(view, "spark")
        except Unsupported:
            if engine == "sql":
                raise
        else:
            return collect_rows(compiled, _sql_dataframe(compiled, resources_dataframe(source, spark)))
    _check(view)
    try:
        rows: list[dict[str, Any]] = _python_rows(view, source, spark).collect()
    except Exception as e:  # the worker's ViewDefinitionError arrives as a Py4J / Python worker error
        err = view_error(e)
        if err is not None:
            raise err from None
        raise
    return rows


def json_rows(df: DataFrame) -> DataFrame:
    """``df``'s rows as one JSON text column ``row`` (nulls kept), the form :func:`collect_rows` reads."""
    from pyspark.sql import functions as F

    return df.select(F.to_json(F.struct(*df.columns), {"ignoreNullFields": "false"}).alias("row"))


def collect_rows(compiled: CompiledView, df: DataFrame) -> list[dict[str, Any]]:
    """Collect a compiled view's DataFrame to rows as run_view gives them (through JSON text)."""
    try:
        texts = [r[0] for r in json_rows(df).collect()]
    except Exception as e:
        err = view_error(e)
        if err is not None:
            raise err from None
        raise
    return [compiled.decode_json(t) for t in texts]


def view_error(e: BaseException) -> ViewDefinitionError | None:
    """The ViewDefinitionError a compiled view raised at run time inside Spark, if ``e`` is one."""
    text = str(e)
    if ERROR_MARK in text:
        detail = text.split(ERROR_MARK, 1)[1].splitlines()[0]
        detail = detail.split(" SQLSTATE:", 1)[0].strip()
        where, _, message = detail.partition(": ")
        return ViewDefinitionError(message, where)
    raised = re.findall(r"ViewDefinitionError: (.+)", text)  # from a Python worker's traceback
    if raised:
        where, _, rest = raised[-1].strip().partition(": ")
        return ViewDefinitionError(rest, where) if rest else ViewDefinitionError(where)
    return None


def _check(view: Mapping[str, Any]) -> None:
    problems = validate_view(view)
    if problems:
        where, _, message = problems[0].partition(": ")
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ViewDefinitionError(message + more, where)


def _python_rows(view: Mapping[str, Any], source: Source | DataFrame, spark: SparkSession) -> Any:
    """An RDD of the view's rows (dicts), made by ``run_view`` in the Python workers."""
    resource_type = str(view["resource"])
    from pyspark.sql import functions as F

    text = _text_dataframe(source, spark).where(F.col("resource_type") == F.lit(resource_type))
    frozen = copy.deepcopy(dict(view))  # a plain, picklable copy shipped to the workers

    def partition(lines: Iterator[Any]) -> Iterator[dict[str, Any]]:
        import orjson

        from senhealth.analytics.viewdef import run_view as run

        return iter(run(frozen, (orjson.loads(r[0]) for r in lines)))

    return text.select("resource").rdd.mapPartitions(
        cast("Callable[[Iterable[Any]], Iterable[Any]]", partition)
    )


def _columns(view: Mapping[str, Any]) -> list[tuple[str, str | None, bool]]:
    """``(name, declared type, collection)`` of every column, in output order."""
    out: list[tuple[str, str | None, bool]] = []

    def walk(sel: Mapping[str, Any]) -> None:
        for col in sel.get("column", []):
            out.append((col["name"], col.get("type"), bool(col.get("collection", False))))
        for sub in sel.get("select", []):
            walk(sub)
        if sel.get("unionAll"):
            walk(sel["unionAll"][0])

    walk({"select": view["select"]})
    return out


def _spark_type(declared: str | None, collection: bool) -> DataType:
    from pyspark.sql.types import ArrayType, BooleanType, DoubleType, LongType, StringType

    kind = FHIR_KIND.get(declared or "", "string")
    t: DataType = {"boolean": BooleanType(), "integer": LongType(), "decimal": DoubleType()}.get(
        kind, StringType()
    )
    return ArrayType(t) if collection else t


def _to_spark(value: Any, declared: str | None, collection: bool) -> Any:
    if collection:
        return None if value is None else [_to_spark(v, declared, False) for v in value]
    if value is None:
        return None
    kind = FHIR_KIND.get(declared or "", "string")
    if kind == "decimal" or (kind == "integer" and isinstance(value, Decimal)):
        return float(value) if kind == "decimal" else int(value)
    if kind in ("boolean", "integer"):
        return value
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, separators=(",", ":"))


def run_views_spark(
    jobs: Sequence[tuple[Mapping[str, Any], Source | DataFrame]], spark: SparkSession | None = None
) -> list[list[dict[str, Any]]]:
    """Several ``(view, source)`` pairs in ONE Spark job: each view's rows as JSON text, unioned,
    collected once and split again. Spark's fixed cost per job (planning, scheduling, a JVM warm-up on
    the first) is paid once: a nightly set of views, or the conformance suite.

    Views are compiled to SQL (``Unsupported`` propagates before anything runs); a run-time error in
    one fails the job. A source given twice (the same path or the same DataFrame object) is read once
    per view that uses it.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    spark = spark if spark is not None else get_spark()
    if not jobs:
        return []
    compiled = [compile_view(view, "spark") for view, _ in jobs]
    frames_of: dict[Any, DataFrame] = {}
    union: DataFrame | None = None
    for i, ((_, source), c) in enumerate(zip(jobs, compiled)):
        key = id(source) if isinstance(source, DataFrame) else repr(source)
        if key not in frames_of:
            frames_of[key] = resources_dataframe(source, spark)
        frame = json_rows(_sql_dataframe(c, frames_of[key])).select(F.lit(i).alias("view"), "row")
        union = frame if union is None else union.unionAll(frame)
    assert union is not None
    out: list[list[dict[str, Any]]] = [[] for _ in jobs]
    try:
        collected = union.collect()
    except Exception as e:
        err = view_error(e)
        if err is not None:
            raise err from None
        raise
    for r in collected:
        out[r[0]].append(compiled[r[0]].decode_json(r[1]))
    return out
