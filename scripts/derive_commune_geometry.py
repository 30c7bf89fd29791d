"""Derive the packaged commune map (pre-projected SVG paths per province) from the 2025 commune GeoJSON.

A maintainer's tool, never run by the product. Run from the repository root (needs ``shapely`` >= 2.1,
GEOS >= 3.12, which is not a run-time dependency: ``pip install 'shapely>=2.1,<3'``)::

    python scripts/derive_commune_geometry.py --source ../shared/data/geo/communes-2025.geojson

It writes ``senhealth/core/geo/data/communes-2025-svg.json.gz``, read by :mod:`senhealth.core.geo`
(the dashboards' choropleth maps). The output is byte-for-byte reproducible (sorted keys, gzip with a
zero timestamp).

Source: GeoJSON of Viet Nam's 3,321 communes of the 2025 administrative units (Decision 19/2025/QĐ-TTg),
converted from ``lamngockhuong/vietnam-3d-map`` (MIT licence); boundaries from public Vietnamese map
services. GeoJSON: https://datatracker.ietf.org/doc/html/rfc7946 .

Steps, per province:

1. geometries made valid (``shapely.make_valid``; a few source polygons self-intersect);
2. **coverage simplification** (``shapely.coverage_simplify``, GEOS's CoverageSimplifier,
   Visvalingam–Whyatt on the shared edges): neighbouring communes keep one common border, so the
   simplified map has no gaps or overlaps, which a polygon-by-polygon Douglas–Peucker would create;
   the tolerance is 1.2 map units (a map unit is 1/1000 of the province's larger side);
3. projection: equirectangular with the longitude scaled by cos(mid-latitude) (a province spans at most
   2°; the error is far below a pixel), y pointing down, integer coordinates in a box whose larger side
   is 1000 units;
4. **insets**: a commune more than 0.5° from the province's mainland and outside its bounding box (the
   island special zones Hoàng Sa, Trường Sa, Côn Đảo, Bạch Long Vĩ) is drawn in its own framed box at the
   right of the map, at its own scale, as Vietnamese maps do, so that it does not shrink the mainland;
5. paths written as SVG path data with relative integer moves (``M x y l dx dy ... z``).

Communes are keyed by the codes of the PyPI package ``vietnam-provinces`` (the codes the platform uses);
where the GeoJSON gives a commune another code (115 communes) it is matched by province and name, as
``senhealth.demo.derive_communes`` does.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import shapely  # type: ignore[import-untyped,import-not-found,unused-ignore]
from shapely.geometry import shape  # type: ignore[import-untyped,import-not-found,unused-ignore]
from vietnam_provinces import Province, Ward

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "senhealth" / "core" / "geo" / "data" / "communes-2025-svg.json.gz"
SOURCE = "lamngockhuong/vietnam-3d-map (MIT licence), 2025 administrative units"
SIZE = 1000  # the larger side of a province's map, in map units
TOLERANCE = 1.2  # coverage simplification, in map units
FAR = 0.5  # degrees from the mainland beyond which a commune goes to an inset
INSET = 180  # an inset box's larger side, in map units
GAP = 20  # between the map and the insets, and between insets


def _key(province: str, name: str) -> tuple[str, str]:
    return province, re.sub(r"\s+", " ", name.replace("–", "-")).strip().lower()


def _features(source: Path) -> dict[str, tuple[str, Any]]:
    """Commune code (of ``vietnam-provinces``) -> (name, shapely geometry)."""
    features = json.loads(source.read_text(encoding="utf-8"))["features"]
    by_code: dict[str, Any] = {}
    by_name: dict[tuple[str, str], Any] = {}
    for feature in features:
        props = feature["properties"]
        geometry = shapely.make_valid(shape(feature["geometry"]))
        polygons = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
        geometry = shapely.union_all(polygons)
        by_code[props["code"]] = geometry
        by_name[_key(props["province_code"], f"{props['type']} {props['name']}")] = geometry
    out: dict[str, tuple[str, Any]] = {}
    for ward in Ward.iter_all():
        code = f"{int(ward.code):05d}"
        found = by_code.get(code)
        if found is None:
            found = by_name.get(_key(f"{int(ward.province_code):02d}", ward.name))
        if found is None:
            raise SystemExit(f"no boundary for commune {code} {ward.name}")
        out[code] = (ward.name, found)
    return out


class _Frame:
    """Degrees -> map units: equirectangular, longitude scaled by cos(mid-latitude), y down."""

    def __init__(self, bounds: tuple[float, float, float, float], size: float) -> None:
        west, south, east, north = bounds
        self.west, self.north = west, north
        self.kx = math.cos(math.radians((south + north) / 2))
        span = max((east - west) * self.kx, north - south) or 1.0
        self.scale = size / span
        self.width = math.ceil((east - west) * self.kx * self.scale)
        self.height = math.ceil((north - south) * self.scale)
        self.dx = 0
        self.dy = 0

    def point(self, lon: float, lat: float) -> tuple[int, int]:
        x = round((lon - self.west) * self.kx * self.scale) + self.dx
        y = round((self.north - lat) * self.scale) + self.dy
        return x, y


def _ring_path(coords: Any, frame: _Frame) -> str:
    points: list[tuple[int, int]] = []
    for lon, lat in list(coords)[:-1]:
        p = frame.point(lon, lat)
        if not points or p != points[-1]:
            points.append(p)
    while len(points) > 1 and points[-1] == points[0]:
        points.pop()
    if len(points) < 3:
        return ""
    x0, y0 = points[0]
    parts = [f"M{x0} {y0}l"]
    moves = []
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        moves.append(f"{xb - xa} {yb - ya}".replace(" -", "-"))
    parts.append(" ".join(moves).replace(" -", "-"))
    parts.append("z")
    return "".join(parts)


def _path(geometry: Any, frame: _Frame) -> str:
    out = []
    for polygon in shapely.get_parts(geometry):
        if polygon.geom_type != "Polygon" or polygon.is_empty:
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            d = _ring_path(ring.coords, frame)
            if d:
                out.append(d)
    return "".join(out)


def _outline(geometries: list[Any], frame: _Frame) -> str:
    """The province's border: the union snapped to the map's unit grid (the source's borders do not always
    meet exactly), outer rings only, slivers dropped."""
    union = shapely.union_all(geometries, grid_size=1.0 / frame.scale)
    shells = [shapely.Polygon(p.exterior) for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
    minimum = (4.0 / frame.scale) ** 2
    return _path(shapely.multipolygons([p for p in shells if p.area >= minimum]), frame)


def _bounds(geometries: list[Any]) -> tuple[float, float, float, float]:
    west, south, east, north = shapely.total_bounds(geometries)
    return float(west), float(south), float(east), float(north)


def _split_far(codes: list[str], geometries: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(mainland communes, far communes drawn in insets)."""
    union = shapely.union_all([shapely.buffer(geometries[c], 0.01) for c in codes])
    mainland = max(shapely.get_parts(union), key=lambda g: g.area)
    near = [c for c in codes if shapely.distance(geometries[c], mainland) <= FAR]
    west, south, east, north = _bounds([geometries[c] for c in near])
    box = shapely.box(west - 0.1 * (east - west), south - 0.1 * (north - south),
                      east + 0.1 * (east - west), north + 0.1 * (north - south))  # fmt: skip
    far = [c for c in codes if c not in near and not shapely.intersects(geometries[c], box)]
    return [c for c in codes if c not in far], far


