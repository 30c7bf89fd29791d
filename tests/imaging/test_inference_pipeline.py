"""The inference worker on synthetic studies made with pydicom: a phantom with a big nodule gives the finding,
a clean one does not; the preliminary report, its Observation, the worklist priority, the Provenance naming
the model's Device, the audit event, and the SR and SEG stored with the study (read back with highdicom).

Spec: https://hl7.org/fhir/R4/diagnosticreport.html, DICOM PS3.16 TID 1500, PS3.3 A.51 (Segmentation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from imaging_ai_support import (
    ENCOUNTER,
    FACILITY,
    audit_rows,
    audited,
    find,
    new_study,
    run_store,
    seed,
)
from pydicom.sr.codedict import codes

from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.imaging.inference import MemoryStudyStorage, handle_new_study, run_inference
from senhealth.imaging.inference.dicom_objects import PROBABILITY
from senhealth.imaging.models import DEMO_MODEL, disable, enable, register_builtin
from senhealth.imaging.models.definition import content_of

RADIUS = 22.0  # pixels of 256: a big nodule
CONTRAST = 0.3


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    with audited():
        yield schema_url


def _probability(obs: dict[str, Any]) -> float:
    return float(obs["component"][0]["valueQuantity"]["value"])


def test_a_big_nodule_is_found_and_a_clean_chest_is_not(url: str) -> None:
    storage = MemoryStudyStorage()

    async def body(store: FhirStore) -> None:
        await seed(store)
        await register_builtin(store)
        device = await enable(store, DEMO_MODEL, FACILITY)
        sick = await new_study(
            store, storage, "study-nodule", seed_value=11, nodule=True, radius=RADIUS, contrast=CONTRAST
        )
        clean = await new_study(store, storage, "study-clean", seed_value=12, nodule=False)

        fired = await handle_new_study(store, sick, storage, run_now=True)
        assert fired.facility == FACILITY and fired.models == [f"{DEMO_MODEL}@1.0.0"]
        (hit,) = fired.outcomes
        assert hit.status == "done" and hit.positive is True and hit.priority == "urgent"
        (miss,) = (await handle_new_study(store, clean, storage, run_now=True)).outcomes
        assert miss.status == "done" and miss.positive is False and miss.priority == "routine"
        assert hit.probability is not None and miss.probability is not None
        assert hit.probability > 0.8 > 0.3 > miss.probability

        report = content_of(await store.read("DiagnosticReport", str(hit.report_id)))
        assert report["status"] == "preliminary"
        assert report["imagingStudy"] == [{"reference": "ImagingStudy/study-nodule"}]
        assert report["encounter"] == {"reference": f"Encounter/{ENCOUNTER}"}
        assert "not for clinical use" in report["conclusion"]
        obs_id = report["result"][0]["reference"].removeprefix("Observation/")
        obs = content_of(await store.read("Observation", obs_id))
        assert obs["status"] == "preliminary"
        assert obs["code"]["coding"][0]["code"] == "27925004"  # Nodule
        assert obs["valueCodeableConcept"]["coding"][0]["code"] == "52101004"  # Present
        assert obs["device"]["reference"] == f"Device/{device['id']}"
        assert _probability(obs) == pytest.approx(hit.probability, abs=1e-4)
        kinds = {
            e["valueReference"]["display"]: e["valueReference"]["identifier"]["value"]
            for e in report["extension"]
            if e["url"].endswith("ai-dicom-object")
        }
        assert kinds == {"SR": f"urn:oid:{hit.sr_uids[0]}", "SEG": f"urn:oid:{hit.seg_uids[0]}"}

        clean_report = content_of(await store.read("DiagnosticReport", str(miss.report_id)))
        clean_obs = content_of(await store.read("Observation", clean_report["result"][0]["reference"][12:]))
        assert clean_obs["valueCodeableConcept"]["coding"][0]["code"] == "272519000"  # Absent

        (task,) = await find(store, "Task", [("focus", f"DiagnosticReport/{hit.report_id}")])
        (prov,) = await find(store, "Provenance", [("target", f"DiagnosticReport/{hit.report_id}")])
        assert task["priority"] == "urgent" and task["status"] == "requested"
        assert task["owner"] == {"reference": f"Organization/{FACILITY}"}
        assert prov["agent"][0]["who"]["reference"] == f"Device/{device['id']}/_history/1"
        assert prov["agent"][0]["who"]["display"] == f"{DEMO_MODEL}@1.0.0"
        assert prov["entity"] == [{"role": "source", "what": {"reference": "ImagingStudy/study-nodule"}}]
        inferred = [r for r in await audit_rows(store) if r[0] == "ai-inference"]
        assert [(r[2], r[3]["model"], r[3]["device"]) for r in inferred] == [
            (hit.report_id, f"{DEMO_MODEL}@1.0.0", f"Device/{device['id']}"),
            (miss.report_id, f"{DEMO_MODEL}@1.0.0", f"Device/{device['id']}"),
        ]

        again = await run_inference(store, "study-nodule", str(device["id"]), storage)
        assert again.status == "existing" and again.report_id == hit.report_id

        # the SR and the SEG are stored with the study, and read back as valid objects
        files = storage.files(str(sick["identifier"][0]["value"]).removeprefix("urn:oid:"))
        assert len(files) == 3
        sr = hd.sr.srread(BytesIO(files[hit.sr_uids[0]]))
        content: Any = sr.content
        (group,) = content.get_planar_roi_measurement_groups()
        assert group.finding_type == codes.SCT.Nodule
        (score,) = group.get_measurements(name=PROBABILITY)
        assert score.value == pytest.approx(hit.probability, abs=1e-4)
        assert group.get_qualitative_evaluations()[0].value == codes.SCT.Present
        assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "UNVERIFIED"
        seg = hd.seg.segread(BytesIO(files[hit.seg_uids[0]]))
        assert seg.SegmentationType == "FRACTIONAL" and seg.number_of_segments == 1
        stored = np.asarray(seg.pixel_array).reshape(256, 256)  # fractional: 0..MaximumFractionalValue
        assert int(seg.MaximumFractionalValue) == 255
        assert stored.max() >= 128  # the heatmap's peak is the positive call (probability >= 0.5)
        assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "27925004"

    run_store(url, body)


def test_the_overlay_points_at_the_nodule(url: str) -> None:
    """The SEG's hottest region is where the nodule was drawn."""
    from senhealth.imaging.models.phantom_dicom import phantom_dataset

    storage = MemoryStudyStorage()

    async def body(store: FhirStore) -> None:
        await seed(store)
        await register_builtin(store)
        device = await enable(store, DEMO_MODEL, FACILITY)
        rng = np.random.default_rng(21)
        ds, truth = phantom_dataset(rng, nodule=True, radius=RADIUS, contrast=CONTRAST)
        storage.add([ds])
        from imaging_ai_support import imaging_study

        await store.update(imaging_study("study-overlay", [ds]))
        outcome = await run_inference(store, "study-overlay", str(device["id"]), storage)
        assert outcome.positive is True
        seg_file = storage.files(str(ds.StudyInstanceUID))[outcome.seg_uids[0]]
        seg = hd.seg.segread(BytesIO(seg_file))
        pixels = np.asarray(seg.pixel_array, dtype=float).reshape(256, 256)
        row, col = np.unravel_index(int(np.argmax(pixels)), pixels.shape)
        assert truth.nodule is not None
        distance = float(np.hypot(row - truth.nodule.row, col - truth.nodule.col))
        assert distance <= truth.nodule.radius + 8

    run_store(url, body)


