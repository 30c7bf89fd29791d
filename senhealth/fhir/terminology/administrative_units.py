"""Viet Nam's provinces and communes (the 2025 administrative units) as code systems.

Spec: https://hl7.org/fhir/R4/codesystem.html; the units: Resolution 202/2025/QH15 (the provinces
merged into 34) and Decision 19/2025/QĐ-TTg (the code list), in force from 1 July 2025, when the
district level was abolished: a commune (``xã``, ``phường``, ``đặc khu``) belongs directly to a province.

Read at run time from the PyPI package ``vietnam-provinces`` (2025.10.x, a run-time dependency; its names
and codes are the General Statistics Office's list), as :mod:`senhealth.demo.geography` does; nothing is
copied into this package. Two code systems, with the URLs the demo generator writes:

- :data:`PROVINCE_SYSTEM`: 34 provinces, 2-digit codes (``24`` Bắc Ninh), properties ``kind``
  (``tỉnh`` / ``thành phố trung ương``) and ``validFrom``;
- :data:`COMMUNE_SYSTEM`: 3,321 communes, 5-digit codes (``07570``), properties ``province`` (the
  province code: filter ``province = 24`` gives one province's communes), ``kind`` and ``validFrom``.

Both are version ``2025`` with validity from 2025-07-01 (the codes of the 63 provinces and the
districts before it are another list, not loaded).
"""

from __future__ import annotations

from datetime import date
from functools import cache

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept, PropertyDef

__all__ = ["COMMUNE_SYSTEM", "PROVINCE_SYSTEM", "VALID_FROM", "communes", "provinces"]

PROVINCE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/province-2025"
COMMUNE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
VALID_FROM = date(2025, 7, 1)
_PUBLISHER = "Tổng cục Thống kê / General Statistics Office of Viet Nam (package vietnam-provinces)"
_VALID = PropertyDef("validFrom", "dateTime", "the day the unit came into being (2025 reorganisation)")
_KIND = PropertyDef("kind", "string", "tỉnh | thành phố trung ương | xã | phường | đặc khu")


@cache
def provinces() -> CodeSystem:
    """The 34 provinces of 2025."""
    from vietnam_provinces import Province  # imported on first use: 45 ms of import time

    concepts: dict[str, Concept] = {}
    for p in sorted(Province.iter_all(), key=lambda p: int(p.code)):
        code = f"{int(p.code):02d}"
        concepts[code] = Concept(
            code,
            p.name,
            designations={"vi": p.name},
            properties={"kind": p.division_type.value, "validFrom": VALID_FROM},
        )
    return CodeSystem(
        url=PROVINCE_SYSTEM,
        version="2025",
        name="VietnamProvinces2025",
        title="Tỉnh, thành phố (2025) / Provinces of Viet Nam (2025)",
        language="vi",
        case_sensitive=True,
        hierarchy_meaning=None,
        publisher=_PUBLISHER,
        description="Đơn vị hành chính cấp tỉnh từ 1/7/2025 (Nghị quyết 202/2025/QH15, Quyết định 19/2025/QĐ-TTg)",
        resource_id="province-2025",
        valid_from=VALID_FROM,
        value_set="https://senhealth.vn/fhir/ValueSet/province-2025",
        property_defs=(_KIND, _VALID),
        concepts=concepts,
    )


@cache
def communes() -> CodeSystem:
    """The 3,321 communes of 2025, each with its province."""
    from vietnam_provinces import Ward

    concepts: dict[str, Concept] = {}
    for w in sorted(Ward.iter_all(), key=lambda w: int(w.code)):
        code = f"{int(w.code):05d}"
        concepts[code] = Concept(
            code,
            w.name,
            designations={"vi": w.name},
            properties={
                "province": f"{int(w.province_code):02d}",
                "kind": w.division_type.value,
                "validFrom": VALID_FROM,
            },
        )
    return CodeSystem(
        url=COMMUNE_SYSTEM,
        version="2025",
        name="VietnamCommunes2025",
        title="Xã, phường, đặc khu (2025) / Communes of Viet Nam (2025)",
        language="vi",
        case_sensitive=True,
        hierarchy_meaning=None,
        publisher=_PUBLISHER,
        description="Đơn vị hành chính cấp xã từ 1/7/2025; thuộc trực tiếp tỉnh (thuộc tính province)",
        resource_id="commune-2025",
        valid_from=VALID_FROM,
        value_set="https://senhealth.vn/fhir/ValueSet/commune-2025",
        property_defs=(
            PropertyDef("province", "code", f"the province ({PROVINCE_SYSTEM}) the commune belongs to"),
            _KIND,
            _VALID,
        ),
        concepts=concepts,
    )
