"""Synthetic data for the imaging AI tests: a facility, a radiologist, a patient, and chest phantom studies
made with pydicom (:mod:`senhealth.imaging.models.phantom_dicom`) put into an in-memory study storage with
their ImagingStudy, as the platform's DICOM storage would (until its "study stored" listeners call the
trigger, the tests build the ImagingStudy here). Everything is written through the real store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from pydicom.dataset import Dataset
from store_runner_support import run_with_store

from senhealth.fhir import access
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.imaging.inference.runtime import clear_sessions
from senhealth.imaging.inference.storage import MemoryStudyStorage
from senhealth.imaging.models.config import configure
from senhealth.imaging.models.definition import content_of
from senhealth.imaging.models.phantom_dicom import phantom_dataset
from senhealth.security.audit import PostgresAuditSink

T = TypeVar("T")

FACILITY = "bv-ai-1"
OTHER_FACILITY = "bv-ai-2"
RADIOLOGIST = "prac-rad-1"
PATIENT = "pat-ai-1"
ENCOUNTER = "enc-ai-1"


def seed_resources() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Organization",
            "id": FACILITY,
            "active": True,
            "name": "Bệnh viện Đa khoa Sen Vàng",
        },
        {
            "resourceType": "Organization",
            "id": OTHER_FACILITY,
            "active": True,
            "name": "Trung tâm Y tế Sen Trắng",
        },
        {
            "resourceType": "Practitioner",
            "id": RADIOLOGIST,
            "name": [{"family": "Trần", "given": ["Minh"], "text": "BS. Trần Minh"}],
        },
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "name": [{"family": "Phan", "given": ["Văn", "Ảnh"], "text": "Phan Văn Ảnh"}],
            "gender": "male",
            "birthDate": "1968-04-12",
            "managingOrganization": {"reference": f"Organization/{FACILITY}"},
        },
        {
            "resourceType": "Encounter",
            "id": ENCOUNTER,
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{PATIENT}"},
            "serviceProvider": {"reference": f"Organization/{FACILITY}"},
        },
    ]


async def seed(store: FhirStore) -> None:
    for resource in seed_resources():
        await store.update(resource)


def imaging_study(
    study_id: str, datasets: list[Dataset], *, encounter: str | None = ENCOUNTER
) -> dict[str, Any]:
    """The ImagingStudy of ``datasets`` (one study), as the DICOM storage keeps it."""
    first = datasets[0]
    series: dict[str, dict[str, Any]] = {}
    for ds in datasets:
        s = series.setdefault(
            str(ds.SeriesInstanceUID),
            {
                "uid": str(ds.SeriesInstanceUID),
                "modality": {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": str(ds.Modality),
                },
                "bodySite": {"system": "http://snomed.info/sct", "code": "51185008", "display": "Chest"},
                "instance": [],
            },
        )
        s["instance"].append(
            {
                "uid": str(ds.SOPInstanceUID),
                "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{ds.SOPClassUID}"},
                "number": int(ds.InstanceNumber),
            }
        )
    out: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study_id,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{first.StudyInstanceUID}"}],
        "status": "available",
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": str(first.Modality)}],
        "subject": {"reference": f"Patient/{PATIENT}"},
        "started": "2026-11-20T09:00:00+07:00",
        "numberOfSeries": len(series),
        "numberOfInstances": len(datasets),
        "series": list(series.values()),
    }
    if encounter:
        out["encounter"] = {"reference": f"Encounter/{encounter}"}
    return out


async def new_study(
    store: FhirStore,
    storage: MemoryStudyStorage,
    study_id: str,
    *,
    seed_value: int,
    nodule: bool,
    radius: float | None = None,
    contrast: float | None = None,
    encounter: str | None = ENCOUNTER,
) -> dict[str, Any]:
    """A phantom study stored in ``storage`` and its ImagingStudy in ``store``."""
    rng = np.random.default_rng(seed_value)
    ds, _ = phantom_dataset(rng, nodule=nodule, radius=radius, contrast=contrast, patient_id=PATIENT)
    storage.add([ds])
    study = imaging_study(study_id, [ds], encounter=encounter)
    stored, _ = await store.update(study)
    return content_of(stored)


async def find(store: FhirStore, res_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """A FHIR search through the store's search engine."""
    async with store.transaction() as tx:
        result = await search(tx.conn, parse_search(res_type, params), await tx.store.param_ids())
        return [dict(row.content) for row in result.matches]


def run_store(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    return run_with_store(url, fn)


@contextmanager
def audited() -> Iterator[None]:
    """The platform's audit sink installed (the open policy kept), put back afterwards; the AI settings
    and sessions reset."""
    access.install(policy=access.OPEN, sink=PostgresAuditSink())
    saved = configure().model_dump()
    try:
        yield
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        configure(**saved)
        clear_sessions()


async def audit_rows(
    store: FhirStore, query_prefix: str = "ai-"
) -> list[tuple[str, str, str, dict[str, Any]]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT query, res_type, res_id, details FROM audit_event WHERE query LIKE %s ORDER BY seq",
            (query_prefix + "%",),
        )
        return [(str(r[0]), str(r[1]), str(r[2]), dict(r[3] or {})) for r in await cur.fetchall()]
