"""FHIR resources of the care network: Organization, Location, Practitioner, PractitionerRole.

Organization https://hl7.org/fhir/R4/organization.html (the facility, its 5-character code in
:data:`~senhealth.demo.identifiers.FACILITY_SYSTEM`, part of the provincial Department of Health),
Location https://hl7.org/fhir/R4/location.html (the building, at the commune's centroid),
Practitioner https://hl7.org/fhir/R4/practitioner.html (practising-licence number) and PractitionerRole
https://hl7.org/fhir/R4/practitionerrole.html (the role at the facility). Location types are v3
ServiceDeliveryLocationRoleType codes (GACH general acute-care hospital, PC primary-care clinic).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from senhealth.demo.addresses import address
from senhealth.demo.facilities import Facility, Network, Staff
from senhealth.demo.fhir_types import Refs, concept, fhir_date, narrative
from senhealth.demo.identifiers import FACILITY_SYSTEM, LICENCE_SYSTEM

__all__ = ["network_resources"]

ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
LOCATION_PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"

LEVEL_TEXT = {
    "provincial": "Bệnh viện đa khoa tỉnh",
    "regional": "Bệnh viện đa khoa khu vực",
    "commune": "Trạm y tế xã, phường, đặc khu",
}
ROLE_TEXT = {"doctor": "Bác sĩ", "assistant": "Y sĩ", "nurse": "Điều dưỡng", "midwife": "Hộ sinh"}
ROLE_CODES = {"doctor": "doctor", "nurse": "nurse", "midwife": "nurse"}


def _department(network: Network) -> dict[str, Any]:
    province = network.province
    name = f"Sở Y tế {province.full_name[:1].lower()}{province.full_name[1:]}"
    return {
        "resourceType": "Organization",
        "id": network.department_id,
        "text": narrative(name),
        "active": True,
        "type": [concept(ORG_TYPE, "govt", "Government", "Sở Y tế")],
        "name": name,
        "address": [address(province, network.department_location, None, use="work")],
    }


def _organization(network: Network, facility: Facility, refs: Refs) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": facility.organization_id,
        "text": narrative(f"{facility.name} (mã cơ sở {facility.code})"),
        "identifier": [{"use": "official", "system": FACILITY_SYSTEM, "value": facility.code}],
        "active": True,
        "type": [concept(ORG_TYPE, "prov", "Healthcare Provider", LEVEL_TEXT[facility.level])],
        "name": facility.name,
        "address": [address(network.province, facility.commune, None, use="work")],
        "partOf": refs.local("Organization", network.department_id),
    }


def _location(network: Network, facility: Facility, refs: Refs) -> dict[str, Any]:
    kind = "PC" if facility.level == "commune" else "GACH"
    display = "Primary care clinic" if kind == "PC" else "Hospitals; General Acute Care Hospital"
    out: dict[str, Any] = {
        "resourceType": "Location",
        "id": facility.location_id,
        "text": narrative(facility.name),
        "identifier": [{"system": FACILITY_SYSTEM, "value": facility.code}],
        "status": "active",
        "name": facility.name,
        "mode": "instance",
        "type": [concept(ROLE_CODE, kind, display)],
        "address": address(network.province, facility.commune, None, use="work"),
        "physicalType": concept(LOCATION_PHYSICAL, "bu", "Building"),
        "managingOrganization": refs.local("Organization", facility.organization_id),
    }
    if facility.commune.latitude or facility.commune.longitude:
        out["position"] = {"longitude": facility.commune.longitude, "latitude": facility.commune.latitude}
    return out


def _practitioner(staff: Staff) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": staff.id,
        "text": narrative(f"{ROLE_TEXT[staff.role]} {staff.name.text}"),
        "identifier": [{"use": "official", "system": LICENCE_SYSTEM, "value": staff.licence}],
        "active": True,
        "name": [staff.name.to_fhir()],
        "gender": staff.gender,
        "birthDate": fhir_date(staff.birth_date),
        "communication": [concept("urn:ietf:bcp:47", "vi", "Tiếng Việt")],
    }


def _role(facility: Facility, staff: Staff, refs: Refs) -> dict[str, Any]:
    text = narrative(f"{ROLE_TEXT[staff.role]} {staff.name.text}, {facility.name}")
    code = ROLE_CODES.get(staff.role)
    role: dict[str, Any] = (
        concept(PRACTITIONER_ROLE, code, None, ROLE_TEXT[staff.role])
        if code
        else {"text": ROLE_TEXT[staff.role]}
    )
    out: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": staff.role_id,
        "text": text,
        "active": True,
        "practitioner": refs.local("Practitioner", staff.id),
        "organization": refs.local("Organization", facility.organization_id),
        "code": [role],
        "location": [refs.local("Location", facility.location_id)],
    }
    if staff.specialty:
        out["specialty"] = [{"text": staff.specialty}]
    return out


def network_resources(network: Network, refs: Refs) -> Iterator[dict[str, Any]]:
    """The department, then for each facility its Organization, Location, Practitioners and roles."""
    yield _department(network)
    for facility in network.facilities():
        yield _organization(network, facility, refs)
        yield _location(network, facility, refs)
        for staff in facility.staff:
            yield _practitioner(staff)
            yield _role(facility, staff, refs)
