"""Addresses in real 2025 communes of the chosen province; the old-province table; the commune data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from province_summary import ProvinceSummary
from vietnam_provinces import Province, Ward

from senhealth.demo.addresses import admin_unit_codes
from senhealth.demo.facilities import build_network
from senhealth.demo.generator import generate_resources
from senhealth.demo.geography import MERGED_FROM, OLD_PROVINCES, _commune_table, load_province, province_codes

SHARED_GEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "geo" / "communes-2025.geojson"


def _communes(code: int) -> dict[str, str]:
    return {f"{int(w.code):05d}": w.name for w in Ward.iter_by_province(code)}  # type: ignore[arg-type]


def test_addresses_are_real_communes_of_the_province(province: ProvinceSummary) -> None:
    communes = _communes(24)
    assert len(communes) == 99
    used = set()
    for patient in province.patients:
        (addr,) = patient["address"]
        codes = admin_unit_codes(addr)
        assert codes["province"] == "24"
        assert codes["commune"] in communes
        assert addr["district"] == communes[codes["commune"]]
        assert addr["state"] == "Tỉnh Bắc Ninh" and addr["country"] == "VN"
        used.add(codes["commune"])
    assert len(used) > 80, "citizens live all over the province"


def test_another_province() -> None:
    resources = list(generate_resources(15, seed=3, province="79"))
    communes = _communes(79)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    assert len(patients) == 15
    for patient in patients:
        codes = admin_unit_codes(patient["address"][0])
        assert codes["province"] == "79" and codes["commune"] in communes
        assert patient["address"][0]["state"] == "Thành phố Hồ Chí Minh"


def test_old_provinces_and_mergers() -> None:
    assert len(OLD_PROVINCES) == 63
    assert sorted(c for olds in MERGED_FROM.values() for c in olds) == sorted(OLD_PROVINCES)
    assert sorted(MERGED_FROM) == province_codes()
    assert len(province_codes()) == 34 == len(list(Province.iter_all()))
    assert MERGED_FROM["24"] == ("024", "027")  # Bắc Giang and Bắc Ninh


def test_every_commune_has_packaged_data() -> None:
    table = _commune_table()
    wards = {f"{int(w.code):05d}" for w in Ward.iter_all()}
    assert len(wards) == 3321 and set(table) == wards
    assert sum(1 for row in table.values() if row[0] > 0) >= 3320


@pytest.mark.parametrize("code", ["24", "01", "79", "48"])
def test_network_covers_every_inhabited_commune(code: str) -> None:
    info = load_province(code)
    network = build_network(info, 1, date(2025, 12, 31))
    inhabited = {c.code for c in info.communes if c.population > 0}
    assert set(network.stations) == inhabited == set(network.regional_of)
    assert 1 <= len(network.regional) <= len(inhabited)


@pytest.mark.skipif(not SHARED_GEO.exists(), reason="the shared GeoJSON is not here")
def test_packaged_communes_are_fresh(tmp_path: Path) -> None:
    from senhealth.demo import derive_communes

    shipped = Path(derive_communes.OUT).read_bytes()
    assert derive_communes.serialise(derive_communes.derive(SHARED_GEO)) == shipped
