"""The imaging AI inference worker: a new study → the enabled models → a preliminary result.

Spec: https://onnxruntime.ai/ (the runtime), DICOM PS3.16 TID 1500 and PS3.3 A.51 (the SR and SEG,
highdicom), https://hl7.org/fhir/R4/diagnosticreport.html. Docs: docs/imaging-ai.md.

- :mod:`.trigger`: :func:`handle_new_study`, for the DICOM storage's "study stored" listeners;
- :mod:`.worker`: :func:`run_inference`, one model on one study; :mod:`.tasks`: the job ``imaging.infer``;
- :mod:`.runtime`: onnxruntime sessions (CPU, CUDA when present); :mod:`.dicom_objects`: SR and SEG;
  :mod:`.results`: the FHIR resources; :mod:`.storage`: the storage interface the worker reads and
  writes through.
"""

from senhealth.imaging.inference.storage import (
    MemoryStudyStorage,
    StudyStorage,
    install_study_storage,
    study_storage,
)
from senhealth.imaging.inference.trigger import INFER_TASK, Triggered, handle_new_study
from senhealth.imaging.inference.worker import InferenceOutcome, run_inference

__all__ = [
    "INFER_TASK",
    "InferenceOutcome",
    "MemoryStudyStorage",
    "StudyStorage",
    "Triggered",
    "handle_new_study",
    "install_study_storage",
    "run_inference",
    "study_storage",
]
