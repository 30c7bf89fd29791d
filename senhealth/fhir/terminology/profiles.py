"""Sen Health profiles whose required bindings point at the packaged code systems.

Spec: https://hl7.org/fhir/R4/extensibility.html#Extension (an extension defined by a
StructureDefinition), https://hl7.org/fhir/R4/profiling.html#slicing (extensions sliced by ``url``) and
https://hl7.org/fhir/R4/terminologies.html#strength (``required``).

- :data:`ETHNICITY_EXTENSION`: ``https://senhealth.vn/fhir/StructureDefinition/ethnicity``, an
  extension on Patient whose ``valueCoding`` SHALL come from the 54 ethnic groups
  (``https://senhealth.vn/fhir/ValueSet/ethnic-group``, codes ``01`` … ``54``; the claim XML's
  ``MA_DANTOC``);
- :data:`VN_PATIENT_PROFILE`: ``https://senhealth.vn/fhir/StructureDefinition/vn-patient``, Patient with
  that extension (at most one) sliced by ``url``, its value bound (required) to the same value set.

A Patient that names the profile in ``meta.profile`` (or ``$validate`` with ``profile=``) is rejected on
create or update when its ethnicity code is not one of the 54: the validator asks the terminology
service (:mod:`senhealth.fhir.validation.bindings`), and the OperationOutcome names the path
(``Patient.extension[0].valueCoding.code``). :func:`register_terminology_profiles` registers both.
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.fhir.terminology.ethnic_groups import VALUE_SET as ETHNIC_GROUP_VALUE_SET
from senhealth.fhir.validation import register_profile

__all__ = [
    "ETHNICITY_EXTENSION",
    "VN_PATIENT_PROFILE",
    "ethnicity_extension",
    "register_terminology_profiles",
    "vn_patient_profile",
]

ETHNICITY_EXTENSION: Final = "https://senhealth.vn/fhir/StructureDefinition/ethnicity"
VN_PATIENT_PROFILE: Final = "https://senhealth.vn/fhir/StructureDefinition/vn-patient"
_BINDING: Final = {"strength": "required", "valueSet": ETHNIC_GROUP_VALUE_SET}


def ethnicity_extension() -> dict[str, Any]:
    """The StructureDefinition of the ethnicity extension."""
    return {
        "resourceType": "StructureDefinition",
        "id": "ethnicity",
        "url": ETHNICITY_EXTENSION,
        "version": "1",
        "name": "Ethnicity",
        "title": "Dân tộc / Ethnic group",
        "status": "active",
        "publisher": "Sen Health",
        "description": "The person's ethnic group, one of the 54 of Decision 121-TCTK/PPCĐ (claim XML MA_DANTOC)",
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "Patient"}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension", "path": "Extension", "max": "1"},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": ETHNICITY_EXTENSION},
                {
                    "id": "Extension.value[x]",
                    "path": "Extension.value[x]",
                    "min": 1,
                    "type": [{"code": "Coding"}],
                    "binding": _BINDING,
                },
            ]
        },
    }


def vn_patient_profile() -> dict[str, Any]:
    """The StructureDefinition of the Sen Health Patient profile (ethnicity bound to the 54 groups)."""
    return {
        "resourceType": "StructureDefinition",
        "id": "vn-patient",
        "url": VN_PATIENT_PROFILE,
        "version": "1",
        "name": "VnPatient",
        "title": "Người bệnh (Sen Health) / Patient (Sen Health)",
        "status": "active",
        "publisher": "Sen Health",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": "Patient.extension",
                    "path": "Patient.extension",
                    "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
                },
                {
                    "id": "Patient.extension:ethnicity",
                    "path": "Patient.extension",
                    "sliceName": "ethnicity",
                    "min": 0,
                    "max": "1",
                    "type": [{"code": "Extension", "profile": [ETHNICITY_EXTENSION]}],
                },
                {
                    "id": "Patient.extension:ethnicity.value[x]",
                    "path": "Patient.extension.value[x]",
                    "min": 1,
                    "type": [{"code": "Coding"}],
                    "binding": _BINDING,
                },
            ]
        },
    }


def register_terminology_profiles() -> tuple[str, str]:
    """Register the extension and the Patient profile with the validator (again: idempotent)."""
    return register_profile(ethnicity_extension()), register_profile(vn_patient_profile())
