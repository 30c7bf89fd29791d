"""The DICOM archive: files (:mod:`.files`), the index in PostgreSQL (:mod:`.index`, :mod:`.query`), the
ImagingStudy kept in step (:mod:`.imaging_study`, :mod:`.patients`), storing (:mod:`.ingest`) and the
``on_study_stored`` hooks (:mod:`.hooks`). docs/imaging-dicom.md."""

from __future__ import annotations

from pathlib import Path

from senhealth.imaging.config import ImagingConfig, storage_dir
from senhealth.imaging.storage.files import BlobStore, FileStore, InvalidUID, check_uid, instance_key
from senhealth.imaging.storage.hooks import StudyHook, StudyStored, clear_study_hooks, on_study_stored
from senhealth.imaging.storage.ingest import Failed, IngestResult, Stored, ingest

__all__ = [
    "BlobStore",
    "Failed",
    "FileStore",
    "IngestResult",
    "InvalidUID",
    "Stored",
    "StudyHook",
    "StudyStored",
    "blob_store",
    "check_uid",
    "clear_study_hooks",
    "ingest",
    "instance_key",
    "on_study_stored",
]


def blob_store(config: ImagingConfig, data_dir: Path) -> BlobStore:
    """The configured file store (the file system: ``storage_dir``, else ``<data_dir>/imaging``)."""
    return FileStore(storage_dir(config, data_dir))
