"""Background jobs of the imaging AI: one model run on one study.

Spec: the job queue :mod:`senhealth.core.queue` (procrastinate); what the job does:
:func:`senhealth.imaging.inference.worker.run_inference`. The worker imports this module through
``senhealth.jobs.registry.TASK_MODULES``.

- ``imaging.infer`` (``study``, ``device``): run the model of ``Device/<device>`` on
  ``ImagingStudy/<study>``, on the storage installed by the platform
  (:func:`senhealth.imaging.inference.storage.install_study_storage`). Queued by
  :func:`senhealth.imaging.inference.trigger.handle_new_study`; retried twice (a restart, a storage
  hiccup); a model file that is missing or does not match its digest fails at once.
"""

from __future__ import annotations

from typing import Any

from senhealth.core.config import get_settings
from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, PermanentFailure, task
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.imaging.inference.storage import study_storage
from senhealth.imaging.inference.trigger import INFER_TASK
from senhealth.imaging.inference.worker import run_inference
from senhealth.imaging.models.registry import ModelError

__all__ = ["infer_job"]


@task(INFER_TASK, retries=2, backoff_s=10)
async def infer_job(job: JobContext, *, study: str, device: str) -> dict[str, Any]:
    """Run one model on one study."""
    storage = study_storage()
    if storage is None:
        raise PermanentFailure("no DICOM storage is installed in this worker")
    principal = Principal(kind="system", subject="imaging-ai-worker", roles=frozenset({"system"}))
    try:
        outcome = await run_inference(
            FhirStore(get_pool()),
            study,
            device,
            storage,
            data_dir=get_settings().data_dir,
            principal=principal,
        )
    except ModelError as e:
        raise PermanentFailure(e.message) from None
    return outcome.to_json()
