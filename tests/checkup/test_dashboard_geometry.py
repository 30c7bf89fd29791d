"""The packaged commune map (``senhealth.core.geo``): every commune of the 2025 units has a path in its
province's map, the file is small, and it is what ``scripts/derive_commune_geometry.py`` derives from the
shared GeoJSON (re-derived for two provinces when the GeoJSON and shapely are present)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path

import pytest
from vietnam_provinces import Ward

from senhealth.core.geo import province_codes, province_map, province_of_commune

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "senhealth" / "core" / "geo" / "data" / "communes-2025-svg.json.gz"
SOURCE = ROOT.parent / "shared" / "data" / "geo" / "communes-2025.geojson"
PATH_DATA = re.compile(r"^(M-?\d+ -?\d+l[-\d ]+z)+$")


def test_every_commune_has_a_path_in_its_provinces_map() -> None:
    assert len(province_codes()) == 34
    wards = {f"{int(w.code):05d}": f"{int(w.province_code):02d}" for w in Ward.iter_all()}
    assert len(wards) == 3321
    drawn = {c.code: p for p in province_codes() for c in province_map(p).communes}
    assert drawn == wards
    assert province_of_commune("07210") == "24" and province_of_commune("99999") is None
    bac_ninh = province_map("24")
    assert bac_ninh.name == "Bắc Ninh" and max(bac_ninh.width, bac_ninh.height) == 1000
    assert all(PATH_DATA.match(c.path) for c in bac_ninh.communes)
    assert [i.commune for i in province_map("79").insets] == ["26732"]  # Côn Đảo, in its own box
    assert PACKAGED.stat().st_size < 600_000


@pytest.mark.skipif(
    not SOURCE.exists() or importlib.util.find_spec("shapely") is None,
    reason="needs the shared commune GeoJSON and shapely (a maintainer's check)",
)
def test_the_packaged_map_is_what_the_script_derives() -> None:
    spec = importlib.util.spec_from_file_location(
        "derive_commune_geometry", ROOT / "scripts" / "derive_commune_geometry.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    derived = script.derive(SOURCE, ["24", "79"])
    packaged = json.loads(gzip.decompress(PACKAGED.read_bytes()))
    for code in ("24", "79"):
        assert derived["provinces"][code] == packaged["provinces"][code], code
