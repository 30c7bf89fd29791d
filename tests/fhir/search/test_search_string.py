"""String extraction: as given for :exact, normalised (Vietnamese diacritics folded) for matching."""

from __future__ import annotations

from typing import Any

import pytest
from search_support import values

from senhealth.fhir.search.params import StringValue as S

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [
        {"use": "official", "family": "Nguyễn", "given": ["Thị", "Đào"], "prefix": ["Bà"]},
        {"text": "Đào Nguyễn", "family": "Nguyen"},
    ],
    "address": [
        {
            "line": ["12 Lê Lợi"],
            "city": "Thành phố Huế",
            "district": "Phường Phú Hội",
            "state": "Thừa Thiên Huế",
            "postalCode": "530000",
            "country": "VN",
        }
    ],
}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("family", [S("Nguyễn", "nguyen"), S("Nguyen", "nguyen")]),
        ("given", [S("Thị", "thi"), S("Đào", "dao")]),
        (
            "name",
            [
                S("Nguyễn", "nguyen"),
                S("Thị", "thi"),
                S("Đào", "dao"),
                S("Bà", "ba"),
                S("Nguyễn Thị Đào", "nguyen thi dao"),  # family first (Vietnamese order)
                S("Thị Đào Nguyễn", "thi dao nguyen"),  # family last
                S("Đào Nguyễn", "dao nguyen"),  # text
                S("Nguyen", "nguyen"),
            ],
        ),
        (
            "address",
            [
                S("12 Lê Lợi", "12 le loi"),
                S("Thành phố Huế", "thanh pho hue"),
                S("Phường Phú Hội", "phuong phu hoi"),
                S("Thừa Thiên Huế", "thua thien hue"),
                S("530000", "530000"),
                S("VN", "vn"),
            ],
        ),
        ("address-city", [S("Thành phố Huế", "thanh pho hue")]),
        ("address-state", [S("Thừa Thiên Huế", "thua thien hue")]),
    ],
)
def test_string(code: str, expected: list[S]) -> None:
    assert values(PATIENT, code) == expected


@pytest.mark.parametrize(
    ("resource", "code", "expected"),
    [
        (
            {"resourceType": "Organization", "name": "Bệnh viện Đa khoa Tỉnh", "alias": ["BVĐK"]},
            "name",
            [S("Bệnh viện Đa khoa Tỉnh", "benh vien da khoa tinh"), S("BVĐK", "bvdk")],
        ),
        # InsurancePlan's expression is written without the type prefix: "name | alias"
        (
            {"resourceType": "InsurancePlan", "name": "BHYT hộ gia đình"},
            "name",
            [S("BHYT hộ gia đình", "bhyt ho gia dinh")],
        ),
        # (Observation.value.ofType(string)) | (Observation.value.ofType(CodeableConcept)).text
        (
            {"resourceType": "Observation", "valueString": "Âm tính"},
            "value-string",
            [S("Âm tính", "am tinh")],
        ),
        (
            {"resourceType": "Observation", "valueCodeableConcept": {"text": "Dương tính"}},
            "value-string",
            [S("Dương tính", "duong tinh")],
        ),
        ({"resourceType": "Observation", "valueString": "   "}, "value-string", []),
    ],
)
def test_string_shapes(resource: dict[str, Any], code: str, expected: list[S]) -> None:
    assert values(resource, code) == expected
