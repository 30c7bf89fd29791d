"""What the inference worker needs from the DICOM storage: a study's instances, and storing new ones with it.

Spec: DICOM PS3.3 (the instances are pydicom datasets, https://pydicom.github.io/pydicom/stable/), PS3.18
(DICOMweb: the platform's storage is reached through it from outside; inside, through this interface).

:class:`StudyStorage` is the interface; the platform's DICOM storage (``senhealth.imaging.storage``) fills
it at start-up through :func:`install_study_storage` (an adapter: ``instances`` reads the study's files,
``store`` does what STOW-RS does, keeping the ImagingStudy in step). :class:`MemoryStudyStorage` keeps
datasets in memory, as encoded files (so what is stored is what a reader would get back): for the tests,
the benchmark and a worker running without an archive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from io import BytesIO
from typing import Protocol, runtime_checkable

import pydicom
from pydicom.dataset import Dataset

__all__ = [
    "MemoryStudyStorage",
    "StudyStorage",
    "encode",
    "install_study_storage",
    "study_storage",
]


@runtime_checkable
class StudyStorage(Protocol):
    """A study's instances in, new instances of the same study out."""

    async def instances(self, study_uid: str) -> list[Dataset]:
        """Every instance of the study (pixel data readable)."""
        ...

    async def store(self, datasets: Sequence[Dataset]) -> list[str]:
        """Store ``datasets`` (of one study already stored) and keep its ImagingStudy in step; returns their
        SOP Instance UIDs."""
        ...


def encode(ds: Dataset) -> bytes:
    """``ds`` as a DICOM Part 10 file."""
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


class MemoryStudyStorage:
    """Studies in memory, as Part 10 bytes."""

    def __init__(self) -> None:
        self._files: dict[str, dict[str, bytes]] = {}
        self._lock = asyncio.Lock()

    def add(self, datasets: Sequence[Dataset]) -> None:
        """Put instances in (as a modality's C-STORE or a STOW-RS would)."""
        for ds in datasets:
            self._files.setdefault(str(ds.StudyInstanceUID), {})[str(ds.SOPInstanceUID)] = encode(ds)

    async def instances(self, study_uid: str) -> list[Dataset]:
        async with self._lock:
            files = list(self._files.get(study_uid, {}).values())
        return [pydicom.dcmread(BytesIO(b)) for b in files]

    async def store(self, datasets: Sequence[Dataset]) -> list[str]:
        async with self._lock:
            for ds in datasets:
                if str(ds.StudyInstanceUID) not in self._files:
                    raise KeyError(f"no study {ds.StudyInstanceUID} to store into")
            self.add(datasets)
        return [str(ds.SOPInstanceUID) for ds in datasets]

    def files(self, study_uid: str) -> dict[str, bytes]:
        """The stored files of a study by SOP Instance UID."""
        return dict(self._files.get(study_uid, {}))


_storage: StudyStorage | None = None


def install_study_storage(storage: StudyStorage | None) -> None:
    """Install the platform's storage (None: none; the worker then refuses to run)."""
    global _storage
    _storage = storage


def study_storage() -> StudyStorage | None:
    return _storage
