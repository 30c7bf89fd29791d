"""The demonstration model's input: from a radiograph's stored pixel values to a 128×128 float image.

Spec: DICOM PS3.3 C.7.6.3.1.2 (Photometric Interpretation: MONOCHROME1 shows low values bright, so it is
inverted to MONOCHROME2) and C.11.1.1.2 (Modality LUT: rescale slope and intercept). Training
(``scripts/train_demo_chest_nodule.py``) and inference use this very function, so the model sees the same
numbers in both.

Steps: rescale (slope, intercept), invert MONOCHROME1, resample to ``size``×``size`` by area averaging (a
reshape-mean when the size divides, else bilinear sampling), then stretch the 1st–99th percentiles to
[0, 1] (robust to the bit depth and the exposure of the modality).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["preprocess", "resample"]


def resample(image: NDArray[np.floating], size: int) -> NDArray[np.float32]:
    """``image`` (2-D) resampled to ``size``×``size``."""
    rows, cols = image.shape
    img = image.astype(np.float32)
    if rows == cols and rows % size == 0:
        f = rows // size
        return img.reshape(size, f, size, f).mean(axis=(1, 3)).astype(np.float32)
    ys = (np.arange(size, dtype=np.float32) + 0.5) * rows / size - 0.5
    xs = (np.arange(size, dtype=np.float32) + 0.5) * cols / size - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, rows - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, cols - 1)
    y1 = np.clip(y0 + 1, 0, rows - 1)
    x1 = np.clip(x0 + 1, 0, cols - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None]
    wx = np.clip(xs - x0, 0, 1)[None, :]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def preprocess(
    pixels: NDArray[np.generic],
    *,
    size: int = 128,
    slope: float = 1.0,
    intercept: float = 0.0,
    monochrome1: bool = False,
) -> NDArray[np.float32]:
    """The model input for one frame: float32 (size, size) in [0, 1]."""
    img = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    if img.ndim == 3:  # colour or several samples: their mean
        img = img.mean(axis=-1)
    if monochrome1:
        img = img.max() - img
    img = resample(img, size)
    lo, hi = np.percentile(img, [1.0, 99.0])
    if hi - lo < 1e-6:
        return np.zeros((size, size), dtype=np.float32)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
