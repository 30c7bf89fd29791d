"""A province's communes as GeoJSON for a web map (Leaflet), from the packaged SVG map's paths.

The packaged map (:mod:`senhealth.core.geo`) already holds each commune's simplified boundary (shared
borders kept, far islands in insets) as SVG path data in integer map units; this module turns those paths
into GeoJSON geometries in the same units, so the web map draws exactly the shapes of the server-drawn
maps and no second copy of the boundaries is packaged.

Coordinates are **planar map units, not WGS 84**: ``[x, -y]`` (x to the east, y up, the larger side of a
province 1000 units). A web map shows them on a blank background with a plain planar CRS (Leaflet's
``L.CRS.Simple``: https://leafletjs.com/reference.html#crs-l-crs-simple), never over tiles. GeoJSON:
https://datatracker.ietf.org/doc/html/rfc7946 (Polygon rings: the first the outer ring, then holes;
§3.1.6); SVG path data (``M x y l dx dy ... z``): https://www.w3.org/TR/SVG2/paths.html#PathData .

A commune's path may hold several rings (islands, and holes where a commune encloses another); each ring
that lies inside another of the same commune becomes a hole of it (a point-in-polygon test of its first
vertex), the others outer rings of a ``MultiPolygon``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

from senhealth.core.geo import ProvinceMap, province_map

__all__ = ["Ring", "centroid", "path_rings", "province_geojson", "rings_to_geometry"]

Ring = list[tuple[int, int]]
_TOKEN: Final = re.compile(r"[MmLlZz]|-?\d+")


def path_rings(d: str) -> list[Ring]:
    """The closed rings of SVG path data made of ``M``/``m``, ``L``/``l`` and ``Z``/``z`` with integer
    coordinates (what the packaged map holds), in absolute map units (y down)."""
    rings: list[Ring] = []
    ring: Ring = []
    command = ""
    x = y = 0
    numbers: list[int] = []

    def flush_point() -> None:
        nonlocal x, y, ring
        dx, dy = numbers[0], numbers[1]
        del numbers[:2]
        if command in "ml" and (command == "l" or ring):
            x, y = x + dx, y + dy
        else:
            x, y = (x + dx, y + dy) if command == "m" else (dx, dy)
        if command in "Mm" and ring:
            rings.append(ring)
            ring = []
        ring.append((x, y))

    for token in _TOKEN.findall(d):
        if token in "MmLlZz":
            if token in "Zz":
                if ring:
                    rings.append(ring)
                    x, y = ring[0]
                    ring = []
                command = ""
                continue
            command = token
            continue
        numbers.append(int(token))
        if len(numbers) == 2:
            flush_point()
            if command == "M":
                command = "L"  # coordinates after a moveto are lineto (SVG 2 §9.3.3)
            elif command == "m":
                command = "l"
    if ring:
        rings.append(ring)
    return [r for r in rings if len(r) >= 3]


def _area2(ring: Ring) -> int:
    """Twice the signed area (shoelace formula)."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))


def _inside(point: tuple[int, int], ring: Ring) -> bool:
    """Ray casting: whether ``point`` lies inside ``ring``."""
    px, py = point
    inside = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _closed(ring: Ring, *, ccw: bool) -> list[list[int]]:
    """A GeoJSON ring in ``[x, -y]`` (y up), closed, wound as RFC 7946 §3.1.6 recommends (outer rings
    counter-clockwise, holes clockwise)."""
    points = [[x, -y] for x, y in ring]
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))
    if (area > 0) != ccw:
        points.reverse()
    return [*points, points[0]]


def rings_to_geometry(rings: list[Ring]) -> dict[str, Any] | None:
    """A ``Polygon`` or ``MultiPolygon`` of ``rings`` (holes found by containment); None without rings."""
    if not rings:
        return None
    by_size = sorted(rings, key=lambda r: -abs(_area2(r)))
    polygons: list[tuple[Ring, list[Ring]]] = []
    for ring in by_size:
        # the smallest already placed outer ring that contains it: a hole of that one
        host = next(
            (
                p
                for p in reversed(polygons)
                if _inside(ring[0], p[0]) and not any(_inside(ring[0], h) for h in p[1])
            ),
            None,
        )
        if host is None:
            polygons.append((ring, []))
        else:
            host[1].append(ring)
    coordinates = [
        [_closed(outer, ccw=True), *(_closed(h, ccw=False) for h in holes)] for outer, holes in polygons
    ]
    if len(coordinates) == 1:
        return {"type": "Polygon", "coordinates": coordinates[0]}
    return {"type": "MultiPolygon", "coordinates": coordinates}


def centroid(rings: list[Ring]) -> tuple[float, float] | None:
    """The area centroid of the largest ring, in ``[x, -y]`` map units (where a marker goes)."""
    if not rings:
        return None
    ring = max(rings, key=lambda r: abs(_area2(r)))
    a2 = _area2(ring)
    if a2 == 0:
        xs, ys = zip(*ring, strict=True)
        return sum(xs) / len(xs), -sum(ys) / len(ys)
    cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return round(cx / (3 * a2), 1), round(-cy / (3 * a2), 1)


def _feature(code: str, name: str, d: str) -> dict[str, Any] | None:
    rings = path_rings(d)
    geometry = rings_to_geometry(rings)
    if geometry is None:
        return None
    point = centroid(rings)
    return {
        "type": "Feature",
        "id": code,
        "properties": {"code": code, "name": name, "centroid": list(point) if point else None},
        "geometry": geometry,
    }


@cache
def _collection(code: str) -> dict[str, Any]:
    pmap: ProvinceMap = province_map(code)
    features = [f for c in pmap.communes if (f := _feature(c.code, c.name, c.path)) is not None]
    outline = rings_to_geometry(path_rings(pmap.outline)) if pmap.outline else None
    return {
        "type": "FeatureCollection",
        "province": {"code": pmap.code, "name": pmap.name, "width": pmap.width, "height": pmap.height},
        "crs_note": "planar map units [x, -y] of senhealth.core.geo, not WGS 84",
        "outline": outline,
        "features": features,
    }


def province_geojson(code: str) -> dict[str, Any]:
    """The communes of province ``code`` as a GeoJSON ``FeatureCollection`` in map units (see the module
    docstring): one Feature per commune (``id`` and ``properties.code`` the 5-digit code,
    ``properties.name``, ``properties.centroid``), the province's ``outline`` geometry and its
    ``province`` (code, name, width, height) as foreign members. KeyError for an unknown province.
    The answer is shared (cached): copy it before changing it."""
    return _collection(code)
