"""The DICOM archive and the imaging AI, connected: a study stored → its models queued → the worker reads the
study from the archive and stores its SR and SEG back into it.

Spec: DICOM PS3.18 §10.5 (the AI's objects are stored as a STOW-RS would store them: same files, index and
ImagingStudy), PS3.10 (Part 10 files), the job queue :mod:`senhealth.core.queue` (a job written in the
transaction that stores the study exists only if the study commits). Docs: docs/imaging-ai.md
("Connection to the archive"), docs/imaging-dicom.md (the hook), docs/web-imaging.md (the pages).

The two halves were built apart, each with an interface for the other:

- the archive (:mod:`senhealth.imaging.storage`) calls ``on_study_stored`` hooks inside the storing
  transaction; :func:`queue_inference` is that hook: for a study that received images (not the AI's own
  SR/SEG, nor other non-image objects) it runs the AI trigger
  (:func:`senhealth.imaging.inference.handle_new_study`) **on the hook's connection**, so the models
  enabled at the study's facility are found with the study's rows as they are being written, and each
  ``imaging.infer`` job is enqueued in that same transaction (a savepoint per job: a job already waiting
  for the same study and model is not queued twice);
- the inference worker reads and writes through a :class:`~senhealth.imaging.inference.StudyStorage`;
  :class:`ArchiveStudyStorage` is the archive's: ``instances`` reads the study's files (the index says
  which), ``store`` goes through :func:`senhealth.imaging.storage.ingest` exactly as STOW-RS does (files
  written atomically, index rows, the ImagingStudy updated, an audit event), with the source ``AI`` and
  the worker as the principal.

:func:`install_imaging` installs both (and ``DiagnosticReport/$ai-review``,
:mod:`senhealth.imaging.ai_review_operation`) in this process; the server and the worker both call it
from ``install_platform``. :func:`uninstall_imaging` takes it all out again (tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from io import BytesIO
from pathlib import Path
from typing import Any, Final

import pydicom
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydicom.dataset import Dataset

from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.params import sync_params
from senhealth.fhir.store.store import StoreTx
from senhealth.imaging.config import ImagingConfig, get_config
from senhealth.imaging.inference import handle_new_study, install_study_storage
from senhealth.imaging.inference.storage import StudyStorage, encode
from senhealth.imaging.models.definition import content_of
from senhealth.imaging.storage import BlobStore, StudyStored, blob_store, ingest, on_study_stored
from senhealth.imaging.storage.index import instance_rows

__all__ = [
    "AI_SOURCE",
    "ArchiveStudyStorage",
    "StoreFailed",
    "install_imaging",
    "queue_inference",
    "uninstall_imaging",
]

log = logging.getLogger(__name__)

#: ``StudyStored.source`` (and the audit's ``dicom`` detail) of the objects the inference stores.
AI_SOURCE: Final = "AI"
#: Modalities that are not images a model reads: a study receiving only these does not queue models.
NOT_IMAGES: Final = frozenset({"SR", "SEG", "KO", "PR", "DOC", "REG", "RWV"})
WORKER: Final = Principal(kind="system", subject="imaging-ai-worker", roles=frozenset({"system"}))


class StoreFailed(Exception):
    """The archive refused some of the AI's objects (the reasons are the STOW-RS failure reasons)."""


