"""Storing DICOM instances: the file, the index rows, the ImagingStudy and the audit record, together.

Spec: the storage commitment a STOW-RS response or a C-STORE success status makes (PS3.18 §10.5,
PS3.4 B.2.3 https://dicom.nema.org/medical/dicom/current/output/chtml/part04/sect_B.2.3.html: once
acknowledged, the instance is kept); failure reasons are DIMSE status codes (PS3.4 Annex B.2.3: ``A700``
out of resources, ``A900`` data set does not match the SOP class, ``C000`` cannot understand), as the
STOW-RS ``FailureReason`` (0008,1197) uses them.

STOW-RS and C-STORE both call :func:`ingest`. For each study among the instances given: the files are
written first (atomically, :mod:`senhealth.imaging.storage.files`), then one database transaction writes
the index rows, finds or makes the Patient, creates or updates the ImagingStudy (with every series and
instance the index knows), records the audit event and, when asked, runs the ``on_study_stored`` hooks.
If the transaction fails the instances are reported failed; a file already replaced stays (its next
successful store rewrites the rows). Parsing and file writes run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import ImagingConfig
from senhealth.imaging.storage import audit
from senhealth.imaging.storage.dataset import InstanceInfo, NotDicom, as_part10, read_instance
from senhealth.imaging.storage.files import BlobStore, instance_key
from senhealth.imaging.storage.hooks import StudyStored, notify
from senhealth.imaging.storage.imaging_study import imaging_study_resource
from senhealth.imaging.storage.index import link_study, study_tree, upsert_instance
from senhealth.imaging.storage.patients import link_patient

__all__ = ["Failed", "IngestResult", "Stored", "ingest"]

log = logging.getLogger(__name__)

OUT_OF_RESOURCES = 0xA700
PROCESSING_FAILURE = 0x0110
WRONG_STUDY = 0xA900  # "data set does not match SOP class": STOW-RS uses it for a study UID mismatch too


@dataclass(frozen=True, slots=True)
class Stored:
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    created: bool


@dataclass(frozen=True, slots=True)
class Failed:
    sop_class_uid: str
    sop_uid: str
    reason: int
    message: str


@dataclass(slots=True)
class IngestResult:
    stored: list[Stored] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    studies: list[StudyStored] = field(default_factory=list)
    patient_ids: dict[str, str | None] = field(default_factory=dict)  # study uid → FHIR Patient id


def _parse_and_write(
    blobs: BlobStore, parts: Sequence[bytes], expected_study: str | None
) -> list[InstanceInfo | Failed]:
    out: list[InstanceInfo | Failed] = []
    for received in parts:
        data = as_part10(received)
        try:
            info = read_instance(data)
        except NotDicom as exc:
            out.append(Failed(exc.sop_class, exc.sop_instance, exc.reason, str(exc)))
            continue
        if expected_study is not None and info.study_uid != expected_study:
            out.append(
                Failed(
                    info.sop_class_uid,
                    info.sop_uid,
                    WRONG_STUDY,
                    f"the instance belongs to study {info.study_uid}, not {expected_study}",
                )
            )
            continue
        try:
            blobs.put(instance_key(info.study_uid, info.series_uid, info.sop_uid), data)
        except OSError as exc:
            log.error("could not write instance %s: %s", info.sop_uid, exc)
            out.append(
                Failed(
                    info.sop_class_uid, info.sop_uid, OUT_OF_RESOURCES, "the archive could not write the file"
                )
            )
            continue
        out.append(info)
    return out


async def ingest(
    store: FhirStore,
    blobs: BlobStore,
    config: ImagingConfig,
    parts: Sequence[bytes],
    *,
    source: str,
    principal: Principal | None,
    source_ip: str | None = None,
    expected_study: str | None = None,
    run_hooks: bool = True,
) -> IngestResult:
    """Store Part 10 files (see the module docstring); ``expected_study``: the study of a STOW-RS URL."""
    result = IngestResult()
    read = await asyncio.to_thread(_parse_and_write, blobs, parts, expected_study)
    by_study: dict[str, list[InstanceInfo]] = {}
    for item in read:
        if isinstance(item, Failed):
            result.failed.append(item)
        else:
            by_study.setdefault(item.study_uid, []).append(item)
    for study_uid, infos in by_study.items():
        try:
            event = await _index_study(
                store, config, study_uid, infos, source, principal, source_ip, run_hooks
            )
        except Exception:
            log.exception("indexing study %s failed", study_uid)
            result.failed.extend(
                Failed(
                    i.sop_class_uid, i.sop_uid, PROCESSING_FAILURE, "the archive could not index the instance"
                )
                for i in infos
            )
            continue
        created = set(event[1])
        result.stored.extend(
            Stored(i.sop_class_uid, i.sop_uid, i.study_uid, i.series_uid, i.sop_uid in created) for i in infos
        )
        result.studies.append(event[0])
        result.patient_ids[study_uid] = event[0].patient
    return result


async def _index_study(
    store: FhirStore,
    config: ImagingConfig,
    study_uid: str,
    infos: list[InstanceInfo],
    source: str,
    principal: Principal | None,
    source_ip: str | None,
    run_hooks: bool,
) -> tuple[StudyStored, list[str]]:
    async with store.transaction() as tx:
        conn = tx.conn
        # one writer per study at a time: concurrent C-STOREs of one study (several associations) would
        # otherwise race on the ImagingStudy's version
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('imaging:' || %s))", (study_uid,))
        created: list[str] = []
        study_new = False
        patient_ref = ""
        for info in infos:
            key = instance_key(info.study_uid, info.series_uid, info.sop_uid)
            s_new, i_new, patient_ref = await upsert_instance(conn, info, key, study_uid)
            study_new = study_new or s_new
            if i_new:
                created.append(info.sop_uid)
        tree = await study_tree(conn, study_uid)
        assert tree is not None
        if patient_ref:
            subject = {"reference": f"Patient/{patient_ref}"}
            patient: str | None = patient_ref
        else:
            link = await link_patient(tx, tree.columns, config)
            subject, patient = link.reference, link.patient
            if patient:
                await link_study(conn, study_uid, patient)
                tree.patient_ref = patient
        resource = imaging_study_resource(tree, subject)
        stored, was_created = await tx.update(resource)
        await audit.record(
            conn,
            principal=principal,
            action="create" if was_created else "update",
            study_id=stored.res_id,
            patients=[patient],
            source_ip=source_ip,
            details={"dicom": source, "instances": len(infos), "study_uid": study_uid},
        )
        series = tuple(dict.fromkeys(i.series_uid for i in infos))
        event = StudyStored(
            study_uid=study_uid,
            imaging_study_id=stored.res_id,
            patient=patient,
            instances=tuple(i.sop_uid for i in infos),
            series=series,
            modalities=tuple(sorted({str(i.series["modality"]) for i in infos if i.series["modality"]})),
            sop_classes=tuple(sorted({i.sop_class_uid for i in infos})),
            source=source,
        )
        if run_hooks:
            await notify(conn, [event])
    return event, created
