"""The province the generator populates: its communes (2025 units) and its old (63-province) codes.

Administrative units from 1 July 2025 (Decision 19/2025/QĐ-TTg; Resolution 202/2025/QH15 on the
merger of provinces): 34 provinces with 2-digit codes and 3,321 communes with 5-digit codes, read from the
PyPI package ``vietnam-provinces`` (https://pypi.org/project/vietnam-provinces/, 2025.10.x on
Python 3.11). Commune populations (used only as relative weights), areas and centroids come from the
packaged ``data/communes-2025.json.gz`` (see :mod:`senhealth.demo.derive_communes`).

Personal ID numbers (CCCD) still carry the province where the birth was registered in the old
63-province table (Circular 07/2016/TT-BCA, Annex: codes 001 Hà Nội … 096 Cà Mau); :data:`OLD_PROVINCES`
lists them and :data:`MERGED_FROM` says which old provinces form each 2025 province.

Codes are published as FHIR codings with Sen Health's code systems :data:`PROVINCE_SYSTEM` and
:data:`COMMUNE_SYSTEM` (https://hl7.org/fhir/R4/datatypes.html#Coding).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson
from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward

__all__ = [
    "COMMUNE_SYSTEM",
    "DEFAULT_PROVINCE",
    "MERGED_FROM",
    "OLD_PROVINCES",
    "PROVINCE_SYSTEM",
    "Commune",
    "ProvinceInfo",
    "load_province",
    "province_codes",
]

PROVINCE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/province-2025"
COMMUNE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
DEFAULT_PROVINCE = "24"  # Bắc Ninh (2025: the former Bắc Giang and Bắc Ninh), 99 communes

OLD_PROVINCES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip
"""The 63 old provinces by their 3-digit personal-ID code (Circular 07/2016/TT-BCA)."""

MERGED_FROM: dict[str, tuple[str, ...]] = {
    "01": ("001",), "04": ("004",), "08": ("008", "002"), "11": ("011",), "12": ("012",),
    "14": ("014",), "15": ("010", "015"), "19": ("019", "006"), "20": ("020",), "22": ("022",),
    "24": ("024", "027"), "25": ("025", "026", "017"), "31": ("031", "030"), "33": ("033", "034"),
    "37": ("037", "035", "036"), "38": ("038",), "40": ("040",), "42": ("042",), "44": ("045", "044"),
    "46": ("046",), "48": ("048", "049"), "51": ("051", "062"), "52": ("064", "052"),
    "56": ("056", "058"), "66": ("066", "054"), "68": ("068", "067", "060"), "75": ("075", "070"),
    "79": ("079", "074", "077"), "80": ("072", "080"), "82": ("087", "082"), "86": ("086", "083", "084"),
    "91": ("089", "091"), "92": ("092", "093", "094"), "96": ("096", "095"),
}  # fmt: skip
"""2025 province code → the old provinces (personal-ID codes) merged into it (Resolution 202/2025/QH15)."""


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune-level unit (xã, phường or đặc khu) of the 2025 list."""

    code: str  # 5 digits
    name: str  # with its kind: "Xã Đại Sơn", "Phường Kinh Bắc"
    kind: str  # "xã" | "phường" | "đặc khu"
    population: int  # relative weight only (see the module docstring)
    latitude: float
    longitude: float

    @property
    def short_name(self) -> str:
        """The name without its kind: "Đại Sơn"."""
        for prefix in ("Xã ", "Phường ", "Đặc khu "):
            if self.name.startswith(prefix):
                return self.name[len(prefix) :]
        return self.name


@dataclass(frozen=True, slots=True)
class ProvinceInfo:
    """A 2025 province with its communes (sorted by code)."""

    code: str  # 2 digits
    name: str  # "Bắc Ninh", "Thành phố Hà Nội"
    full_name: str  # "Tỉnh Bắc Ninh", "Thành phố Hà Nội"
    short_name: str  # "Bắc Ninh", "Hà Nội"
    abbreviation: str  # "BN", from the package's codename
    region: str  # "north" | "central" | "south"
    communes: tuple[Commune, ...]
    old_codes: tuple[str, ...]

    def commune(self, code: str) -> Commune:
        for commune in self.communes:
            if commune.code == code:
                return commune
        raise KeyError(code)


@cache
def _commune_table() -> dict[str, list[float]]:
    raw = resources.files(__package__).joinpath("data", "communes-2025.json.gz").read_bytes()
    table: dict[str, list[float]] = orjson.loads(gzip.decompress(raw))["communes"]
    return table


def _region(code: str) -> str:
    number = int(code)
    if number <= 37:
        return "north"
    if number <= 46:
        return "central"
    return "south"


def province_codes() -> list[str]:
    """The 34 province codes of the 2025 list, as 2-digit strings."""
    return sorted(f"{int(p.code):02d}" for p in Province.iter_all())


@cache
def load_province(code: str | int = DEFAULT_PROVINCE) -> ProvinceInfo:
    """The province with 2-digit ``code`` (``"24"`` or ``24``) and its communes; ValueError if unknown."""
    number = int(code)
    province = Province.from_code(ProvinceCode(number))
    key = f"{number:02d}"
    table = _commune_table()
    communes = []
    for ward in sorted(Ward.iter_by_province(province.code), key=lambda w: int(w.code)):
        ward_code = f"{int(ward.code):05d}"
        population, _area, lat, lon = table.get(ward_code, [0, 0.0, 0.0, 0.0])
        communes.append(Commune(ward_code, ward.name, ward.division_type.value, int(population), lat, lon))
    is_city = province.division_type is VietNamDivisionType.THANH_PHO_TRUNG_UONG
    short = province.name.removeprefix("Thành phố ")
    return ProvinceInfo(
        code=key,
        name=province.name,
        full_name=province.name if is_city else f"Tỉnh {province.name}",
        short_name=short,
        abbreviation="".join(part[0] for part in province.codename.split("_")).upper(),
        region=_region(key),
        communes=tuple(communes),
        old_codes=MERGED_FROM[key],
    )