class ArchiveStudyStorage:
    """The inference worker's :class:`~senhealth.imaging.inference.StudyStorage` over the archive.

    ``store``: the FHIR store (default: one on the process's pool, made at first use); ``config`` and
    ``data_dir``: where the files are (default: the imaging settings at each call, and the platform's data
    folder), so that tests and the CLI that reconfigure the imaging settings are followed."""

    def __init__(
        self,
        store: FhirStore | None = None,
        *,
        config: ImagingConfig | None = None,
        data_dir: Path | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._data_dir = data_dir
        self._blobs = blobs

    @property
    def fhir_store(self) -> FhirStore:
        if self._store is None:
            self._store = FhirStore()
        return self._store

    @property
    def config(self) -> ImagingConfig:
        return self._config or get_config()

    def blobs(self) -> BlobStore:
        if self._blobs is not None:
            return self._blobs
        data_dir = self._data_dir
        if data_dir is None:
            from senhealth.core.config import get_settings

            data_dir = get_settings().data_dir
        return blob_store(self.config, data_dir)

    async def instances(self, study_uid: str) -> list[Dataset]:
        """Every instance of the study, read from its file (series and instance order)."""
        async with self.fhir_store.pool.connection() as conn:
            rows = await instance_rows(conn, study_uid)
        blobs = self.blobs()

        def read() -> list[Dataset]:
            return [pydicom.dcmread(BytesIO(blobs.get(row.storage_key))) for row in rows]

        return await asyncio.to_thread(read)

    async def store(self, datasets: Sequence[Dataset]) -> list[str]:
        """Store the AI's objects with their study as STOW-RS would; raises :class:`StoreFailed` when the
        archive refuses any (nothing is half-reported: the caller retries the whole job)."""
        studies = {str(ds.StudyInstanceUID) for ds in datasets}
        if len(studies) > 1:
            raise StoreFailed(f"objects of several studies at once: {sorted(studies)}")
        parts = [encode(ds) for ds in datasets]
        result = await ingest(
            self.fhir_store,
            self.blobs(),
            self.config,
            parts,
            source=AI_SOURCE,
            principal=WORKER,
            expected_study=next(iter(studies), None),
        )
        if result.failed:
            reasons = "; ".join(f"{f.sop_uid}: {f.reason:04X} {f.message}" for f in result.failed)
            raise StoreFailed(f"the archive did not store the AI's objects: {reasons}")
        return [s.sop_uid for s in result.stored]


class _OnConnection(FhirStore):
    """A FHIR store whose reads, searches and transactions all run on one connection, inside the caller's
    transaction (each ``transaction()`` a savepoint): what a hook running in the archive's transaction
    needs to see the study it is told about. Search parameter numbers are read on that connection too
    (the archive's own write has already numbered them)."""

    def __init__(self, conn: AsyncConnection[TupleRow]) -> None:
        super().__init__()
        self._conn = conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTx]:
        async with self._conn.transaction():
            yield StoreTx(self, self._conn)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        yield self._conn

    async def param_ids(self) -> dict[tuple[str, str], int]:
        if self._params is None:
            self._params = await sync_params(self._conn)
        return self._params


def _new_images_view(study: dict[str, Any], event: StudyStored) -> dict[str, Any]:
    """The ImagingStudy narrowed to what this storage event brought (its series and their modalities):
    models match what arrived, not the AI objects already in the study."""
    view = dict(study)
    series = [s for s in study.get("series") or [] if s.get("uid") in set(event.series)]
    view["series"] = series
    modalities = {m for m in event.modalities if m not in NOT_IMAGES}
    view["modality"] = [m for m in study.get("modality") or [] if m.get("code") in modalities]
    return view


async def queue_inference(conn: AsyncConnection[TupleRow], event: StudyStored) -> None:
    """The ``on_study_stored`` hook: queue the enabled models that match the images just stored (see the
    module docstring)."""
    if event.source == AI_SOURCE or not set(event.modalities) - NOT_IMAGES:
        return
    store = _OnConnection(conn)
    study = content_of(await store.read("ImagingStudy", event.imaging_study_id))
    triggered = await handle_new_study(store, _new_images_view(study, event))
    if triggered.jobs:
        log.info(
            "study %s (%s): %s queued for inference (jobs %s)",
            event.study_uid,
            event.source,
            ", ".join(triggered.models),
            triggered.jobs,
        )


_installed: list[Callable[[], None]] = []


def install_imaging(
    settings: Any = None, *, storage: StudyStorage | None = None, review_operation: bool = True
) -> StudyStorage:
    """Connect the archive and the AI in this process (idempotent): the worker's storage (``storage``, else
    an :class:`ArchiveStudyStorage` on the platform's data folder), the ``on_study_stored`` hook that queues
    inference, and ``DiagnosticReport/$ai-review``. Returns the storage installed."""
    uninstall_imaging()
    data_dir = getattr(settings, "data_dir", None)
    chosen = storage if storage is not None else ArchiveStudyStorage(data_dir=data_dir)
    install_study_storage(chosen)
    _installed.append(lambda: install_study_storage(None))
    _installed.append(on_study_stored(queue_inference))
    if review_operation:
        from senhealth.imaging.ai_review_operation import (
            register_ai_review_operation,
            unregister_ai_review_operation,
        )

        register_ai_review_operation(settings)
        _installed.append(unregister_ai_review_operation)
    return chosen


def uninstall_imaging() -> None:
    """Undo :func:`install_imaging` (tests)."""
    while _installed:
        _installed.pop()()
