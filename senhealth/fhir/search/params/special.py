"""Special index values: ``Location.near`` (the position); the other special parameters are skipped.

Spec: https://hl7.org/fhir/R4/search.html#special and https://hl7.org/fhir/R4/location.html#positional

R4 defines one special parameter with an expression, ``Location.near`` on ``Location.position``; the index
keeps latitude and longitude (WGS84 degrees) for a distance query. ``_text``, ``_content`` and ``_query``
have no expression and are not extracted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "NearValue"]


@dataclass(frozen=True, slots=True)
class NearValue:
    latitude: float
    longitude: float


def position(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    lat, lon = value.get("latitude"), value.get("longitude")
    if (
        not isinstance(lat, int | float | str)
        or not isinstance(lon, int | float | str)
        or isinstance(lat, bool)
    ):
        return
    try:
        la, lo = float(lat), float(lon)
    except ValueError:
        return
    if -90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0:
        out.append(NearValue(la, lo))


SINKS: dict[str, Sink] = {"Location.position": position}