def test_queued_once_and_not_run_when_the_model_is_off(url: str) -> None:
    storage = MemoryStudyStorage()

    async def body(store: FhirStore) -> None:
        await seed(store)
        await register_builtin(store)
        study = await new_study(
            store, storage, "study-q", seed_value=31, nodule=True, radius=RADIUS, contrast=CONTRAST
        )
        nothing = await handle_new_study(store, study, storage)
        assert nothing.models == [] and nothing.jobs == []  # not enabled anywhere

        device = await enable(store, DEMO_MODEL, FACILITY)
        first = await handle_new_study(store, study, storage)
        second = await handle_new_study(store, study, storage)  # the same study stored again
        assert len(first.jobs) == 1 and second.jobs == []
        async with store.transaction() as tx:
            cur = await tx.conn.execute(
                "SELECT args FROM procrastinate_jobs WHERE task_name = 'imaging.infer' AND id = %s",
                (first.jobs[0],),
            )
            (args,) = [r[0] for r in await cur.fetchall()]
        assert args == {"study": "study-q", "device": device["id"]}

        await disable(store, DEMO_MODEL, FACILITY)
        skipped = await run_inference(store, "study-q", str(device["id"]), storage)
        assert skipped.status == "skipped" and "disabled" in skipped.reason
        ct = await new_study(store, storage, "study-ct", seed_value=32, nodule=False)
        ct["modality"] = [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}]
        for series in ct["series"]:
            series["modality"]["code"] = "CT"
        await enable(store, DEMO_MODEL, FACILITY)
        assert (await handle_new_study(store, ct, storage)).models == []  # not the model's modality

    run_store(url, body)


def test_the_worker_runs_the_queued_job(url: str) -> None:
    """A study arrives → a job ``imaging.infer`` → the platform's worker runs it on the installed storage."""
    from senhealth.core.db import close_pool, get_pool, open_pool
    from senhealth.core.queue import get_job
    from senhealth.imaging.inference import install_study_storage
    from senhealth.jobs.worker import run_worker

    storage = MemoryStudyStorage()

    async def main() -> None:
        await open_pool(url, max_size=6)
        install_study_storage(storage)
        try:
            store = FhirStore(get_pool())
            await seed(store)
            await register_builtin(store)
            await enable(store, DEMO_MODEL, FACILITY)
            study = await new_study(
                store, storage, "study-job", seed_value=61, nodule=True, radius=RADIUS, contrast=CONTRAST
            )
            (job_id,) = (await handle_new_study(store, study, storage)).jobs
            await run_worker(
                wait=False, install_signal_handlers=False, task_modules=["senhealth.imaging.inference.tasks"]
            )
            job = await get_job(job_id)
            assert job is not None and job.status == "succeeded", job
            (report,) = await find(
                store,
                "DiagnosticReport",
                [("_tag", "https://senhealth.vn/fhir/CodeSystem/imaging-ai|ai-preliminary")],
            )
            assert report["status"] == "preliminary"
            assert report["imagingStudy"] == [{"reference": "ImagingStudy/study-job"}]
        finally:
            install_study_storage(None)
            await close_pool()

    asyncio.run(main())
