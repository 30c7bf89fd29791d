"""The QR code printed on every page of a paper copy: the URL of the copy's verification page.

QR code (ISO/IEC 18004) made with segno (https://segno.readthedocs.io/): error correction level M
(15 % of the symbol may be damaged), a 4-module quiet zone as the standard asks, written as a PNG
(embedded in the HTML as a ``data:`` URI, so the PDF carries it as an image and no file is fetched).
"""

from __future__ import annotations

import base64
import io
from typing import Final

import segno

__all__ = ["qr_data_uri", "qr_png", "verification_url"]

#: Pixels per module of the PNG (the PDF scales it to the printed size; the pixels stay sharp).
SCALE: Final = 6


def verification_url(public_base: str, code: str) -> str:
    """``https://host/verify/CODE`` (``public_base`` without a trailing slash)."""
    return f"{public_base.rstrip('/')}/verify/{code}"


def qr_png(payload: str, *, scale: int = SCALE) -> bytes:
    """The QR code of ``payload`` as a PNG (black on white, 4-module quiet zone)."""
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_data_uri(payload: str) -> str:
    """``data:image/png;base64,...`` of :func:`qr_png`."""
    return "data:image/png;base64," + base64.b64encode(qr_png(payload)).decode("ascii")
