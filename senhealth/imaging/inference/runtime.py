"""Running an ONNX model: onnxruntime sessions, CPU by default, the CUDA provider when the machine has one.

Spec: https://onnxruntime.ai/docs/api/python/api_summary.html (InferenceSession, providers),
https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html. DICOM: PS3.3 C.7.6.3
(pixel data, photometric interpretation), C.11.1 (Modality LUT).

:func:`session` opens a model file once per process and digest (opening costs far more than a run);
:func:`providers` lists the execution providers used: ``CUDAExecutionProvider`` first when onnxruntime
has it and ``SENHEALTH_IMAGING_AI_DEVICE`` is not ``cpu``, then the CPU (``SENHEALTH_IMAGING_AI_THREADS``
threads; 0: onnxruntime's default, one per core). :func:`predict` runs a model on
one frame (its stored pixels, as pydicom reads them) and returns the probability of the finding and the
heatmap (probabilities on the model's coarse grid).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from senhealth.imaging.models.card import ModelCard
from senhealth.imaging.models.config import get_config
from senhealth.imaging.models.preprocess import preprocess

__all__ = ["Prediction", "clear_sessions", "frame_input", "predict", "providers", "session"]

_lock = threading.Lock()
_sessions: dict[tuple[str, str], Any] = {}


def providers() -> list[str]:
    """Execution providers in order of preference."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    available = set(ort.get_available_providers())
    out = []
    if get_config().device != "cpu" and "CUDAExecutionProvider" in available:
        out.append("CUDAExecutionProvider")
    out.append("CPUExecutionProvider")
    return out


def session(path: Path, sha256: str) -> Any:
    """The process's onnxruntime session for a model file (keyed by path and digest)."""
    import onnxruntime as ort

    key = (str(path), sha256)
    with _lock:
        found = _sessions.get(key)
        if found is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = get_config().threads
            options.log_severity_level = 3
            found = ort.InferenceSession(str(path), sess_options=options, providers=providers())
            _sessions[key] = found
        return found


def clear_sessions() -> None:
    with _lock:
        _sessions.clear()


@dataclass(frozen=True, slots=True)
class Prediction:
    probability: float
    heatmap: NDArray[np.float32]  # (grid, grid) probabilities
    provider: str

    def positive(self, card: ModelCard) -> bool:
        return self.probability >= card.threshold


def frame_input(ds: Any, card: ModelCard) -> NDArray[np.float32]:
    """The model input of a pydicom dataset's first frame."""
    pixels = ds.pixel_array
    if pixels.ndim == 3 and int(getattr(ds, "SamplesPerPixel", 1)) == 1:
        pixels = pixels[0]  # a multi-frame image: its first frame
    return preprocess(
        pixels,
        size=card.input_size,
        slope=float(getattr(ds, "RescaleSlope", 1.0) or 1.0),
        intercept=float(getattr(ds, "RescaleIntercept", 0.0) or 0.0),
        monochrome1=str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1",
    )


def predict(model: Any, image: NDArray[np.float32]) -> Prediction:
    """Run ``model`` (a session) on one preprocessed image."""
    batch = image[None, None, :, :].astype(np.float32)
    probability, heatmap = model.run(["probability", "heatmap"], {"image": batch})
    return Prediction(
        probability=float(np.asarray(probability).reshape(-1)[0]),
        heatmap=np.asarray(heatmap, dtype=np.float32)[0, 0],
        provider=str(model.get_providers()[0]),
    )
