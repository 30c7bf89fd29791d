"""A materialised view as a directory of Parquet files (the ``parquet`` target of :mod:`.materialise`).

Spec: https://parquet.apache.org/docs/ ; pyarrow https://arrow.apache.org/docs/python/parquet.html.

The directory holds ``part-<uuid>.parquet`` files, all with the schema of
:func:`senhealth.analytics.viewdef.formats.arrow_schema` (``_resource_id`` first): together they are the
view's rows, in no particular order, and any tool that reads a directory of Parquet files (DuckDB's
``read_parquet('dir/*.parquet')``, Spark, pandas) reads the view. Parquet files cannot be changed in
place, so a refresh (:func:`replace`) rewrites only the parts that hold rows of changed resources
(without those rows), then adds one new part with their new rows; when more than :data:`MAX_PARTS`
parts have accumulated they are merged into one. Every file is written under a temporary name and
renamed into place (atomic on one file system), so a reader never sees half a file; a refresh stopped
between two files is repaired by the next one, which applies the same changes again.

Files are read with ``pq.ParquetFile(...).read()``: ``pq.read_table`` (the datasets reader, with its
thread pool) made the interpreter abort at exit in pyarrow 24 on this machine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .viewdef import ViewColumn
from .viewdef.formats import ParquetRows

__all__ = ["MAX_PARTS", "Build", "parts", "read_rows", "remove", "replace"]

#: Parts beyond which a refresh merges the directory into one file.
MAX_PARTS: Final = 16
_PART: Final = "part-*.parquet"


def parts(directory: Path) -> list[Path]:
    """The directory's part files, by name."""
    return sorted(directory.glob(_PART))


def _new_part(directory: Path) -> tuple[Path, Path]:
    name = f"part-{uuid.uuid4().hex}.parquet"
    return directory / name, directory / f".{name}.tmp"


class Build:
    """A full build: rows streamed into one new part; :meth:`finish` puts it in place of the old ones."""

    def __init__(self, directory: Path, columns: Sequence[ViewColumn], resource_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path, self.tmp = _new_part(directory)
        self._rows = ParquetRows(columns, resource_id=resource_id)
        self._file = self.tmp.open("wb")
        self._file.write(self._rows.begin())

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._file.write(self._rows.write(rows))

    def finish(self) -> None:
        self._file.write(self._rows.end())
        self._file.close()
        old = parts(self.directory)
        os.replace(self.tmp, self.path)
        for p in old:
            p.unlink(missing_ok=True)

    def abandon(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)


def _write(table: pa.Table, path: Path, tmp: Path) -> None:
    pq.write_table(table, tmp)  # type: ignore[no-untyped-call]
    os.replace(tmp, path)


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    with pq.ParquetFile(path) as f:  # type: ignore[no-untyped-call]
        return f.read(columns=columns)


def replace(
    directory: Path,
    columns: Sequence[ViewColumn],
    resource_id: str,
    ids: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> tuple[int, int]:
    """Remove the rows of resources ``ids`` from every part and add ``rows`` as a new part; returns
    (rows removed, rows added). Merges the parts when there are more than :data:`MAX_PARTS`."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = pa.array(list(ids), pa.string())
    removed = 0
    for part in parts(directory):
        mask = pc.is_in(_read(part, [resource_id]).column(0), value_set=wanted)  # type: ignore[attr-defined]
        hits = int(pc.sum(mask).as_py() or 0)  # type: ignore[attr-defined]
        if not hits:
            continue
        kept = _read(part).filter(pc.invert(mask))  # type: ignore[attr-defined]
        removed += hits
        if kept.num_rows:
            _write(kept, part, directory / f".{part.name}.tmp")
        else:
            part.unlink()
    if rows:
        path, tmp = _new_part(directory)
        writer = ParquetRows(columns, resource_id=resource_id)
        with tmp.open("wb") as f:
            f.write(writer.begin())
            f.write(writer.write(rows))
            f.write(writer.end())
        os.replace(tmp, path)
    found = parts(directory)
    if len(found) > MAX_PARTS:
        merged = pa.concat_tables([_read(p) for p in found])
        path, tmp = _new_part(directory)
        _write(merged, path, tmp)
        for p in found:
            p.unlink()
    return removed, len(rows)


def read_rows(directory: Path) -> list[dict[str, Any]]:
    """Every row of the directory (for checks and small views)."""
    out: list[dict[str, Any]] = []
    for part in parts(directory):
        out.extend(_read(part).to_pylist())
    return out


def remove(directory: Path) -> None:
    """Delete the parts (and leftover temporary files); the directory too when nothing else is in it."""
    if not directory.is_dir():
        return
    for p in [*parts(directory), *directory.glob(".part-*.tmp")]:
        p.unlink(missing_ok=True)
    if not any(directory.iterdir()):
        directory.rmdir()
