"""The viewer's way to the images: DICOMweb (``/dicomweb``) as the signed-in user, in-process.

The browser holds a session cookie, not the platform's bearer token, so the viewer's image requests come
here and are passed on to WADO-RS with the session's token (the access policy and the audit apply to each
image as to any DICOMweb client):

- ``GET /app/imaging/wado/studies/{s}/series/{se}/instances/{i}/frames/{n}/rendered`` and
  ``.../instances/{i}/rendered``: the rendered frame (PNG, or JPEG when asked), with the ``window``,
  ``viewport`` and ``quality`` parameters of PS3.18 §8.3.5.1 passed on unchanged.

:func:`viewer_images` reads, through QIDO-RS and the series' metadata (WADO-RS), what the viewer needs to
know before the first image: the study's image instances (series order, instance number), their frames,
sizes and value ranges (Bits Stored, Pixel Representation, Rescale Slope/Intercept: the viewer asks for a
full-range rendering once and applies window and level itself while the user drags, then asks the server
for the exact window), their default window, and the AI's Segmentation with the image it was made on.

Spec: DICOM PS3.18 §10.4 (WADO-RS: metadata, rendered resources), §10.6 (QIDO-RS), PS3.3 C.7.6.3 (Image
Pixel), C.11.1 (Modality LUT), C.8.20.2 (Segmentation: Referenced Series Sequence); httpx's ASGI
transport https://www.python-httpx.org/advanced/transports/#asgi-transport
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import client_ip, require_staff, session_token, state
from senhealth.web.sessions import Session

__all__ = ["ROUTES", "dicomweb", "dicomweb_json", "viewer_images"]

NOT_IMAGES: Final = frozenset({"SR", "SEG", "KO", "PR", "DOC", "REG", "RWV"})
_PASSED: Final = ("window", "viewport", "quality")
_MEDIA: Final = frozenset({"image/png", "image/jpeg"})


@asynccontextmanager
async def dicomweb(request: Request, found: Session) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of ``/dicomweb`` acting as the session's user, from the browser's address."""
    token = await session_token(request, found)
    transport = httpx.ASGITransport(app=state(request).platform, client=(client_ip(request), 0))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://internal/dicomweb/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60.0,
    ) as client:
        yield client


def dicomweb_json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _first(attrs: dict[str, Any], tag: str, default: Any = None) -> Any:
    values = (attrs.get(tag) or {}).get("Value") or []
    return values[0] if values else default


def _number(attrs: dict[str, Any], tag: str, default: float) -> float:
    value = _first(attrs, tag)
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def image_entry(attrs: dict[str, Any], series_uid: str) -> dict[str, Any]:
    """One image instance for the viewer, from its DICOM JSON attributes."""
    bits = int(_number(attrs, "00280101", 16))
    signed = int(_number(attrs, "00280103", 0)) == 1
    slope = _number(attrs, "00281053", 1.0) or 1.0
    intercept = _number(attrs, "00281052", 0.0)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    lo, hi = sorted((low * slope + intercept, high * slope + intercept))
    center = _number(attrs, "00281050", (lo + hi) / 2)
    width = _number(attrs, "00281051", hi - lo)
    photometric = str(_first(attrs, "00280004", "MONOCHROME2"))
    return {
        "series": series_uid,
        "sop": str(_first(attrs, "00080018", "")),
        "number": int(_number(attrs, "00200013", 0)),
        "frames": max(1, int(_number(attrs, "00280008", 1))),
        "rows": int(_number(attrs, "00280010", 0)),
        "cols": int(_number(attrs, "00280011", 0)),
        "lo": lo,
        "hi": hi,
        "wc": center,
        "ww": max(width, 1.0),
        "inverted": photometric == "MONOCHROME1",
    }


def _seg_target(attrs: dict[str, Any]) -> str | None:
    for series in (attrs.get("00081115") or {}).get("Value") or []:
        for inst in (series.get("0008114A") or {}).get("Value") or []:
            uid = _first(inst, "00081155")
            if uid:
                return str(uid)
    return None


async def viewer_images(
    request: Request, found: Session, study_uid: str, seg_uids: list[str]
) -> dict[str, Any]:
    """What the viewer needs (see the module docstring): ``study``, ``images`` (series and instance
    order), ``overlay`` (``series``, ``sop``, ``target``: the image it lies on) or None."""
    out: dict[str, Any] = {"study": study_uid, "images": [], "overlay": None}
    if not study_uid:
        return out
    async with dicomweb(request, found) as client:
        answer = await client.get(f"studies/{study_uid}/series", headers={"Accept": "application/dicom+json"})
        if answer.status_code != 200:
            return out
        series_list = sorted(answer.json(), key=lambda s: _number(s, "00200011", 0))
        for series in series_list:
            series_uid = str(_first(series, "0020000E", ""))
            modality = str(_first(series, "00080060", ""))
            if modality in NOT_IMAGES and not (modality == "SEG" and seg_uids):
                continue
            meta = await client.get(
                f"studies/{study_uid}/series/{series_uid}/metadata",
                headers={"Accept": "application/dicom+json"},
            )
            if meta.status_code != 200:
                continue
            instances = meta.json()
            if modality == "SEG":
                for attrs in instances:
                    sop = str(_first(attrs, "00080018", ""))
                    if sop in seg_uids:
                        out["overlay"] = {"series": series_uid, "sop": sop, "target": _seg_target(attrs)}
                continue
            entries = [image_entry(attrs, series_uid) for attrs in instances if "7FE00010" in attrs]
            out["images"].extend(sorted(entries, key=lambda e: e["number"]))
    return out


async def rendered(request: Request) -> Response:
    """A rendered frame through WADO-RS (see the module docstring)."""
    found = await require_staff(request)
    p = request.path_params
    path = f"studies/{p['study']}/series/{p['series']}/instances/{p['sop']}"
    path += f"/frames/{p['frame']}/rendered" if "frame" in p else "/rendered"
    params = httpx.QueryParams([(k, v) for k, v in request.query_params.multi_items() if k in _PASSED])
    accept = (
        "image/jpeg"
        if "image/jpeg" in request.headers.get("accept", "") and "quality" in request.query_params
        else "image/png"
    )
    async with dicomweb(request, found) as client:
        answer = await client.get(path, params=params, headers={"Accept": accept})
    media = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if answer.status_code != 200 or media not in _MEDIA:
        return Response(status_code=answer.status_code if answer.status_code >= 400 else 502)
    return Response(answer.content, media_type=media)


_INSTANCE: Final = "/app/imaging/wado/studies/{study:str}/series/{series:str}/instances/{sop:str}"

ROUTES = [
    Route(_INSTANCE + "/frames/{frame:int}/rendered", rendered, methods=["GET"]),
    Route(_INSTANCE + "/rendered", rendered, methods=["GET"]),
]
