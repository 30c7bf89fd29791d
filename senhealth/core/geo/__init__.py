"""Commune maps of the 2025 administrative units, pre-projected as SVG paths, one map per province.

The packaged ``data/communes-2025-svg.json.gz`` (derived by ``scripts/derive_commune_geometry.py`` from the
commune GeoJSON of ``lamngockhuong/vietnam-3d-map``, MIT licence; see ``data/README.md``) holds, for each of
the 34 provinces, its communes' boundaries as SVG path data in map units (the larger side of a province's
map is 1000 units, y down), simplified with their shared borders kept, the province's outline, and
inset boxes for the far islands (Hoàng Sa, Trường Sa, Côn Đảo, ...). SVG path data:
https://www.w3.org/TR/SVG2/paths.html#PathData .

Nothing here draws: the web pages (``senhealth.web.views.dashboard_choropleth``) colour the paths.
Communes are keyed by the 5-digit codes the platform uses (``https://senhealth.vn/fhir/CodeSystem/commune-2025``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

__all__ = ["CommuneShape", "Inset", "ProvinceMap", "province_codes", "province_map", "province_of_commune"]


@dataclass(frozen=True, slots=True)
class CommuneShape:
    code: str
    name: str
    path: str  # SVG path data in the province map's units


@dataclass(frozen=True, slots=True)
class Inset:
    """A framed box at the side of the map where a far commune is drawn at its own scale."""

    commune: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ProvinceMap:
    code: str
    name: str
    width: int
    height: int
    outline: str
    communes: tuple[CommuneShape, ...]  # by code
    insets: tuple[Inset, ...] = ()

    def commune(self, code: str) -> CommuneShape | None:
        return next((c for c in self.communes if c.code == code), None)


@cache
def _document() -> dict[str, Any]:
    raw = resources.files(__package__).joinpath("data/communes-2025-svg.json.gz").read_bytes()
    document: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return document


def province_codes() -> list[str]:
    """The 34 provinces' 2-digit codes."""
    return sorted(_document()["provinces"])


@cache
def province_map(code: str) -> ProvinceMap:
    """The map of province ``code`` (2 digits); KeyError for an unknown province."""
    data = _document()["provinces"][code]
    return ProvinceMap(
        code=code,
        name=str(data["name"]),
        width=int(data["width"]),
        height=int(data["height"]),
        outline=str(data["outline"]),
        communes=tuple(
            CommuneShape(c, str(v["name"]), str(v["d"])) for c, v in sorted(data["communes"].items())
        ),
        insets=tuple(
            Inset(str(i["commune"]), int(i["x"]), int(i["y"]), int(i["w"]), int(i["h"]))
            for i in data["insets"]
        ),
    )


@cache
def _commune_index() -> dict[str, str]:
    return {c: p for p, data in _document()["provinces"].items() for c in data["communes"]}


def province_of_commune(code: str) -> str | None:
    """The province (2 digits) of commune ``code`` (5 digits), None when unknown."""
    return _commune_index().get(code)
