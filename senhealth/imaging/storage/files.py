"""DICOM files at rest: one Part 10 file per SOP instance, named by its UIDs.

Spec: DICOM PS3.10 (the file format: preamble, ``DICM``, file meta information, data set)
https://dicom.nema.org/medical/dicom/current/output/chtml/part10/chapter_7.html; UIDs PS3.5 §9
(digits and dots, at most 64 characters) https://dicom.nema.org/medical/dicom/current/output/chtml/part05/chapter_9.html.

The bytes are kept exactly as received (a STOW-RS part, or the file pynetdicom writes for a C-STORE), so
that what is retrieved is what was stored. A key is ``<study>/<series>/<sop>.dcm``; the UIDs are checked
first, so a key never leaves the storage directory. Writes go to a temporary file in the same directory,
flushed and renamed (``os.replace``): a reader sees the old file or the new one, never half of one.

:class:`BlobStore` is the interface another backend implements (an S3-compatible object store: ``put``
as a PutObject, ``get`` a GetObject, ``delete`` a DeleteObject, the key as the object name); only
:class:`FileStore` is built in (docs/imaging-dicom.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Final, Protocol

__all__ = ["UID", "BlobStore", "FileStore", "InvalidUID", "check_uid", "instance_key"]

#: A DICOM UID (PS3.5 §9.1): components of digits without leading zeros, dot-separated, ≤ 64 characters.
UID: Final = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class InvalidUID(ValueError):
    """Not a DICOM UID."""


def check_uid(value: str, what: str = "UID") -> str:
    """``value`` if it is a valid UID; else :class:`InvalidUID`."""
    if not isinstance(value, str) or len(value) > 64 or not UID.match(value):
        raise InvalidUID(f"{what} is not a DICOM UID: {str(value)[:80]!r}")
    return value


def instance_key(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The storage key of an instance (its UIDs checked)."""
    return f"{check_uid(study_uid)}/{check_uid(series_uid)}/{check_uid(sop_uid)}.dcm"


class BlobStore(Protocol):
    """Where instance files live; keys are from :func:`instance_key`."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (replacing it), durably, all or nothing."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`FileNotFoundError` when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing when absent)."""
        ...


class FileStore:
    """:class:`BlobStore` on a directory of the file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if len(parts) != 3 or not parts[2].endswith(".dcm"):
            raise InvalidUID(f"not an instance key: {key[:200]!r}")
        for part in (*parts[:2], parts[2][:-4]):
            check_uid(part)
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
