"""FHIR resources as files for the analytics engines: NDJSON and a one-row-per-resource Parquet layout.

Specs: NDJSON as FHIR Bulk Data writes it (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-format:
one resource per line, UTF-8) and Apache Parquet (https://parquet.apache.org/docs/file-format/).

The Parquet layout (``RESOURCE_SCHEMA``), the same for every resource type so that one file or a
directory of files can hold a whole export:

=================  ============  ====================================================
column             type          content
=================  ============  ====================================================
``resource_type``  string        ``resourceType`` (engines filter on it; row groups
                                 written in type order make that filter cheap)
``id``             string        the resource's ``id`` (null when it has none)
``resource``       string        the resource as compact JSON text (UTF-8)
=================  ============  ====================================================

A column of JSON text rather than a nested Parquet schema: FHIR resources are too polymorphic for
one static schema (choice types, extensions, contained resources), and both engines parse the text
fast (DuckDB's yyjson, Spark's ``parse_json`` to VARIANT). ``Decimal`` values in the resources are
written as JSON numbers through ``float`` (15-17 significant digits, as both engines read them).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

RESOURCE_SCHEMA = pa.schema(
    [
        pa.field("resource_type", pa.string(), nullable=False),
        pa.field("id", pa.string()),
        pa.field("resource", pa.string(), nullable=False),
    ]
)
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet",)

Source = str | Path | Sequence[str | Path]


def resource_json(resource: Mapping[str, Any]) -> str:
    """Compact JSON text of a resource (a ``Decimal`` becomes a JSON number through ``float``)."""
    return orjson.dumps(resource, default=_number).decode()


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_resources_ndjson(resources: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write ``resources`` one per line (gzip when ``path`` ends in ``.gz``); return the count."""
    n = 0
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "wt", encoding="utf-8") as f:
        for r in resources:
            f.write(resource_json(r))
            f.write("\n")
            n += 1
    return n


def write_resources_parquet(
    resources: Iterable[Mapping[str, Any]], path: str | Path, *, row_group_size: int = 50_000
) -> int:
    """Write ``resources`` in the layout of ``RESOURCE_SCHEMA`` (zstd); return how many were written.

    Rows are written in batches of ``row_group_size``, each batch sorted by type then id, so memory
    stays bounded and a filter on ``resource_type`` skips most row groups of a mixed export.
    """
    n = 0
    with pq.ParquetWriter(str(path), RESOURCE_SCHEMA, compression="zstd") as writer:  # type: ignore[no-untyped-call]
        batch: list[tuple[str, str | None, str]] = []
        for r in resources:
            rid = r.get("id")
            batch.append((str(r["resourceType"]), rid if isinstance(rid, str) else None, resource_json(r)))
            if len(batch) >= row_group_size:
                n += _write_batch(writer, batch)
                batch = []
        if batch or n == 0:
            n += _write_batch(writer, batch)
    return n


def _write_batch(writer: pq.ParquetWriter, batch: list[tuple[str, str | None, str]]) -> int:
    batch.sort(key=lambda t: (t[0], t[1] or ""))
    table = pa.table(
        {
            "resource_type": [t[0] for t in batch],
            "id": [t[1] for t in batch],
            "resource": [t[2] for t in batch],
        },
        schema=RESOURCE_SCHEMA,
    )
    writer.write_table(table)  # type: ignore[no-untyped-call]
    return len(batch)


def source_files(source: Source) -> tuple[str, list[str]]:
    """The format (``"ndjson"`` or ``"parquet"``) and files of ``source``: a file, a directory (its
    NDJSON or Parquet files, not recursive), or a list of files. Raises ``ValueError`` when there are
    none or when they mix the two formats."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and _format(f) is not None))
        elif p.exists():
            files.append(p)
        else:
            raise ValueError(f"no such file or directory: {p}")
    if not files:
        raise ValueError(f"no NDJSON or Parquet files in {source}")
    formats = {_format(f) for f in files}
    if None in formats:
        bad = next(f for f in files if _format(f) is None)
        raise ValueError(f"{bad}: not NDJSON (.ndjson, .jsonl, optionally .gz) nor Parquet (.parquet)")
    if len(formats) > 1:
        raise ValueError("a source must be all NDJSON or all Parquet, not both")
    (fmt,) = formats
    assert fmt is not None
    return fmt, [str(f) for f in files]


def _format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def read_resources(source: Source, resource_type: str | None = None) -> Iterator[dict[str, Any]]:
    """The resources of ``source`` (NDJSON or Parquet, see :func:`source_files`), parsed, optionally
    only those of ``resource_type``."""
    fmt, files = source_files(source)
    for f in files:
        if fmt == "parquet":
            # ParquetFile, not read_table: the datasets reader's thread pool made pyarrow 24 abort
            # the interpreter at exit on this machine (see materialise_parquet)
            with pq.ParquetFile(f) as pf:  # type: ignore[no-untyped-call]
                for batch in pf.iter_batches(columns=["resource_type", "resource"]):
                    for rtype, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                        if resource_type is None or rtype == resource_type:
                            yield orjson.loads(text)
            continue
        opener = gzip.open if f.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    r = orjson.loads(line)
                    if resource_type is None or r.get("resourceType") == resource_type:
                        yield r
