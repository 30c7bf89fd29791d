"""Where Bulk Data files live, how they are named and written: one directory per job, NDJSON parts.

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status ("each file SHALL contain
resources of only one type, but a server MAY create more than one file for each resource type") and
http://ndjson.org (one JSON value a line, ``\\n`` separated, UTF-8).

- :func:`bulk_root`: ``Settings.bulk_dir``, by default ``<data_dir>/bulk``; each job writes under
  ``<root>/<job id>/``, created readable by the platform's user only (``0o700``);
- :class:`PartWriter`: the files of one resource type, ``Observation.ndjson``, ``Observation-2.ndjson``
  ... each holding at most ``max_lines`` resources (default :data:`FILE_RESOURCES`), written to a
  ``.part`` name and renamed when complete, so a listed file is always whole;
- :func:`file_path`: the path of a listed file, refusing any name that is not one this module makes
  (no ``..``, no ``/``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from senhealth.core.config import Settings

__all__ = [
    "FILE_RESOURCES",
    "NAME",
    "PartWriter",
    "bulk_root",
    "file_path",
    "job_directory",
    "remove_job_files",
]

#: Resources per NDJSON file before the next part starts.
FILE_RESOURCES: Final = 100_000
#: What a file name of a job looks like: a resource type (or ``input``/``errors``), an optional part number.
NAME: Final = re.compile(r"^[A-Za-z]{1,64}(?:-[0-9]{1,9})?\.ndjson$")


def bulk_root(settings: Settings) -> Path:
    """The directory that holds every job's files."""
    configured: Path | None = getattr(settings, "bulk_dir", None)
    return configured if configured is not None else settings.data_dir / "bulk"


def job_directory(root: Path, job_id: str) -> Path:
    """The directory of job ``job_id`` under ``root`` (created, ``0o700``)."""
    path = root / job_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def file_path(directory: str | Path, name: str) -> Path | None:
    """The file ``name`` of a job's ``directory``, or None when the name is not a bulk file name."""
    if not NAME.fullmatch(name):
        return None
    return Path(directory) / name


def remove_job_files(directory: str | Path) -> None:
    """Remove a job's directory and everything in it (nothing when it is gone already)."""
    shutil.rmtree(directory, ignore_errors=True)


def _name(stem: str, part: int) -> str:
    return f"{stem}.ndjson" if part == 1 else f"{stem}-{part}.ndjson"


@dataclass
class PartWriter:
    """NDJSON files of one ``stem`` (a resource type) in ``directory``, ``max_lines`` lines each.

    ``write(line)`` takes one JSON text without its newline; ``close()`` finishes the current part.
    ``files`` lists ``(name, lines)`` of the finished parts.
    """

    directory: Path
    stem: str
    max_lines: int = FILE_RESOURCES
    files: list[tuple[str, int]] = field(default_factory=list)
    _handle: IO[str] | None = None
    _part: int = 0
    _lines: int = 0

    def _open(self) -> IO[str]:
        self._part += 1
        self._lines = 0
        path = self.directory / (_name(self.stem, self._part) + ".part")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        return open(fd, "w", encoding="utf-8", newline="\n", buffering=1 << 20)

    def write(self, line: str) -> None:
        if self._handle is None:
            self._handle = self._open()
        self._handle.write(line)
        self._handle.write("\n")
        self._lines += 1
        if self._lines >= self.max_lines:
            self._finish()

    def write_many(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def _finish(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        name = _name(self.stem, self._part)
        os.replace(self.directory / (name + ".part"), self.directory / name)
        self.files.append((name, self._lines))

    def close(self) -> None:
        self._finish()

    def abort(self) -> None:
        """Close and remove the unfinished part."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            (self.directory / (_name(self.stem, self._part) + ".part")).unlink(missing_ok=True)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abort()
