"""One model run on one study: read the images, infer, store the SR and SEG with the study, write the result.

Spec: the pieces (:mod:`.runtime`, :mod:`.dicom_objects`, :mod:`.results`); traceability of a medical
device's use: every run is a Provenance naming the Device (the model and its version) and an audit event
(``query`` ``ai-inference``) in the same transaction as the result.

:func:`run_inference` (the job ``imaging.infer`` calls it, so do the tests and the benchmark):

1. the ImagingStudy, the Device (still enabled? a model switched off after the job was queued does not
   run: outcome ``skipped``) and its DeviceDefinition, the ONNX file (digest checked);
2. the study's instances from the storage; those of the model's modalities with pixel data are run
   (a study's probability is its highest image's; the SR and SEG are made for that image);
3. the SEG and the SR stored with the study through the storage (STOW-like: the ImagingStudy follows);
4. in one transaction: the Observation, the preliminary DiagnosticReport, the worklist Task, the Provenance
   and the audit event. A result already there (a retried job) is returned as it is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.store import FhirStore, NotFound
from senhealth.imaging.inference.dicom_objects import measurement_report, segmentation
from senhealth.imaging.inference.results import AiResult, result_ids, result_resources
from senhealth.imaging.inference.runtime import Prediction, frame_input, predict, session
from senhealth.imaging.inference.storage import StudyStorage
from senhealth.imaging.models.definition import card_of, content_of, device_state
from senhealth.imaging.models.registry import ModelError, model_file

__all__ = ["InferenceOutcome", "run_inference", "study_facility", "study_uid"]

_IMAGE_TYPES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1"}
)


@dataclass(frozen=True, slots=True)
class InferenceOutcome:
    status: str  # "done", "existing", "skipped", "no-images"
    report_id: str | None = None
    probability: float | None = None
    positive: bool | None = None
    priority: str | None = None
    sr_uids: tuple[str, ...] = ()
    seg_uids: tuple[str, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "report": f"DiagnosticReport/{self.report_id}" if self.report_id else None,
            "probability": self.probability,
            "positive": self.positive,
            "priority": self.priority,
            "sr": list(self.sr_uids),
            "seg": list(self.seg_uids),
            "reason": self.reason,
        }


def study_uid(study: dict[str, Any]) -> str:
    """The Study Instance UID of an ImagingStudy (``identifier`` ``urn:dicom:uid``)."""
    for ident in study.get("identifier") or []:
        value = str(ident.get("value", ""))
        if ident.get("system") == "urn:dicom:uid" or value.startswith("urn:oid:"):
            return value.removeprefix("urn:oid:")
    raise ModelError(f"ImagingStudy/{study.get('id')} has no Study Instance UID (identifier urn:dicom:uid)")


async def study_facility(store: FhirStore, study: dict[str, Any]) -> str | None:
    """The facility of a study: its Encounter's ``serviceProvider``, else the patient's managing
    organisation, else None."""
    refs = [
        (study.get("encounter") or {}).get("reference", ""),
        (study.get("subject") or {}).get("reference", ""),
    ]
    for ref, field in zip(refs, ("serviceProvider", "managingOrganization"), strict=True):
        if not ref or "/" not in ref:
            continue
        rtype, rid = ref.split("/", 1)
        try:
            resource = content_of(await store.read(rtype, rid))
        except NotFound:
            continue
        org = str((resource.get(field) or {}).get("reference", ""))
        if org.startswith("Organization/"):
            return org.removeprefix("Organization/")
    return None


def _images(instances: list[Dataset], modalities: tuple[str, ...]) -> list[Dataset]:
    return [
        ds
        for ds in instances
        if str(getattr(ds, "Modality", "")).upper() in modalities
        and "PixelData" in ds
        and str(getattr(ds, "SOPClassUID", "")) in _IMAGE_TYPES
    ]


async def run_inference(
    store: FhirStore,
    study_id: str,
    device_id: str,
    storage: StudyStorage,
    *,
    data_dir: Path | None = None,
    principal: Principal | None = None,
) -> InferenceOutcome:
    """Run the model of ``Device/{device_id}`` on ``ImagingStudy/{study_id}`` (see the module docstring)."""
    study = content_of(await store.read("ImagingStudy", study_id))
    stored_device = await store.read("Device", device_id)
    device = content_of(stored_device)
    if device_state(device) != "enabled":
        return InferenceOutcome("skipped", reason=f"Device/{device_id} is {device_state(device)}")
    def_ref = str((device.get("definition") or {}).get("reference", ""))
    definition = content_of(await store.read("DeviceDefinition", def_ref.removeprefix("DeviceDefinition/")))
    card = card_of(definition)
    ids = result_ids(study_id, device_id, card.version)
    try:
        existing = content_of(await store.read("DiagnosticReport", ids["report"]))
        return InferenceOutcome("existing", report_id=str(existing["id"]), reason="already inferred")
    except NotFound:
        pass
    path = model_file(definition, data_dir)
    images = _images(await storage.instances(study_uid(study)), card.modalities)
    if not images:
        return InferenceOutcome("no-images", reason=f"no {'/'.join(card.modalities)} image in the study")

    started = time.perf_counter()
    model = session(path, card.sha256)

    def infer() -> list[Prediction]:
        return [predict(model, frame_input(ds, card)) for ds in images]

    predictions = await asyncio.to_thread(infer)
    best = int(np.argmax([p.probability for p in predictions]))
    top = predictions[best]
    source = images[best]
    device_uid = generate_uid(entropy_srcs=[device_id, card.sha256])

    def build() -> tuple[Any, Any]:
        seg = segmentation(source, top.heatmap, card)
        sr = measurement_report(source, top.probability, top.heatmap, card, device_uid=device_uid)
        return seg, sr

    seg, sr = await asyncio.to_thread(build)
    seconds = time.perf_counter() - started
    await storage.store([seg, sr])
    result = AiResult(
        probability=top.probability,
        positive=top.probability >= card.threshold,
        urgent=top.probability >= card.urgent_threshold,
        sr_uids=[str(sr.SOPInstanceUID)],
        seg_uids=[str(seg.SOPInstanceUID)],
        provider=top.provider,
        seconds=seconds,
    )
    facility = await study_facility(store, study)
    when = datetime.now(UTC)
    resources = result_resources(
        study=study,
        device=device,
        device_version=str(stored_device.version),
        card=card,
        result=result,
        facility=facility,
        when=when,
    )
    async with store.transaction() as tx:
        for key in ("obs", "report", "task", "prov"):
            await tx.update(resources[key])
        patient = str((study.get("subject") or {}).get("reference", "")).removeprefix("Patient/")
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=when,
                principal=principal,
                action="create",
                res_type="DiagnosticReport",
                res_id=ids["report"],
                query="ai-inference",
                patients=(patient,) if patient else (),
                details={
                    "model": card.label,
                    "device": f"Device/{device_id}",
                    "study": f"ImagingStudy/{study_id}",
                    "probability": round(result.probability, 4),
                    "provider": result.provider,
                },
            ),
        )
    return InferenceOutcome(
        "done",
        report_id=ids["report"],
        probability=result.probability,
        positive=result.positive,
        priority=resources["task"]["priority"],
        sr_uids=tuple(result.sr_uids),
        seg_uids=tuple(result.seg_uids),
    )
