"""Vietnamese addresses as FHIR ``Address`` (https://hl7.org/fhir/R4/datatypes.html#Address).

Since 1 July 2025 Viet Nam has two tiers of local government: province and commune (xã, phường or đặc
khu), no district. Sen Health writes them as:

- ``line``: the hamlet or street address ("Thôn Đông", "Số 12 đường Lê Lợi");
- ``district``: the commune's name with its kind ("Xã Đại Sơn"), the lowest administrative area;
- ``state``: the province's name with its kind ("Tỉnh Bắc Ninh", "Thành phố Hà Nội");
- ``country``: ``VN`` (ISO 3166-1);
- ``text``: the whole address as Vietnamese write it, smallest unit first;
- the official codes in the extension :data:`ADMIN_UNIT_EXTENSION`, whose sub-extensions ``province``
  and ``commune`` are Codings in :data:`~senhealth.demo.geography.PROVINCE_SYSTEM` (2 digits) and
  :data:`~senhealth.demo.geography.COMMUNE_SYSTEM` (5 digits), so that a search or a surveillance map
  keys on the code, never on a spelling.
"""

from __future__ import annotations

from typing import Any

from senhealth.demo.geography import COMMUNE_SYSTEM, PROVINCE_SYSTEM, Commune, ProvinceInfo

__all__ = ["ADMIN_UNIT_EXTENSION", "address", "admin_unit_codes"]

ADMIN_UNIT_EXTENSION = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def address(province: ProvinceInfo, commune: Commune, line: str | None, use: str = "home") -> dict[str, Any]:
    """An Address in ``commune`` of ``province`` with the official codes in an extension."""
    parts = [line] if line else []
    parts += [_lower_first(commune.name), _lower_first(province.full_name)]
    out: dict[str, Any] = {
        "extension": [
            {
                "url": ADMIN_UNIT_EXTENSION,
                "extension": [
                    {
                        "url": "province",
                        "valueCoding": {
                            "system": PROVINCE_SYSTEM,
                            "code": province.code,
                            "display": province.name,
                        },
                    },
                    {
                        "url": "commune",
                        "valueCoding": {
                            "system": COMMUNE_SYSTEM,
                            "code": commune.code,
                            "display": commune.name,
                        },
                    },
                ],
            }
        ],
        "use": use,
        "type": "physical",
        "text": ", ".join(parts),
    }
    if line:
        out["line"] = [line]
    out.update({"district": commune.name, "state": province.full_name, "country": "VN"})
    return out


def admin_unit_codes(addr: dict[str, Any]) -> dict[str, str]:
    """``{"province": "24", "commune": "07210"}`` read back from an Address's extension."""
    codes: dict[str, str] = {}
    for ext in addr.get("extension", []):
        if ext.get("url") == ADMIN_UNIT_EXTENSION:
            for sub in ext.get("extension", []):
                codes[sub["url"]] = sub["valueCoding"]["code"]
    return codes
