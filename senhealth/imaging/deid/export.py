"""Research export: de-identified copies of stored studies, written as Part 10 files.

Spec: the profile :mod:`senhealth.imaging.deid.profile` (PS3.15 Annex E); the files' layout is the
archive's own (``<study>/<series>/<sop>.dcm``, with the new UIDs). An image whose Burned In Annotation is not
``NO`` is left out and listed in the report (its pixels may show who the patient is; E.1.1 (7)). Each
exported study is audited as an ``operation`` on its ImagingStudy (who, which patients, the export's name).

:func:`export_research` is what a CLI command calls (``senhealth imaging export-research``, see
docs/imaging-dicom.md); it runs on a pool the caller opened, the key (the secret behind UIDs and
pseudonyms) is given by the caller and never written out.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.imaging.deid.profile import deidentify
from senhealth.imaging.storage import audit
from senhealth.imaging.storage.files import BlobStore, FileStore, instance_key
from senhealth.imaging.storage.index import instance_rows

__all__ = ["ExportReport", "export_research"]


@dataclass(slots=True)
class ExportReport:
    studies: int = 0
    written: list[Path] = field(default_factory=list)
    burned_in: list[str] = field(default_factory=list)  # SOP Instance UIDs left out
    missing: list[str] = field(default_factory=list)  # study UIDs not in the archive


def _one(blobs: BlobStore, key: str, secret: bytes, out: FileStore) -> tuple[str | None, str | None]:
    ds = dcmread(io.BytesIO(blobs.get(key)))
    flagged: list[Dataset] = []
    clean = deidentify(ds, secret, on_burned_in=flagged.append)
    if flagged:
        return None, str(ds.SOPInstanceUID)
    target = instance_key(clean.StudyInstanceUID, clean.SeriesInstanceUID, clean.SOPInstanceUID)
    buffer = io.BytesIO()
    clean.save_as(buffer, enforce_file_format=True)
    out.put(target, buffer.getvalue())
    return str(out.path(target)), None


async def export_research(
    store: FhirStore,
    blobs: BlobStore,
    study_uids: list[str],
    out_dir: Path,
    secret: bytes,
    *,
    principal: Principal | None = None,
    name: str = "research-export",
) -> ExportReport:
    """Write de-identified copies of ``study_uids`` under ``out_dir`` (see the module docstring)."""
    if len(secret) < 16:
        raise ValueError("the export key must have at least 16 bytes")
    report = ExportReport()
    target = FileStore(out_dir)
    for study_uid in study_uids:
        async with store.transaction() as tx:
            rows = await instance_rows(tx.conn, study_uid)
            if not rows:
                report.missing.append(study_uid)
                continue
            for row in rows:
                path, burned = await asyncio.to_thread(_one, blobs, row.storage_key, secret, target)
                if path is not None:
                    report.written.append(Path(path))
                if burned is not None:
                    report.burned_in.append(burned)
            await audit.record(
                tx.conn,
                principal=principal,
                action="operation",
                study_id=study_uid,
                patients=[rows[0].patient_ref],
                query=name,
                details={"dicom": "research-export", "instances": len(rows)},
            )
            report.studies += 1
    return report
