"""Derive the packaged commune table (population, area, centroid) from the 2025 commune GeoJSON.

A maintainer's tool, never run by the product: ``python -m senhealth.demo.derive_communes --source
../shared/data/geo/communes-2025.geojson``. It writes ``data/communes-2025.json.gz``, which
:mod:`senhealth.demo.geography` reads to weight where citizens live and to place facilities.

Source: GeoJSON of Vietnam's 3,321 communes of the 2025 administrative units (Decision 19/2025/QĐ-TTg),
converted from ``lamngockhuong/vietnam-3d-map`` (MIT licence); boundaries from public Vietnamese map
services. GeoJSON: https://datatracker.ietf.org/doc/html/rfc7946 . The source's populations sum to
113.7 M, above the ~101 M census: the generator uses them only as relative weights within a province.
The table is keyed by the commune codes of ``vietnam-provinces`` (the list the generator uses): where the
GeoJSON gives a commune another code (115 communes), it is matched by province and name instead.
Centroids are the area-weighted centroid of each commune's largest polygon (good enough to draw a dot on
a map and to find the nearest hospital; not a surveyed point).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path
from typing import Any

from vietnam_provinces import Ward

OUT = Path(__file__).resolve().parent / "data" / "communes-2025.json.gz"


def _ring_centroid(ring: list[list[float]]) -> tuple[float, float, float]:
    """(signed area, x, y) of a closed ring by the shoelace formula."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2.0
    if area == 0.0:
        xs = [p[0] for p in ring]
        ys = [p[1] for p in ring]
        return 0.0, sum(xs) / len(xs), sum(ys) / len(ys)
    return area, cx / (6.0 * area), cy / (6.0 * area)


def centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """(latitude, longitude) of the largest polygon's outer ring."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    best = max((_ring_centroid(poly[0]) for poly in polygons), key=lambda c: abs(c[0]))
    return round(best[2], 5), round(best[1], 5)


def _key(province: str, name: str) -> tuple[str, str]:
    return province, re.sub(r"\s+", " ", name.replace("–", "-")).strip().lower()


def derive(source: Path) -> dict[str, Any]:
    """Commune code → [population, area km², latitude, longitude], with provenance."""
    features = json.loads(source.read_text(encoding="utf-8"))["features"]
    by_code: dict[str, list[float | int]] = {}
    by_name: dict[tuple[str, str], list[float | int]] = {}
    for feature in features:
        props = feature["properties"]
        lat, lon = centroid(feature["geometry"])
        row: list[float | int] = [int(props.get("population") or 0), float(props["area_km2"]), lat, lon]
        by_code[props["code"]] = row
        by_name[_key(props["province_code"], f"{props['type']} {props['name']}")] = row
    table: dict[str, list[float | int]] = {}
    for ward in Ward.iter_all():
        code = f"{int(ward.code):05d}"
        found = by_code.get(code) or by_name.get(_key(f"{int(ward.province_code):02d}", ward.name))
        if found is None:
            raise SystemExit(f"no boundary for commune {code} {ward.name}")
        table[code] = found
    return {
        "source": "lamngockhuong/vietnam-3d-map (MIT), 2025 administrative units",
        "fields": ["population", "area_km2", "latitude", "longitude"],
        "communes": dict(sorted(table.items())),
    }


def serialise(document: dict[str, Any]) -> bytes:
    """Reproducible bytes: compact sorted JSON, gzip with a zero timestamp."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Derive the packaged commune table.")
    parser.add_argument("--source", type=Path, required=True, help="communes-2025.geojson")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    document = derive(args.source)
    args.out.write_bytes(serialise(document))
    print(f"{len(document['communes'])} communes → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
