"""The table of broken resources: each must be rejected with an error at ``path`` of issue type ``code``.

One case is one line: ``(name, resource, expected expression, expected issue type)``. The small
builders below make a valid resource of each kind, so a case only writes its fault;
``test_validation_broken.py`` also checks the builders alone are valid.
"""

from __future__ import annotations

from typing import Any

Case = tuple[str, dict[str, Any], str, str]

UUID_A = "urn:uuid:0b3a56f4-3a2e-4c8a-9b1d-0a4f5e6d7c81"
UUID_B = "urn:uuid:7f1c2d3e-4b5a-4968-8a7b-6c5d4e3f2a10"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def patient(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **kw}


def observation(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"text": "BP"},
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def allergy(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def condition(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, **kw}


def ext(**kw: Any) -> dict[str, Any]:
    """A Patient with one extension made of ``kw``."""
    return patient(extension=[kw])


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def tx_entry(resource: dict[str, Any], full_url: str = UUID_A) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def contained(*resources: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A Patient containing ``resources``, each referenced from generalPractitioner."""
    refs = [{"reference": "#" + r["id"]} for r in resources if "id" in r]
    return patient(contained=list(resources), generalPractitioner=refs or None, **kw)


ORG = {"resourceType": "Organization", "id": "org1", "name": "Trạm y tế xã"}


# fmt: off
CASES: list[Case] = [
    # -- JSON structure and unknown elements -----------------------------------------------------
    ("unknown element", patient(foo=1), "Patient.foo", "structure"),
    ("unknown nested element", patient(name=[{"family": "Nguyen", "foo": "x"}]), "Patient.name[0].foo", "structure"),
    ("unknown element in backbone", patient(contact=[{"name": {"text": "A"}, "bar": 1}]), "Patient.contact[0].bar", "structure"),
    ("unknown element in extension", ext(url="http://x.vn/e", valueString="a", foo=1), "Patient.extension[0].foo", "structure"),
    ("fhir_comments rejected", patient(fhir_comments=["old"]), "Patient.fhir_comments", "structure"),
    ("resourceType inside a datatype", patient(name=[{"resourceType": "HumanName", "family": "A"}]), "Patient.name[0].resourceType", "structure"),
    ("underscore on a complex element", patient(_name=[{"id": "x"}]), "Patient._name", "structure"),
    ("primitive extension not an object", patient(birthDate="2000-01-01", _birthDate="x"), "Patient.birthDate", "structure"),
    ("primitive extension empty object", patient(birthDate="2000-01-01", _birthDate={}), "Patient.birthDate", "structure"),
    ("unknown element in primitive extension", patient(birthDate="2000-01-01", _birthDate={"foo": 1}), "Patient.birthDate.foo", "structure"),
    ("primitive extension without value or extension", patient(_birthDate={"id": "b1"}), "Patient.birthDate", "invariant"),
    ("primitive extension array misaligned", patient(name=[{"given": ["A", "B"], "_given": [None]}]), "Patient.name[0].given", "structure"),
    ("primitive extension array not an array", patient(name=[{"given": ["A"], "_given": {"id": "g"}}]), "Patient.name[0].given", "structure"),
    ("bad extension in primitive extension", patient(birthDate="2000-01-01", _birthDate={"extension": [{"url": "http://x.vn/e"}]}), "Patient.birthDate.extension[0]", "invariant"),
    ("missing resourceType", {"id": "p1", "gender": "male"}, "resourceType", "required"),
    ("unknown resourceType", {"resourceType": "Patients"}, "resourceType", "invalid"),
    ("abstract resourceType", {"resourceType": "DomainResource"}, "resourceType", "invalid"),
    ("resourceType not a string", {"resourceType": 1}, "resourceType", "invalid"),
    # -- JSON types -------------------------------------------------------------------------------
    ("number for a string", patient(name=[{"family": 1}]), "Patient.name[0].family", "value"),
    ("string for a boolean", patient(active="true"), "Patient.active", "value"),
    ("number for a boolean", patient(active=1), "Patient.active", "value"),
    ("string for an integer", patient(multipleBirthInteger="2"), "Patient.multipleBirthInteger", "value"),
    ("fraction for an integer", patient(multipleBirthInteger=2.5), "Patient.multipleBirthInteger", "value"),
    ("decimal as a string", observation(valueQuantity={"value": "1.5"}), "Observation.valueQuantity.value", "value"),
    ("boolean for a decimal", observation(valueQuantity={"value": True}), "Observation.valueQuantity.value", "value"),
    ("object for a primitive", patient(gender={"value": "male"}), "Patient.gender", "structure"),
    ("string for an object", patient(maritalStatus="M"), "Patient.maritalStatus", "structure"),
    ("boolean for an object", observation(code=True), "Observation.code", "structure"),
    ("array for a single primitive", patient(gender=["male"]), "Patient.gender", "structure"),
    ("array for a single object", patient(maritalStatus=[{"text": "married"}]), "Patient.maritalStatus", "structure"),
    ("object for an array", patient(name={"family": "Nguyen"}), "Patient.name", "structure"),
    ("string for a primitive array", patient(name=[{"given": "An"}]), "Patient.name[0].given", "structure"),
    ("string in an object array", patient(name=["Nguyen"]), "Patient.name[0]", "structure"),
    # -- cardinality ------------------------------------------------------------------------------
    ("missing required primitive", observation(status=None), "Observation.status", "required"),
    ("missing required object", observation(code=None), "Observation.code", "required"),
    ("missing required in backbone", patient(link=[{"type": "seealso"}]), "Patient.link[0].other", "required"),
    ("missing extension url", ext(valueString="a"), "Patient.extension[0].url", "required"),
    ("missing Bundle.type", {"resourceType": "Bundle"}, "Bundle.type", "required"),
    ("missing required choice", {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/p1"}}, "MedicationRequest.medication", "required"),
    ("missing Reference in required element", {"resourceType": "Condition"}, "Condition.subject", "required"),
    # -- primitive formats ------------------------------------------------------------------------
    ("impossible date 30 Feb", patient(birthDate="2023-02-30"), "Patient.birthDate", "value"),
    ("29 Feb of a common year", patient(birthDate="2023-02-29"), "Patient.birthDate", "value"),
    ("29 Feb 1900 (not a leap year)", patient(birthDate="1900-02-29"), "Patient.birthDate", "value"),
    ("31 April", patient(birthDate="2023-04-31"), "Patient.birthDate", "value"),
    ("month 13", patient(birthDate="2023-13-01"), "Patient.birthDate", "value"),
    ("date with slashes", patient(birthDate="2023/01/01"), "Patient.birthDate", "value"),
    ("date with a time", patient(birthDate="2023-01-01T00:00:00Z"), "Patient.birthDate", "value"),
    ("year 0000", patient(birthDate="0000"), "Patient.birthDate", "value"),
    ("dateTime without time zone", observation(effectiveDateTime="2023-01-01T10:00:00"), "Observation.effectiveDateTime", "value"),
    ("dateTime with hour only", observation(effectiveDateTime="2023-01-01T10Z"), "Observation.effectiveDateTime", "value"),
    ("impossible dateTime", observation(effectiveDateTime="2021-02-29T10:00:00Z"), "Observation.effectiveDateTime", "value"),
    ("dateTime hour 24", observation(effectiveDateTime="2021-02-01T24:00:00Z"), "Observation.effectiveDateTime", "value"),
    ("instant without seconds", observation(issued="2023-01-01T10:00Z"), "Observation.issued", "value"),
    ("instant without time zone", observation(issued="2023-01-01T10:00:00"), "Observation.issued", "value"),
    ("instant with date only", observation(issued="2023-01-01"), "Observation.issued", "value"),
    ("time 24:00", observation(valueTime="24:00:00"), "Observation.valueTime", "value"),
    ("time without seconds", observation(valueTime="10:00"), "Observation.valueTime", "value"),
    ("empty string", patient(name=[{"family": ""}]), "Patient.name[0].family", "value"),
    ("whitespace-only string", patient(name=[{"family": "   "}]), "Patient.name[0].family", "value"),
    ("empty string in an array", patient(name=[{"given": [""]}]), "Patient.name[0].given[0]", "value"),
    ("empty code", patient(gender=""), "Patient.gender", "value"),
    ("code with a leading space", patient(gender=" male"), "Patient.gender", "value"),
    ("uri with a space", ext(url="http://x.vn/a b", valueString="a"), "Patient.extension[0].url", "value"),
    ("integer above 32 bits", patient(multipleBirthInteger=2**31), "Patient.multipleBirthInteger", "value"),
    ("positiveInt zero", ext(url="http://x.vn/e", valuePositiveInt=0), "Patient.extension[0].valuePositiveInt", "value"),
    ("unsignedInt negative", ext(url="http://x.vn/e", valueUnsignedInt=-1), "Patient.extension[0].valueUnsignedInt", "value"),
    ("base64 of bad length", patient(photo=[{"contentType": "image/png", "data": "abc"}]), "Patient.photo[0].data", "value"),
    ("id too long", patient(id="x" * 65), "Patient.id", "value"),
    ("id with an underscore", patient(id="p_1"), "Patient.id", "value"),
    ("oid without urn:oid:", ext(url="http://x.vn/e", valueOid="1.2.3"), "Patient.extension[0].valueOid", "value"),
    ("uuid in capitals", ext(url="http://x.vn/e", valueUuid="urn:uuid:0B3A56F4-3A2E-4C8A-9B1D-0A4F5E6D7C81"), "Patient.extension[0].valueUuid", "value"),
    ("narrative not a div", patient(text={"status": "generated", "div": "<p>x</p>"}), "Patient.text.div", "value"),
    ("narrative with a script", patient(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script>A</div>'}), "Patient.text.div", "invariant"),
    ("narrative with no text", patient(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"> </div>'}), "Patient.text.div", "invariant"),
    # -- null, empty objects and arrays ------------------------------------------------------------
    ("null primitive", patient(gender=None), "Patient.gender", "structure"),
    ("null object", patient(maritalStatus=None), "Patient.maritalStatus", "structure"),
    ("null in an object array", patient(name=[None]), "Patient.name[0]", "structure"),
    ("null in a primitive array without extension", patient(name=[{"given": [None, "B"]}]), "Patient.name[0].given[0]", "structure"),
    ("empty array", patient(name=[]), "Patient.name", "structure"),
    ("empty object", patient(maritalStatus={}), "Patient.maritalStatus", "structure"),
    ("empty object in an array", patient(name=[{}]), "Patient.name[0]", "structure"),
    ("object with only an id", patient(maritalStatus={"id": "m1"}), "Patient.maritalStatus", "invariant"),
    # -- choice types -------------------------------------------------------------------------------
    ("two choice variants", patient(deceasedBoolean=True, deceasedDateTime="2020-01-01"), "Patient.deceasedDateTime", "structure"),
    ("choice value and other variant's extension", patient(deceasedBoolean=True, _deceasedDateTime={"extension": [{"url": "http://x.vn/e", "valueString": "a"}]}), "Patient.deceasedDateTime", "structure"),
    ("unknown choice suffix", patient(deceasedString="yes"), "Patient.deceasedString", "structure"),
    ("choice suffix in lower case", patient(deceasedboolean=True), "Patient.deceasedboolean", "structure"),
    ("choice name without suffix", observation(value=1), "Observation.value", "structure"),
    ("unknown Observation value type", observation(valueMoney={"value": 1}), "Observation.valueMoney", "structure"),
    # -- required bindings --------------------------------------------------------------------------
    ("code outside required binding", patient(gender="m"), "Patient.gender", "code-invalid"),
    ("Observation.status outside binding", observation(status="done"), "Observation.status", "code-invalid"),
    ("ContactPoint.system outside binding", patient(telecom=[{"system": "telex", "value": "1"}]), "Patient.telecom[0].system", "code-invalid"),
    ("HumanName.use outside binding", patient(name=[{"use": "nick", "family": "A"}]), "Patient.name[0].use", "code-invalid"),
    ("Narrative.status outside binding", patient(text={"status": "auto", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}), "Patient.text.status", "code-invalid"),
    ("Quantity.comparator outside binding", observation(valueQuantity={"value": 1, "comparator": "="}), "Observation.valueQuantity.comparator", "code-invalid"),
    ("Bundle.type outside binding", {"resourceType": "Bundle", "type": "pile"}, "Bundle.type", "code-invalid"),
    ("CodeableConcept code outside required binding", allergy(clinicalStatus={"coding": [{"system": ALLERGY_CLINICAL, "code": "bogus"}]}), "AllergyIntolerance.clinicalStatus.coding[0].code", "code-invalid"),
    ("CodeableConcept from another system", allergy(clinicalStatus={"coding": [{"system": "http://snomed.info/sct", "code": "55561003"}]}), "AllergyIntolerance.clinicalStatus", "code-invalid"),
    ("CodeableConcept text only under required binding", allergy(clinicalStatus={"text": "active"}), "AllergyIntolerance.clinicalStatus", "code-invalid"),
    # -- references ---------------------------------------------------------------------------------
    ("reference to a type the element does not allow", patient(managingOrganization={"reference": "Patient/p2"}), "Patient.managingOrganization.reference", "invalid"),
    ("reference to an unknown type", patient(managingOrganization={"reference": "Organisation/1"}), "Patient.managingOrganization.reference", "invalid"),
    ("reference without id", patient(managingOrganization={"reference": "Organization/"}), "Patient.managingOrganization.reference", "invalid"),
    ("reference with a space", patient(managingOrganization={"reference": "Organization/a b"}), "Patient.managingOrganization.reference", "invalid"),
    ("malformed urn:uuid", patient(managingOrganization={"reference": "urn:uuid:1234"}), "Patient.managingOrganization.reference", "invalid"),
    ("Observation.subject to a Medication", observation(subject={"reference": "Medication/m1"}), "Observation.subject.reference", "invalid"),
    ("Reference.type contradicts the reference", observation(subject={"reference": "Patient/p1", "type": "Group"}), "Observation.subject.type", "invalid"),
    ("local reference to nothing (ref-1)", patient(managingOrganization={"reference": "#org9"}), "Patient.managingOrganization.reference", "invariant"),
    ("local reference to a contained of the wrong type", contained({**ORG, "resourceType": "Location", "name": "x"}), "Patient.generalPractitioner[0].reference", "invalid"),
    ("urn:uuid to a bundle entry of the wrong type", bundle("transaction", tx_entry(ORG, UUID_A), tx_entry(observation(subject={"reference": UUID_A}), UUID_B)), "Bundle.entry[1].resource.subject.reference", "invalid"),
    # -- invariants ---------------------------------------------------------------------------------
    ("pat-1 contact without details", patient(contact=[{"gender": "female"}]), "Patient.contact[0]", "invariant"),
    ("per-1 start after end", observation(effectivePeriod={"start": "2024-02-01", "end": "2024-01-31"}), "Observation.effectivePeriod", "invariant"),
    ("per-1 with times and zones", observation(effectivePeriod={"start": "2024-01-01T10:00:00+07:00", "end": "2024-01-01T02:00:00Z"}), "Observation.effectivePeriod", "invariant"),
    ("obs-6 value and dataAbsentReason", observation(valueString="x", dataAbsentReason={"text": "lost"}), "Observation", "invariant"),
    ("obs-7 component repeats the code", observation(code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, valueString="x", component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, "valueString": "y"}]), "Observation", "invariant"),
    ("qty-3 unit code without system", observation(valueQuantity={"value": 1, "code": "mg"}), "Observation.valueQuantity", "invariant"),
    ("rng-2 low above high", observation(valueRange={"low": {"value": 5}, "high": {"value": 1}}), "Observation.valueRange", "invariant"),
    ("att-1 data without contentType", patient(photo=[{"data": "aGVsbG8="}]), "Patient.photo[0]", "invariant"),
    ("cpt-2 value without system", patient(telecom=[{"value": "0900000000"}]), "Patient.telecom[0]", "invariant"),
    ("ext-1 value and extensions", ext(url="http://x.vn/e", valueString="a", extension=[{"url": "b", "valueString": "c"}]), "Patient.extension[0]", "invariant"),
    ("ext-1 neither value nor extensions", ext(url="http://x.vn/e"), "Patient.extension[0]", "invariant"),
    ("ext-1 on a modifierExtension", patient(modifierExtension=[{"url": "http://x.vn/m"}]), "Patient.modifierExtension[0]", "invariant"),
    ("ext-1 on a nested extension", ext(url="http://x.vn/e", extension=[{"url": "part"}]), "Patient.extension[0].extension[0]", "invariant"),
    ("con-4 abatement while active", condition(clinicalStatus={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}, abatementDateTime="2020-01-01"), "Condition", "invariant"),
    ("ait-2 entered-in-error with clinicalStatus", allergy(verificationStatus={"coding": [{"system": ALLERGY_VERIFICATION, "code": "entered-in-error"}]}), "AllergyIntolerance", "invariant"),
    ("grp-1 members of a non-actual group (FHIRPath)", {"resourceType": "Group", "type": "person", "actual": False, "member": [{"entity": {"reference": "Patient/p1"}}]}, "Group", "invariant"),
    ("tim-1 duration without unit", {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "Patient/p1"}, "dosageInstruction": [{"timing": {"repeat": {"duration": 5}}}]}, "MedicationRequest.dosageInstruction[0].timing.repeat", "invariant"),
    ("bdl-1 total on a collection", {**bundle("collection"), "total": 1}, "Bundle", "invariant"),
    ("bdl-3 transaction entry without request", bundle("transaction", {"fullUrl": UUID_A, "resource": patient()}), "Bundle.entry[0]", "invariant"),
    ("bdl-7 duplicate fullUrl", bundle("transaction", tx_entry(patient(), UUID_A), tx_entry(patient(id="p2"), UUID_A)), "Bundle.entry[1].fullUrl", "invariant"),
    ("bdl-8 fullUrl with a version", bundle("collection", {"fullUrl": "http://x.vn/fhir/Patient/p1/_history/1", "resource": patient()}), "Bundle.entry[0]", "invariant"),
    # -- contained resources ------------------------------------------------------------------------
    ("nested contained (dom-2)", contained({**ORG, "contained": [patient(id="p9")]}), "Patient.contained[0].contained", "invariant"),
    ("contained with versionId (dom-4)", contained({**ORG, "meta": {"versionId": "1"}}), "Patient.contained[0].meta.versionId", "invariant"),
    ("contained with lastUpdated (dom-4)", contained({**ORG, "meta": {"lastUpdated": "2024-01-01T00:00:00Z"}}), "Patient.contained[0].meta.lastUpdated", "invariant"),
    ("contained with a security label (dom-5)", contained({**ORG, "meta": {"security": [{"code": "R"}]}}), "Patient.contained[0].meta.security", "invariant"),
    ("contained not referenced (dom-3)", patient(contained=[ORG]), "Patient.contained[0]", "invariant"),
    ("error inside a contained resource", contained({**ORG, "name": 5}), "Patient.contained[0].name", "value"),
    ("bad id of a contained resource", patient(contained=[{**ORG, "id": "org 1"}], managingOrganization={"reference": "#org 1"}), "Patient.contained[0].id", "value"),
    ("contained without resourceType", patient(contained=[{"id": "x", "name": "A"}]), "Patient.contained[0].resourceType", "required"),
    ("contained of an unknown type", patient(contained=[{"resourceType": "Clinic", "id": "x"}]), "Patient.contained[0].resourceType", "invalid"),
    # -- Bundle and Parameters entries ----------------------------------------------------------------
    ("error in a bundle entry", bundle("collection", {"resource": patient()}, {"resource": patient(name=[{"given": ["A", 2]}])}), "Bundle.entry[1].resource.name[0].given[1]", "value"),
    ("unknown element in a bundle entry", bundle("collection", {"resource": patient(foo=1)}), "Bundle.entry[0].resource.foo", "structure"),
    ("missing required in a bundle entry", bundle("collection", {"resource": observation(status=None)}), "Bundle.entry[0].resource.status", "required"),
    ("bad request method", bundle("transaction", {**tx_entry(patient()), "request": {"method": "FETCH", "url": "Patient"}}), "Bundle.entry[0].request.method", "code-invalid"),
    ("empty bundle entry", bundle("collection", {}), "Bundle.entry[0]", "structure"),
    ("entry resource without resourceType", bundle("collection", {"resource": {"id": "x"}}), "Bundle.entry[0].resource.resourceType", "required"),
    ("bundle in a bundle", bundle("collection", {"resource": bundle("collection", {"resource": patient(gender="x")})}), "Bundle.entry[0].resource.entry[0].resource.gender", "code-invalid"),
    ("error in a Parameters resource", {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": patient(active="yes")}]}, "Parameters.parameter[0].resource.active", "value"),
    ("Parameters parameter without name", {"resourceType": "Parameters", "parameter": [{"valueString": "x"}]}, "Parameters.parameter[0].name", "required"),
]
# fmt: on
