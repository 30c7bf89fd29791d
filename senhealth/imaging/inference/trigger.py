"""A new study arrived: which enabled models match it, and their jobs.

Spec: https://hl7.org/fhir/R4/imagingstudy.html (``modality``, ``series.modality``, ``series.bodySite``),
DICOM PS3.16 CID 4031 (body parts: ``CHEST`` is SNOMED CT 51185008), the job queue
:mod:`senhealth.core.queue`.

:func:`handle_new_study` is what the DICOM storage calls once a study (or new instances of it) is stored,
through its "study stored" listeners: it finds the models enabled at the study's facility for its
modalities and body part (:func:`senhealth.imaging.models.registry.enabled_models`) and queues one job
``imaging.infer`` per model (``dedupe_key`` ``imaging.infer:<study>:<device>``: a study stored in several
pieces is inferred once while its job waits). ``run_now`` runs them here instead (the CLI, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.imaging.inference.storage import StudyStorage
from senhealth.imaging.inference.worker import InferenceOutcome, run_inference, study_facility
from senhealth.imaging.models.registry import enabled_models

__all__ = ["INFER_TASK", "Triggered", "handle_new_study", "study_body_parts", "study_modalities"]

INFER_TASK: Final = "imaging.infer"
#: SNOMED CT body structures of DICOM CID 4031 the models name, by their DICOM Body Part Examined.
_SNOMED_BODY_PARTS: Final = {"51185008": "CHEST", "39607008": "LUNG", "43799004": "THORAX"}


def study_modalities(study: dict[str, Any]) -> set[str]:
    codes = [str(m.get("code", "")) for m in study.get("modality") or []]
    codes += [str((s.get("modality") or {}).get("code", "")) for s in study.get("series") or []]
    return {c.upper() for c in codes if c}


def study_body_parts(study: dict[str, Any]) -> set[str]:
    """Body parts of the series, as DICOM Body Part Examined values (SNOMED codes mapped, else the
    code or display upper-cased)."""
    out = set()
    for series in study.get("series") or []:
        site = series.get("bodySite") or {}
        code = str(site.get("code", ""))
        if code in _SNOMED_BODY_PARTS:
            out.add(_SNOMED_BODY_PARTS[code])
        elif code:
            out.add(code.upper())
        if site.get("display"):
            out.add(str(site["display"]).upper())
    return out


@dataclass(slots=True)
class Triggered:
    """What a new study set going: the models matched, jobs queued (ids) or outcomes of runs done here."""

    facility: str | None
    models: list[str] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    outcomes: list[InferenceOutcome] = field(default_factory=list)


async def handle_new_study(
    store: FhirStore,
    study: dict[str, Any],
    storage: StudyStorage | None = None,
    *,
    run_now: bool = False,
    data_dir: Path | None = None,
    principal: Principal | None = None,
) -> Triggered:
    """Queue (or, with ``run_now``, run on ``storage``) the enabled models matching ``study``."""
    facility = await study_facility(store, study)
    parts = study_body_parts(study) or {""}
    found: dict[str, Any] = {}
    for modality in study_modalities(study):
        for part in parts:
            for model in await enabled_models(store, facility, modality, part or None):
                found.setdefault(model.device_ref, model)
    out = Triggered(facility=facility, models=[m.card.label for m in found.values()])
    for model in found.values():
        device_id = str(model.device["id"])
        if run_now:
            if storage is None:
                raise ValueError("run_now needs the study storage")
            out.outcomes.append(
                await run_inference(
                    store, str(study["id"]), device_id, storage, data_dir=data_dir, principal=principal
                )
            )
            continue
        async with store.transaction() as tx:
            try:
                job = await enqueue(
                    INFER_TASK,
                    {"study": str(study["id"]), "device": device_id},
                    conn=tx.conn,
                    dedupe_key=f"{INFER_TASK}:{study['id']}:{device_id}",
                )
            except AlreadyQueued:
                continue
        out.jobs.append(job)
    return out