def _simplify(codes: list[str], geometries: dict[str, Any], frame: _Frame) -> dict[str, Any]:
    tolerance = TOLERANCE / frame.scale  # map units -> degrees
    simplified = shapely.coverage_simplify([geometries[c] for c in codes], tolerance)
    return dict(zip(codes, simplified))


def derive_province(province: str, name: str, communes: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    codes = sorted(communes)
    geometries = {c: communes[c][1] for c in codes}
    main, far = _split_far(codes, geometries)
    frame = _Frame(_bounds([geometries[c] for c in main]), SIZE)
    simple = _simplify(main, geometries, frame)
    paths = {c: _path(simple[c], frame) for c in main}
    outline = _outline(list(simple.values()), frame)
    width, height = frame.width, frame.height
    insets: list[dict[str, Any]] = []
    y = 0
    for code in far:
        rough = _Frame(_bounds([geometries[code]]), INSET)
        shape_ = _simplify([code], geometries, rough)[code]
        kept = [g for g in shapely.get_parts(shape_) if g.area * rough.scale**2 >= 1.0]  # no specks
        inset = _Frame(_bounds(kept), INSET)
        inset.dx, inset.dy = width + GAP + 4, y + 4
        paths[code] = _path(shapely.multipolygons(kept), inset)
        insets.append(
            {"commune": code, "x": width + GAP, "y": y, "w": inset.width + 8, "h": inset.height + 8}
        )
        y += inset.height + 8 + GAP
    if insets:
        width += GAP + max(i["w"] for i in insets)
        height = max(height, y - GAP)
    return {
        "name": name,
        "width": width,
        "height": height,
        "outline": outline,
        "insets": insets,
        "communes": {c: {"name": communes[c][0], "d": paths[c]} for c in codes},
    }


def derive(source: Path, provinces: list[str] | None = None) -> dict[str, Any]:
    communes = _features(source)
    grouped: dict[str, dict[str, tuple[str, Any]]] = defaultdict(dict)
    for ward in Ward.iter_all():
        code = f"{int(ward.code):05d}"
        grouped[f"{int(ward.province_code):02d}"][code] = communes[code]
    names = {f"{int(p.code):02d}": p.name for p in Province.iter_all()}
    chosen = sorted(grouped) if provinces is None else sorted(provinces)
    return {
        "source": SOURCE,
        "derived_by": "scripts/derive_commune_geometry.py",
        "units": f"map units, y down; a province's larger side is {SIZE}",
        "provinces": {p: derive_province(p, names[p], grouped[p]) for p in chosen},
    }


def serialise(document: dict[str, Any]) -> bytes:
    """Reproducible bytes: compact sorted JSON, gzip with a zero timestamp."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Derive the packaged commune map (SVG paths per province).")
    parser.add_argument("--source", type=Path, required=True, help="communes-2025.geojson")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--province", action="append", help="only these provinces (2 digits; repeatable)")
    args = parser.parse_args(argv)
    document = derive(args.source, args.province)
    data = serialise(document)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    count = sum(len(p["communes"]) for p in document["provinces"].values())
    print(f"{len(document['provinces'])} provinces, {count} communes, {len(data):,} bytes → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
