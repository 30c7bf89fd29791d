"""Synthetic chest-like phantoms with drawn-in nodules: the data the demonstration model learns and is tested on.

Nothing here is a real image. A phantom is a frontal chest radiograph drawn from shapes (no physics): a body
outline, two lung fields (dark, as air is on a radiograph with MONOCHROME2), the mediastinum and heart
between them, a spine, ribs as curved bright bands across the lungs, the diaphragm, a smooth gradient and
Gaussian noise. A nodule is a bright soft-edged disc inside one lung field. Sizes, positions and contrasts
are random within ranges, so the task is not trivial: small, faint nodules over a rib are hard to see.

:func:`phantom` gives the image (float32 in [0, 1]), the nodule mask (bool) and the nodule's description;
:func:`to_pixels` turns an image into 12-bit stored values for a DICOM file. The model's preprocessing
(:func:`senhealth.imaging.models.preprocess.preprocess`) takes those back to the model's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Nodule", "Phantom", "phantom", "to_pixels"]


@dataclass(frozen=True, slots=True)
class Nodule:
    """Where the nodule was drawn, in pixels of the phantom (row, column, radius) and its contrast."""

    row: float
    col: float
    radius: float
    contrast: float
    side: (
        str  # "left" or "right" lung field (the patient's side: the image's right half is the patient's left)
    )


@dataclass(frozen=True, slots=True)
class Phantom:
    image: NDArray[np.float32]  # (size, size) in [0, 1]
    mask: NDArray[np.bool_]  # (size, size): the nodule's pixels (all False without a nodule)
    nodule: Nodule | None


def _ellipse(
    yy: NDArray[np.float32], xx: NDArray[np.float32], cy: float, cx: float, ry: float, rx: float
) -> NDArray[np.float32]:
    """Soft-edged ellipse (1 inside, 0 outside, a smooth edge about one pixel wide)."""
    d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    edge = 1.5 / max(min(ry, rx), 1.0)
    return np.clip((1.0 - d) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def phantom(
    rng: np.random.Generator,
    *,
    size: int = 128,
    nodule: bool | None = None,
    radius: float | None = None,
    contrast: float | None = None,
) -> Phantom:
    """One phantom. ``nodule``: draw one (None: with probability 1/2); ``radius`` (pixels at this size) and
    ``contrast`` fix the nodule's size and brightness (default: random, a radius of 2–9 % of the size and
    a contrast of 0.06–0.30), for tests that want a certain finding."""
    s = float(size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)

    def jitter(spread: float) -> float:
        return float(rng.uniform(-spread, spread))

    img = np.full((size, size), 0.05, dtype=np.float32)
    body = _ellipse(
        yy, xx, s * (0.55 + jitter(0.03)), s * 0.5, s * (0.52 + jitter(0.03)), s * (0.46 + jitter(0.03))
    )
    img += 0.55 * body
    lungs = []
    for sign in (-1.0, 1.0):
        cy = s * (0.47 + jitter(0.03))
        cx = s * (0.5 + sign * (0.2 + jitter(0.02)))
        lung = _ellipse(yy, xx, cy, cx, s * (0.3 + jitter(0.03)), s * (0.14 + jitter(0.015)))
        lungs.append(lung)
        img -= 0.38 * lung
    heart = _ellipse(
        yy, xx, s * 0.62, s * (0.53 + jitter(0.02)), s * (0.15 + jitter(0.02)), s * (0.13 + jitter(0.02))
    )
    img += 0.22 * heart * (lungs[0] + lungs[1] + 0.3)
    spine = np.exp(-(((xx - s * 0.5) / (s * 0.035)) ** 2)).astype(np.float32) * body
    img += 0.18 * spine
    rib_phase = float(rng.uniform(0, 2 * np.pi))
    rib_period = s * (0.085 + jitter(0.01))
    for sign in (-1.0, 1.0):  # ribs: bands that curve down and away from the spine
        side = (xx - s * 0.5) * sign > 0
        curve = yy - 0.35 * ((xx - s * 0.5) ** 2) / s
        band = 0.5 + 0.5 * np.cos(2 * np.pi * curve / rib_period + rib_phase)
        img += (0.1 * band**6 * side * (lungs[0] + lungs[1])).astype(np.float32)
    diaphragm = 1.0 / (1.0 + np.exp(np.clip(-(yy - s * (0.8 + jitter(0.03))) / 2.0, -50.0, 50.0)))
    img += (0.2 * diaphragm * body).astype(np.float32)
    img += (0.06 * (yy / s - 0.5) + 0.04 * (xx / s - 0.5) * jitter(1.0)).astype(np.float32)

    mask = np.zeros((size, size), dtype=bool)
    found: Nodule | None = None
    if nodule is None:
        nodule = bool(rng.random() < 0.5)
    if nodule:
        which = int(rng.integers(0, 2))
        inside = np.argwhere(lungs[which] > 0.95)
        cy, cx = (float(v) for v in inside[int(rng.integers(0, len(inside)))])
        r = radius if radius is not None else float(rng.uniform(0.02, 0.09) * s)
        c = contrast if contrast is not None else float(rng.uniform(0.06, 0.3))
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        blob = np.clip((r - d) / 1.5 + 0.5, 0.0, 1.0) * (1.0 - 0.3 * (d / max(r, 1.0)) ** 2)
        img += (c * np.clip(blob, 0, 1)).astype(np.float32)
        mask = d <= r
        found = Nodule(row=cy, col=cx, radius=r, contrast=c, side="right" if which == 0 else "left")
    img += rng.normal(0.0, 0.025, (size, size)).astype(np.float32)
    return Phantom(image=np.clip(img, 0.0, 1.0).astype(np.float32), mask=mask, nodule=found)


def to_pixels(image: NDArray[np.float32], bits: int = 12) -> NDArray[np.uint16]:
    """Stored values of a ``bits``-bit MONOCHROME2 radiograph."""
    top = (1 << bits) - 1
    return np.round(np.clip(image, 0.0, 1.0) * top).astype(np.uint16)
