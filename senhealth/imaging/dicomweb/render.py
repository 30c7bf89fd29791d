"""Rendered images (WADO-RS ``/rendered``) and raw frames (``/frames/{n}``) of a stored instance.

Spec: rendered resources PS3.18 §8.3.5.1 (query parameters ``window=center,width,function`` with
``linear``, ``linear-exact`` and ``sigmoid``; ``viewport=vw,vh``; ``quality`` for lossy types)
https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_8.3.5.html; the VOI LUT functions
PS3.3 C.11.2.1.2 https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.11.2.html
(the formulas below are those); the Modality LUT (Rescale Slope / Intercept) PS3.3 C.11.1; MONOCHROME1
displayed inverted PS3.3 C.7.6.3.1.2.

Pixel decoding is pydicom's (native transfer syntaxes; compressed ones need its optional decoders, else
the request is refused with 406), encoding to PNG or JPEG is Pillow's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.processing import apply_modality_lut, convert_color_space
from pydicom.pixels.utils import pixel_array as decode_pixels

__all__ = ["RenderError", "Window", "frame_bytes", "parse_viewport", "parse_window", "render"]

Function = Literal["linear", "linear-exact", "sigmoid"]
_FUNCTIONS: Final = ("linear", "linear-exact", "sigmoid")


class RenderError(ValueError):
    """``status``: 400 bad parameters, 404 no such frame, 406 a transfer syntax that cannot be decoded."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Window:
    center: float
    width: float
    function: Function = "linear"


def parse_window(value: str | None) -> Window | None:
    """``center,width[,function]``."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (2, 3):
        raise RenderError("window: expected center,width[,function]")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise RenderError("window: center and width must be numbers") from None
    function = parts[2].lower() if len(parts) == 3 else "linear"
    if function not in _FUNCTIONS:
        raise RenderError(f"window: function must be one of {', '.join(_FUNCTIONS)}")
    if width <= 0 or (width < 1 and function == "linear"):
        raise RenderError("window: width must be positive (at least 1 for linear)")
    return Window(center, width, function)  # type: ignore[arg-type]


def parse_viewport(value: str | None) -> tuple[int, int] | None:
    """``vw,vh`` (the rendered image fits inside, its aspect kept)."""
    if not value:
        return None
    parts = value.split(",")
    try:
        vw, vh = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise RenderError("viewport: expected vw,vh") from None
    if not (1 <= vw <= 8192 and 1 <= vh <= 8192):
        raise RenderError("viewport: sizes between 1 and 8192")
    return vw, vh


def _voi(values: NDArray[np.float64], window: Window) -> NDArray[np.float64]:
    """Window values to 0..255 (PS3.3 C.11.2.1.2.1-3)."""
    c, w = window.center, window.width
    if window.function == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function == "linear-exact":
        out = (values - c) / w + 0.5
    else:
        out = (values - (c - 0.5)) / (w - 1) + 0.5
    return np.clip(out, 0.0, 1.0) * 255.0


def _default_window(ds: Dataset, values: NDArray[np.float64]) -> Window:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        c = float(center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center)
        w = float(width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width)
        if w >= 1:
            return Window(c, w)
    low, high = float(values.min()), float(values.max())
    return Window((low + high) / 2, max(high - low, 1.0) + 1)


def _frame_count(ds: Dataset) -> int:
    try:
        return int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return 1


def render(
    data: bytes,
    frame: int = 1,
    *,
    media_type: str = "image/png",
    window: Window | None = None,
    viewport: tuple[int, int] | None = None,
    quality: int = 90,
) -> bytes:
    """Frame ``frame`` (1-based) of a Part 10 file as PNG or JPEG (see the module docstring)."""
    ds = dcmread(io.BytesIO(data))
    if "PixelData" not in ds:
        raise RenderError("the instance has no pixel data", 404)
    if not 1 <= frame <= _frame_count(ds):
        raise RenderError(f"the instance has no frame {frame}", 404)
    try:
        pixels = decode_pixels(ds, index=frame - 1)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        raise RenderError(f"cannot decode this transfer syntax here: {exc}", 406) from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if int(ds.get("SamplesPerPixel", 1)) == 1:
        values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
        out = _voi(values, window or _default_window(ds, values))
        if photometric == "MONOCHROME1":
            out = 255.0 - out
        image = Image.fromarray(np.rint(out).astype(np.uint8), mode="L")
    else:
        if photometric != "RGB":
            pixels = convert_color_space(pixels, photometric, "RGB")
        rgb = np.asarray(pixels, dtype=np.float64)
        if window is not None:
            rgb = _voi(rgb, window)
        elif int(ds.get("BitsStored", 8)) > 8:
            rgb = rgb * (255.0 / float(2 ** int(ds.BitsStored) - 1))
        image = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mode="RGB")
    if viewport is not None:
        scale = min(viewport[0] / image.width, viewport[1] / image.height)
        if scale != 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        image.save(buf, format="JPEG", quality=max(1, min(quality, 100)))
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


def frame_bytes(data: bytes, frame: int) -> tuple[bytes, str]:
    """The stored bytes of frame ``frame`` (1-based) and its transfer syntax: native pixel data cut per
    frame (PS3.5 §8.1.1), or the frame's encapsulated fragments (PS3.5 A.4)."""
    ds = dcmread(io.BytesIO(data))
    if "PixelData" not in ds:
        raise RenderError("the instance has no pixel data", 404)
    count = _frame_count(ds)
    if not 1 <= frame <= count:
        raise RenderError(f"the instance has no frame {frame}", 404)
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax.is_encapsulated:
        return get_frame(ds.PixelData, frame - 1, number_of_frames=count), str(syntax)
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples, bits = int(ds.get("SamplesPerPixel", 1)), int(ds.BitsAllocated)
    size_bits = rows * cols * samples * bits
    if size_bits % 8:
        raise RenderError("frames of bit-packed pixel data are not served one by one", 406)
    size = size_bits // 8
    raw: bytes = ds.PixelData
    return raw[(frame - 1) * size : frame * size], str(syntax)
